"""`picoface study width` and `picoface study input` end to end through the CLI on tiny synthetic data (each
point one epoch of two steps): the files and their schema, wider / larger points costing more MACs and bytes,
explicit model.channels scaled (and said so), --resume skipping a finished point, and bad --widths /
--inputs refused with one line before anything is written."""

import json

import pytest

from picoface.cli import main

import study_config

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def _config(tmp_path, model=study_config.MODEL, name="exp.yaml"):
    return study_config.write(tmp_path, "{formats: [tflite-int8], calib_images: 8, board: openmv_h7, "
                                        "clip_output: [-5, 4.2]}", model, name)


def _check(out, kind, ids):
    s = json.loads((out / "study.json").read_text())
    assert s["kind"] == kind and s["points"] == ids and s["finished"] == ids
    assert s["model"] == "one trained per point"
    rows = [next(r for r in s["results"] if r["id"] == i) for i in ids]
    for r in rows:
        assert set(r) >= {"id", "label", "format", "bytes", "macs", "arena_bytes", "ms", "score", "limits", "pareto",
                          "y", "details", "notes"}
        assert r["format"] == "tflite-int8" and r["arena_bytes"] > 0 and r["limits"]
        assert set(r["score"]["ap"]) == {"far", "mid", "close", "mean"} and 0 <= r["score"]["ap_all"] <= 1
        assert r["details"]["epochs"] == 1
        assert (out / "study-runs" / r["id"] / "best.keras").is_file()
    md = (out / "study.md").read_text()
    assert all("| %s |" % i in md for i in ids) and "not finished yet" not in md
    assert (out / "study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return rows


def test_width_study(tmp_path, capsys):
    cfg = _config(tmp_path)
    out = tmp_path / "study"
    argv = ["study", "width", "--base", str(cfg), "--widths", "0.5,0.25", "--budget", "1", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    assert "2 points in" in capsys.readouterr().out
    small, wide = _check(out, "width", ["width-0.25", "width-0.5"])
    assert small["details"]["width"] == 0.25 and wide["details"]["width"] == 0.5 and small["notes"] == []
    assert wide["macs"] > 2 * small["macs"] and wide["bytes"] > small["bytes"]
    assert wide["arena_bytes"] >= small["arena_bytes"]
    # the board's budgets are checked per point: the wider net no longer fits the OpenMV H7's model budget
    assert small["limits"] == "ok (openmv_h7)" and "model file %d B > budget" % wide["bytes"] in wide["limits"]
    # each point trains for half the budget
    run_cfg = (out / "study-runs" / "width-0.5" / "config.yaml").read_text()
    assert "budget_minutes: 0.5" in run_cfg

    # --resume with one point's result gone runs that point alone
    kept = (out / "study-points" / "width-0.25.json").read_bytes()
    (out / "study-points" / "width-0.5.json").unlink()
    assert main(argv + ["--resume"]) == 0
    log = capsys.readouterr().out
    assert "point width-0.25: finished before, skipped" in log and "point 2/2: width-0.5" in log
    assert (out / "study-points" / "width-0.25.json").read_bytes() == kept
    _check(out, "width", ["width-0.25", "width-0.5"])


def test_width_study_scales_explicit_channels(tmp_path, capsys):
    cfg = _config(tmp_path, "{width: 0.25, extra_blocks: 0, activation: relu, channels: [8, 16, 24, 24, 48, 48, 64]}")
    out = tmp_path / "study"
    assert main(["study", "width", "--base", str(cfg), "--widths", "0.5", "--budget", "1", "--out", str(out),
                 "--quiet"]) == 0
    (r,) = _check(out, "width", ["width-0.5"])
    assert r["details"]["channels"] == [16, 32, 48, 48, 96, 96, 128]
    assert "channels scaled" in r["label"] and "scaled by 0.5 / 0.25" in r["notes"][0]
    assert "model.width does not apply" in r["notes"][0]
    assert "width-0.5: the base's explicit model.channels" in (out / "study.md").read_text()


def test_input_study(tmp_path, capsys):
    cfg = _config(tmp_path)
    out = tmp_path / "study"
    argv = ["study", "input", "--base", str(cfg), "--inputs", "96x64,64x64", "--budget", "1", "--out", str(out),
            "--quiet"]
    assert main(argv) == 0
    small, large = _check(out, "input", ["input-64x64", "input-96x64"])
    assert small["details"]["input"] == [64, 64] and large["details"]["input"] == [96, 64]
    # the same weights see 1.5x the pixels: 1.5x the MACs, the same weights, a larger arena
    assert large["macs"] == pytest.approx(1.5 * small["macs"], rel=0.02)
    assert abs(large["bytes"] - small["bytes"]) < 0.05 * small["bytes"]
    assert large["arena_bytes"] > small["arena_bytes"]
    assert small["limits"] == large["limits"] == "ok (openmv_h7)"
    assert main(argv + ["--resume"]) == 0
    assert capsys.readouterr().out.count("finished before, skipped") == 2


def test_search_study_draws_a_bounded_sample_of_the_grid(tmp_path, capsys):
    from picoface.study import search
    from picoface.train.config import load_config

    cfg = _config(tmp_path)
    out = tmp_path / "study"
    argv = ["study", "search", "--base", str(cfg), "--widths", "0.25,0.5", "--anchors", "3,5", "--heads", "0,16",
            "--points", "3", "--seed", "4", "--budget", "1", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    s = json.loads((out / "study.json").read_text())
    ids = s["points"]
    # 8 combinations, 3 drawn: the base's own first, the same draw for the same seed, another for another seed
    assert len(ids) == 3 and ids[0] == "w0.25-64x64-a5-h0" and len(set(ids)) == 3
    base = load_config(cfg)
    same, n = search.grid(base, [0.25, 0.5], None, [3, 5], [0, 16], points=3, seed=4)
    assert n == 8 and [search.point_id(p) for p in same] == ids
    other = [search.point_id(p) for p in search.grid(base, [0.25, 0.5], None, [3, 5], [0, 16], points=7, seed=5)[0]]
    assert len(other) == 7 and set(ids[:1]) <= set(other)
    rows = _check(out, "search", ids)
    for r in rows:
        d = r["details"]
        assert r["id"] == "w%g-64x64-a%d-h%d" % (d["width"], d["anchors"], d["head_channels"])
        # the region conv carries anchors x 6 channels: the trained net has what the point names
        anchors = json.loads((out / "study-runs" / r["id"] / "anchors.json").read_text())
        assert len(anchors) == d["anchors"]
    md = (out / "study.md").read_text()
    assert "3 of the grid's 8 points, drawn at random (seed 4" in md
    # each point is its own net: three different MAC counts
    assert len({r["macs"] for r in rows}) == 3
    # the whole grid when it is small enough
    out2 = tmp_path / "study2"
    assert main(["study", "search", "--base", str(cfg), "--anchors", "3,5", "--budget", "1", "--out", str(out2),
                 "--quiet"]) == 0
    assert json.loads((out2 / "study.json").read_text())["points"] == ["w0.25-64x64-a3-h0", "w0.25-64x64-a5-h0"]
    assert "the whole grid (2 points)" in (out2 / "study.md").read_text()


def test_bad_sweep_input_is_one_line(tmp_path, capsys):
    cfg = _config(tmp_path)
    out = tmp_path / "study"
    for argv, text in ((["width", "--widths", "0.5,x"], "--widths '0.5,x' is not"),
                       (["width", "--widths", "0.5,0.5"], "--widths '0.5,0.5' is not"),
                       (["width", "--widths", "0.5,4"], "point width-4: model.width=4 is outside"),
                       (["input", "--inputs", "96x"], "--inputs '96x' is not"),
                       (["input", "--inputs", "100x64"], "--inputs 100x64: input_w=100 is not a multiple"),
                       (["input", "--widths", "0.5"], "--widths is not an option of study input"),
                       (["width", "--anchors", "3"], "--anchors is not an option of study width"),
                       (["search", "--anchors", "0,3"], "--anchors '0,3' is not a list of different whole numbers"),
                       (["search", "--heads", "x"], "--heads 'x' is not a list"),
                       (["search", "--points", "0", "--anchors", "3,5"], "--points 0 searches nothing"),
                       (["search", "--inputs", "100x64"], "point w0.25-100x64-a5-h0: input_w=100 is not a multiple"),
                       (["width", "--model", str(tmp_path / "m.keras")], "--model is not used by a width study"),
                       (["width", "--budget", "0"], "--budget 0 leaves a width study nothing to train")):
        assert main(["study"] + argv + ["--base", str(cfg), "--out", str(out)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("picoface: ") and text in err[0] and " — " in err[0], err
        assert not out.exists()
