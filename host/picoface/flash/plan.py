"""What ``picoface flash`` will do, as data: build it, print it (--dry-run), run it.

A plan for a board:
  1. kflash (K210 only): firmware .bin at 0x0 and/or the model at the board's flash address,
     both in one .kfpkg so kflash runs once (``picoface.kmodel.kfpkg``);
  2. raw REPL: the model as a file (boards with ``placement = "file"``), the app
     (device/*.py, device/pfcore/*.py) and the generated config into the board's app folder,
     each read back by SHA-256;
  3. soft reset, then the boot hello line is read back and checked: board name, firmware
     family, model hash and app version.
Before any of it the model is checked: its format, the board's budgets and the limits of every
firmware family the board lists (``picoface.firmware``, boards/firmware.toml).
"""

import dataclasses
import hashlib
import json
from pathlib import Path

from picoface.errors import PicofaceError
from picoface.paths import REPO_ROOT

CONFIG_NAME = "picoface.json"
DEVICE_DIR = REPO_ROOT / "device"


@dataclasses.dataclass
class Plan:
    board: object
    port: str
    baud: int
    model_path: Path = None
    model_bytes: bytes = None
    contract: dict = None
    firmware_path: Path = None
    firmware_bytes: bytes = None
    kfpkg_entries: list = dataclasses.field(default_factory=list)   # [(address, name, sha, nbytes)]
    kflash_argv: list = None                                        # with "<kfpkg>" for the package
    dirs: list = dataclasses.field(default_factory=list)
    files: list = dataclasses.field(default_factory=list)           # [(remote path, bytes, label)]
    expect: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)

    def describe(self):
        """The plan as text lines (what --dry-run prints)."""
        b = self.board
        out = ["flash plan for %s (%s) on %s" % (b.name, b.title, self.port or "<no --port>")]
        n = 1
        if self.kflash_argv:
            out.append("%d. kflash (ISP; the board resets into the bootloader):" % n)
            out.append("     kfpkg <temp>/picoface-%s.kfpkg:" % b.name)
            for addr, name, sha, size in self.kfpkg_entries:
                out.append("       0x%06x  %-16s %9d B%s" % (addr, name, size, "  (+sha256 prefix)" if sha else ""))
            out.append("     $ " + " ".join(self.kflash_argv))
            n += 1
        out.append("%d. raw REPL at %d baud (DTR=%d RTS=%d while open), files read back by SHA-256:" % (
            n, self.baud, b.serial["dtr_idle"], b.serial["rts_idle"]))
        for d in self.dirs:
            out.append("     mkdir %s" % d)
        for path, data, label in self.files:
            out.append("     %-34s %9d B  %s" % (path, len(data), label))
        n += 1
        out.append("%d. soft reset (Ctrl-B, Ctrl-D): boot.py and main.py run" % n)
        n += 1
        exp = ", ".join("%s=%s" % (k, v) for k, v in self.expect.items() if v is not None and k != "model_bytes")
        out.append("%d. read the hello line and check: %s" % (n, exp))
        out.extend("note: " + x for x in self.notes)
        return out


# The HAL files each firmware family's app imports (device/hal.py probes them in turn and skips a
# module that is not there): a board gets those of the families it lists, no other HAL.
HAL_FILES = {"maixpy": ("hal_maixpy.py", "hal_k210.py"), "canmv": ("hal_canmv.py", "hal_k210.py"),
             "openmv": ("hal_openmv.py",)}


def app_files(device_dir=DEVICE_DIR, families=None):
    """[(relative posix path, bytes)] of the device app: device/*.py and device/pfcore/*.py;
    with ``families`` (a board's firmware families) only the HAL files of those families."""
    device_dir = Path(device_dir)
    files = sorted(device_dir.glob("*.py")) + sorted((device_dir / "pfcore").glob("*.py"))
    if not any(p.name == "main.py" for p in files):
        raise PicofaceError("device app not found in %s (no main.py)" % device_dir, "run from a picoface checkout")
    if families is not None:
        known = set(n for names in HAL_FILES.values() for n in names)
        wanted = set(n for f in families for n in HAL_FILES.get(f, ()))
        files = [p for p in files if p.parent != device_dir or p.name not in known or p.name in wanted]
    return [(p.relative_to(device_dir).as_posix(), p.read_bytes()) for p in files]


def app_version(device_dir=DEVICE_DIR):
    """The app version the hello line must report (pfcore.VERSION / __version__ from the files)."""
    import ast

    for rel in ("pfcore/__init__.py", "main.py"):
        p = Path(device_dir) / rel
        if not p.is_file():
            continue
        for node in ast.parse(p.read_text()).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                    and node.targets[0].id in ("APP_VERSION", "VERSION", "__version__") \
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
    return None


def with_placement(board, placement):
    if placement is None or placement == board.model["placement"]:
        return board
    if placement not in ("flash", "file"):
        raise PicofaceError("placement must be 'flash' or 'file', not %r" % placement, "fix --model-placement")
    key = "flash_address" if placement == "flash" else "file_path"
    if key not in board.model:
        raise PicofaceError("board %s has no [model] %s, so the model cannot go to %s" % (board.name, key, placement),
                            "use the board's own placement")
    model = dict(board.model, placement=placement)
    return dataclasses.replace(board, model=model)


def _check_model(board, path, data, contract):
    fmt = board.model_format
    if fmt == "kmodel-v3":
        from picoface.kmodel import detect_version

        ver = detect_version(data)
        if ver != 3:
            raise PicofaceError("%s is a kmodel v%d; stock MaixPy/CanMV on %s load v3" % (path, ver, board.name),
                                "convert the float model to a v3 kmodel (`picoface kmodel convert MODEL.tflite "
                                "--board %s --calib DIR --out X.kmodel`)" % board.name)
        from picoface.kmodel import budget

        budget.check(data, board, contract)
        budget.check_firmware(data, board, contract, subject="model %s" % path.name)
    else:
        if data[4:8] != b"TFL3":
            raise PicofaceError("%s is not a TFLite flatbuffer (board %s takes %s)" % (path, board.name, fmt),
                                "export an int8 TFLite for this board")
        from picoface import firmware

        det = firmware.detector_from_contract(contract)
        if det is not None:  # without model.json the device has no anchors: build() notes it
            firmware.check_board(board, subject="model %s" % path.name, **det)
    limit = board.model_byte_budget()
    if len(data) > limit:
        raise PicofaceError("model %s is %d B, more than the %d B board %s has for models" % (
            path.name, len(data), limit, board.name), "use a smaller model (fewer channels, smaller input)")
    if contract is not None:
        if contract.get("format") and contract["format"] != fmt:
            raise PicofaceError("model.json says format %s, board %s needs %s" % (contract["format"], board.name, fmt),
                                "export the model for this board")
        if contract.get("sha256") and contract["sha256"] != hashlib.sha256(data).hexdigest():
            raise PicofaceError("%s does not match the sha256 in its model.json" % path,
                                "the file changed after export: re-export it")


def model_subset(contract, data, board):
    """The model part of the device config (flat keys of pfcore.config MODEL_KEYS): the same
    subset the simulator writes (``picoface.sim.runner.device_model``), with the hash and size
    of the bytes actually flashed."""
    c = contract or {}
    if c.get("output", {}).get("anchors") is not None:
        from picoface.sim.runner import device_model

        sub = device_model(c, board, len(data))
    else:
        sub = {"name": c.get("name", "")} if c.get("name") else {}
    sub["sha256"] = hashlib.sha256(data).hexdigest()
    sub["bytes"] = len(data)
    return sub


def threshold_overrides(contract):
    """Device settings score/nms from the contract's thresholds."""
    t = (contract or {}).get("thresholds", {})
    return {k: t[k] for k in ("score", "nms") if k in t}


def build(board, port=None, model=None, firmware=None, baud=None, kflash_baud=None, kflash_cmd=None,
          skip_kflash=False, placement=None, device_dir=DEVICE_DIR, config=None, require_model=True, gate=None,
          recog=None):
    """Check every input and return a Plan (nothing touches the board here). ``gate``: a gate artifact
    or its folder: copied to the board's gate_path, and the config gets ``mode: gate``. ``recog``: a
    recognition export (folder or model.json): both nets copied to the board's recog paths, and the
    config gets ``mode: recognise`` and its ``recog``."""
    from picoface.boards import device_config
    from picoface.flash import kflash, models

    board = with_placement(board, placement)
    if board.flash["tool"] not in ("kflash", "mpremote"):
        raise PicofaceError("board %s: unknown [flash] tool %r" % (board.name, board.flash["tool"]),
                            "use kflash (K210) or mpremote (raw REPL only)")
    plan = Plan(board=board, port=port, baud=int(baud or board.serial["baud"]))
    if model is not None or require_model:
        plan.model_path, plan.contract = models.resolve(board, model)
        plan.model_bytes = plan.model_path.read_bytes()
        _check_model(board, plan.model_path, plan.model_bytes, plan.contract)
    if plan.contract is None and plan.model_bytes is not None:
        plan.notes.append("no model.json beside %s: the device config gets only its hash and size" % plan.model_path)
    if firmware is not None:
        if not board.is_k210:
            raise PicofaceError("--firmware is for K210 boards (kflash)", "flash OpenMV firmware with the OpenMV IDE")
        plan.firmware_path = Path(firmware)
        try:
            plan.firmware_bytes = plan.firmware_path.read_bytes()
        except OSError as e:
            raise PicofaceError("cannot read firmware %s (%s)" % (firmware, e.strerror or e),
                                "check the path") from None
        if plan.firmware_bytes[:4] == b"\x7fELF":
            raise PicofaceError("%s is an ELF file" % firmware, "pass the firmware .bin (e.g. maixpy_v0.6.3.bin)")
    app_dir = board.flash["app_dir"].rstrip("/")
    in_flash = board.model["placement"] == "flash"
    # 1. kflash
    kflash_model = plan.model_bytes is not None and in_flash and not skip_kflash
    if plan.firmware_bytes is not None and skip_kflash:
        raise PicofaceError("--firmware needs kflash, but --no-kflash was given", "drop one of them")
    if board.is_k210 and (kflash_model or plan.firmware_bytes is not None):
        from picoface.kmodel import kfpkg

        model_for_pkg = plan.model_bytes if kflash_model else None
        if model_for_pkg is not None:
            entries = kfpkg.plan(board, model_for_pkg, plan.firmware_bytes)
            plan.kfpkg_entries = [(a, n, s, len(d)) for a, n, s, d in entries]
        else:  # firmware only: a plain .bin is written at 0 by kflash
            limit = board.memory.get("firmware_max_bytes")
            if limit and len(plan.firmware_bytes) + kfpkg.SHA256_PREFIX_BYTES > limit:
                raise PicofaceError("the firmware (%d B) would overlap the model area at 0x%x" % (
                    len(plan.firmware_bytes), limit), "use a smaller firmware build (MaixPy minimum)")
            plan.kfpkg_entries = [(0, plan.firmware_path.name, True, len(plan.firmware_bytes))]
        from picoface.transport import is_url

        if port and is_url(port):
            raise PicofaceError("kflash needs a local serial port, not %s" % port,
                                "run picoface flash on the computer the board is plugged into, or use --no-kflash")
        image = "<kfpkg>" if model_for_pkg is not None else str(plan.firmware_path)
        plan.kflash_argv = kflash.argv(board, port or "<PORT>", image, baud=kflash_baud, cmd=kflash_cmd)
    elif in_flash and plan.model_bytes is not None and skip_kflash:
        plan.notes.append("--no-kflash: the model at 0x%x is not rewritten; the app reports a load error after "
                          "the reset when none (or one of another size) is there, and the hash in its hello line "
                          "is computed from what is in flash" % board.model["flash_address"])
    # 2. files over the raw REPL
    dirs = {app_dir + "/pfcore"}
    if plan.model_bytes is not None and not in_flash:
        mpath = board.model["file_path"]
        parent = mpath.rsplit("/", 1)[0]
        if parent not in ("/flash", "/sd", ""):
            dirs.add(parent)
        plan.files.append((mpath, plan.model_bytes, "model (%s)" % plan.model_path.name))
    for rel, data in app_files(device_dir, board.firmware):
        plan.files.append((app_dir + "/" + rel, data, "app"))
    sub = model_subset(plan.contract, plan.model_bytes, board) if plan.model_bytes is not None else None
    overrides = threshold_overrides(plan.contract)
    if gate is not None:
        from picoface.gate.contract import device_gate, load_gate

        gdata, gcontract = load_gate(gate, board=board)
        gsub = device_gate(gcontract, board, len(gdata))
        plan.files.append((gsub["path"], gdata, "gate (%s)" % gcontract.get("name", "")))
        overrides.update(mode="gate", gate=gsub)
    if recog is not None:
        if gate is not None:
            raise PicofaceError("--gate and --recog start two different modes", "pass one of them")
        from picoface.recog.contract import NETS, device_recog, load_recog, recog_format

        rfiles, rcontract = load_recog(recog, board)
        rsub = device_recog(rcontract, board, recog_format(board))
        for net in NETS:
            path = rsub[net + "_path"]
            parent = path.rsplit("/", 1)[0]
            if parent not in ("/flash", "/sd", ""):
                dirs.add(parent)
            plan.files.append((path, rfiles[net], "%s net (%s)" % (net, rcontract.get("name", ""))))
        overrides.update(mode="recognise", recog=rsub)
    overrides.update(config or {})
    cfg = device_config(board, sub, **overrides)
    cfg_bytes = (json.dumps(cfg, indent=1, sort_keys=True) + "\n").encode()
    plan.files.append((app_dir + "/" + CONFIG_NAME, cfg_bytes, "config (generated)"))
    plan.dirs = sorted(dirs)
    plan.expect = {"board": board.name, "firmware": "|".join(board.firmware),
                   "model_sha256": sub["sha256"][:16] if sub else None,
                   "model_bytes": sub["bytes"] if sub else None, "app": app_version(device_dir)}
    return plan
