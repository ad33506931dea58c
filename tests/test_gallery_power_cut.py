"""A power cut in the middle of a gallery write: a simulated board whose /flash programs 256-byte
pages at 2 KB/s is killed (SIGKILL, no clean-up) while `gallery_rename` rewrites its gallery; the
slot being written is left cut, and the gallery the board reads at the next boot is the previous
one, whole."""

import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import ROOT
from pfcore import gallery, recognise
from test_board_cmd import PICOFACE, start_sim


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import fakeboard

    return fakeboard.tiny_kmodel(tmp_path_factory.mktemp("tiny"))


def _gallery(storage, n=40, dim=128):
    g = gallery.Gallery(dim, paths=tuple(str(storage / "flash" / p) for p in ("gallery.a", "gallery.b")))
    (storage / "flash").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        e = recognise.normalise([((i * 7 + k * 13) % 17) - 8.0 for k in range(dim)])
        assert g.add("person%d" % i, recognise.quantise(e)) is None
    g.save()
    return g


@pytest.mark.slow
def test_a_power_cut_during_a_gallery_write_keeps_the_previous_gallery(tiny, tmp_path, monkeypatch):
    storage = tmp_path / "board"
    before = _gallery(storage)
    size = os.path.getsize(storage / "flash" / "gallery.a")       # ~5.5 KB: about 3 s at 2 KB/s
    monkeypatch.setenv("PICOFACE_SIM_FLASH_BPS", "2000")
    p, port = start_sim("maix_dock", tiny, storage=storage)
    target = storage / "flash" / "gallery.b"                       # the slot the next save writes
    try:
        t = threading.Thread(target=subprocess.run, args=(PICOFACE + ["gallery", "rename", "--port", port,
                                                                       "person3", "renamed"],),
                             kwargs={"capture_output": True, "timeout": 60, "cwd": ROOT}, daemon=True)
        t.start()
        deadline = time.time() + 60
        while time.time() < deadline:
            n = os.path.getsize(target) if target.exists() else 0
            if 0 < n < size - 512:
                break
            time.sleep(0.01)
        cut = os.path.getsize(target)
        print("cut at %d of %d bytes" % (cut, size))
        assert 0 < cut < size, "the write was not caught in the middle (%d of %d bytes)" % (cut, size)
        os.kill(p.pid, signal.SIGKILL)                              # the power cut
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
    assert os.path.getsize(target) < size
    after = gallery.Gallery(128, paths=before.paths)
    problem = after.load()
    assert problem and "gallery.b" in problem                       # the cut slot is seen and set aside
    assert after.entries == before.entries and after.seq == before.seq
    assert "renamed" not in [n for n, _ in after.names()]
    # the board boots again on the same /flash and lists the previous gallery
    monkeypatch.delenv("PICOFACE_SIM_FLASH_BPS")
    p, port = start_sim("maix_dock", tiny, storage=storage)
    try:
        r = subprocess.run(PICOFACE + ["gallery", "list", "--port", port], capture_output=True, text=True,
                           timeout=60, cwd=ROOT)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "person3" in r.stdout and "renamed" not in r.stdout and "40" in r.stdout
    finally:
        p.terminate()
        p.wait(20)
