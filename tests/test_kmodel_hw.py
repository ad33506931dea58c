"""On a real K210 board (skipped without --port): one frame through the board's KPU gives the
same output as picoface's KPU emulator.

    .venv/bin/python -m pytest -m hw tests/test_kmodel_hw.py --port /dev/ttyUSB0 --board maix_dock

Needs MaixPy firmware with the shipped kmodel already flashed (`make flash`). The test uploads a
test picture as a PPM file, loads the model from the board's flash address, runs `kpu.forward`
on it and reads the float output back over the raw REPL. The emulator runs on the same pixels
after the RGB565 round trip the board's image buffer makes. The tolerance covers what is not
verified without a board (KMODEL.md §7: rounding of the activation segments, a few LSB).
"""

import numpy as np
import pytest

from picoface.boards import load_board
from picoface.flash import models
from picoface.flash.files import put_file
from picoface.flash.rawrepl import RawRepl
from picoface.kmodel import emulator, v3
from picoface.transport import Transport

PPM_PATH = "/flash/pf_hw.ppm"
SNIPPET = """
import KPU as kpu, image, gc
gc.collect()
img = image.Image(%r)
img.pix_to_ai()
task = kpu.load(%d)
fmap = kpu.forward(task, img)
out = fmap[:]
print('N', len(out))
for i in range(0, len(out), 50):
    print(','.join(['%%.5f' %% v for v in out[i:i + 50]]))
kpu.deinit(task)
"""


def _test_picture(w, h):
    """A deterministic picture with structure at every scale (no data files needed)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 127 + 120 * np.sin(x / 7.0) * np.cos(y / 11.0)
    g = 255 * (x / w)
    b = 127 + 120 * np.sin((x + y) / 23.0)
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def _rgb565_round_trip(rgb):
    """What the board's RGB565 frame buffer keeps of an RGB888 picture, expanded back to 8 bits."""
    r = (rgb[..., 0] >> 3).astype(np.uint16)
    g = (rgb[..., 1] >> 2).astype(np.uint16)
    b = (rgb[..., 2] >> 3).astype(np.uint16)
    return np.stack([(r << 3) | (r >> 2), (g << 2) | (g >> 4), (b << 3) | (b >> 2)], -1).astype(np.uint8)


def _ppm(rgb):
    h, w, _ = rgb.shape
    return b"P6\n%d %d\n255\n" % (w, h) + rgb.tobytes()


@pytest.mark.hw
def test_board_kpu_output_matches_emulator(request):
    board = load_board(request.config.getoption("--board"))
    if not board.is_k210 or board.model["placement"] != "flash":
        pytest.skip("this test is for K210 boards with the model in flash")
    artifact, _ = models.resolve(board)
    model = v3.parse(artifact.read_bytes())
    w, h = board.input_size
    picture = _test_picture(w, h)

    transport = Transport(request.config.getoption("--port"), board=board).open()
    try:
        repl = RawRepl(transport)
        repl.enter()
        put_file(repl, PPM_PATH, _ppm(picture))
        text = repl.exec(SNIPPET % (PPM_PATH, board.model["flash_address"]), timeout=120).decode()
        repl.exit()
    finally:
        transport.close()

    lines = [ln for ln in text.splitlines() if ln.strip()]
    n = int(lines[0].split()[1])
    board_out = np.array([float(v) for ln in lines[1:] for v in ln.split(",")], np.float32)
    assert board_out.size == n

    chw = np.ascontiguousarray(_rgb565_round_trip(picture).transpose(2, 0, 1))
    emu_out = np.asarray(emulator.run(model, chw)[0], np.float32).ravel()
    assert emu_out.size == board_out.size
    deq = [layer for layer in model.layers if type(layer).__name__ == "DequantizeLayer"]
    lsb = abs(deq[-1].scale) if deq else float(np.ptp(emu_out) / 255)
    cos = float(np.dot(board_out, emu_out) / (np.linalg.norm(board_out) * np.linalg.norm(emu_out)))
    worst = float(np.max(np.abs(board_out - emu_out)))
    print("board vs emulator: cosine %.6f, max |diff| %.4f (%.1f LSB)" % (cos, worst, worst / lsb))
    assert cos > 0.999
    assert worst <= 6 * lsb
