"""The always-on gate: frames cut from face datasets, ROC figures, and `picoface train` of a gate
config shipping int8 TFLite + kmodel v3 with contracts, export.json and a card."""

import json

import numpy as np
import pytest

from picoface.gate import metrics
from picoface.gate.crops import frame_crops
from picoface.train.config import GateConfig
from picoface.paths import REPO_ROOT

GATE_CONFIG = REPO_ROOT / "models" / "picoface_gate_96x96" / "train.yaml"


def _images(n=12, seed=0):
    rng = np.random.default_rng(seed)
    imgs, boxes, ign = [], [], []
    for i in range(n):
        imgs.append(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
        s = float(rng.integers(20, 80))
        boxes.append(np.array([[float(rng.integers(0, 320 - s)), float(rng.integers(0, 240 - s)), s, s]], np.float32))
        ign.append(np.zeros((0, 4), np.float32))
    return imgs, boxes, ign


def test_frame_crops_label_size_and_background():
    """Positives hold their face at face_min..face_max of the frame height; negatives overlap no face
    by more than a tenth of its area; the frames have the camera's aspect squashed to the net."""
    from picoface.gate.crops import _overlap, _negative, _positive

    g = GateConfig(face_min=0.2, face_max=0.8)
    imgs, boxes, ign = _images()
    x, y, fr = frame_crops(imgs, boxes, ign, 60, 48, 32, np.random.default_rng(1), g, sizes=True)
    assert x.shape == (60, 32, 48, 3) and x.dtype == np.uint8
    assert list(y[:4]) == [1, 0, 1, 0] and y.mean() == 0.5
    assert (fr[y == 0] == 0).all() and (fr[y == 1] > 0).all()
    # the crop height is capped at the photo's (x1.15), so a big face can fill more than face_max
    assert (fr[y == 1] >= g.face_min * 0.999).all()
    rng = np.random.default_rng(3)
    for i in range(len(imgs)):
        r = _negative(imgs[i], boxes[i], g, rng)
        if r is not None:
            assert abs(r[2] / r[3] - g.aspect) < 1e-6 and _overlap(*r, boxes[i]) < 0.1
        x0, y0, cw, ch = _positive(imgs[i], boxes[i][0], g, rng, True)
        bx, by, bw, bh = boxes[i][0]
        assert x0 <= bx + 1e-3 and y0 <= by + 1e-3 and bx + bw <= x0 + cw + 1e-3 and by + bh <= y0 + ch + 1e-3
    gray = frame_crops(imgs, boxes, ign, 8, 48, 32, np.random.default_rng(1), g, channels=1)[0]
    assert gray.shape == (8, 32, 48, 1)


def test_roc_auc_and_threshold():
    """AUC is the Mann-Whitney probability that a face outscores a background frame (ties count
    half); the threshold keeps at least the asked share of faces and is the highest that does."""
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(300), np.zeros(200)]
    s = np.round(rng.normal(y * 1.2, 1.0), 1)       # rounded: ties
    pos, neg = s[y == 1], s[y == 0]
    mw = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg))
    assert metrics.auc(s, y) == pytest.approx(mw, abs=1e-9)
    th, tpr, fpr = metrics.threshold_at_tpr(s, y, 0.9)
    assert (pos >= th).mean() == pytest.approx(tpr) and tpr >= 0.9
    assert (pos > th).mean() < 0.9          # the next higher threshold keeps fewer
    assert (neg >= th).mean() == pytest.approx(fpr)
    sm = metrics.summary(s, y, th)
    assert sm["tpr"] == round(tpr, 4) and sm["faces"] == 300 and sm["non_faces"] == 200


@pytest.mark.tf
@pytest.mark.slow
def test_gate_trains_and_ships(tmp_path):
    """`picoface train` of the gate config on tiny data ships both boards' artifacts; each contract's
    threshold is the one export.json reports, the int8 TFLite scores reproduce its val AUC, and the
    kmodel's output is the map the contract describes."""
    from picoface.cli import main
    from picoface.kmodel import nncase_side
    from picoface.train.synthetic import make_dataset

    try:
        nncase_side.find_python()
    except Exception as e:
        pytest.skip("nncase 1.9 side venv not set up: %s" % e)
    make_dataset(tmp_path / "d" / "tr", n=16, size=(192, 144), seed=1)
    make_dataset(tmp_path / "d" / "va", n=8, size=(192, 144), seed=2)
    out = tmp_path / "out"
    args = ["data.root=%s" % (tmp_path / "d"), "data.train=[tr]", "data.val=va", "data.val_min_size=4",
            "data.unlabelled=[]", "data.holdout={}", "data.cache_side=192", "run_dir=%s" % (tmp_path / "run"),
            "out=%s" % out, "train.budget_minutes=0", "train.epochs=1", "train.steps_per_epoch=2",
            "train.batch_size=8", "gate.val_crops=40", "gate.min_face=8", "export.calib_images=8"]
    assert main(["train", "--config", str(GATE_CONFIG), "--quiet", *args]) == 0
    rep = json.loads((out / "export.json").read_text())
    for f in ("gate_int8.tflite", "gate_float.tflite", "gate.kmodel", "gate_int8.json", "gate_kmodel.json",
              "MODEL_CARD.md", "curves.png", "log.csv"):
        assert (out / f).is_file(), f
    ci = json.loads((out / "gate_int8.json").read_text())
    ck = json.loads((out / "gate_kmodel.json").read_text())
    assert ci["kind"] == ck["kind"] == "gate" and ci["format"] == "tflite-int8" and ck["format"] == "kmodel-v3"
    assert ci["thresholds"]["gate"] == rep["formats"]["tflite-int8"]["val"]["threshold"]
    assert ck["thresholds"]["gate"] == rep["formats"]["kmodel-v3"]["val"]["threshold"]
    assert ci["bytes"] == (out / "gate_int8.tflite").stat().st_size
    assert (ck["output"]["grid_w"], ck["output"]["grid_h"], ck["output"]["channels"]) == (6, 6, 1)
    # the int8 scores of the same val frames, squashed as OpenMV does, give the reported AUC
    from picoface.export.tflite import TFLiteRunner
    from picoface.train.config import load_config
    from picoface.train.val import load_valset

    cfg = load_config(GATE_CONFIG, args)
    v = load_valset(cfg)
    from picoface.gate.board_input import openmv_gate_input, rgb565, rgb888

    cam, vy = frame_crops(v.images, [s.boxes for s in v.samples], [s.ignore for s in v.samples], 40, 320, 240,
                          np.random.default_rng(12345), cfg.gate, train=False)
    run = TFLiteRunner((out / "gate_int8.tflite").read_bytes())
    logit = np.array([np.mean(run(openmv_gate_input(rgb888(rgb565(f)), 96, 96))) for f in cam])
    assert metrics.auc(logit, vy) == pytest.approx(rep["formats"]["tflite-int8"]["val"]["auc"], abs=1e-4)
    # the kmodel: a 6x6 map in the emulator, and the reported AUC on the frames squashed as the K210 app does
    from picoface.gate.board_input import k210_gate_input
    from picoface.kmodel import emulator

    emu = emulator.Emulator((out / "gate.kmodel").read_bytes())
    maps = [np.asarray(emu.run(emulator.hwc_to_chw(k210_gate_input(rgb888(rgb565(f)), 96, 96)))[0]) for f in cam]
    assert maps[0].size == 36
    kauc = metrics.auc(np.array([m.mean() for m in maps]), vy)
    assert kauc == pytest.approx(rep["formats"]["kmodel-v3"]["val"]["auc"], abs=1e-4)
    card = (out / "MODEL_CARD.md").read_text()
    assert "%.3f" % rep["formats"]["kmodel-v3"]["val"]["auc"] in card
    # `picoface gate export` ships the finished run again, to the same files
    kmodel = (out / "gate.kmodel").read_bytes()
    (out / "MODEL_CARD.md").unlink()
    (out / "gate.kmodel").unlink()
    assert main(["gate", "export", "--config", str(GATE_CONFIG), *args]) == 0
    assert (out / "MODEL_CARD.md").read_text() == card and (out / "gate.kmodel").read_bytes() == kmodel


def test_gate_hysteresis_and_forced_runs():
    """The detector runs from the first frame at or above the threshold (on_frames 1), goes on while
    it finds faces even when the gate no longer sees one, stops once the gate has been below the
    threshold for off_frames frames and the detector found nothing, and runs every `every` frames
    while closed."""
    from pfcore import gate

    g = gate.Gate(0.5, on_frames=1, off_frames=3, every=5)
    assert [g.update(0.1) for _ in range(10)] == [False] * 4 + [True] + [False] * 4 + [True]
    assert g.update(0.9) is True and g.open
    g.found(1)
    for _ in range(6):                     # a far face: the gate sees nothing, the detector does
        assert g.update(0.1) is True
        g.found(1)
    g.found(0)                             # the face left: the gate has been low for long enough
    assert [g.update(0.1) for _ in range(3)] == [False, False, False]
    assert not g.open and g.runs == 1 + 1 + 1 + 6
    g3 = gate.Gate(0.5, on_frames=1, off_frames=3, every=0)
    assert g3.update(0.9) is True
    g3.found(0)
    assert [g3.update(0.1) for _ in range(4)] == [True, True, False, False]
    g2 = gate.Gate(0.5, on_frames=2, off_frames=1, every=0)
    assert [g2.update(p) for p in (0.6, 0.4, 0.6, 0.6, 0.1, 0.1)] == [False, False, False, True, False, False]
    assert gate.score([0.0, 0.0]) == 0.5 and gate.score([2.0, 4.0]) == pytest.approx(1 / (1 + np.exp(-3.0)))
    assert gate.score(bytearray([138]), 0.1, 128) == pytest.approx(1 / (1 + np.exp(-1.0)))
    with pytest.raises(ValueError, match="no output"):
        gate.score([])


def test_gate_config_needs_its_model():
    """mode gate without a gate model (size, threshold, path) falls back to mode detect with a problem."""
    from pfcore import config

    cfg, problems = config.load({"mode": "gate", "gate": {"w": 96, "h": 96, "threshold": 0.4, "path": "/sd/g"}})
    assert cfg["mode"] == "gate" and problems == [] and cfg["gate_every"] == 15
    cfg, problems = config.load({"mode": "gate", "gate": {"w": 96, "h": 96}})
    assert cfg["mode"] == "detect" and "gate.threshold" in problems[0]
    cfg, problems = config.load({"mode": "gate", "gate": {"w": 96, "h": 96, "threshold": 0.4}})
    assert cfg["mode"] == "detect" and "gate.path" in problems[0]
    cfg, problems = config.load({"mode": "watch", "gate_every": -2})
    assert cfg["mode"] == "detect" and len(problems) == 2


SHIPPED = REPO_ROOT / "models" / "picoface_gate_96x96"
K210_DETECTOR = REPO_ROOT / "models" / "picoface_k210_320x240" / "picoface.kmodel"


@pytest.mark.tf
@pytest.mark.slow
def test_gate_sim_on_every_firmware_family(data_root, tmp_path):
    """`picoface gate sim`: the unchanged app on MaixPy, CanMV and OpenMV, detect then gate, on one
    scene; the runs it reports are the fakes' accelerator runs, and the figures follow from them."""
    from picoface.cli import main

    out = tmp_path / "g"
    assert main(["gate", "sim", "--visits", "2", "--out", str(out)]) == 0
    rep = json.loads((out / "gate_sim.json").read_text())
    assert [r["family"] for r in rep["rows"]] == ["maixpy", "canmv", "openmv"]
    n = rep["frames"]
    for r in rep["rows"]:
        d, g = r["detect"], r["gate"]
        assert d["frames"] == g["frames"] == n and d["end"] == g["end"] == "frames exhausted"
        assert d["detector_runs"] == n and d["gate_runs"] == 0 and g["gate_runs"] == n
        assert 0 < g["detector_runs"] <= n
        m = rep["macs"][r["family"]]
        assert g["macs_per_frame"] == round((g["detector_runs"] * m["detector"] + n * m["gate"]) / n)
        assert r["detector_runs_saved"] == round(1 - g["detector_runs"] / n, 4)
        for (a, b, _), dv, gv in zip(rep["truth"], d["enter_delay"], g["enter_delay"]):
            assert dv is None or 0 <= dv < b - a
            assert gv is None or 0 <= gv < b - a
        assert r["missed"] == sum(1 for dv, gv in zip(d["enter_delay"], g["enter_delay"]) if dv is not None and gv is None)
    md = (out / "gate_sim.md").read_text()
    assert all(r["gate"]["firmware"] in md for r in rep["rows"]) and (out / "gate_sim.png").stat().st_size > 1000


@pytest.mark.tf
@pytest.mark.parametrize("family", ["maixpy", "canmv"])
def test_gate_that_will_not_load_leaves_the_detector_on(family):
    """A gate the firmware cannot load is one error line; the app then detects every frame."""
    from picoface.sim.runner import run_app

    s = run_app("maix_dock", firmware=family, model_path=K210_DETECTOR, max_frames=4, gate_path=SHIPPED / "gate.kmodel",
                config={"mode": "gate", "gate": {"w": 96, "h": 96, "threshold": 0.5, "path": "/flash/nope.kmodel"}},
                clock={"frame_ms": 33, "infer_ms": 40, "load_ms": 300})
    assert s["end"] == "max_frames" and s["hello"]["mode"] == "gate"
    assert [e["code"] for e in s["errors"]] == ["gate_load"]
    assert s["model_runs"] == {"detector": 4, "gate": 0}


def test_gate_is_refused_where_it_has_no_place():
    from picoface.errors import PicofaceError
    from picoface.sim.runner import run_app

    with pytest.raises(PicofaceError, match="no place for a gate"):
        run_app("openmv_h7", firmware="openmv", gate_path=SHIPPED / "gate_int8.tflite", max_frames=1)
    with pytest.raises(PicofaceError, match="runs kmodel-v3 gates"):
        run_app("maix_dock", firmware="maixpy", gate_path=SHIPPED / "gate_int8.tflite",
                gate_contract=SHIPPED / "gate_int8.json", max_frames=1)


def test_flash_plan_copies_the_gate_and_sets_mode_gate():
    """`picoface flash --gate DIR`: the board's gate file is in the plan and the generated config runs
    mode gate with the contract's threshold; a gate file that is not its contract's is refused."""
    from picoface.boards import load_board
    from picoface.errors import PicofaceError
    from picoface.flash import plan as fplan

    for board, art, contract in (("maix_dock", "gate.kmodel", "gate_kmodel.json"),
                                 ("openmv_h7_plus", "gate_int8.tflite", "gate_int8.json")):
        b = load_board(board)
        p = fplan.build(b, gate=SHIPPED)
        files = {path: data for path, data, _ in p.files}
        assert files[b.model["gate_path"]] == (SHIPPED / art).read_bytes()
        cfg = json.loads([d for path, d, _ in p.files if path.endswith("picoface.json")][0])
        c = json.loads((SHIPPED / contract).read_text())
        assert cfg["mode"] == "gate" and cfg["gate"]["threshold"] == c["thresholds"]["gate"]
        assert cfg["gate"]["path"] == b.model["gate_path"] and cfg["gate"]["bytes"] == c["bytes"]
    with pytest.raises(PicofaceError, match="no place for a gate"):
        fplan.build(load_board("openmv_h7"), gate=SHIPPED)
    from picoface.gate.contract import load_gate

    with pytest.raises(PicofaceError, match="sha256 differs"):
        load_gate(SHIPPED / "gate.kmodel", json.loads((SHIPPED / "gate_int8.json").read_text()))


@pytest.mark.parametrize("folder", ["picoface_gate_96x96", "picoface_gate_tinyface_100"])
def test_shipped_gate_card_is_its_export_json(folder):
    """Every figure of a shipped gate's card is rendered from its export.json, whose sizes are the
    shipped files' and whose thresholds are the contracts'."""
    from picoface.gate.card import render
    from picoface.train.config import load_config

    d = REPO_ROOT / "models" / folder
    rep = json.loads((d / "export.json").read_text())
    cfg = load_config(d / "train.yaml", [])
    assert (d / "MODEL_CARD.md").read_text() == render(cfg, rep)
    for fmt, art, contract in (("tflite-int8", "gate_int8.tflite", "gate_int8.json"),
                               ("kmodel-v3", "gate.kmodel", "gate_kmodel.json")):
        if fmt not in rep["formats"]:
            assert not (d / art).exists()
            continue
        assert rep["formats"][fmt]["bytes"] == (d / art).stat().st_size
        c = json.loads((d / contract).read_text())
        assert c["thresholds"]["gate"] == rep["formats"][fmt]["val"]["threshold"]


def test_gate_sim_doc_is_its_json():
    """docs/gate/gate_sim.md is `picoface gate sim`'s rendering of docs/gate/gate_sim.json, and that run
    used the shipped gate's thresholds and the device's default hysteresis."""
    from pfcore import config
    from picoface.gate.simulate import render

    d = REPO_ROOT / "docs" / "gate"
    rep = json.loads((d / "gate_sim.json").read_text())
    assert (d / "gate_sim.md").read_text() == render(rep)
    for k in ("gate_on_frames", "gate_off_frames", "gate_every"):
        assert rep["config"][k] == config.DEFAULTS[k]
    assert {r["family"] for r in rep["rows"]} == {"maixpy", "canmv", "openmv"}


@pytest.mark.shared
@pytest.mark.slow
def test_shipped_gate_kmodel_passes_kv3check(tmp_path):
    """The Kendryte SDK's own loader and layer loop accept the shipped gate kmodel and walk every layer
    (../shared/tools/kv3check, loader only: the gate has no region layer), on a 96x96 frame."""
    import cv2
    import kv3

    from picoface.train.synthetic import make_dataset

    make_dataset(tmp_path / "d", n=1, size=(96, 96), seed=3)
    img = cv2.cvtColor(cv2.imread(str(next((tmp_path / "d" / "images").glob("*.jpg")))), cv2.COLOR_BGR2RGB)
    frame = tmp_path / "in.bin"
    np.ascontiguousarray(img.transpose(2, 0, 1)).tofile(frame)
    r = kv3.run(SHIPPED / "gate.kmodel", SHIPPED / "gate_kmodel.json", frame, loader_only=True)
    assert kv3.passed(r) and "all layers walked" in r.stdout, r.stdout + r.stderr


@pytest.mark.tf
@pytest.mark.parametrize("gen", ["maixpy-0.5.0", "maixpy-0.6.2", "canmv-1.0.7", "openmv-tf-4.5.5", "openmv-ml-4.5.9",
                                 "openmv-ml-4.8.0"])
def test_gate_reads_its_model_right_on_every_generation(gen, tmp_path):
    """Each generation's HAL turns the gate's output into the probability the host computes for the same
    camera frame squashed the board's way (picoface.gate.board_input): with the threshold just under it
    the detector runs on every frame, just over it never (no forced runs)."""
    import cv2

    from picoface.export.tflite import TFLiteRunner
    from picoface.gate.board_input import k210_gate_input, openmv_gate_input
    from picoface.kmodel import emulator
    from picoface.sim.runner import run_app
    from picoface.sim.world import sensor_frame
    from picoface.train.synthetic import make_dataset

    make_dataset(tmp_path / "d", n=1, size=(320, 240), seed=5, max_faces=1)
    rgb = cv2.cvtColor(cv2.imread(str(next((tmp_path / "d" / "images").glob("*.jpg")))), cv2.COLOR_BGR2RGB)
    cam = sensor_frame(rgb, 320, 240)
    k210 = not gen.startswith("openmv")
    if k210:
        small = k210_gate_input(cam, 96, 96)
        logit = float(np.mean(emulator.run((SHIPPED / "gate.kmodel").read_bytes(), emulator.hwc_to_chw(small))[0]))
    else:
        small = openmv_gate_input(cam, 96, 96)
        logit = float(np.mean(TFLiteRunner((SHIPPED / "gate_int8.tflite").read_bytes())(small)))
    board = "maix_dock" if k210 else "openmv_h7_plus"
    det = K210_DETECTOR if k210 else REPO_ROOT / "models" / "picoface_openmv_240x176" / "picoface_int8.tflite"
    runs = {}
    for side, dl in (("under", -0.1), ("over", 0.1)):
        th = float(1 / (1 + np.exp(-(logit + dl))))
        s = run_app(board, firmware=gen, frames=[rgb] * 6, model_path=det,
                    gate_path=SHIPPED / ("gate.kmodel" if k210 else "gate_int8.tflite"),
                    config={"mode": "gate", "gate_on_frames": 1, "gate_off_frames": 1, "gate_every": 0,
                            "gate": dict(_gate_cfg(board), threshold=th)},
                    clock={"frame_ms": 33, "infer_ms": 40, "load_ms": 300})
        assert s["errors"] == [] and s["end"] == "frames exhausted", s["errors"]
        runs[side] = s["model_runs"]
    assert runs == {"under": {"detector": 6, "gate": 6}, "over": {"detector": 0, "gate": 6}}


def _gate_cfg(board):
    from picoface.boards import load_board
    from picoface.gate.contract import device_gate, load_gate

    b = load_board(board)
    data, contract = load_gate(SHIPPED, board=b)
    return device_gate(contract, b, len(data))


def test_fakes_resample_as_the_firmware_does():
    """K210 resize shrinks by nearest neighbour from the top-left (int(x * w0 / w)) and grows bilinearly;
    mean_pooled averages each RGB565 channel as integers; OpenMV's copy scales by nearest neighbour
    unless hint=image.AREA (docs/firmware.md, "`mode: gate`")."""
    from picoface.gate.board_input import rgb565, rgb888
    from picoface.sim.fakes._common import AREA, Image
    from picoface.sim.fakes._k210 import K210Image

    rng = np.random.default_rng(0)
    rgb = rgb888(rgb565(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)))
    small = K210Image(rgb).resize(96, 96)._rgb
    xs = [int(x * np.float32(320 / 96)) for x in range(96)]
    ys = [int(y * np.float32(240 / 96)) for y in range(96)]
    assert np.array_equal(small, rgb[ys][:, xs])
    assert K210Image(rgb[:10, :10]).resize(20, 20)._rgb.shape == (20, 20, 3)
    pooled = K210Image(rgb).mean_pooled(3, 2)._rgb
    q = rgb565(rgb[:2, :3]).reshape(-1, 3).sum(0) // 6
    assert pooled.shape == (120, 106, 3) and np.array_equal(pooled[0, 0], rgb888(q))
    with pytest.raises(ValueError, match="Width divisor"):
        K210Image(rgb).mean_pooled(0, 1)
    near = Image(rgb).copy(x_scale=0.5, y_scale=0.5)._rgb
    assert np.array_equal(near, rgb[::2, ::2])
    area = Image(rgb).copy(x_scale=0.5, y_scale=0.5, hint=AREA)._rgb
    assert np.abs(area[0, 0].astype(float) - rgb[:2, :2].reshape(-1, 3).mean(0)).max() <= 0.5   # the block mean
