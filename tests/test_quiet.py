"""The CLI prints no TensorFlow / absl / LiteRT start-up banners (picoface.quiet, cli.quiet_tensorflow),
and the native-stderr filter drops only the log lines TF_CPP_MIN_LOG_LEVEL hides."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from picoface import quiet
from picoface.paths import REPO_ROOT

PICOFACE = [sys.executable, "-c", "import sys; from picoface.cli import main; sys.exit(main())"]
NOISE = re.compile(r"WARNING|deprecated|oneDNN|absl|XNNPACK|^INFO|^[IW]\d{4} ", re.I | re.M)
K_MODEL = REPO_ROOT / "models" / "picoface_openmv_240x176"


def tiny_set(d, n=2):
    import cv2

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    recs = []
    for i in range(n):
        cv2.imwrite(str(d / ("%d.jpg" % i)), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
        recs.append({"image": "%d.jpg" % i, "width": 160, "height": 120, "boxes": [[40.0, 30.0, 40.0, 48.0]]})
    (d / "annotations.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    return d


def run_cli(args, tmp_path, level=None):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    return subprocess.run(PICOFACE + args, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)


@pytest.mark.tf
def test_tf_and_litert_commands_print_no_banners(tmp_path):
    data = tiny_set(tmp_path / "set")
    for model in ("picoface.keras", "picoface_int8.tflite"):   # TensorFlow (Keras), then LiteRT
        r = run_cli(["eval", str(K_MODEL / model), "--data", str(data), "--no-progress", "--iou", "0.5",
                     "--out", str(tmp_path / model)], tmp_path)
        assert r.returncode == 0, r.stderr
        assert (tmp_path / model / "results.json").is_file()
        assert not NOISE.search(r.stderr), r.stderr


@pytest.mark.tf
def test_an_explicit_log_level_shows_the_banners(tmp_path):
    """Control for the test above: with TF_CPP_MIN_LOG_LEVEL=0 (the user's choice wins) TensorFlow's
    start-up lines do reach stderr, so their absence above is the filter's doing."""
    r = run_cli(["eval", str(K_MODEL / "picoface.keras"), "--data", str(tiny_set(tmp_path / "set")),
                 "--no-progress", "--iou", "0.5", "--out", str(tmp_path / "out")], tmp_path, level="0")
    assert r.returncode == 0, r.stderr
    assert "oneDNN" in r.stderr or "absl::InitializeLog" in r.stderr, r.stderr


def test_help_is_quiet_and_imports_no_tensorflow(tmp_path):
    r = run_cli(["--help"], tmp_path)
    assert r.returncode == 0 and "picoface" in r.stdout and r.stderr == ""
    probe = ("import sys; from picoface.cli import main\n"
             "try:\n    main(['boards'])\nexcept SystemExit:\n    pass\n"
             "print('tensorflow' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == "False", r.stdout + r.stderr


LINES = [b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
         b"I0000 00:00:1796620164.013738    4502 port.cc:153] oneDNN custom operations are on.\n",
         b"W0000 00:00:1796620164.013738    4502 x.cc:1] a native warning\n",
         b"E0000 00:00:1796620164.013738    4502 x.cc:2] a native error\n",
         b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
         b"ERROR: a TFLite error\n",
         b"picoface: a line of ours\n"]


@pytest.mark.parametrize("level,kept", [
    ("0", LINES),                      # nothing hidden
    ("1", LINES[2:4] + LINES[5:]),     # INFO hidden
    ("2", [LINES[3], LINES[5], LINES[6]]),   # INFO and WARNING hidden (the CLI's default)
])
def test_native_stderr_drops_only_hidden_log_lines(monkeypatch, capfd, level, kept):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", level)
    os.write(2, b"before\n")
    with quiet.native_stderr():
        for line in LINES:
            os.write(2, line)              # as C++ code writes: straight to fd 2
    os.write(2, b"after\n")
    err = capfd.readouterr().err.encode()
    assert err == b"before\n" + b"".join(kept) + b"after\n"


def test_native_stderr_restores_fd2_when_the_block_raises(monkeypatch, capfd):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    with pytest.raises(RuntimeError):
        with quiet.native_stderr():
            os.write(2, b"kept line\n")
            raise RuntimeError("boom")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "kept line\nafter\n"
