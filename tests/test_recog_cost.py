"""`picoface recog cost`: the device benchmark (device/bench/recognise.py) under real
MicroPython (picoface.mprun) and CPython, the command end to end on models/picoface_recog, and its
errors. Speed figures are reported, never asserted."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from pfcore import gallery
from picoface import mprun
from picoface.cli import main
from picoface.errors import PicofaceError
from picoface.recog import cost

SCRIPT = ROOT / "device" / "bench" / "recognise.py"
MODEL = ROOT / "models" / "picoface_recog"
STAGES = {"points", "crop_roi", "to_frame", "align_matrix", "warp", "embedding", "normalise", "track_add",
          "identity"}
GALLERIES = {"1", "10", "100"}


def _result(stdout):
    lines = stdout.strip().splitlines()
    assert lines, "no output"
    return json.loads(lines[-1])


def _pack_sizes():
    """What pfcore.gallery.pack gives for 1, 10, 100 faces of dim 128 with 24-byte names."""
    rows = [["p%023d" % j, bytes(128)] for j in range(100)]
    return {str(g): len(gallery.pack(1, 128, rows[:g])) for g in (1, 10, 100)}


def _check_bench(res, heap):
    assert set(res["stage_ms"]) == STAGES and all(v > 0 for v in res["stage_ms"].values()), res["stage_ms"]
    for k in ("match_ms", "face_ms"):
        assert set(res[k]) == GALLERIES and all(v > 0 for v in res[k].values()), res[k]
    g = res["gallery"]
    assert g["file_bytes"] == _pack_sizes() and g["saved_bytes"] == g["file_bytes"]["100"]
    assert g["save_ms"] > 0 and g["load_ms"] > 0 and g["dim"] == 128 and g["name_bytes"] == 24
    if heap:
        assert set(res["face_heap_bytes"]) == GALLERIES and all(v > 0 for v in res["face_heap_bytes"].values())
        assert all(isinstance(v, int) and v >= 0 for v in res["stage_heap_bytes"].values())
        assert res["stage_heap_bytes"]["warp"] > 0
        # 100 rows of 128 int8 values, kept as bytes and as the Matcher's int8 arrays (a 32-bit float
        # scale each), with their objects around them
        assert 100 * 128 < g["rows_kept_bytes"] < 100 * 1024
        assert 100 * (128 + 4) < g["matcher_kept_bytes"] < 100 * 512
    else:
        assert set(res["face_heap_bytes"].values()) == {None} and g["rows_kept_bytes"] is None


@pytest.mark.micropython
def test_bench_script_under_micropython(node):
    r = mprun.run(SCRIPT, 1, 2, heap=512 * 1024, timeout=600, node=node)
    assert r.returncode == 0, r.stderr[-2000:]
    res = _result(r.stdout)
    assert res["impl"] == "micropython" and res["chw"] is True
    _check_bench(res, heap=True)
    print("\nMicroPython (wasm) per recognised face:", res["face_ms"], res["face_heap_bytes"])


def test_bench_script_under_cpython(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "device"))
    r = subprocess.run([sys.executable, str(SCRIPT), "1", "2", str(tmp_path)], capture_output=True, text=True,
                       timeout=600, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    res = _result(r.stdout)
    assert res["impl"] == "cpython" and res["gallery"]["folder"] == str(tmp_path)
    _check_bench(res, heap=False)
    assert list(tmp_path.iterdir()) == []          # the gallery files are removed


def test_runner_missing_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(mprun.shutil, "which", lambda name: None)
    with pytest.raises(PicofaceError) as e:
        mprun.run(SCRIPT)
    assert "Node" in e.value.what and "make setup" in e.value.todo
    monkeypatch.undo()
    monkeypatch.setattr(mprun, "PACKAGE", tmp_path / "micropython.mjs")
    if mprun.shutil.which("node"):
        with pytest.raises(PicofaceError) as e:
            mprun.find_node()
        assert "WebAssembly" in e.value.what and "make setup" in e.value.todo


@pytest.mark.slow
@pytest.mark.micropython
def test_cost_command_end_to_end(node, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["recog", "cost", "--faces", "3", "--blocks", "1", "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert rc == 0
    rep = json.loads((out / "recog_cost.json").read_text())
    md = (out / "recog_cost.md").read_text()
    export = json.loads((MODEL / "export.json").read_text())
    for net in ("landmarks", "embed"):
        k = export["nets"][net]["formats"]["kmodel-v3"]
        e = rep["emulator"][net]
        assert e["kpu_ram_bytes"] == k["kpu_ram_bytes"] and e["main_mem_bytes"] == k["main_mem_bytes"]
        assert e["macs"] == export["nets"][net]["macs"] and e["ms"] > 0 and rep["tflite"][net]["ms"] > 0
        t = export["nets"][net]["formats"]["tflite-int8"]
        assert rep["tflite"][net]["tflm_arena_bytes"] == t["tflm_arena_bytes"]
        assert "{:,}".format(k["kpu_ram_bytes"]) in md and "{:,}".format(export["nets"][net]["macs"]) in md
    assert rep["k210_heap"] == export["k210_heap"] and rep["openmv"] == export["openmv"]
    contract = json.loads((MODEL / "model.json").read_text())
    for key, entry in contract["files"].items():
        assert rep["model"]["files"][key]["sha256"] == entry["sha256"]
    mp = rep["micropython"]
    assert mp["impl"] == "micropython" and mp["heap"] == 524288 and "maix_dock" in mp["heap_source"]
    _check_bench(mp, heap=True)
    assert "**%s**" % cost._ms(mp["face_ms"]["100"]) in md
    assert "{:,}".format(mp["face_heap_bytes"]["100"]) in md
    g = rep["gallery"]
    assert g["bytes_per_face"] == 1 + 24 + 128 and g["file_bytes"]["100"] == _pack_sizes()["100"]
    assert set(g["boards"]) == {"maix_dock", "maix_bit", "openmv_h7_plus"}
    assert all(b["flash_filesystem_bytes"] is None for b in g["boards"].values())
    assert "make recog-cost" in md and "not K210 KPU times" in md
    assert md in printed


def test_bad_model_folder_is_one_clear_line(tmp_path, capsys):
    rc = main(["recog", "cost", "--model", str(tmp_path / "nothing"), "--out", str(tmp_path / "out"),
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("picoface: ") and " — " in lines[0], err
    assert "nothing" in lines[0] and not (tmp_path / "out").exists()
