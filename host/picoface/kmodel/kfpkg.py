"""Build and read kflash ``.kfpkg`` packages (a zip holding ``flash-list.json`` + the binaries).

kflash 1.1.6 reads flash-list.json after ``re.sub(r'"address": (.*),', r'"address": "\\1",', text)``
and ``int(address, 0)``: so every ``"address": 0x...,`` must sit on its own line, be the first key
of its entry and end with a comma (anything after it on the same line would be swallowed).
A model goes in raw (``sha256Prefix: false``) at the board's flash address; firmware goes at 0
with kflash's 37-byte header (``sha256Prefix: true``: flag + size + data + sha256).
"""

import io
import json
import re
import zipfile
from pathlib import Path

from picoface import atomic
from picoface.errors import PicofaceError

VERSION = "0.1.0"
MODEL_NAME = "picoface.kmodel"
FIRMWARE_NAME = "firmware.bin"
SHA256_PREFIX_BYTES = 37          # 1 flag + 4 length + 32 sha256, added by kflash around firmware
FLASH_SECTOR = 4096
# kflash's own substitution (kflash.py, "Pack the Hex Number in json into str")
KFLASH_ADDRESS_RE = (r'"address": (.*),', r'"address": "\1",')


def flash_list_text(entries):
    """flash-list.json text in the line layout kflash's regex needs. entries: [(addr, name, sha)]."""
    lines = ['{', '    "version": "%s",' % VERSION, '    "files": [']
    for i, (address, name, sha) in enumerate(entries):
        lines += ['        {',
                  '            "address": 0x%08x,' % address,
                  '            "bin": %s,' % json.dumps(name),
                  '            "sha256Prefix": %s' % ("true" if sha else "false"),
                  '        }' + ("," if i < len(entries) - 1 else "")]
    lines += ['    ]', '}', '']
    return "\n".join(lines)


def parse_flash_list(text):
    """Parse flash-list.json exactly as kflash does -> [{"address": int, "bin", "sha256Prefix"}]."""
    pattern, repl = KFLASH_ADDRESS_RE
    try:
        doc = json.loads(re.sub(pattern, repl, text))
        return [{"address": int(f["address"], 0), "bin": f["bin"], "sha256Prefix": f["sha256Prefix"]}
                for f in doc["files"]]
    except (ValueError, KeyError, TypeError) as e:
        raise PicofaceError("flash-list.json is not readable by kflash (%s)" % e, "rebuild the .kfpkg") from None


def _as_bytes(x, what):
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x)
    p = Path(x)
    try:
        return p.read_bytes()
    except OSError as e:
        raise PicofaceError("cannot read %s %s (%s)" % (what, p, e.strerror or e), "check the path") from None


def plan(board, model_bytes, firmware_bytes=None):
    """The flash map [(address, name, sha, data)], after checking nothing overlaps."""
    if not board.is_k210:
        raise PicofaceError("board %s is not a K210 board; .kfpkg is for kflash" % board.name,
                            "use the board's own flashing tool")
    address = board.model.get("flash_address")
    if address is None:
        raise PicofaceError("board %s keeps the model in a file, not at a flash address" % board.name,
                            "copy the kmodel to %s instead" % board.model.get("file_path"))
    if address % FLASH_SECTOR:
        raise PicofaceError("model flash address 0x%x is not 4 KiB aligned" % address, "fix the board file")
    if not model_bytes:
        raise PicofaceError("the model is empty", "pass a kmodel file")
    entries = []
    if firmware_bytes is not None:
        on_flash = len(firmware_bytes) + SHA256_PREFIX_BYTES
        limit = min(address, board.memory.get("firmware_max_bytes", address))
        if on_flash > limit:
            raise PicofaceError(
                "the firmware (%d B, %d B on flash) would overlap the model at 0x%x (room for %d B)"
                % (len(firmware_bytes), on_flash, address, limit),
                "use a smaller firmware build (e.g. MaixPy 'minimum') or load the model from SD")
        entries.append((0, FIRMWARE_NAME, True, firmware_bytes))
    entries.append((address, MODEL_NAME, False, model_bytes))
    return entries


def build(out_path, model, board, firmware=None):
    """Write a .kfpkg for ``board`` (a picoface.boards.Board or name) holding ``model`` at the
    board's flash address and optionally ``firmware`` at 0. Returns a summary dict."""
    from picoface.boards import Board, load_board

    if not isinstance(board, Board):
        board = load_board(board)
    model_bytes = _as_bytes(model, "model")
    fw_bytes = None if firmware is None else _as_bytes(firmware, "firmware")
    entries = plan(board, model_bytes, fw_bytes)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("flash-list.json", flash_list_text([(a, n, s) for a, n, s, _ in entries]))
        for _a, name, _s, data in entries:
            zf.writestr(name, data)
    out_path = Path(out_path)
    atomic.write_bytes(out_path, buf.getvalue())
    return {"path": str(out_path), "bytes": len(buf.getvalue()),
            "files": [{"address": a, "bin": n, "sha256Prefix": s, "bytes": len(d)} for a, n, s, d in entries]}


def read(path):
    """{"files": [{"address", "bin", "sha256Prefix", "data"}], "flash_list": text} of a .kfpkg."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "flash-list.json" not in names:
                raise PicofaceError("%s has no flash-list.json" % path, "rebuild it with `picoface kmodel pack`")
            text = zf.read("flash-list.json").decode("utf-8")
            files = parse_flash_list(text)
            for f in files:
                if f["bin"] not in names:
                    raise PicofaceError("%s lists %s but does not contain it" % (path, f["bin"]), "rebuild it")
                f["data"] = zf.read(f["bin"])
    except zipfile.BadZipFile:
        raise PicofaceError("%s is not a zip (.kfpkg) file" % path, "rebuild it") from None
    except FileNotFoundError:
        raise PicofaceError("%s not found" % path, "check the path") from None
    return {"files": files, "flash_list": text}
