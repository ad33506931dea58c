"""Firmware limits as data (boards/firmware.toml, picoface.firmware) and the commands that enforce them:
`kmodel convert`, `kmodel pack`, `flash` and `export` refuse a head the board's firmware cannot
decode; and every shipped detector kmodel runs on the firmwares' own code (../shared kv3check)."""

import hashlib
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from picoface import boards, firmware
from picoface.cli import main as cli_main
from picoface.errors import PicofaceError
from picoface.kmodel import MAIXPY_FACE_ANCHOR_PAIRS
from picoface.paths import REPO_ROOT

ANCHORS = MAIXPY_FACE_ANCHOR_PAIRS  # Sipeed's stock face model's anchors
SOURCE_RE = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{12} \S+:\d+(-\d+)?$")


def maixpy_boxes_limit():
    return firmware.family("maixpy").limits["region_boxes"]


def contract(name, file, data, grid, fmt="kmodel-v3", layout="NCHW", dtype="float32"):
    return {
        "contract": 1, "name": name, "format": fmt, "file": file, "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "input": {"w": 320, "h": 240, "channels": 3, "order": "RGB", "layout": layout,
                  "dtype": "uint8" if fmt == "kmodel-v3" else dtype, "scale": 1 / 255.0, "zero_point": 0,
                  "fit": "stretch"},
        "output": {"grid_w": grid[0], "grid_h": grid[1], "anchors": ANCHORS, "classes": 1, "layout": layout,
                   "dtype": dtype, "scale": 1.0, "zero_point": 0},
        "thresholds": {"score": 0.5, "nms": 0.3},
        "training": {"config_hash": "0" * 16, "commit": "unknown", "config": "tests/test_firmware_limits.py"},
    }


def head_kmodel(out_dir, stride):
    """A valid 320x240 kmodel v3 (zero weights) whose YOLOv2 head is 5 anchors x 6 channels on the
    grid of ``stride`` (8: 40x30, 16: 20x15), with its model.json. Returns the .kmodel path."""
    from picoface.kmodel import v3

    pools = {8: (3, 1), 16: (3, 3)}[stride]       # max4x4/4 then max2x2/2 or max4x4/4
    r1 = v3.conv_regs(320, 240, 3, 8, kernel=3, pool_type=pools[0], src_addr=0)
    c1 = v3.ConvLayer(regs=r1, weights=np.zeros((8, 3, 3, 3), np.uint8).tobytes(), bn=[v3.BN(1, 0, 0)] * 8,
                      act=v3.ActTable.identity(), flags=0, main_mem_out_address=0)
    r2 = v3.conv_regs(80, 60, 8, 30, kernel=1, pool_type=pools[1], src_addr=r1.image_dst_addr)
    c2 = v3.ConvLayer(regs=r2, weights=np.zeros((30, 8, 1, 1), np.uint8).tobytes(), bn=[v3.BN(1, 0, 0)] * 30,
                      act=v3.ActTable.identity(), flags=v3.KLF_MAIN_MEM_OUT, main_mem_out_address=0)
    gw, gh, _ = r2.out_shape
    n = gw * gh * 30
    deq = v3.DequantizeLayer(main_mem_in_address=0, main_mem_out_address=v3.align(n, 8), count=n, scale=1.0,
                             bias=-5.0)
    data = v3.build_model([c1, c2, deq]).serialize()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ("head_%dx%d.kmodel" % (gw, gh))
    path.write_bytes(data)
    (out_dir / "model.json").write_text(json.dumps(contract(path.stem, path.name, data, (gw, gh)), indent=1))
    return path


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    return head_kmodel(tmp_path_factory.mktemp("big"), 8)      # 40x30x5 = 6000 boxes


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return head_kmodel(tmp_path_factory.mktemp("small"), 16)   # 20x15x5 = 1500 boxes


def assert_refused(err, boxes="6000"):
    """One `picoface:` line naming the number, the limit, its source and what to do."""
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("picoface: "), err
    lim = maixpy_boxes_limit()
    assert "40x30x5 = %s" % boxes in err and "more than %d" % lim.value in err and lim.source in err
    assert " — use an output grid of at most 1500 boxes" in err


# ---------------------------------------------------------------------------------- the table

def test_table_loads_and_every_limit_has_a_source():
    table = firmware.load()
    assert set(table) == {"maixpy", "canmv", "openmv"}
    raw = __import__("tomllib").loads(firmware.TABLE.read_text())
    for fam in table.values():
        assert fam.title and fam.chip and fam.decoder and fam.limits
        for lim in fam.limits.values():
            for s in (lim.source,) + lim.see:
                assert SOURCE_RE.match(s), s
                repo, commit = s.split(" ")[0].split("@")
                assert raw["repos"][repo].startswith(commit)
            assert lim.what and lim.why and lim.checked
            if lim.static:
                assert lim.quantity in firmware.QUANTITIES and lim.todo
    m, c, o = table["maixpy"].limits, table["canmv"].limits, table["openmv"].limits
    assert (m["region_boxes"].rule, m["region_boxes"].value) == ("max", 1500)
    assert (m["anchors"].rule, m["anchors"].value) == ("equal", 5)
    assert (m["results"].rule, m["results"].value) == ("runtime", 10)
    assert m["gc_heap_bytes"].value == 512 * 1024 and m["task_stack_bytes"].value == 32 * 1024
    assert m["region_heap_bytes_per_box"].value == 16 + 8 + 8
    assert (c["region_boxes"].rule, c["region_boxes"].value) == ("max", 1500)
    assert c["output_size"].rule == "region_size" and c["gc_heap_bytes"].value == 768432
    assert "results" in c and c["results"].value is None          # a Python list: no cap
    assert o["output_layout"].value == ("NHWC",) and "int8" in o["output_dtype"].value
    assert o["anchors_ndarray"].rule == "call"


def test_docs_table_cites_every_limit():
    doc = (REPO_ROOT / "docs" / "firmware.md").read_text()
    for fam in firmware.load().values():
        for lim in fam.limits.values():
            assert "| %s | " % fam.name in doc and lim.source in doc, (fam.name, lim.key)


def test_boards_list_firmware_families_of_their_chip():
    table = firmware.load()
    names = boards.list_boards()
    assert "firmware" not in names
    for n in names:
        b = boards.load_board(n)
        assert b.firmware and all(table[f].chip == b.chip for f in b.firmware)
    assert boards.load_board("maix_dock").firmware == ("maixpy", "canmv")
    with pytest.raises(PicofaceError, match="unknown board 'firmware'"):
        boards.load_board("firmware")


def test_a_board_with_another_chips_firmware_is_refused(tmp_path):
    p = tmp_path / "openmv_h7.toml"
    p.write_text((boards.boards_dir() / "openmv_h7.toml").read_text().replace('firmware = ["openmv"]',
                                                                             'firmware = ["maixpy"]'))
    with pytest.raises(PicofaceError, match="firmware 'maixpy' runs on k210, the board's chip is stm32h7"):
        boards.load_board(p)


@pytest.mark.parametrize("mutate,msg", [
    (lambda t: t.replace("sipeed_yolo2.c:357", "sipeed_yolo2.c", 1), "is not 'owner/repo@commit path:line'"),
    (lambda t: t.replace("sipeed/MaixPy-v1@d8901fd2272f components/kendryte_sdk/src/sipeed_yolo2.c:357",
                         "sipeed/MaixPy-v1@0123456789ab components/kendryte_sdk/src/sipeed_yolo2.c:357", 1),
     "commit 0123456789ab is not"),
    (lambda t: t.replace('rule = "max"', 'rule = "most"', 1), "unknown rule 'most'"),
    (lambda t: t.replace('todo = "train with model.anchors = 5"\n', "", 1), "lacks todo"),
    (lambda t: t.replace("value = 1500", 'value = "1500"', 1), "value must be an integer"),
    (lambda t: t.replace('checked = "read"\n', "", 1), "lacks checked"),
])
def test_bad_tables_are_refused(tmp_path, mutate, msg):
    p = tmp_path / "firmware.toml"
    p.write_text(mutate(firmware.TABLE.read_text()))
    with pytest.raises(PicofaceError, match=msg):
        firmware.load(p)


# ---------------------------------------------------------------------------------- check_detector

def test_check_detector():
    v = firmware.check_detector("maixpy", 40, 30, 5, 1)
    assert [x.limit.key for x in v] == ["region_boxes"] and v[0].got == 6000
    assert "6000" in str(v[0]) and "1500" in str(v[0]) and maixpy_boxes_limit().source in str(v[0])
    assert firmware.check_detector("maixpy", 20, 15, 5, 1, output_values=20 * 15 * 30) == []
    assert firmware.check_detector("canmv", 20, 15, 5, 1, output_values=20 * 15 * 30) == []
    assert [x.limit.key for x in firmware.check_detector("maixpy", 10, 10, 9, 1)] == ["anchors"]
    bad = firmware.check_detector("canmv", 20, 15, 5, 1, output_values=20 * 15 * 27)
    assert [x.limit.key for x in bad] == ["output_size"] and "8100 values" in str(bad[0]) and "9000" in str(bad[0])
    assert firmware.check_detector("canmv", 10, 10, 3, 2) == []      # CanMV takes any anchor count
    o = firmware.check_detector("openmv", 26, 20, 5, 1, output_values=26 * 20 * 31, layout="NCHW", dtype="int4")
    assert sorted(x.limit.key for x in o) == ["output_dtype", "output_layout", "output_size"]
    assert firmware.check_detector("openmv", 26, 20, 5, 1, layout="NHWC", dtype="int8") == []
    with pytest.raises(PicofaceError, match="did you mean 'maixpy'"):
        firmware.check_detector("maixpi", 1, 1, 5)


def test_check_board_every_family_or_the_chosen_one():
    dock = boards.load_board("maix_dock")
    with pytest.raises(PicofaceError) as e:
        firmware.check_board(dock, 40, 30, 5)
    assert "MaixPy-v1" in str(e.value) and "CanMV-K210" in str(e.value) and str(e.value).count("6000") == 2
    with pytest.raises(PicofaceError) as e:
        firmware.check_board(dock, 10, 10, 3, families=["canmv"], output_values=1)
    assert "CanMV" in str(e.value) and "MaixPy" not in str(e.value)
    assert firmware.check_board(dock, 10, 10, 3, families=["canmv"]) == ("canmv",)
    with pytest.raises(PicofaceError, match="does not run openmv firmware"):
        firmware.check_board(dock, 20, 15, 5, families=["openmv"])
    assert firmware.check_board(dock, 20, 15, 5) == ("maixpy", "canmv")


# ---------------------------------------------------------------------------------- commands

def test_kmodel_pack(big, small, tmp_path, capsys):
    out = tmp_path / "big.kfpkg"
    assert cli_main(["kmodel", "pack", str(big), "--board", "maix_dock", "-o", str(out)]) == 1
    assert_refused(capsys.readouterr().err)
    assert not out.exists()
    assert cli_main(["kmodel", "pack", str(small), "--board", "maix_dock", "-o", str(tmp_path / "s.kfpkg")]) == 0
    # --no-check skips the budgets and firmware limits, never the format
    assert cli_main(["kmodel", "pack", str(big), "--board", "maix_dock", "-o", str(out), "--no-check"]) == 0
    v5 = tmp_path / "v5.kmodel"
    v5.write_bytes(b"LDMK" + (5).to_bytes(4, "little") + b"\0" * 56)
    capsys.readouterr()
    assert cli_main(["kmodel", "pack", str(v5), "-o", str(tmp_path / "v5.kfpkg"), "--no-check"]) == 1
    assert "is not a kmodel v3" in capsys.readouterr().err


def test_kmodel_pack_without_model_json_takes_run_yolo2s_5_anchors(big, tmp_path, capsys):
    lone = tmp_path / "lone.kmodel"
    shutil.copyfile(big, lone)
    assert cli_main(["kmodel", "pack", str(lone), "-o", str(tmp_path / "x.kfpkg")]) == 1
    assert_refused(capsys.readouterr().err)


def test_flash_dry_run(big, small, capsys):
    assert cli_main(["flash", "--board", "maix_dock", "--model", str(big), "--dry-run"]) == 1
    cap = capsys.readouterr()
    assert_refused(cap.err)
    assert "flash plan" not in cap.out
    assert cli_main(["flash", "--board", "maix_bit", "--model", str(big), "--dry-run"]) == 1
    assert "board maix_bit" in capsys.readouterr().err
    assert cli_main(["flash", "--board", "maix_dock", "--model", str(small), "--dry-run"]) == 0
    assert "0x300000  picoface.kmodel" in capsys.readouterr().out


def test_flash_dry_run_openmv_checks_the_contract(tmp_path, capsys):
    art = tmp_path / "m.tflite"
    art.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 1000)
    c = contract("m", art.name, art.read_bytes(), (26, 20), fmt="tflite-int8", layout="NHWC", dtype="int8")
    (tmp_path / "model.json").write_text(json.dumps(c))
    assert cli_main(["flash", "--board", "openmv_h7", "--model", str(art), "--dry-run"]) == 0
    capsys.readouterr()
    c["output"]["layout"] = "NCHW"
    (tmp_path / "model.json").write_text(json.dumps(c))
    assert cli_main(["flash", "--board", "openmv_h7", "--model", str(art), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "output layout is NCHW, the firmware takes NHWC" in err
    assert firmware.family("openmv").limits["output_layout"].source in err


def float_head_tflite(path, stride):
    """A float TFLite, 320x240 RGB in, one conv to a 5 x 6 channel head at ``stride``."""
    import tensorflow as tf

    inp = tf.keras.layers.Input((240, 320, 3))
    out = tf.keras.layers.Conv2D(30, stride, strides=stride)(inp)
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(inp, out)).convert())
    return path


@pytest.mark.tf
def test_kmodel_convert(tmp_path, capsys, monkeypatch):
    """The float model's head is checked before nncase runs (stubbed here: never reached for 40x30)."""
    from picoface.kmodel import nncase_side

    class Compiled(Exception):
        pass

    def compile_tflite(*a, **k):
        raise Compiled()

    monkeypatch.setattr(nncase_side, "find_python", lambda required=True: "python3.10")
    monkeypatch.setattr(nncase_side, "compile_tflite", compile_tflite)
    cj = tmp_path / "contract.json"
    cj.write_text(json.dumps({"name": "t", "output": {"anchors": ANCHORS, "classes": 1},
                              "thresholds": {"score": 0.5, "nms": 0.3}}))
    calib = tmp_path / "calib.npy"
    np.save(calib, np.zeros((2, 240, 320, 3), np.uint8))
    out = tmp_path / "o" / "m.kmodel"
    argv = ["kmodel", "convert", None, "--board", "maix_dock", "--calib", str(calib), "--out", str(out),
            "--contract", str(cj)]
    argv[2] = str(float_head_tflite(tmp_path / "big.tflite", 8))
    assert cli_main(argv) == 1
    assert_refused(capsys.readouterr().err)
    assert not out.parent.exists()
    argv[2] = str(float_head_tflite(tmp_path / "small.tflite", 16))
    with pytest.raises(Compiled):      # 20x15x5 passes the check and goes on to nncase
        cli_main(argv)


def test_export_refuses_before_loading_anything(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.keras").write_bytes(b"never loaded")
    (run / "config.yaml").write_text("name: t\ninput: {w: 320, h: 240}\nmodel: {stride: 8}\n"
                                     "export: {board: maix_dock}\n")
    assert cli_main(["export", str(run), "--out", str(tmp_path / "out")]) == 1
    assert_refused(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_export_check_uses_the_export_size():
    from picoface.commands.export import _check_firmware

    cfg = SimpleNamespace(input=SimpleNamespace(w=320, h=240), model=SimpleNamespace(stride=8, anchors=5, classes=1))
    model = Path("best.keras")
    _check_firmware("maix_dock", cfg, (160, 120), ["tflite-int8"], model)       # --input 160x120: 20x15x5
    with pytest.raises(PicofaceError, match="40x30x5 = 6000"):
        _check_firmware("maix_dock", cfg, None, ["tflite-int8"], model)             # the config's 320x240
    with pytest.raises(PicofaceError, match="20x16x5 = 1600, more than 1500"):
        _check_firmware("maix_bit", cfg, (160, 128), ["tflite-float"], model)
    _check_firmware("openmv_h7", cfg, (208, 160), ["tflite-int8"], model)       # 26x20, NHWC int8: fine
    _check_firmware("", cfg, None, ["tflite-int8"], model)                      # no board: nothing to check


# ---------------------------------------------------------------------------------- the real firmware code

def shipped_kmodels():
    out = []
    for k in sorted((REPO_ROOT / "models").glob("*/*.kmodel")):
        from picoface.contract import contract_path

        c = contract_path(k, strict=False)
        if c is not None and json.loads(c.read_text()).get("output", {}).get("anchors"):
            out.append(pytest.param(k, c, id=k.parent.name))
    return out or [pytest.param(None, None, id="none", marks=pytest.mark.skip(reason="no detector kmodel in models/"))]


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("kmodel,contract_json", shipped_kmodels())
def test_shipped_kmodels_pass_kv3check(kmodel, contract_json):
    """The Kendryte SDK's loader + layer loop, then MaixPy's and CanMV's own region layers on a
    32 KB stack (../shared/tools/kv3check): the shipped detector must run on both firmwares."""
    import kv3

    r = kv3.run(kmodel, contract_json)
    assert kv3.passed(r), r.stdout + r.stderr
