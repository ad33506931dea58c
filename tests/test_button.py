"""The board's button (docs/firmware.md, "The button"): pfcore.button's edge + debounce, each HAL family's
pressed() on the fake firmware with simulated presses (`picoface sim --press`), the board files' facts."""

import dataclasses
import re

import pytest

from conftest import ROOT
from picoface.boards import list_boards, load_board
from picoface.sim import world as world_mod
from picoface.sim.runner import firmware_sandbox
from pfcore import button

FRAME_MS = 40
PRESSES = [5, 20, 21, 40]      # 20 and 21 overlap: one long press


def test_edge_counts_a_press_once_and_ignores_bounce():
    e = button.Edge(50)
    t = 0
    got = []
    for down, dt in [(True, 0),                    # held at the first sample: not a press
                     (False, 100), (True, 100),    # a press
                     (False, 10), (True, 10),      # bounce 10 ms after it: ignored
                     (True, 100), (False, 100),    # held, then released
                     (True, 30),                   # 30 ms after the release: bounce, ignored
                     (True, 30)]:                  # still down 60 ms after: now a press
        t = (t + dt) & ((1 << 30) - 1)
        got.append(e.update(down, t))
    assert got == [False, False, True, False, False, False, False, False, True]


def test_button_never_raises():
    def no_module():
        raise ImportError("no module named 'fpioa_manager'")

    def flaky():
        raise OSError("pin read failed")

    b = button.Button(no_module, lambda: 0)
    assert [b.pressed() for _ in range(3)] == [False, False, False]
    assert button.Button(lambda: flaky, lambda: 0).pressed() is False
    assert button.Button(lambda: None, lambda: 0).pressed() is False


def _run(board, family, gen, tmp_path, cfg=None, frames=45):
    """pressed() of the family's HAL once a frame, FRAME_MS apart, with the button held from each of
    PRESSES; returns the frame numbers where it said True."""
    w = world_mod.World(board, family, gen, tmp_path, presses=PRESSES)
    seen = []
    with firmware_sandbox(w, family):
        mod = __import__({"maixpy": "hal_maixpy", "canmv": "hal_canmv", "openmv": "hal_openmv"}[family])
        h = mod.Hal()
        h.cfg = dict(cfg or {})
        for n in range(1, frames + 1):
            w.snapshots = n             # the n-th camera frame was taken
            w.advance(FRAME_MS)
            if h.pressed():
                seen.append(n)
    return seen, w


@pytest.mark.parametrize("family, gen", [("maixpy", "maixpy-0.5.0"), ("maixpy", "maixpy-0.6.2"),
                                         ("canmv", "canmv-1.0.7")])
def test_k210_boot_button_once_per_press(family, gen, tmp_path):
    seen, w = _run(load_board("maix_dock"), family, gen, tmp_path)
    assert seen == [5, 20, 40]
    assert w.fm.map[16] == 24 + 0       # IO16 -> fm.fpioa.GPIOHS0
    assert not w.warnings


def test_k210_button_off_in_the_config(tmp_path):
    seen, _ = _run(load_board("maix_dock"), "maixpy", "maixpy-0.6.2", tmp_path, cfg={"button": False})
    assert seen == []


def test_openmv_h7_has_no_button(tmp_path):
    seen, _ = _run(load_board("openmv_h7"), "openmv", "openmv-ml-4.8.0", tmp_path)
    assert seen == []                   # no pyb.Switch on the H7: pressed() is always False


@pytest.mark.parametrize("kind, cfg", [("machine_pin", {"button": {"pin": "SW", "active_low": True}}),
                                       ("pyb_switch", None)])
def test_openmv_boards_with_a_button(kind, cfg, tmp_path):
    # an RT1062-like board (machine.Pin("SW"), low while pressed) and one with pyb.Switch
    b = dataclasses.replace(load_board("openmv_h7"), button={"kind": kind, "pin_name": "SW", "active_low": True})
    seen, _ = _run(b, "openmv", "openmv-ml-4.8.0", tmp_path, cfg=cfg)
    assert seen == [5, 20, 40]


def test_board_files_carry_the_button():
    # the K210 HAL's default pin is the boards' fact (the device config cannot carry it yet)
    pin = int(re.search(r"^BUTTON_PIN = (\d+)", (ROOT / "device" / "hal_k210.py").read_text(), re.M).group(1))
    for name in list_boards():
        b = load_board(name)
        assert b.button["kind"] in ("gpio", "none"), name
        if b.is_k210:
            assert (b.button["pin"], b.button["active_low"]) == (pin, True)
        else:
            assert b.button["kind"] == "none"   # OpenMV Cam H7 / H7 Plus: no user button


def test_sim_press_option_is_checked():
    from picoface.commands.sim import parse_presses
    from picoface.errors import PicofaceError

    assert parse_presses("10,40") == [10, 40] and parse_presses(None) == []
    for bad in ("0", "a", "3,,4"):
        with pytest.raises(PicofaceError):
            parse_presses(bad)
