"""The simulator's K210 fakes fail where the firmware fails (boards/firmware.toml via picoface.firmware),
`picoface sim` refuses a model that breaks a limit of the simulated firmware before the board starts,
and `picoface kmodel info` ends with the heap the model takes at run time on MaixPy and CanMV."""

import itertools
import json
import re
import struct

import numpy as np
import pytest

import fakeboard
from picoface import firmware
from picoface.cli import main as cli_main
from picoface.sim import world as world_mod
from picoface.sim.runner import firmware_sandbox, run_app
from test_firmware_limits import ANCHORS, head_kmodel

ADDRESS = 0x300000   # the Dock's model address (boards/maix_dock.toml)
FLAT = [v for a in ANCHORS for v in a]


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    return head_kmodel(tmp_path_factory.mktemp("big"), 8)        # 40x30x5 = 6000 region boxes


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return fakeboard.tiny_kmodel(tmp_path_factory.mktemp("small"))   # 20x15x5 = 1500, no faces


def limit(family, key):
    return firmware.family(family).limits[key]


def world(tmp_path, family, model):
    from picoface.boards import load_board

    w = world_mod.World(load_board("maix_dock"), family, "maixpy-0.6.2" if family == "maixpy" else "canmv-1.0.7",
                        tmp_path, frames=itertools.islice(world_mod.synthetic_scene(), 20))
    w.put_flash(ADDRESS, model.read_bytes())
    return w


class Planted:
    """Stands in for the KPU's output: K boxes of anchor 0, 4 cells apart (NMS keeps them all)."""

    def __init__(self, runner, k):
        self.input_size, self.output_shape = runner.input_size, runner.output_shape
        gh, gw, ch = runner.output_shape
        out = np.full((5, ch // 5, gh, gw), -6.0, np.float32)
        out[:, 2:4] = 0.0
        cells = [(r, c) for r in range(1, gh, 4) for c in range(1, gw, 4)][:k]
        for r, c in cells:
            out[0, 4, r, c] = 4.0
        self.out = out.reshape(-1)

    def run(self, rgb):
        return self.out


def frame_image():
    import sensor

    sensor.reset()
    sensor.set_pixformat(sensor.RGB565)
    sensor.set_framesize(sensor.QVGA)
    return sensor.snapshot()


def assert_names(e, family, key, number):
    lim = limit(family, key)
    text = str(e)
    assert number in text and ("more than %d" % lim.value) in text and lim.source in text, text
    assert "corrupts memory silently" in text
    assert e.limit is lim


# ---------------------------------------------------------------------------- MaixPy run_yolo2

def test_maixpy_run_yolo2_40x30x5_fails_with_the_number_and_the_limit(big, tmp_path):
    w = world(tmp_path, "maixpy", big)
    with firmware_sandbox(w, "maixpy"):
        import KPU as kpu

        task = kpu.load(ADDRESS)
        kpu.init_yolo2(task, 0.5, 0.3, 5, FLAT)   # init does not fail
        img = frame_image()
        with pytest.raises(world_mod.FirmwareFault) as e:
            kpu.run_yolo2(task, img)
    assert_names(e.value, "maixpy", "region_boxes", "40x30x5 = 6000")
    assert "KPU.run_yolo2" in str(e.value)


@pytest.mark.parametrize("k", [10, 11])
def test_maixpy_run_yolo2_more_than_10_results_fails(small, tmp_path, k):
    w = world(tmp_path, "maixpy", small)
    with firmware_sandbox(w, "maixpy"):
        import KPU as kpu

        task = kpu.load(ADDRESS)
        kpu.init_yolo2(task, 0.5, 0.3, 5, FLAT)
        img = frame_image()
        assert kpu.run_yolo2(task, img) is None                # 20x15x5 = 1500 boxes, no face: runs
        task.runner = Planted(task.runner, k)
        if k <= limit("maixpy", "results").value:
            objs = kpu.run_yolo2(task, img)
            assert len(objs) == k and objs[0].objnum() == k
            return
        with pytest.raises(world_mod.FirmwareFault) as e:
            kpu.run_yolo2(task, img)
    assert_names(e.value, "maixpy", "results", "11 boxes above the threshold after NMS")


# ---------------------------------------------------------------------------- CanMV

def test_canmv_regionlayer_yolo2_40x30x5_fails(big, tmp_path):
    w = world(tmp_path, "canmv", big)
    with firmware_sandbox(w, "canmv"):
        from maix import KPU

        k = KPU()
        k.load_kmodel(ADDRESS, big.stat().st_size)
        k.init_yolo2(anchor=FLAT, anchor_num=5, layer_w=40, layer_h=30, threshold=0.5, nms_value=0.3)
        k.run_with_output(frame_image())
        with pytest.raises(world_mod.FirmwareFault) as e:
            k.regionlayer_yolo2()
    assert_names(e.value, "canmv", "region_boxes", "40x30x5 = 6000")


@pytest.mark.parametrize("layer,classes", [((40, 30), 1), ((20, 15), 2)])
def test_canmv_init_yolo2_that_disagrees_with_the_model_fails(small, tmp_path, layer, classes):
    w = world(tmp_path, "canmv", small)
    with firmware_sandbox(w, "canmv"):
        from maix import KPU

        k = KPU()
        k.load_kmodel(ADDRESS, small.stat().st_size)
        with pytest.raises(world_mod.FirmwareFault) as e:
            k.init_yolo2(anchor=FLAT, anchor_num=5, layer_w=layer[0], layer_h=layer[1], classes=classes)
        k.init_yolo2(anchor=FLAT, anchor_num=5, layer_w=20, layer_h=15, threshold=0.5, nms_value=0.3)
        k.run_with_output(frame_image())
        assert k.regionlayer_yolo2() == []                     # the right figures run
    want = layer[0] * layer[1] * 5 * (classes + 5)
    lim = limit("canmv", "output_size")
    text = str(e.value)
    assert ("= %d values, the model outputs 9000" % want) in text and lim.source in text, text
    assert "reads out of bounds" in text


# ---------------------------------------------------------------------------- the app on the fakes

@pytest.mark.parametrize("family", ["canmv"])
def test_the_app_stops_at_the_fault(big, family):
    """run_app (no pre-check) with a 40x30x5 kmodel: the first inference stops the board; the app
    cannot catch it. (On MaixPy the app decodes kpu.forward's output itself and never calls run_yolo2:
    tests/test_firmware_paths.py.)"""
    s = run_app("maix_dock", firmware=family, frames=itertools.islice(world_mod.synthetic_scene(), 5),
                model_path=big, max_frames=5)
    assert s["end"] == "firmware fault" and s["frames"] == [] and s["errors"] == []
    assert "40x30x5 = 6000" in s["fault"]["text"] and s["fault"]["source"] == limit(family, "region_boxes").source
    assert "1500 boxes" in s["fault"]["todo"]


# ---------------------------------------------------------------------------- picoface sim / demo

def one_line(err):
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("picoface: "), err
    return lines[0]


@pytest.mark.parametrize("argv", [["sim", "--serial", "stdout"], ["sim", "--firmware", "canmv"], ["demo"]])
def test_sim_refuses_a_40x30x5_model_before_starting(big, argv, capsys):
    assert cli_main(argv + ["--model", str(big), "--frames", "2"]) == 1
    cap = capsys.readouterr()
    line = one_line(cap.err)
    family = "canmv" if "canmv" in argv else "maixpy"
    lim = limit(family, "region_boxes")
    assert "40x30x5 = 6000" in line and "more than %d" % lim.value in line and lim.source in line
    assert ("CanMV" in line) == (family == "canmv") and ("MaixPy" in line) == (family == "maixpy")
    assert "@PF" not in cap.out and "serial:" not in cap.out     # the board never started


def test_sim_runs_a_20x15x5_model(small, capsys):
    assert cli_main(["sim", "--model", str(small), "--frames", "2", "--serial", "stdout"]) == 0
    assert "end: max_frames" in capsys.readouterr().err


# ---------------------------------------------------------------------------- heap at run time

def test_kmodel_info_ends_with_the_heap_table(small, capsys):
    data = small.read_bytes()
    main_mem = struct.unpack_from("<I", data, 20)[0]           # header: main_mem_usage
    assert cli_main(["kmodel", "info", str(small)]) == 0
    out = capsys.readouterr().out
    table = out[out.index("run time on the K210"):]

    def row(label):
        m = re.search(r"^  %s\s+([\d,]+)\s+([\d,]+)" % re.escape(label), table, re.M)
        assert m, (label, table)
        return [int(v.replace(",", "")) for v in m.groups()]

    n = len(data)
    # MaixPy: the loader's copy is 256 B larger; region 1500 boxes x 32 B per call, CanMV x 56 B at init
    heap = [n + 256 + main_mem + 1500 * 32 + 230400 + 153600, n + main_mem + 1500 * 56 + 230400 + 153600]
    assert row("kmodel copy (load)") == [n + 256, n]
    assert row("SDK main buffer (main_mem_usage)") == [main_mem, main_mem] == [45000, 45000]
    assert row("region layer buffers") == [48000, 84000]
    assert row("camera AI buffer (RGB888)") == [320 * 240 * 3] * 2
    assert row("camera frame (RGB565)") == [320 * 240 * 2] * 2
    assert row("system heap (C malloc), sum") == heap
    assert row("GC heap (a separate block)") == [524288, 768432]
    assert row("SRAM - GC heap - system heap") == [6291456 - 524288 - heap[0], 6291456 - 768432 - heap[1]]
    assert "1,500 <= 1,500" in table
    # KPU MACs: 3x3 conv 320x240x3 -> 8 at full resolution, 1x1 80x60x8 -> 30 (pools after)
    assert "KPU MACs {:,}".format(320 * 240 * 8 * 3 * 9 + 80 * 60 * 30 * 8) in table
    from picoface.kmodel import budget

    assert "KPU RAM {:,} of 2,097,152".format(budget.facts(data)["kpu_ram_bytes"]) in table
    assert cli_main(["kmodel", "info", "--json", str(small)]) == 0
    d = json.loads(capsys.readouterr().out)["runtime"]
    mx = d["families"]["maixpy"]
    assert mx["heap_bytes"] == heap[0] and mx["boxes"] == 1500
    for t in mx["terms"] + d["families"]["canmv"]["terms"]:
        assert re.match(r"^[\w.-]+/[\w.-]+@[0-9a-f]{12} \S+:\d+(-\d+)?$", t["source"]), t


def test_kmodel_info_flags_a_40x30x5_model(big, capsys):
    assert cli_main(["kmodel", "info", str(big)]) == 0
    table = capsys.readouterr().out.split("run time on the K210")[1]
    assert table.count("6,000 > 1,500") == 2 and "192,000" in table and "336,000" in table   # 6000 x 32 B, 6000 x 56 B
