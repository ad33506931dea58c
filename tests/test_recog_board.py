"""The board side of mode recognise (docs/firmware.md, "`mode: recognise`"): each HAL family's
load_recog / landmarks / embed on the fake firmware, the fakes' pixel conversions against the firmware's
(RGB565 get_pixel / set_pixel, K210 resize and pix_to_ai, roi errors), and the host plumbing
(picoface.recog.contract, `picoface flash --recog`, `picoface sim --mode recognise`)."""

import itertools
import json
import shutil

import numpy as np
import pytest

from conftest import ROOT
from picoface.boards import device_config, load_board
from picoface.errors import PicofaceError
from picoface.sim import world as world_mod
from picoface.sim.runner import firmware_sandbox

RECOG = ROOT / "models" / "picoface_recog"
GRID, LM_CH, EMB_DIM, SIZE = 4, 160, 128, 64
GENS = [("maixpy-0.6.2", "maix_dock"), ("maixpy-0.5.0", "maix_dock"), ("canmv-1.0.7", "maix_bit"),
        ("openmv-ml-4.8.0", "openmv_h7_plus"), ("openmv-ml-4.5.9", "openmv_h7_plus"),
        ("openmv-tf-4.5.5", "openmv_h7_plus")]


def _scene():
    """A 320x240 camera scene with every kind of colour (smooth shapes plus noise)."""
    rng = np.random.default_rng(7)
    import cv2

    base = cv2.resize(rng.integers(0, 256, (12, 16, 3)).astype(np.uint8), (320, 240), interpolation=cv2.INTER_CUBIC)
    return np.clip(base.astype(np.int64) + rng.integers(-40, 41, base.shape), 0, 255).astype(np.uint8)


def _matrix():
    # frame -> 64x64 face: rotate 12 degrees, scale 0.6, the face centred near (150, 110); part of the
    # face square falls outside the frame at no point, but the corners sample it off-axis
    a, s = np.deg2rad(12.0), 0.6
    c, d = s * np.cos(a), s * np.sin(a)
    return [[c, d, 32 - (c * 150 + d * 110)], [-d, c, 32 - (-d * 150 + c * 110)]]


def _board_run(gen, board_name, tmp_path, roi):
    """(landmarks, embed, the camera frame's pixels, hal.recog_chw, the fake world) for one generation."""
    from picoface.recog.contract import device_recog, load_recog

    board = load_board(board_name)
    files, contract = load_recog(RECOG, board)
    sub = device_recog(contract, board)
    family = gen.split("-")[0]
    w = world_mod.World(board, family, gen, tmp_path, frames=itertools.repeat(_scene()))
    for net, data in files.items():
        w.put_file(sub[net + "_path"], data)
        w.open_runner(data, w.runner_layout(), load_time=False)      # compile outside the sandbox
    cfg_text = json.dumps(device_config(board, None, mode="recognise", recog=sub))
    with firmware_sandbox(w, family):
        import hal
        from pfcore import config

        cfg, problems = config.load(cfg_text)
        assert problems == [] and cfg["mode"] == "recognise"
        h = hal.select(cfg)
        img = h.snapshot()
        h.load_recog()
        h.load_recog()                  # a reload frees the nets it had
        lm = [float(v) for v in h.landmarks(img, roi)]
        em = [float(v) for v in h.embed(img, _matrix())]
        frame = img._rgb.copy()
        chw = h.recog_chw
        with pytest.raises(OSError, match="ROI does not overlap on the image!"):
            h.landmarks(img, (330, 10, 40, 40))
    assert w.runs[hash(files["landmarks"])] == 1 and w.runs[hash(files["embed"])] == 1
    return lm, em, frame, chw, w, files


def _warp(frame_rgb, m):
    """The host's aligned face: pfcore.recognise.warp_nearest on a numpy frame."""
    from pfcore import recognise

    out = np.zeros((SIZE, SIZE, 3), np.uint8)

    def get(x, y):
        return frame_rgb[y, x]

    def put(u, v, rgb):
        out[v, u] = rgb
    recognise.warp_nearest(get, frame_rgb.shape[1], frame_rgb.shape[0], m, SIZE, put)
    return out


@pytest.mark.parametrize("gen, board", GENS, ids=[g for g, _ in GENS])
def test_hal_runs_both_nets_as_the_host_does(gen, board, tmp_path):
    """landmarks() and embed() give the nets' full maps; embed's equals the host's run of the same model
    file on the face warped from the frame's pixels as the firmware reads them (K210: get_pixel's table
    expansion, then set_pixel / pix_to_ai; OpenMV: bit replication)."""
    from picoface.gate.board_input import k210_ai, k210_resize

    k210 = not gen.startswith("openmv")
    roi = (100, 60, 48, 48) if gen == "maixpy-0.6.2" else (90, 50, 120, 120)   # grows on one, shrinks on the rest
    lm, em, frame, chw, w, files = _board_run(gen, board, tmp_path, roi)
    assert len(lm) == GRID * GRID * LM_CH and len(em) == GRID * GRID * EMB_DIM
    assert np.all(np.isfinite(lm)) and np.all(np.isfinite(em))
    assert chw == (k210 or gen.startswith("openmv-tf"))
    assert w.warnings == []
    if k210:
        from picoface.kmodel import emulator

        face = _warp(k210_ai(frame), _matrix())
        want = np.asarray(emulator.Emulator(files["embed"]).run(emulator.hwc_to_chw(face))[0]).reshape(-1)
        np.testing.assert_allclose(em, want, rtol=0, atol=1e-6)
        x, y, rw, rh = roi
        lin = k210_ai(k210_resize(frame[y:y + rh, x:x + rw], SIZE, SIZE))
        want = np.asarray(emulator.Emulator(files["landmarks"]).run(emulator.hwc_to_chw(lin))[0]).reshape(-1)
        np.testing.assert_allclose(lm, want, rtol=0, atol=1e-6)
    else:
        from picoface.export.tflite import TFLiteRunner

        face = _warp(frame, _matrix())
        want = np.asarray(TFLiteRunner(files["embed"])(face), np.float64)      # (4, 4, 128), dequantised
        want = want.transpose(2, 0, 1) if chw else want
        np.testing.assert_allclose(em, want.reshape(-1), rtol=1e-5, atol=1e-6)


def test_rgb565_pixels_as_each_firmware_converts_them(tmp_path):
    """set_pixel quantises to RGB565 and get_pixel expands it: K210 by rounding tables
    (rgb2rgb_tab.c), OpenMV by cutting and replicating bits; outside the image get_pixel is None and
    set_pixel does nothing; the constructors the HALs use."""
    got = {}
    for family, gen, board in (("maixpy", "maixpy-0.6.2", "maix_dock"), ("canmv", "canmv-1.0.7", "maix_dock"),
                               ("openmv", "openmv-ml-4.8.0", "openmv_h7_plus")):
        w = world_mod.World(load_board(board), family, gen, tmp_path / family)
        with firmware_sandbox(w, family):
            import image

            if family == "openmv":
                with pytest.raises(OSError, match="Pixel format is not set"):
                    image.Image(SIZE, SIZE)
                im = image.Image(SIZE, SIZE, image.RGB565)
            else:
                im = image.Image(size=(SIZE, SIZE))
            assert (im.width(), im.height()) == (SIZE, SIZE) and im.get_pixel(5, 5) == (0, 0, 0)
            im.set_pixel(1, 2, (28, 10, 250))
            im.set_pixel(SIZE, 0, (255, 255, 255))          # outside: nothing
            assert im.get_pixel(SIZE, 0) is None and im.get_pixel(-1, 3) is None
            with pytest.raises(TypeError):
                im.get_pixel(1.5, 2)
            got[family] = im.get_pixel(1, 2)
            if family != "openmv":
                im.pix_to_ai()
                assert tuple(im._get_ai()[:, 2, 1]) == got[family]     # the KPU sees get_pixel's values
    # K210: r 28 -> round(28 * 31 / 255) = 3 -> round(3 * 255 / 31) = 25; g 10 -> 2 -> 8; b 250 -> 30 -> 247
    assert got["maixpy"] == got["canmv"] == (25, 8, 247)
    # OpenMV: 28 >> 3 = 3 -> (3 << 3) | (3 >> 2) = 24; 10 >> 2 = 2 -> 8; 250 >> 3 = 31 -> 255
    assert got["openmv"] == (24, 8, 255)


def _c_resize_up(q, w, h):
    """MaixPy's RGB565 growing resize (py_image.c, py_image_resize), one pixel at a time as the C does,
    on 5/6/5-bit channels."""
    f = np.float32
    h0, w0 = q.shape[:2]
    sx, sy = f(w0) / f(w), f(h0) / f(h)
    out = np.zeros((h, w, 3), np.int64)
    for y in range(h):
        for x in range(w):
            xs = (f(x) + f(0.5)) * sx - f(0.5)
            ys = (f(y) + f(0.5)) * sy - f(0.5)
            x1, y1 = int(xs), int(ys)
            x2, y2 = x1 + 1, y1 + 1
            if x2 >= w0 or y2 >= h0:
                out[y, x] = q[y1, x1]
                continue
            ch = []
            for c in range(3):
                t1 = (f(x2) - xs) * f(q[y1, x1, c]) + (xs - f(x1)) * f(q[y1, x2, c])
                t2 = (f(x2) - xs) * f(q[y2, x1, c]) + (xs - f(x1)) * f(q[y2, x2, c])
                v = (f(y2) - ys) * t1 + (ys - f(y1)) * t2
                ch.append(0 if v < 0 else int(v) & 0xFF)
            r5, g6, b5 = ch
            p = ((r5 << 3) | (g6 >> 3) | ((g6 & 7) << 13) | (b5 << 8)) & 0xFFFF
            out[y, x] = ((p >> 3) & 0x1F, ((p & 7) << 3) | (p >> 13), (p >> 8) & 0x1F)
    return out


def test_k210_resize_grows_as_the_firmware_does():
    from picoface.gate.board_input import k210_resize, rgb565, rgb888

    rng = np.random.default_rng(3)
    q = np.stack([rng.integers(0, 32, (9, 11)), rng.integers(0, 64, (9, 11)), rng.integers(0, 32, (9, 11))], -1)
    got = rgb565(k210_resize(rgb888(q), 20, 16))
    np.testing.assert_array_equal(got, _c_resize_up(q, 20, 16))
    # shrinking stays nearest neighbour, the same size a copy
    big = rgb888(q)
    assert k210_resize(big, 11, 9).tobytes() == big.tobytes()
    np.testing.assert_array_equal(k210_resize(big, 5, 4), big[(np.arange(4) * np.float32(9 / 4)).astype(int)][
        :, (np.arange(5) * np.float32(11 / 5)).astype(int)])


def test_roi_errors_are_the_firmwares(tmp_path):
    w = world_mod.World(load_board("maix_dock"), "maixpy", "maixpy-0.6.2", tmp_path)
    with firmware_sandbox(w, "maixpy"):
        import image

        im = image.Image(size=(320, 240))
        with pytest.raises(OSError, match="Invalid ROI dimensions!"):
            im.copy(roi=(10, 10, 0, 5))
        with pytest.raises(OSError, match="ROI does not overlap on the image!"):
            im.copy(roi=(-50, 10, 50, 5))
        part = im.copy(roi=(300, 230, 40, 40))          # clipped to what is inside
        assert (part.width(), part.height()) == (20, 10)


def test_contract_picks_the_boards_format_and_checks_it(tmp_path):
    from picoface.recog.contract import device_recog, load_recog

    mj = json.loads((RECOG / "model.json").read_text())
    k210 = load_board("maix_dock")
    files, contract = load_recog(RECOG / "model.json", k210)
    assert files["embed"] == (RECOG / "embed.kmodel").read_bytes()
    sub = device_recog(contract, k210)
    assert sub["landmarks_path"] == "/flash/landmarks.kmodel" and sub["embed_path"] == "/flash/embed.kmodel"
    assert (sub["input"], sub["grid"], sub["dim"], sub["points"]) == (64, 4, 128, 5)
    assert sub["threshold"] == mj["thresholds"]["kmodel-v3"] and sub["box_scale"] == 1.25
    files, contract = load_recog(RECOG, load_board("openmv_h7_plus"))
    assert files["landmarks"] == (RECOG / "landmarks_int8.tflite").read_bytes()
    assert device_recog(contract, load_board("openmv_h7_plus"))["embed_path"] == "/sd/embed_int8.tflite"
    with pytest.raises(PicofaceError, match="openmv_h7 cannot hold the recognition nets"):
        load_recog(RECOG, load_board("openmv_h7"))
    bad = tmp_path / "recog"
    shutil.copytree(RECOG, bad)
    (bad / "embed.kmodel").write_bytes(b"\0" + (RECOG / "embed.kmodel").read_bytes()[1:])
    with pytest.raises(PicofaceError, match="sha256 differs"):
        load_recog(bad, k210)
    with pytest.raises(PicofaceError, match="picoface recog export"):
        load_recog(tmp_path / "nothing", k210)


@pytest.mark.parametrize("board, net", [("maix_dock", "/flash/embed.kmodel"),
                                        ("openmv_h7_plus", "/sd/embed_int8.tflite")])
def test_flash_recog_plan(board, net, capsys):
    from picoface.cli import main
    from picoface.flash import plan as fplan

    assert main(["flash", "--board", board, "--recog", str(RECOG), "--dry-run"]) == 0
    assert net in capsys.readouterr().out
    p = fplan.build(load_board(board), recog=RECOG)
    files = {path: data for path, data, _ in p.files}
    cfg = json.loads(files["/flash/picoface.json"])
    assert cfg["mode"] == "recognise" and cfg["recog"]["embed_path"] == net
    assert files[net] == (RECOG / net.rsplit("/", 1)[1]).read_bytes()
    with pytest.raises(PicofaceError, match="two different modes"):
        fplan.build(load_board(board), recog=RECOG, gate=ROOT / "models" / "picoface_gate_96x96")


def test_sim_mode_recognise_puts_the_nets_on_the_board(tmp_path, capsys):
    from picoface.cli import main

    store = tmp_path / "board"
    assert main(["sim", "--board", "openmv_h7_plus", "--mode", "recognise", "--recog", str(RECOG), "--frames", "1",
                 "--storage", str(store)]) == 0
    cfg = json.loads((store / "flash" / "picoface.json").read_text())
    assert cfg["mode"] == "recognise" and cfg["recog"]["landmarks_path"] == "/sd/landmarks_int8.tflite"
    assert (store / "sd" / "embed_int8.tflite").read_bytes() == (RECOG / "embed_int8.tflite").read_bytes()
    assert main(["sim", "--mode", "recognise", "--recog", str(tmp_path / "none"), "--frames", "1"]) == 1
    assert "picoface recog export" in capsys.readouterr().err
    assert main(["sim", "--recog", str(RECOG), "--frames", "1"]) == 1
