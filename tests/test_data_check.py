"""`picoface data check|stats|show` on datasets built here, one of them broken on purpose."""

import json
import shutil

import numpy as np
import pytest

from picoface.cli import main
from picoface.data.check import check_dataset


def write_img(path, w, h, seed=0):
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)
    return path


@pytest.fixture
def broken(tmp_path):
    d = tmp_path / "broken"
    im = d / "images"
    write_img(im / "good.jpg", 64, 48, 1)
    write_img(im / "other.jpg", 64, 48, 2)
    write_img(im / "small.jpg", 32, 24, 3)
    shutil.copy(im / "other.jpg", im / "copy_of_other.jpg")
    (im / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")

    def rec(name, boxes, w=64, h=48):
        return json.dumps({"image": "images/" + name, "width": w, "height": h, "boxes": boxes})

    lines = [
        rec("good.jpg", [[1, 1, 20, 20]]),                    # 1 fine
        '{"image": "images/other.jpg", "boxes": [[1, 2, 3',    # 2 malformed JSON
        rec("other.jpg", [[50, 30, 30, 10]]),                 # 3 box outside the 64x48 image
        rec("small.jpg", [[2, 2, -5, 4]], 32, 24),            # 4 non-positive size
        rec("small.jpg".replace("small", "good"), [[1, 1, 20, 20]]).replace(
            "[[1, 1, 20, 20]]", "[[1, NaN, 20, 20]]"),        # 5 NaN (and image annotated twice)
        rec("missing.jpg", [[1, 1, 5, 5]]),                   # 6 missing image
        rec("garbage.jpg", [[1, 1, 5, 5]]),                   # 7 unreadable image
        rec("copy_of_other.jpg", [[4, 4, 8, 8]]),             # 8 same bytes as other.jpg
        rec("small.jpg", [[3, 3, 6, 6], [3.2, 3, 6, 6]], 32, 24),  # 9 duplicate boxes (+ small.jpg again)
        rec("small.jpg", [[1, 1, 4, 4]], 640, 480),           # 10 size mismatch
    ]
    f = d / "annotations.jsonl"
    f.write_text("\n".join(lines) + "\n")
    return d, f


EXPECTED = [  # (line, words that must be in the problem text)
    (2, "malformed JSON"),
    (3, "extends outside the 64x48 image"),
    (4, "non-positive size"),
    (5, "NaN"),
    (5, "annotated again"),
    (6, "image not found"),
    (7, "unreadable"),
    (8, "same bytes as"),
    (9, "duplicates box"),
    (10, "annotation says 640x480 but image small.jpg is 32x24"),
]


def test_check_finds_every_defect_with_file_and_line(broken):
    d, f = broken
    samples, problems = check_dataset(d)
    text = [str(p) for p in problems]
    for line, words in EXPECTED:
        prefix = "%s:%d: " % (f, line)
        assert any(t.startswith(prefix) and words in t for t in text), (line, words, text)
    assert not any(t.startswith("%s:1:" % f) for t in text)  # the good record is clean


def test_check_cli_exit_codes(broken, tmp_path, capsys):
    d, f = broken
    assert main(["data", "check", str(d)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) >= len(EXPECTED)
    assert all(line.startswith(str(f) + ":") for line in out)
    # a clean dataset passes
    clean = tmp_path / "clean"
    write_img(clean / "a.jpg", 40, 30)
    (clean / "annotations.jsonl").write_text(json.dumps(
        {"image": "a.jpg", "width": 40, "height": 30, "boxes": [[1, 1, 10, 10]], "ignore": [[20, 2, 5, 5]]}) + "\n")
    assert main(["data", "check", str(clean), "--quick"]) == 0
    assert capsys.readouterr().out == ""


def test_check_of_an_empty_dataset_fails(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "annotations.jsonl").write_text("")
    assert main(["data", "check", str(empty)]) == 1
    cap = capsys.readouterr()
    assert cap.out == "%s: no images: the annotations list none (an empty set trains and evaluates nothing)\n" % empty
    assert "%s: 0 images, 0 faces, 1 problem\n" % empty in cap.err


def test_check_other_formats_point_at_box_lines(tmp_path):
    root = tmp_path / "WIDER_val" / "images"
    write_img(root / "a" / "x.jpg", 50, 40)
    gt = tmp_path / "gt.txt"
    gt.write_text("a/x.jpg\n2\n1 1 10 10 0 0 0 0 0 0\n45 30 20 20 0 0 0 0 0 0\na/y.jpg\n1\n1 1 zz 3 0 0 0 0 0 0\n")
    _, problems = check_dataset(gt)
    text = [str(p) for p in problems]
    assert any(t.startswith("%s:4: box" % gt) and "outside" in t for t in text), text
    assert any(t.startswith("%s:7: " % gt) and "not numbers" in t for t in text), text
    assert any(t.startswith("%s:5: " % gt) and "image not found" in t for t in text), text


def test_stats_and_show(tmp_path, capsys):
    d = tmp_path / "set"
    write_img(d / "a.jpg", 200, 100)
    write_img(d / "b.jpg", 120, 120, 5)
    recs = [{"image": "a.jpg", "width": 200, "height": 100, "boxes": [[10, 10, 30, 30], [100, 20, 90, 70]],
             "ignore": [[50, 50, 10, 10]]},
            {"image": "b.jpg", "width": 120, "height": 120, "boxes": [[5, 5, 10, 12]]}]
    (d / "annotations.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    out = tmp_path / "stats"
    assert main(["data", "stats", str(d), "--out", str(out)]) == 0
    st = json.loads((out / "stats.json").read_text())
    assert st["images"] == 2 and st["faces"] == 3 and st["ignore"] == 1
    assert st["sources"]["set"]["faces"] == 3
    assert st["size"]["buckets"] == {"<20": 1, "20-40": 1, "40-80": 1, "80-160": 0, ">=160": 0}
    md = (out / "stats.md").read_text()
    assert "| set | 2 | 3 | 1 | 0 |" in md and "face_sizes.png" in md
    assert (out / "face_sizes.png").read_bytes()[:4] == b"\x89PNG"
    assert "| set |" in capsys.readouterr().out
    png = tmp_path / "grid.png"
    assert main(["data", "show", str(d), "--out", str(png), "-n", "2", "--tile", "100"]) == 0
    import cv2

    grid = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
    assert grid.shape == (100, 200, 3)
    # green face box and grey ignore box are drawn on tile 0 (image a scaled by 0.5)
    assert tuple(grid[5, 10]) == (40, 220, 40)  # top edge of box [10, 10, 30, 30] -> (5, 5)-(20, 20)
    assert tuple(grid[25, 27]) == (150, 150, 150)  # ignore [50, 50, 10, 10] -> (25, 25)-(30, 30)


def test_check_finds_images_shared_between_datasets(tmp_path, capsys):
    for name in ("one", "two"):
        write_img(tmp_path / name / "x.jpg", 30, 20, seed=7)
        (tmp_path / name / "annotations.jsonl").write_text(
            json.dumps({"image": "x.jpg", "width": 30, "height": 20, "boxes": [[1, 1, 5, 5]]}) + "\n")
    assert main(["data", "check", str(tmp_path / "one"), "--quick"]) == 0
    assert main(["data", "check", str(tmp_path / "one"), str(tmp_path / "two"), "--quick"]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(str(tmp_path / "two" / "annotations.jsonl") + ":1: ") and "same bytes" in line
