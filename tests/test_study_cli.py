"""`picoface study quant` end to end through the CLI on a tiny synthetic model (1 epoch): every number
format scored on a held-out val mix by regime, the files and their schema, an interrupted study that
keeps its finished points, --resume skipping them, and bad input as one line."""

import json

import pytest

from picoface.cli import main

import study_config

pytestmark = [pytest.mark.tf, pytest.mark.slow]

IDS = ["float32", "fp16", "int8-tensor", "int8-channel", "int8-qat", "q16", "q8", "q8-uniform", "q8-channel", "q6",
       "q6-channel", "q4", "q4-channel"]


def _trained(tmp_path):
    cfg = study_config.write(tmp_path, "{formats: [tflite-float, tflite-int8], calib_images: 8, board: openmv_h7, "
                                       "parity_tolerance: 1.0, clip_output: [-5, 4.2], qat_epochs: 1, qat_lr: 0.0001}")
    assert main(["train", "--config", str(cfg), "--quiet", "--no-export"]) == 0
    return cfg, tmp_path / "run" / "best.keras"


def test_quant_study(tmp_path, capsys, monkeypatch):
    cfg, model = _trained(tmp_path)
    out = tmp_path / "study"
    argv = ["study", "quant", "--base", str(cfg), "--model", str(model), "--budget", "0.02", "--out", str(out), "--quiet"]

    # interrupted at the third point: the two finished ones are kept, and the report lists them
    from picoface.study import quant

    real = quant.build_point

    def stop_at_int8(ctx, pid):
        if pid == "int8-tensor":
            raise KeyboardInterrupt
        return real(ctx, pid)

    monkeypatch.setattr(quant, "build_point", stop_at_int8)
    assert main(argv) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "picoface: interrupted"
    assert sorted(f.name for f in (out / "study-points").glob("*.json")) == ["float32.json", "fp16.json"]
    md = (out / "study.md").read_text()
    assert "| float32 |" in md and "| fp16 |" in md and "not finished yet: int8-tensor" in md
    kept = (out / "study-points" / "float32.json").read_bytes()
    monkeypatch.setattr(quant, "build_point", real)

    # a fresh start over finished points is refused; --resume runs only the rest
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds 2 finished points" in err[0] and "--resume" in err[0]
    assert main(argv + ["--resume"]) == 0
    log = capsys.readouterr().out
    assert "point float32: finished before, skipped" in log and "point fp16: finished before, skipped" in log
    assert "point 3/13: int8-tensor" in log and "13 points in" in log
    assert (out / "study-points" / "float32.json").read_bytes() == kept

    s = json.loads((out / "study.json").read_text())
    assert s["kind"] == "quant" and s["points"] == IDS and s["finished"] == IDS
    assert s["metric_label"].startswith("mean AP@0.5 of the far / mid / close")
    rows = {r["id"]: r for r in s["results"]}
    for r in rows.values():
        assert set(r) >= {"id", "label", "format", "bytes", "macs", "arena_bytes", "kpu_ram_bytes", "ms", "score",
                          "limits", "pareto", "y"}
        assert r["bytes"] > 0 and r["macs"] > 0 and r["ms"] > 0
        assert set(r["score"]["ap"]) == {"far", "mid", "close", "mean"} and 0 <= r["score"]["ap_all"] <= 1
        assert r["y"] == r["score"]["ap"]["mean"]
    # every TFLite form computes the same convolutions; Q-format counts the folded Keras ones
    assert len({r["macs"] for r in rows.values()}) == 1
    # float16 weights: about half the float32 file (the flatbuffer's graph is not halved)
    assert 0.4 < rows["fp16"]["bytes"] / rows["float32"]["bytes"] < 0.7
    assert rows["int8-channel"]["bytes"] < rows["fp16"]["bytes"]
    for k in ("int8-tensor", "int8-channel", "int8-qat"):
        assert rows[k]["arena_bytes"] > 0 and rows[k]["limits"] == "ok (openmv_h7)"
    assert rows["float32"]["arena_bytes"] is None
    assert "openmv_h7 runs tflite-int8 models, not tflite-float" in rows["float32"]["limits"]
    assert rows["int8-qat"]["details"]["qat"]["steps"] >= 1
    assert rows["q8"]["details"]["formats"]["input"] == "Q0.7"
    assert rows["q4"]["bytes"] < rows["q6"]["bytes"] < rows["q8"]["bytes"] < rows["q16"]["bytes"]
    assert rows["q8-uniform"]["bytes"] == rows["q8"]["bytes"]
    assert any(r["pareto"]["bytes"] for r in rows.values())
    # the table: one row per point, ms as a ratio to float32
    md = (out / "study.md").read_text()
    for k in IDS:
        assert "| %s |" % k in md
    assert "(x1.00)" in md and "not finished yet" not in md
    assert (out / "study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # resuming a finished study runs nothing
    assert main(argv + ["--resume"]) == 0
    assert capsys.readouterr().out.count("skipped") == len(IDS)


def test_bad_input_is_one_line(tmp_path, capsys):
    out = tmp_path / "study"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: x\n")
    for argv, text in ((["study", "width2", "--base", str(cfg)], "unknown study kind 'width2'"),
                       (["study", "quant", "--base", str(tmp_path / "nope.yaml")], "nope.yaml not found"),
                       (["study", "quant", "--base", str(cfg), "--model", str(tmp_path / "m.keras")], "m.keras not found"),
                       (["study", "prune", "--base", str(cfg), "--rules", "abs,size"], "unknown pruning rule 'size'"),
                       (["study", "prune", "--base", str(cfg), "--sparsities", "0,120"], "--sparsities '0,120' is not"),
                       (["study", "quant", "--base", str(cfg), "--budget", "-1"], "--budget -1 is negative")):
        assert main(argv + ["--out", str(out)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("picoface: ") and text in err[0] and " — " in err[0], err
        assert not out.exists()
