"""The device core under real MicroPython (the WebAssembly port run by picoface.mprun, whose Node
runner is host/picoface/mprun/mp_runner.mjs).

tests/vectors/core_vectors.py runs under CPython and MicroPython; the results must agree:
protocol lines byte for byte, numbers to 6 significant digits.

Other tests may reuse the runner:

    from test_micropython import run_micropython
    r = run_micropython(node, "path/to/script.py", "arg", mounts={"device/hal.py": "/lib/hal.py"})
    r.returncode, r.stdout, r.stderr

device/pfcore is always at /lib/pfcore; the script runs as __main__ with ARGV = [script, args...].
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pfcore import protocol
from picoface import mprun

ROOT = Path(__file__).resolve().parents[1]
RUNNER = mprun.RUNNER
VECTORS = ROOT / "tests" / "vectors"

pytestmark = pytest.mark.micropython


def run_micropython(node, script, *args, mounts=None, timeout=120, heap=None):
    """Run script under MicroPython; mounts maps host paths (files or folders) to wasm paths."""
    return mprun.run(script, *args, mounts=mounts, heap=heap, timeout=timeout, node=node)


def run_cpython(script, *args, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "device"))
    return subprocess.run([sys.executable, str(script)] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


def _records(stdout):
    lines = stdout.strip().splitlines()
    assert lines and lines[-1] == "done", stdout[-500:]
    return {r["case"]: r["out"] for r in map(json.loads, lines[:-1])}


def _six(x):
    """Numbers to 6 significant digits, recursively; ints, bools, strings untouched."""
    if isinstance(x, float):
        return "%.6g" % x
    if isinstance(x, list):
        return [_six(v) for v in x]
    if isinstance(x, dict):
        return {k: _six(v) for k, v in x.items()}
    return x


@pytest.fixture(scope="module")
def vectors(node):
    script = VECTORS / "core_vectors.py"
    cp = run_cpython(script)
    assert cp.returncode == 0, cp.stderr
    mp = run_micropython(node, script)
    assert mp.returncode == 0, mp.stderr
    return _records(cp.stdout), _records(mp.stdout)


def test_vectors_identical_on_micropython(vectors):
    cp, mp = vectors
    assert sorted(cp) == sorted(mp) and len(cp) > 60
    for case in cp:
        assert _six(mp[case]) == _six(cp[case]), case
    # the vectors exercise something: boxes were decoded, mapped, suppressed and sent
    decoded = [cp[c] for c in cp if c.startswith("decode/")]
    assert sum(len(d) for d in decoded) > 50 and all(decoded[i] for i in range(0, len(decoded), 3))
    assert any(len(cp[c]) < len(cp["map/" + c.split("/")[1]]) for c in cp if c.startswith("nms/"))
    assert "DECODED" not in cp["protocol/corrupt"] and "checksum" in cp["protocol/corrupt"]
    # memoryview of a float32 buffer (MaixPy's kpu_fmap path) decodes as the same values in a list
    for k in range(4):
        assert mp["fmap/%d/postprocess" % k] == mp["fmap/%d/list" % k], k
    assert sum(len(cp["fmap/%d/decode" % k]) for k in range(4)) > 10


def test_protocol_lines_byte_identical(vectors):
    cp, mp = vectors
    for case in [c for c in cp if c.startswith("frame/")] + ["protocol/lines"]:
        assert mp[case] == cp[case], case
    for line in cp["protocol/lines"]:
        assert line.isascii()


def test_protocol_lines_match_golden(vectors):
    """The wire format of v2 does not drift: lines equal the stored ones; and the v1 lines a board
    with the earlier app sends still decode, to the same messages but for their version."""
    cp, _ = vectors
    golden = json.loads((VECTORS / "protocol_v2_lines.json").read_text())
    assert cp["protocol/lines"] + cp["protocol/commands"] == golden
    v1 = json.loads((VECTORS / "protocol_v1_lines.json").read_text())
    assert len(v1) == len(cp["protocol/lines"])
    for old, new in zip(v1, cp["protocol/lines"]):
        a, b = protocol.decode(old), protocol.decode(new)
        assert a["v"] == 1 and b["v"] == 2 and dict(a, v=2) == b


def test_two_class_postprocess_on_micropython(vectors):
    """A synthetic 2-class output (mask / no_mask planted in four cells, NCHW, NHWC, and a float32
    memoryview as MaixPy's kpu_fmap): pfcore.region.postprocess under real MicroPython gives every
    face its class, [x, y, w, h, score, class], equal to CPython's and to the numpy twin's, and the
    frame line carries the labels."""
    import numpy as np

    from pfcore import geom
    from picoface.detect import region as hregion

    cp, mp = vectors
    for k in range(3):
        faces = mp["classes/%d/postprocess" % k]
        assert [len(f) for f in faces] == [6] * 4, faces
        assert [f[5] for f in faces] == [0, 1, 1, 0]           # best first: the planted classes
        assert all(isinstance(f[5], int) for f in faces)
        assert _six(faces) == _six(cp["classes/%d/postprocess" % k])
        vals, spec, (cw, ch, nw, nh, mode) = mp["classes/%d/input" % k]
        twin = hregion.postprocess(np.array(vals, np.float32), spec, geom.Fit(cw, ch, nw, nh, mode), 0.5, 0.3, 10)
        assert twin.shape == (4, 6)
        np.testing.assert_allclose(twin, np.array(faces, np.float32), rtol=1e-5, atol=1e-3)
        line = mp["classes/%d/frame" % k]
        assert line == cp["classes/%d/frame" % k]
        d = protocol.decode(line)
        assert d["classes"] == ["mask", "no_mask", "no_mask", "mask"] and all(len(f) == 5 for f in d["faces"])
    assert mp["classes/recognised"] == cp["classes/recognised"]
    assert " 1,2,3,4,500,no_mask,ann,750 5,6,7,8,250,mask*" in mp["classes/recognised"]
    # model.labels in the config: kept when valid, dropped with a problem otherwise
    cfgs = [mp["config/%d" % i] for i in range(9, 16)]
    assert cfgs == [cp["config/%d" % i] for i in range(9, 16)]
    assert cfgs[0][0]["model"]["labels"] == ["mask", "no_mask"] and cfgs[0][1] == []
    assert cfgs[6][0]["model"]["labels"] == ["mask", "m\u00e1scara"] and cfgs[6][1] == []     # 12 bytes escaped
    for cfg, problems in cfgs[1:6]:
        assert "labels" not in cfg["model"] and len(problems) == 1 and "labels" in problems[0], problems


def test_gallery_survives_a_cut_write_on_micropython(vectors):
    """The two-slot gallery file (pfcore.gallery) under MicroPython as under CPython: enrol, rename,
    remove and reload; a save cut after every possible byte count leaves the last whole gallery."""
    cp, mp = vectors
    assert mp["gallery"] == cp["gallery"]
    out = cp["gallery"]
    assert out[:4] == [None, None, None, None]
    assert "longer than 24 bytes" in out[4] and "control character" in out[5] and "holds 8" in out[6]
    assert out[7] is None and "gallery full (4 faces)" in out[8]
    assert out[9:12] == [1, "a name must be 1-24 characters", 2]
    assert out[12] is None and out[13] == [["carol", 1], ["robert", 1]] and out[14:16] == [2, 1]
    whole, kept, tried = out[17]
    assert tried == whole > 40 and kept == whole          # every cut position: the old gallery loads
    assert "unreadable" in out[18] and out[19] == []


def test_commands_identical_on_micropython(vectors):
    """The board's line reader and command handler give the same acks under MicroPython, whatever
    the chunks the serial port delivers."""
    cp, mp = vectors
    runs = [mp["commands/%d" % n] for n in (1, 3, 17, 1000)]
    assert all(r == cp["commands/1"] for r in runs + [cp["commands/%d" % n] for n in (3, 17, 1000)])
    acks, overlong, corrupt, score, debug = runs[0]
    assert [protocol.decode(a)["ok"] for a, _ in acks] == [True, True, False, True, True, True, False]
    assert [todo for _, todo in acks] == ["", "model", "", "", "hello", "", ""]
    assert overlong == 1 and corrupt == 1 and score == 0.62 and debug is True


def test_pfcore_imports_and_compat_on_micropython(node, tmp_path):
    script = tmp_path / "imp.py"
    script.write_text(
        "import sys\n"
        "from pfcore import compat, config, geom, nms, presence, protocol, region\n"
        "t0 = compat.ticks_ms()\n"
        "compat.sleep_ms(5)\n"
        "print(sys.implementation.name, compat.ticks_diff(compat.ticks_ms(), t0) >= 4, compat.const(7))\n")
    r = run_micropython(node, script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["micropython", "True", "7"]


def test_runner_reports_failures_and_mounts(node, tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "helper.py").write_text("VALUE = 41\n")
    ok = tmp_path / "ok.py"
    ok.write_text("import helper\nprint(helper.VALUE + 1, ARGV[1:])\n")
    r = run_micropython(node, ok, "a", "b", mounts={tmp_path / "lib": "/lib/extra"}, heap=2 * 1024 * 1024)
    assert r.returncode == 1 and "ImportError" in r.stderr       # /lib/extra is not on sys.path
    ok.write_text("import sys\nsys.path.append('/lib/extra')\nimport helper\nprint(helper.VALUE + 1, ARGV[1:])\n")
    r = run_micropython(node, ok, "a", "b", mounts={tmp_path / "lib": "/lib/extra"})
    assert r.returncode == 0 and r.stdout.strip() == "42 ['a', 'b']", r.stderr
    bad = tmp_path / "bad.py"
    bad.write_text("print('before')\nraise ValueError('boom')\n")
    r = run_micropython(node, bad)
    assert r.returncode == 1 and r.stdout.strip() == "before"
    assert "ValueError: boom" in r.stderr and "bad.py" in r.stderr
    bad.write_text("import sys\nsys.exit(3)\n")
    assert run_micropython(node, bad).returncode == 3
    r = subprocess.run([str(node), str(RUNNER), "--frob"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr


def test_bench_runs_on_micropython(node):
    """The per-frame benchmark runs (its figures are reported, never asserted)."""
    r = run_micropython(node, VECTORS / "bench_core.py", 10)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["impl"] == "micropython" and res["faces"] == 10 and res["candidates"] == 20
    assert res["line_bytes"] <= 293 and res["total_ms"] > 0
    print("\nMicroPython (wasm) per-frame core cost, 10 faces:", res)


HASH_SCRIPT = """
import hashlib, time
from pfcore import compat
f = open("/m/model.bin", "rb")
def read(off, n):
    # Maix.utils.flash_read(address + off, n): a new bytes object of n bytes per call
    f.seek(off)
    return f.read(n)
size = int(ARGV[1])
best = None
for rep in range(3):
    t0 = time.ticks_ms()
    hx = compat.sha256_read(read, size)
    dt = time.ticks_diff(time.ticks_ms(), t0)
    best = dt if best is None else min(best, dt)
t0 = time.ticks_ms()
fx = compat.sha256_file("/m/model.bin")
print("flash", hx, best)
print("file", fx, time.ticks_diff(time.ticks_ms(), t0))
"""


def test_boot_model_hash_under_micropython(node, tmp_path):
    """The hash the app computes at boot (pfcore.compat.sha256_read over the shipped K210 model,
    4 KB reads as from flash; sha256_file as on OpenMV) equals hashlib's, and what it costs on the
    wasm MicroPython (printed: the figure docs/firmware.md quotes)."""
    import hashlib

    model = ROOT / "models" / "picoface_k210_320x240" / "picoface.kmodel"
    data = model.read_bytes()
    script = tmp_path / "hash.py"
    script.write_text(HASH_SCRIPT)
    r = run_micropython(node, script, len(data), mounts={str(model): "/m/model.bin"})
    assert r.returncode == 0, r.stderr
    lines = dict((ln.split()[0], ln.split()[1:]) for ln in r.stdout.splitlines())
    want = hashlib.sha256(data).hexdigest()
    assert lines["flash"][0] == want and lines["file"][0] == want
    print("boot hash of %d B: %s ms (flash reads), %s ms (file)" % (len(data), lines["flash"][1], lines["file"][1]))
