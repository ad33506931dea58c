"""Run ../shared/tools/kv3check (the K210 SDK's loader + layer loop, MaixPy's and CanMV's region layers,
compiled for this host) on a kmodel; skips the calling test when the tool or a compiler is absent."""

import os
import platform
import shutil
import subprocess

import pytest

from picoface.paths import shared_dir


def run(kmodel, contract_json, frame=None, loader_only=False):
    """The kv3check process (stdout ends in `kv3check: PASS ...` or `FAIL ...`)."""
    check = shared_dir() / "tools" / "kv3check" / "check.sh"
    if not check.is_file():
        pytest.skip("../shared/tools/kv3check is absent")
    for tool in ("gcc", "g++", "bash", "python3"):
        if not shutil.which(tool):
            pytest.skip("%s is not installed (kv3check compiles the firmware code)" % tool)
    # the harness maps the K210's SRAM at fixed addresses; with address-space randomisation that map
    # collides with something about once in 300 runs ("mmap K210 map: File exists"), whatever the model:
    # run it with randomisation off (setarch -R, util-linux) where the kernel allows it
    cmd = ["bash", str(check), str(kmodel), str(contract_json)] + ([str(frame)] if frame else [])
    norand = ["setarch", platform.machine(), "-R"]
    if shutil.which("setarch") and subprocess.run(norand + ["true"], capture_output=True).returncode == 0:
        cmd = norand + cmd
    env = dict(os.environ, KV3_LOADER_ONLY="1") if loader_only else None
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=env)


def passed(r):
    last = [x for x in r.stdout.splitlines() if x.startswith("kv3check: ")]
    return bool(last) and last[-1].startswith("kv3check: PASS") and r.returncode == 0
