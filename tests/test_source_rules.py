"""Rules about the source tree itself, checked by reading it (issue 25, items 1, 5, 6 and 12).

- A test may skip only for an optional tool that is absent (Node, python3.10 + nncase, a board,
  ../shared): ``pytest.importorskip`` of picoface's own modules or of a required package turns an
  import regression into a skip, so it is not allowed.
- Library code imports picoface's own modules plainly: a ``try: import ... except ImportError``
  fallback around them is unreachable in an installed picoface and hides a broken one.
- A message or report points only at documents that are in the repository.
- Sipeed's stock face-model anchors are written once, in ``picoface.kmodel``; host code and the
  CPython tests import them. Only the vectors that run under MicroPython (which cannot import
  picoface) keep their own copy.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"

# requirements.txt packages by import name: present after `make setup`, never a reason to skip
REQUIRED = {"tensorflow", "keras", "numpy", "cv2", "onnxruntime", "onnx", "serial", "mpremote", "kflash", "yaml",
            "tqdm", "rich", "matplotlib", "hypothesis"}


def _importorskips(path):
    """(line, module name) of every importorskip call with a literal module name in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
        arg = node.args[0]
        if name == "importorskip" and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            yield node.lineno, arg.value


def test_no_test_skips_over_its_own_or_a_required_import():
    bad = []
    for path in sorted(TESTS.rglob("*.py")):
        for line, module in _importorskips(path):
            top = module.split(".")[0]
            if top in ("picoface", "pfcore") or top in REQUIRED:
                bad.append("%s:%d importorskip(%r)" % (path.relative_to(ROOT), line, module))
    assert not bad, "import these plainly (an import error must fail, not skip):\n" + "\n".join(bad)


def test_importorskip_rule_sees_a_violation(tmp_path):
    p = tmp_path / "t.py"
    p.write_text("import pytest\n\ndef test_x():\n    pytest.importorskip('picoface.kmodel.v5')\n")
    assert list(_importorskips(p)) == [(4, "picoface.kmodel.v5")]


def _own_import_fallbacks(path):
    """Lines of ``try`` blocks that import picoface/pfcore (statically or by importlib) and catch
    ImportError / ModuleNotFoundError."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = set()
        for h in node.handlers:
            for t in (h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]):
                caught.add(getattr(t, "id", None))
        if not caught & {"ImportError", "ModuleNotFoundError"}:
            continue
        for sub in (n for stmt in node.body for n in ast.walk(stmt)):
            names = []
            if isinstance(sub, ast.ImportFrom) and sub.module:
                names = [sub.module]
            elif isinstance(sub, ast.Import):
                names = [a.name for a in sub.names]
            elif isinstance(sub, ast.Call) and getattr(sub.func, "attr", None) == "import_module":
                names = ["picoface"]   # the module tables of picoface's own commands
            if any(n.split(".")[0] in ("picoface", "pfcore") for n in names):
                yield node.lineno
                break


def test_library_code_has_no_fallback_for_its_own_imports():
    host = ROOT / "host" / "picoface"
    bad = ["%s:%d" % (path.relative_to(ROOT), line) for path in sorted(host.rglob("*.py"))
           if "fakes" not in path.parts
           for line in _own_import_fallbacks(path)]
    assert not bad, "import picoface's own modules plainly:\n" + "\n".join(bad)


def test_own_import_fallback_rule_sees_a_violation(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("def f():\n    try:\n        from picoface.kmodel import v5\n    except ImportError:\n        v5 = None\n"
                 "    try:\n        import serial\n    except ImportError:\n        serial = None\n")
    assert list(_own_import_fallbacks(p)) == [2]


def _strings(path):
    """(line, text) of the string literals of a module that are not docstrings."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value


DOC_NAME = re.compile(r"[\w./-]*?([A-Z][A-Z_]*\.md|docs/\w+\.md)\b")


def test_messages_point_only_at_documents_in_the_repository():
    """A message or report naming a document (KMODEL.md, docs/x.md) names one a user's clone has
    (../shared, where KMODEL.md lives, is not part of it)."""
    have = {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts and "node_modules" not in p.parts}
    bad = []
    for path in sorted((ROOT / "host" / "picoface").rglob("*.py")):
        for line, text in _strings(path):
            for name in DOC_NAME.findall(text):
                if Path(name).name not in have or "shared/" in text:
                    bad.append("%s:%d %s" % (path.relative_to(ROOT), line, name))
    assert not bad, "these documents are not in the repository:\n" + "\n".join(bad)


STOCK_FIRST_ANCHOR = re.compile(r"1\.889\b")


def test_stock_anchors_are_written_once():
    from picoface.kmodel import MAIXPY_FACE_ANCHOR_PAIRS, MAIXPY_FACE_ANCHORS

    assert len(MAIXPY_FACE_ANCHORS) == 10 and MAIXPY_FACE_ANCHOR_PAIRS[1] == list(MAIXPY_FACE_ANCHORS[2:4])
    micropython_vectors = TESTS / "vectors"   # run under MicroPython: cannot import picoface
    found = []
    for base in (ROOT / "host", ROOT / "device", ROOT / "boards", TESTS):
        for path in sorted(base.rglob("*")):
            if path.suffix not in (".py", ".toml", ".json") or micropython_vectors in path.parents or \
                    path == Path(__file__).resolve():
                continue
            for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if STOCK_FIRST_ANCHOR.search(line):
                    found.append("%s:%d" % (path.relative_to(ROOT), i))
    assert found == ["host/picoface/kmodel/__init__.py:%d" % _line_of("MAIXPY_FACE_ANCHORS = ")], found


def _line_of(prefix):
    text = (ROOT / "host" / "picoface" / "kmodel" / "__init__.py").read_text().splitlines()
    return next(i for i, line in enumerate(text, 1) if line.startswith(prefix))
