"""Gallery pull/push: the board verbs gallery_get / gallery_put (pfcore.commands) on their own, and
`picoface gallery pull` from one simulated board then `push` to another over ptys (MaixPy and OpenMV
fakes, --storage folders), with the bad-file and conflict errors as one line."""

import json
import subprocess

import pytest

import fakeboard
from conftest import ROOT
from picoface.cli import main as cli_main
from pfcore import commands, gallery
from pfcore.protocol import MAX_COMMAND, encode_command
from test_board_cmd import PICOFACE, SHIPPED_OPENMV, start_sim, stop


def _cmds(tmp_path, entries=None, max_entries=100):
    tmp_path.mkdir(parents=True, exist_ok=True)
    paths = (str(tmp_path / "gallery.a"), str(tmp_path / "gallery.b"))
    if entries is not None:
        (tmp_path / "gallery.a").write_bytes(gallery.pack(1, len(entries[0][1]), entries))
    return commands.Commands({"mode": "detect"}, gallery.Gallery(max_entries=max_entries, paths=paths))


def _do(c, verb, *args):
    return c.handle({"id": 1, "verb": verb, "args": list(args)})


def test_get_pages_and_put_rebuilds_the_same_gallery(tmp_path):
    embs = [bytes((i * 7 + k) & 0xFF for k in range(64)) for i in range(3)]
    src = _cmds(tmp_path / "a", [["ana", embs[0]], ["bob", embs[1]], ["bob", embs[2]]])
    dst = _cmds(tmp_path / "b")
    for name, want in (("ana", embs[0]), ("bob", embs[1] + embs[2])):
        got = bytearray()
        while True:
            ok, text, todo = _do(src, "gallery_get", name, str(len(got)))
            assert ok and todo == "" and len(text) <= commands.LIST_TEXT, text
            dim, total, hexed = text.split(" ")
            got += bytes.fromhex(hexed)
            if len(got) == int(total):
                break
        assert bytes(got) == want and dim == "64"
        off = 0
        while off < len(want):
            n = min(30, 64 - off % 64)     # an argument is cut at 60 characters (pfcore.protocol.MAX_TEXT)
            line = encode_command(9999, "gallery_put", [name, "64", str(off), want[off:off + n].hex()])
            assert len(line) <= MAX_COMMAND
            ok, text, _ = _do(dst, "gallery_put", name, "64", str(off), want[off:off + n].hex())
            assert ok, text
            off += n
            assert text.split(" ")[0] == str(off)
    fresh = gallery.Gallery(paths=dst.faces.paths)
    assert fresh.load() is None and fresh.entries == src.faces.entries and fresh.dim == 64


def test_put_replaces_a_name_and_refuses_what_is_wrong(tmp_path):
    c = _cmds(tmp_path, [["ana", bytes(8)], ["bob", bytes(8)]], max_entries=2)
    assert _do(c, "gallery_put", "ana", "8", "0", "01" * 8) == (True, "8 1", "")     # replaces ana's face
    assert [e for e in c.faces.entries if e[0] == "ana"] == [["ana", b"\x01" * 8]]
    for args, text in ((["eve", "8", "0", "00" * 8], "gallery full (2 faces)"),
                       (["ana", "4", "0", "00" * 4], "dim 4 differs from the gallery's 8"),
                       (["ana", "8", "3", "00"], "offset 3, expected 0"),
                       (["ana", "8", "0", "0g"], "hex"), (["ana", "8", "0", "123"], "hex"),
                       (["ana", "8", "0", "00" * 9], "must not cross"),
                       (["a,b", "8", "0", "00"], "','"), (["ana", "0", "0", "00"], "dim must be 1-1024"),
                       (["ana", "8", "-1", "00"], "offset must be"), (["ana", "8"], "gallery_put NAME DIM")):
        ok, msg, _ = _do(c, "gallery_put", *args)
        assert not ok and text in msg, (args, msg)
        assert len(msg) <= 60 or text == "','"      # what fits one ack (check_name's own text is cut there)
    ok, msg, _ = _do(c, "gallery_put", "bob", "8", "0", "02" * 4)
    assert ok and msg == "4 1"                      # half staged: bob keeps his old face until it completes
    assert ["bob", bytes(8)] in c.faces.entries
    assert not _do(c, "gallery_put", "bob", "8", "2", "02")[0]      # out of order
    for args, text in ((["nobody"], "no face named 'nobody'"), (["ana", "8"], "past the 8 bytes"),
                       (["ana", "x"], "gallery_get NAME"), ([], "gallery_get NAME")):
        ok, msg, _ = _do(c, "gallery_get", *args)
        assert not ok and text in msg, (args, msg)


def test_put_keeps_the_old_gallery_when_the_write_fails(tmp_path):
    c = _cmds(tmp_path, [["ana", bytes(8)]])
    c.faces.load()
    c.loaded = True

    def broken(path, mode="rb"):
        if "w" in mode:
            raise OSError(28, "ENOSPC")
        return open(path, mode)

    c.faces.opener = broken
    ok, msg, _ = _do(c, "gallery_put", "ana", "8", "0", "01" * 8)
    assert not ok and "gallery write failed" in msg
    assert c.faces.entries == [["ana", bytes(8)]]


def _picoface(*words, timeout=120):
    return subprocess.run(PICOFACE + list(words), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return fakeboard.tiny_kmodel(tmp_path_factory.mktemp("tiny"))


@pytest.mark.slow
@pytest.mark.parametrize("board", ["maix_dock", "openmv_h7"])
def test_pull_then_push_to_another_board(board, tiny, tmp_path):
    model = tiny if board == "maix_dock" else SHIPPED_OPENMV
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "flash").mkdir(parents=True)
    embs = [bytes((i * 31 + k * 5) & 0xFF for k in range(64)) for i in range(4)]
    entries = [["ana", embs[0]], ["bob", embs[1]], ["chloé", embs[2]], ["bob", embs[3]]]
    (a / "flash" / "gallery.a").write_bytes(gallery.pack(1, 64, entries))
    out = tmp_path / "faces.json"
    pa, port_a = start_sim(board, model, storage=a)
    pb, port_b = start_sim(board, model, storage=b)
    try:
        r = _picoface("gallery", "pull", "--port", port_a, "--out", str(out), "--timeout", "20")
        assert r.returncode == 0 and "pulled 3 people, 4 faces (dim 64)" in r.stdout, r.stderr
        doc = json.loads(out.read_text())
        assert doc["board"]["board"] == board and doc["dim"] == 64
        bob = next(f for f in doc["faces"] if f["name"] == "bob")["embeddings"]
        assert bob[1] == [v - 256 if v > 127 else v for v in embs[3]]      # int8 values, in entry order
        r = _picoface("gallery", "push", "--port", port_b, str(out), "--timeout", "20")
        assert r.returncode == 0 and r.stdout.strip() == "pushed 3 people, 4 faces", r.stderr
        r = _picoface("gallery", "push", "--port", port_b, str(out), "--timeout", "20")
        err = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(err) == 1 and "already has ana, bob, chloé" in err[0] and "--replace" in err[0]
        r = _picoface("gallery", "list", "--port", port_b, "--timeout", "20")
        assert r.returncode == 0 and r.stdout.splitlines()[:3] == ["ana\t1", "bob\t2", "chloé\t1"], r.stdout
    finally:
        stop(pa)
        stop(pb)
    copy = gallery.Gallery(paths=(str(b / "flash" / "gallery.a"), str(b / "flash" / "gallery.b")))
    assert copy.load() is None and sorted(copy.entries) == sorted(entries)


def test_a_bad_gallery_file_is_one_line(tmp_path, capsys):
    good = {"format": "picoface-gallery", "version": 1, "dim": 4, "board": {},
            "faces": [{"name": "ana", "embeddings": [[1, 2, 3, 4]]}]}
    cases = [("{oops", "is not valid JSON"), (json.dumps({"faces": []}), "not a picoface gallery file"),
             (json.dumps(dict(good, faces=[{"name": "ana", "embeddings": [[1, 2, 3]]}])), "must be 4 integers"),
             (json.dumps(dict(good, faces=[{"name": "ana", "embeddings": [[1, 2, 3, 300]]}])), "-128..127"),
             (json.dumps(dict(good, faces=good["faces"] * 2)), "appears twice"),
             (json.dumps(dict(good, faces=[{"name": "a:b", "embeddings": [[1, 2, 3, 4]]}])), "':'")]
    for text, want in cases:
        f = tmp_path / "g.json"
        f.write_text(text)
        # the file is checked before the port is opened
        assert cli_main(["gallery", "push", "--port", "/dev/nonexistent-port", str(f)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and want in err[0] and err[0].startswith("picoface: ") and " — " in err[0], err
    assert cli_main(["gallery", "push", "--port", "/dev/nonexistent-port", str(tmp_path / "none.json")]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert cli_main(["gallery", "pull", "--port", "/dev/nonexistent-port"]) == 1
    assert "needs --out FILE" in capsys.readouterr().err


MP_SCRIPT = '''
import json
from pfcore import button, commands, gallery
files = {}


class F:
    def __init__(self, p, m):
        self.p = p

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def read(self):
        return files[self.p]

    def write(self, d):
        files[self.p] = bytes(d)
        return len(d)


def op(p, m="rb"):
    if "r" in m and p not in files:
        raise OSError(2)
    return F(p, m)


c = commands.Commands({"mode": "recognise"}, gallery.Gallery(opener=op))
out = []


def do(v, *a):
    out.append(list(c.handle({"id": 7, "verb": v, "args": list(a)})))


h = "".join(["%02x" % ((i * 37) & 255) for i in range(40)])
do("gallery_put", "ana", "20", "0", h[:40])
do("gallery_put", "ana", "20", "20", h[40:])
do("gallery_get", "ana")
do("gallery_get", "ana", "24")
do("gallery_put", "ana", "20", "5", "00")
do("gallery_put", "bob", "20", "0", "zz")
do("enrol", "ana", "3")
out.append(list(c.enrol_request))
g = gallery.Gallery(opener=op)
out.append([g.load(), g.names(), g.dim])
e = button.Edge(50)
out.append([e.update(d, t) for d, t in [(0, 0), (1, 100), (0, 110), (1, 120), (0, 300), (1, 400)]])
print(json.dumps(out))
'''


@pytest.mark.micropython
def test_put_get_enrol_and_button_edge_identical_on_micropython(node, tmp_path):
    from test_micropython import run_cpython, run_micropython

    script = tmp_path / "sync.py"
    script.write_text(MP_SCRIPT)
    mp, cp = run_micropython(node, script), run_cpython(script)
    assert mp.returncode == 0 and cp.returncode == 0, mp.stderr + cp.stderr
    assert json.loads(mp.stdout) == json.loads(cp.stdout)
    out = json.loads(cp.stdout)
    assert out[0] == [True, "20 1", ""] and out[1] == [True, "40 2", ""]
    assert out[2][1] == "20 40 " + "".join("%02x" % ((i * 37) & 255) for i in range(27))
    assert out[3][1].startswith("20 40 ") and not out[4][0] and not out[5][0]
    assert out[6] == [True, "", "enrol"] and out[7] == [7, "ana", 3]
    assert out[8] == [None, [["ana", 2]], 20] and out[9] == [False, True, False, False, False, True]
