"""Shared test fixtures: where ../shared is, and skips with a reason when it is absent."""

import shutil
import subprocess

import pytest

from picoface.paths import REPO_ROOT as ROOT, shared_dir

SHARED = shared_dir()
NNCASE_PY = ROOT / ".venv-nncase" / "bin" / "python"


def pytest_addoption(parser):
    parser.addoption("--port", default=None, help="serial port of a real board for -m hw tests")
    parser.addoption("--board", default="maix_dock", help="board name for -m hw tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--port"):
        return
    skip_hw = pytest.mark.skip(reason="needs a real board: pass --port PORT")
    for item in items:
        if "hw" in item.keywords:
            item.add_marker(skip_hw)


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def shared():
    if not SHARED.is_dir():
        pytest.skip("../shared is absent (a user's clone): data and anchor models are not here")
    return SHARED


@pytest.fixture(scope="session")
def anchors(shared):
    d = shared / "anchors"
    if not d.is_dir():
        pytest.skip("../shared/anchors is absent")
    return d


@pytest.fixture(scope="session")
def data_root(shared):
    d = shared / "data"
    if not d.is_dir():
        pytest.skip("../shared/data is absent")
    return d


@pytest.fixture(scope="session")
def node():
    exe = shutil.which("node")
    runner = ROOT / "node_modules" / "@micropython" / "micropython-webassembly-pyscript" / "micropython.mjs"
    if not exe or not runner.is_file():
        pytest.skip("Node or the MicroPython wasm package is absent (run `make setup` with npm available)")
    return exe


@pytest.fixture(scope="session")
def nncase_python():
    if not NNCASE_PY.is_file():
        pytest.skip("nncase side venv (.venv-nncase, python3.10) is absent: install python3.10 and run `make setup`")
    r = subprocess.run([str(NNCASE_PY), "-c", "import nncase"], capture_output=True)
    if r.returncode:
        pytest.skip("nncase does not import in .venv-nncase")
    return NNCASE_PY
