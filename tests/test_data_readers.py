"""Readers of every annotation format on small fixture files written here."""

import json
import math

import numpy as np
import pytest

from picoface.data import (Sample, detect_format, face_size, image_size, load_dataset, load_mixture,
                           parse_mixture, read_image, widerface_eval_set)
from picoface.data.fddb import ellipse_to_box
from picoface.data.loader import dump_jsonl
from picoface.errors import PicofaceError


def write_img(path, w, h, value=120, ext=None):
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((h, w, 3), value, np.uint8)
    img[: h // 2, : w // 2, 0] = 250  # a red-ish quadrant (RGB order check)
    assert cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


def test_read_image_rgb_and_sizes(tmp_path):
    p = write_img(tmp_path / "a.png", 40, 30)
    img = read_image(p)
    assert img.shape == (30, 40, 3) and img.dtype == np.uint8
    assert img[0, 0, 0] == 250 and img[0, 0, 2] == 120  # RGB, not BGR
    assert image_size(p) == (40, 30)
    j = write_img(tmp_path / "b.jpg", 33, 17)
    assert image_size(j) == (33, 17)


def test_read_image_errors(tmp_path):
    with pytest.raises(PicofaceError, match="image not found"):
        read_image(tmp_path / "nope.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 this is not a jpeg")
    with pytest.raises(PicofaceError, match="cannot decode"):
        read_image(bad)
    assert image_size(tmp_path / "nope.jpg") is None


def test_jsonl_reader(tmp_path):
    write_img(tmp_path / "images" / "a.jpg", 64, 48)
    write_img(tmp_path / "images" / "b.jpg", 64, 48)
    recs = [
        {"image": "images/a.jpg", "width": 64, "height": 48, "boxes": [[1, 2, 10, 12], [20, 5, 8, 8]],
         "labels": ["face", "with_mask"], "scores": [0.9, 0.8], "ignore": [[40, 40, 5, 5]], "origin": "x"},
        {"image": "images/b.jpg", "width": 64, "height": 48, "boxes": [[3, 3, 9, 9], [30, 30, 6, 6]],
         "attrs": [{"invalid": 0, "blur": 1}, {"invalid": 1, "blur": 2}]},
        {"image": "images/b.jpg", "width": 64, "height": 48, "boxes": [[0.0, 0.0, 0.0, 0.0]],
         "attrs": [{"invalid": 0}]},
    ]
    (tmp_path / "annotations.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n\n")
    assert detect_format(tmp_path) == "jsonl"
    ss = load_dataset(tmp_path)
    assert len(ss) == 3 and all(isinstance(s, Sample) for s in ss)
    a, b, c = ss
    assert a.source == tmp_path.name and a.image_path == tmp_path / "images" / "a.jpg"
    np.testing.assert_allclose(a.boxes, [[1, 2, 10, 12], [20, 5, 8, 8]])
    assert a.boxes.dtype == np.float32 and a.ignore.shape == (1, 4)
    assert a.meta["labels"] == ["face", "with_mask"] and a.meta["scores"] == [0.9, 0.8]
    assert a.meta["origin"] == "x" and a.meta["line"] == 1 and a.where.endswith("annotations.jsonl:1")
    # WIDER "invalid" faces become ignore regions; attrs stay aligned with boxes
    np.testing.assert_allclose(b.boxes, [[3, 3, 9, 9]])
    np.testing.assert_allclose(b.ignore, [[30, 30, 6, 6]])
    assert b.meta["attrs"] == [{"invalid": 0, "blur": 1}]
    # WIDER's [0, 0, 0, 0] placeholder = an image without faces
    assert c.boxes.shape == (0, 4) and c.meta["line"] == 3
    assert read_image(a.image_path).shape == (48, 64, 3)


def test_jsonl_strict_errors_name_file_and_line(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text('{"image": "a.jpg", "width": 4, "height": 4, "boxes": []}\n{"image": broken\n')
    with pytest.raises(PicofaceError, match=r"x\.jsonl:2: malformed JSON"):
        load_dataset(f)
    f.write_text('{"image": "a.jpg", "width": 4, "height": 4, "boxes": [[1, 1, NaN, 2]]}\n')
    with pytest.raises(PicofaceError, match=r"x\.jsonl:1: boxes\[0\] has a NaN"):
        load_dataset(f)
    problems = []
    assert len(load_dataset(f, problems=problems)) == 1 and len(problems) == 1
    # a zero-size box is dropped (strict mode too), and remembered for `data check`
    f.write_text('{"image": "a.jpg", "width": 4, "height": 4, "boxes": [[1, 1, 0, 2], [0, 0, 2, 2]]}\n')
    (s,) = load_dataset(f)
    np.testing.assert_allclose(s.boxes, [[0, 0, 2, 2]])


WIDER_TXT = """0--Parade/img_1.jpg
3
10 20 30 40 0 0 0 0 0 0
50 60 5 6 2 0 0 1 0 0
70 10 20 22 1 0 0 0 1 0
0--Parade/img_2.jpg
0
0 0 0 0 0 0 0 0 0 0
1--Handshaking/img_3.jpg
1
5 5 12 14 0 0 0 0 0 0
"""


def test_wider_txt_reader(tmp_path):
    root = tmp_path / "WIDER_val" / "images"
    write_img(root / "0--Parade" / "img_1.jpg", 120, 90)
    write_img(root / "0--Parade" / "img_2.jpg", 100, 80)
    write_img(root / "1--Handshaking" / "img_3.jpg", 60, 50)
    gt = tmp_path / "wider_face_split" / "wider_face_val_bbx_gt.txt"
    gt.parent.mkdir()
    gt.write_text(WIDER_TXT)
    assert detect_format(gt) == "wider"
    ss = load_dataset(gt)
    assert [s.image_path.name for s in ss] == ["img_1.jpg", "img_2.jpg", "img_3.jpg"]
    a, b, c = ss
    np.testing.assert_allclose(a.boxes, [[10, 20, 30, 40], [70, 10, 20, 22]])
    np.testing.assert_allclose(a.ignore, [[50, 60, 5, 6]])  # invalid -> ignore
    assert a.meta["attrs"][1] == {"blur": 1, "expression": 0, "illumination": 0, "invalid": 0,
                                  "occlusion": 1, "pose": 0}
    assert a.meta["box_lines"] == [3, 5] and (a.width, a.height) == (120, 90)
    assert b.boxes.shape == (0, 4) and c.meta["line"] == 9
    # eval set: invalid and small faces are ignore regions
    ev = widerface_eval_set(gt, min_size=20)
    np.testing.assert_allclose(ev[0].boxes, [[10, 20, 30, 40], [70, 10, 20, 22]])
    ev = widerface_eval_set(gt, min_size=25)
    np.testing.assert_allclose(ev[0].boxes, [[10, 20, 30, 40]])
    assert len(ev[0].ignore) == 2 and len(ev[2].boxes) == 0 and len(ev[2].ignore) == 1
    assert ev[0].meta["attrs"] == [a.meta["attrs"][0]]


FDDB = """2002/08/11/big/img_591
1
123.583300 85.549500 1.265839 269.693400 161.781200  1
2002/08/26/big/img_265
2
67.363819 44.511485 -1.476417 105.249970 87.209036  1
41.936870 27.064477 1.471906 184.070915 129.345601  1
"""


def test_fddb_reader_and_ellipse_boxes(tmp_path):
    d = tmp_path / "FDDB-folds"
    d.mkdir()
    (d / "FDDB-fold-03-ellipseList.txt").write_text(FDDB)
    assert detect_format(d / "FDDB-fold-03-ellipseList.txt") == "fddb"
    assert detect_format(tmp_path) == "fddb"
    ss = load_dataset(d)
    assert len(ss) == 2 and [len(s.boxes) for s in ss] == [1, 2]
    assert ss[0].meta["fold"] == 3 and ss[1].meta["box_lines"] == [6, 7]
    # same numbers as shared/data/fddb_annotations_only's first record (tight ellipse bbox)
    np.testing.assert_allclose(ss[0].boxes[0], [180.05, 41.13, 179.29, 241.29], atol=0.01)
    # upright ellipse: bbox = 2b x 2a around the centre; CSEM: square 1.3a, shifted down 0.26a
    assert ellipse_to_box(50, 30, math.pi / 2, 100, 100) == pytest.approx([70, 50, 60, 100])
    assert ellipse_to_box(50, 30, math.pi / 2, 100, 100, mode="csem") == pytest.approx([67.5, 80.5, 65, 65])
    csem = load_dataset(d, fddb_box="csem")
    assert csem[0].boxes[0][2] == pytest.approx(1.3 * 123.5833, rel=1e-5)
    # no photos: sizes unknown, and anything needing pixels says so
    assert ss[0].width is None and ss[0].image_path.name == "img_591.jpg"
    with pytest.raises(PicofaceError, match="image not found"):
        read_image(ss[0].image_path)


VOC_XML = """<annotation>
  <folder>images</folder>
  <filename>{name}</filename>
  <size><width>80</width><height>60</height><depth>3</depth></size>
  <object>
    <name>with_mask</name><difficult>0</difficult>
    <bndbox><xmin>10</xmin><ymin>12</ymin><xmax>30</xmax><ymax>40</ymax></bndbox>
  </object>
  <object>
    <name>without_mask</name><difficult>1</difficult>
    <bndbox><xmin>50</xmin><ymin>5</ymin><xmax>60</xmax><ymax>15</ymax></bndbox>
  </object>
</annotation>
"""


def test_voc_reader(tmp_path):
    (tmp_path / "Annotations").mkdir()
    for n in ("p1", "p2"):
        write_img(tmp_path / "JPEGImages" / (n + ".jpg"), 80, 60)
        (tmp_path / "Annotations" / (n + ".xml")).write_text(VOC_XML.format(name=n + ".jpg"))
    assert detect_format(tmp_path) == "voc"
    ss = load_dataset(tmp_path)
    assert len(ss) == 2 and ss[0].image_path == tmp_path / "JPEGImages" / "p1.jpg"
    np.testing.assert_allclose(ss[0].boxes, [[10, 12, 20, 28]])
    np.testing.assert_allclose(ss[0].ignore, [[50, 5, 10, 10]])  # difficult -> ignore
    assert ss[0].meta["labels"] == ["with_mask"] and ss[0].meta["box_lines"] == [5]
    assert (ss[0].width, ss[0].height) == (80, 60)
    (tmp_path / "Annotations" / "p2.xml").write_text("<annotation><object>\n</annotation>")
    with pytest.raises(PicofaceError, match=r"p2\.xml:\d+: malformed XML"):
        load_dataset(tmp_path)


def test_yolo_reader(tmp_path):
    write_img(tmp_path / "valid" / "images" / "a.jpg", 100, 50)
    write_img(tmp_path / "valid" / "images" / "empty.jpg", 100, 50)
    lab = tmp_path / "valid" / "labels" / "a.txt"
    lab.parent.mkdir(parents=True)
    lab.write_text("0 0.5 0.5 0.2 0.4\n0 0.1 0.2 0.3 0.2 0.3 0.6 0.1 0.6\n")
    assert detect_format(tmp_path) == "yolo"
    ss = load_dataset(tmp_path)
    assert [s.image_path.name for s in ss] == ["a.jpg", "empty.jpg"]
    np.testing.assert_allclose(ss[0].boxes, [[40, 15, 20, 20], [10, 10, 20, 20]], atol=1e-4)
    assert ss[0].meta["box_lines"] == [1, 2] and len(ss[1].boxes) == 0
    assert load_dataset("yolo:%s" % tmp_path, classes=[1])[0].boxes.shape == (0, 4)


def test_coco_reader(tmp_path):
    write_img(tmp_path / "images" / "x.jpg", 64, 64)
    write_img(tmp_path / "images" / "y.jpg", 64, 64)
    doc = {"images": [{"id": 1, "file_name": "x.jpg", "width": 64, "height": 64},
                      {"id": 7, "file_name": "y.jpg", "width": 64, "height": 64}],
           "categories": [{"id": 1, "name": "face"}, {"id": 2, "name": "hand"}],
           "annotations": [{"id": 10, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "iscrowd": 0},
                           {"id": 11, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "iscrowd": 1},
                           {"id": 12, "image_id": 7, "category_id": 2, "bbox": [5, 5, 5, 5]}]}
    f = tmp_path / "instances.json"
    f.write_text(json.dumps(doc))
    assert detect_format(f) == "coco" and detect_format(tmp_path) == "coco"
    ss = load_dataset(f)
    assert [s.image_path for s in ss] == [tmp_path / "images" / "x.jpg", tmp_path / "images" / "y.jpg"]
    np.testing.assert_allclose(ss[0].boxes, [[1, 2, 3, 4]])
    np.testing.assert_allclose(ss[0].ignore, [[10, 10, 20, 20]])  # iscrowd -> ignore
    assert len(ss[1].boxes) == 1
    faces_only = load_dataset(f, classes=["face"])
    assert len(faces_only[1].boxes) == 0


def test_unknown_and_missing_specs(tmp_path):
    with pytest.raises(PicofaceError, match="dataset not found"):
        load_dataset(tmp_path / "nothing")
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(PicofaceError, match="cannot tell the annotation format"):
        load_dataset(tmp_path / "notes.txt")


def _jsonl(d, n, w=32):
    d.mkdir()
    recs = [{"image": "i%d.jpg" % k, "width": w, "height": w, "boxes": [[1, 1, 4, 4]]} for k in range(n)]
    (d / "annotations.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    return d


def test_mixture_weights(tmp_path):
    a = _jsonl(tmp_path / "setA", 10)
    b = _jsonl(tmp_path / "setB", 2)
    mix = load_mixture([(a, 1), (b, 3)])
    assert len(mix) == 12 and mix.weights.sum() == pytest.approx(1)
    assert mix.sources["setA"]["share"] == pytest.approx(0.25)
    assert mix.weights[0] == pytest.approx(0.025) and mix.weights[-1] == pytest.approx(0.375)
    drawn = mix.draw(4000, np.random.default_rng(0))
    frac_b = sum(s.source == "setB" for s in drawn) / 4000
    assert 0.72 < frac_b < 0.78
    assert parse_mixture("a.jsonl@2, b") == [("a.jsonl", 2.0), ("b", 1.0)]
    with pytest.raises(PicofaceError, match="weight"):
        load_mixture([(a, 0)])


def test_face_size():
    np.testing.assert_allclose(face_size([[0, 0, 4, 9], [1, 1, 10, 10]]), [6, 10])


def test_dump_jsonl_roundtrip(tmp_path):
    (tmp_path / "Annotations").mkdir()
    write_img(tmp_path / "JPEGImages" / "p1.jpg", 80, 60)
    (tmp_path / "Annotations" / "p1.xml").write_text(VOC_XML.format(name="p1.jpg"))
    voc = load_dataset(tmp_path)
    out = tmp_path / "conv.jsonl"
    out.write_text(dump_jsonl(voc))
    (back,) = load_dataset(out)
    assert back.image_path == voc[0].image_path and (back.width, back.height) == (80, 60)
    np.testing.assert_allclose(back.boxes, voc[0].boxes)
    np.testing.assert_allclose(back.ignore, voc[0].ignore)


def test_named_datasets_resolve_under_the_data_root(tmp_path, monkeypatch):
    _jsonl(tmp_path / "myset", 3)
    monkeypatch.setenv("PICOFACE_DATA", str(tmp_path))
    ss = load_dataset("myset")
    assert len(ss) == 3 and ss[0].source == "myset"
    with pytest.raises(PicofaceError, match="dataset not found"):
        load_dataset("otherset")
