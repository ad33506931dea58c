"""Board facts as data: one TOML file per board under ``boards/``.

``load_board(name)`` returns a validated ``Board``; every error names the file and the key.
A board's ``firmware`` lists the firmware families it runs; each must be a family of
``boards/firmware.toml`` (``picoface.firmware``: their limits) for the board's chip.
``device_config(board, ...)`` makes the small dict that the device app reads at boot.
"""

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from picoface.errors import PicofaceError
from picoface.paths import REPO_ROOT

NOT_BOARDS = ("firmware",)   # boards/firmware.toml: firmware limits, not a board
MODEL_FORMATS = ("kmodel-v3", "tflite-int8")

# section -> {key: (type, required)}
_SCHEMA = {
    "": {"name": (str, True), "title": (str, True), "chip": (str, True), "firmware": (list, True)},
    "camera": {"framesize": (str, True), "width": (int, True), "height": (int, True), "pixformat": (str, True)},
    "model": {
        "format": (str, True), "input_width": (int, True), "input_height": (int, True),
        "placement": (str, True), "flash_address": (int, False), "file_path": (str, False),
        "gate_path": (str, False), "recog_landmarks_path": (str, False), "recog_embed_path": (str, False),
    },
    "memory": {
        "kpu_ram_bytes": (int, False), "model_bytes_full_firmware": (int, False),
        "model_bytes_minimum_firmware": (int, False), "firmware_max_bytes": (int, False),
        "model_bytes": (int, False), "tflm_arena_bytes": (int, False), "gc_heap_bytes": (int, True),
    },
    "led": {"kind": (str, True), "red": (int, True), "green": (int, True), "blue": (int, True),
            "active_low": (bool, True)},
    "lcd": {"present": (bool, True), "width": (int, True), "height": (int, True)},
    "serial": {"usb_ids": (list, True), "baud": (int, True), "dtr_idle": (bool, True),
               "rts_idle": (bool, True), "reset": (str, True), "isp": (str, True)},
    "flash": {"tool": (str, True), "kflash_board": (str, False), "kflash_baud": (int, False),
              "app_dir": (str, True)},
    # the user button (docs/firmware.md, "The button"); a board file without [button] has none
    "button": {"kind": (str, True), "pin": (int, False), "pin_name": (str, False), "active_low": (bool, False)},
}
OPTIONAL = ("button",)
# button kinds: a K210 pad read through fpioa + GPIOHS (pin), machine.Pin by name (pin_name),
# pyb.Switch(), or none
BUTTON_KINDS = ("gpio", "machine_pin", "pyb_switch", "none")


def boards_dir():
    env = os.environ.get("PICOFACE_BOARDS")
    if env:
        return Path(env)
    return REPO_ROOT / "boards"


@dataclass(frozen=True)
class Board:
    name: str
    title: str
    chip: str
    firmware: tuple
    camera: dict
    model: dict
    memory: dict
    led: dict
    lcd: dict
    serial: dict
    flash: dict
    path: Path = field(compare=False, default=None)
    button: dict = field(default_factory=lambda: {"kind": "none"})

    @property
    def is_k210(self):
        return self.chip == "k210"

    @property
    def model_format(self):
        return self.model["format"]

    @property
    def input_size(self):
        """(width, height) of the model input."""
        return (self.model["input_width"], self.model["input_height"])

    @property
    def camera_size(self):
        return (self.camera["width"], self.camera["height"])

    def model_byte_budget(self, minimum_firmware=False):
        m = self.memory
        if self.is_k210:
            return m["model_bytes_minimum_firmware" if minimum_firmware else "model_bytes_full_firmware"]
        return m["model_bytes"]

    def usb_ids(self):
        """[(vid, pid), ...] as ints."""
        out = []
        for s in self.serial["usb_ids"]:
            vid, pid = s.split(":")
            out.append((int(vid, 16), int(pid, 16)))
        return out


def list_boards():
    d = boards_dir()
    return sorted(p.stem for p in d.glob("*.toml") if p.stem not in NOT_BOARDS)


def _suggest(word, choices):
    m = difflib.get_close_matches(word, list(choices), n=1)
    return (" (did you mean %r?)" % m[0]) if m else ""


def load_board(name_or_path):
    p = Path(name_or_path)
    if p.suffix != ".toml":
        p = boards_dir() / (str(name_or_path) + ".toml")
        if not p.is_file() or p.stem in NOT_BOARDS:
            names = list_boards()
            raise PicofaceError(
                "unknown board %r%s" % (str(name_or_path), _suggest(str(name_or_path), names)),
                "choose one of: " + ", ".join(names))
    try:
        raw = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise PicofaceError("board file %s not found" % p, "check the path") from None
    except tomllib.TOMLDecodeError as e:
        raise PicofaceError("%s: invalid TOML: %s" % (p, e), "fix the board file") from None
    return _validate(raw, p)


def _validate(raw, path):
    where = str(path)
    for section, keys in _SCHEMA.items():
        table = raw if section == "" else raw.get(section)
        if table is None and section in OPTIONAL:
            continue
        if not isinstance(table, dict):
            raise PicofaceError("%s: missing section [%s]" % (where, section), "add it (see boards/maix_dock.toml)")
        for key, (typ, required) in keys.items():
            if key not in table:
                if required:
                    raise PicofaceError("%s: [%s] lacks %r" % (where, section or "top", key), "add it")
                continue
            val = table[key]
            ok = isinstance(val, typ) and not (typ is int and isinstance(val, bool))
            if not ok:
                raise PicofaceError("%s: [%s] %s must be %s, got %r" % (where, section or "top", key, typ.__name__, val),
                                    "fix the value")
        allowed = set(keys) | (set(_SCHEMA) - {""} if section == "" else set())
        for key in table:
            if key not in allowed:
                raise PicofaceError("%s: [%s] unknown key %r%s" % (where, section or "top", key, _suggest(key, allowed)),
                                    "remove or rename it")
    if raw["name"] != path.stem:
        raise PicofaceError("%s: name %r differs from the file name" % (where, raw["name"]), "make them equal")
    from picoface import firmware  # local import: the firmware table is only needed here

    families = firmware.load()
    if not raw["firmware"]:
        raise PicofaceError("%s: firmware lists no family" % where, "use one of " + ", ".join(families))
    for fw in raw["firmware"]:
        if fw not in families:
            raise PicofaceError("%s: unknown firmware %r%s" % (where, fw, _suggest(fw, families)),
                                "use one of " + ", ".join(families))
        if families[fw].chip != raw["chip"]:
            raise PicofaceError("%s: firmware %r runs on %s, the board's chip is %s" % (
                where, fw, families[fw].chip, raw["chip"]), "list the firmware families of this chip")
    m = raw["model"]
    if m["format"] not in MODEL_FORMATS:
        raise PicofaceError("%s: unknown model format %r" % (where, m["format"]), "use one of " + ", ".join(MODEL_FORMATS))
    if m["placement"] not in ("flash", "file"):
        raise PicofaceError("%s: model placement must be 'flash' or 'file'" % where, "fix [model] placement")
    if m["placement"] == "flash" and "flash_address" not in m:
        raise PicofaceError("%s: placement 'flash' needs [model] flash_address" % where, "add it")
    if m["placement"] == "file" and "file_path" not in m:
        raise PicofaceError("%s: placement 'file' needs [model] file_path" % where, "add it")
    if m["format"] == "kmodel-v3":
        for k in ("input_width", "input_height"):
            if m[k] % 32 and not (k == "input_height" and m[k] % 16 == 0):
                raise PicofaceError("%s: [model] %s=%d is not a multiple of 32 (or 16 for height)" % (where, k, m[k]),
                                    "use a KPU-friendly input size")
        for k in ("kpu_ram_bytes", "model_bytes_full_firmware", "model_bytes_minimum_firmware", "firmware_max_bytes"):
            if k not in raw["memory"]:
                raise PicofaceError("%s: K210 board lacks [memory] %s" % (where, k), "add it")
        if "kflash_board" not in raw["flash"]:
            raise PicofaceError("%s: K210 board lacks [flash] kflash_board" % where, "add it")
    else:
        for k in ("model_bytes", "tflm_arena_bytes"):
            if k not in raw["memory"]:
                raise PicofaceError("%s: TFLite board lacks [memory] %s" % (where, k), "add it")
    for s in raw["serial"]["usb_ids"]:
        parts = s.split(":")
        try:
            ok = len(parts) == 2 and all(len(x) == 4 for x in parts) and [int(x, 16) for x in parts]
        except ValueError:
            ok = False
        if not ok:
            raise PicofaceError("%s: usb id %r is not VID:PID in hex" % (where, s), "write it like 1a86:7523")
    btn = dict(raw.get("button") or {"kind": "none"})
    if btn["kind"] not in BUTTON_KINDS:
        raise PicofaceError("%s: unknown button kind %r" % (where, btn["kind"]), "use one of " + ", ".join(BUTTON_KINDS))
    need = {"gpio": "pin", "machine_pin": "pin_name"}.get(btn["kind"])
    if need and need not in btn:
        raise PicofaceError("%s: button kind %r needs [button] %s" % (where, btn["kind"], need), "add it")
    from picoface import resets  # local import: resets imports nothing heavy
    for k in ("reset", "isp"):
        resets.parse(raw["serial"][k], where="%s [serial] %s" % (where, k))
    return Board(
        name=raw["name"], title=raw["title"], chip=raw["chip"], firmware=tuple(raw["firmware"]),
        camera=dict(raw["camera"]), model=dict(m), memory=dict(raw["memory"]), led=dict(raw["led"]),
        lcd=dict(raw["lcd"]), serial=dict(raw["serial"]), flash=dict(raw["flash"]), path=path, button=btn)


def device_button(board):
    """The board's button for the device config: False (none) or {"pin": K210 pad | pin name,
    "active_low"} (the HALs' _open_button)."""
    b = board.button
    if b["kind"] == "none":
        return False
    out = {"pin": b["pin"] if b["kind"] == "gpio" else b.get("pin_name", "")}
    if "active_low" in b:
        out["active_low"] = b["active_low"]
    if b["kind"] not in ("gpio", "machine_pin"):
        out = {"kind": b["kind"]}
    return out


def device_config(board, model=None, **overrides):
    """The small JSON-able dict the device app reads at boot (``/flash/picoface.json``).

    ``model`` is the model contract (dict from model.json) or None; ``overrides`` are
    app settings (thresholds etc.) that the device core validates again.
    """
    cfg = {
        "board": board.name,
        "camera": {"w": board.camera["width"], "h": board.camera["height"],
                   "framesize": board.camera["framesize"], "pixformat": board.camera["pixformat"]},
        "led": {"kind": board.led["kind"], "r": board.led["red"], "g": board.led["green"],
                "b": board.led["blue"], "active_low": board.led["active_low"]},
        "lcd": board.lcd["present"],
        "button": device_button(board),
        "model": {"format": board.model["format"], "placement": board.model["placement"],
                  "w": board.model["input_width"], "h": board.model["input_height"]},
    }
    if board.model["placement"] == "flash":
        cfg["model"]["address"] = board.model["flash_address"]
    else:
        cfg["model"]["path"] = board.model["file_path"]
    if model is not None:
        cfg["model"].update(model)
    cfg.update(overrides)
    return cfg
