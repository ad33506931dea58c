import pytest

from picoface import boards, resets
from picoface.cli import main
from picoface.errors import PicofaceError


def test_all_boards_load():
    names = boards.list_boards()
    assert {"maix_dock", "maix_bit", "openmv_h7", "openmv_h7_plus"} <= set(names)
    for n in names:
        b = boards.load_board(n)
        assert b.name == n
        assert b.usb_ids()


def test_dock_facts():
    b = boards.load_board("maix_dock")
    assert b.model["flash_address"] == 0x300000
    assert (b.led["red"], b.led["green"], b.led["blue"], b.led["active_low"]) == (14, 13, 12, True)
    assert b.serial["dtr_idle"] is False and b.serial["rts_idle"] is False
    assert b.flash["kflash_board"] == "dan"
    assert b.input_size == (320, 240)
    cfg = boards.device_config(b)
    assert cfg["model"]["address"] == 0x300000 and cfg["led"]["active_low"] is True


def test_unknown_board_suggests():
    with pytest.raises(PicofaceError, match="did you mean 'maix_dock'"):
        boards.load_board("maix_dok")


@pytest.mark.parametrize("mutate,msg", [
    (lambda t: t.replace('width = 320\n', 'width = "320"\n', 1), "must be int"),
    (lambda t: t.replace('[lcd]', '[lcd]\ncolour = 1', 1), "unknown key 'colour'"),
    (lambda t: t.replace('firmware = ["maixpy", "canmv"]', 'firmware = ["maixpi"]'), "did you mean 'maixpy'"),
    (lambda t: t.replace('reset = "D0|R1|W0.1|R0|W0.5"', 'reset = "D0|X1"'), "bad step 'X1'"),
    (lambda t: t.replace('[camera]', '[camera', 1), "invalid TOML"),
    (lambda t: t.replace('input_width = 320', 'input_width = 300'), "multiple of 32"),
])
def test_bad_board_files(tmp_path, mutate, msg):
    src = boards.boards_dir() / "maix_dock.toml"
    p = tmp_path / "maix_dock.toml"
    p.write_text(mutate(src.read_text()))
    with pytest.raises(PicofaceError, match=msg):
        boards.load_board(p)


def test_reset_executor():
    class Port:
        def __init__(self):
            self.log = []

        def __setattr__(self, k, v):
            if k in ("dtr", "rts"):
                self.log.append((k, v))
            object.__setattr__(self, k, v)

    p = Port()
    object.__setattr__(p, "log", [])
    waits = []
    resets.run(p, "D0|R1|W0.1|R0", sleep=waits.append)
    assert p.log == [("dtr", False), ("rts", True), ("rts", False)]
    assert waits == [0.1]


def test_cli_boards(capsys):
    assert main(["boards"]) == 0
    assert "maix_dock" in capsys.readouterr().out
    assert main(["boards", "nope"]) == 1
    assert "picoface: unknown board 'nope'" in capsys.readouterr().err


def test_cli_board_facts_read_as_text(capsys):
    """`picoface boards maix_dock`: no Python reprs (braces, quotes, tuples, True), the flash
    address in hex as in boards/maix_dock.toml, sizes with their unit."""
    assert main(["boards", "maix_dock"]) == 0
    out = capsys.readouterr().out
    rows = dict(line.split(None, 1) for line in out.splitlines())
    for repr_mark in ("{", "}", "'", '"', "True", "False"):
        assert repr_mark not in out, (repr_mark, out)
    assert rows["firmware"] == "maixpy, canmv"
    assert "flash_address = 0x300000," in rows["model"] and "3145728" not in rows["model"]
    assert "kpu_ram_bytes = 2097152 (2 MiB)" in rows["memory"] and "gc_heap_bytes = 524288 (512 KiB)" in rows["memory"]
    assert "usb_ids = [1a86:7523, 0403:6010], baud = 115200, dtr_idle = false" in rows["serial"]
    assert "active_low = true" in rows["led"]
