"""picoface.evaluate.quant: which output group of a quantised model costs AP against its float
model, on fake region detectors whose "quantisation error" sits in known channels (`picoface eval
--against` on tiny TFLite models: tests/test_eval_cli.py)."""

import json

import numpy as np
import pytest

from picoface.data import load_dataset
from picoface.detectors.base import RegionDetector
from picoface.errors import PicofaceError
from picoface.evaluate import quant
from picoface.evaluate.core import run_detector, score_one

NET_W, NET_H = 48, 32
ANCHORS = [[1.5, 2.0], [3.0, 4.0]]
CONTRACT = {"name": "fake", "input": {"fit": "stretch"},
            "output": {"grid_w": 12, "grid_h": 8, "anchors": ANCHORS, "classes": 1, "layout": "NHWC"},
            "thresholds": {"score": 0.5, "nms": 0.3}}


class Fake(RegionDetector):
    """Region outputs made from the image's pixels; ``noise`` is added to channels ``where``."""

    def __init__(self, where=(), noise=0.0, layout="NHWC", name="fake"):
        c = json.loads(json.dumps(CONTRACT))
        c["output"]["layout"] = layout
        super().__init__(None, c, name=name)
        self.net_w, self.net_h = NET_W, NET_H
        self.where, self.noise = list(where), noise

    def forward(self, net):
        g = net.astype(np.float32)[::4, ::4].mean(axis=2)                   # 8x12 cells
        rng = np.random.default_rng(int(net.sum()) % (1 << 31))
        v = rng.normal(0.0, 1.5, (8, 12, 2, 6)).astype(np.float32)
        v[..., 4] += (g[..., None] - 128.0) / 40.0                          # objectness follows brightness
        if self.where:
            v[..., self.where] += rng.normal(0.0, self.noise, v[..., self.where].shape)
        if self.out_layout == "NCHW":
            return v.transpose(2, 3, 0, 1).reshape(-1)                     # anchors, channels, cells
        return v.reshape(-1)


def _set(tmp_path):
    from test_eval_cli import make_set

    return load_dataset(str(make_set(tmp_path / "set", n=6)))


def _ap(det, samples):
    return score_one(run_detector(det, samples, progress=False)[0], samples, 0.5)["ap"]


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("where,row", [((4,), "objectness"), ((2, 3), "sizes (tw, th)"), ((0, 1), "offsets (tx, ty)")])
def test_each_group_carries_only_its_own_error(tmp_path, layout, where, row):
    samples = _set(tmp_path)
    f = Fake(layout=layout)
    q = Fake(where, noise=2.0, layout=layout, name="noisy")
    ap_f, ap_q = _ap(f, samples), _ap(q, samples)
    assert ap_f != ap_q  # the noise moves the AP, so the rows below can tell the groups apart
    rows = {r["row"]: r for r in quant.breakdown(f, q, samples, progress=False)}
    assert rows["float"]["ap"] == pytest.approx(ap_f) and rows["float"]["delta"] == 0
    assert rows["quantised"]["ap"] == pytest.approx(ap_q)
    for name in ("offsets (tx, ty)", "sizes (tw, th)", "objectness"):
        want = ap_q if name == row else ap_f
        assert rows["float, %s quantised" % name]["ap"] == pytest.approx(want), name
    assert not any(k.startswith("float, rounded") for k in rows)  # no output scale: no rounding row
    md = quant.table(list(rows.values()))
    assert md.splitlines()[0] == "| outputs | AP@0.5 | vs float |" and "%+.4f" % (ap_q - ap_f) in md


def test_different_nets_are_refused(tmp_path):
    samples = _set(tmp_path)
    other = Fake(name="other")
    other.anchors = np.array([[1.0, 1.0], [2.0, 2.0]], np.float32)
    with pytest.raises(PicofaceError, match="not the same net"):
        quant.breakdown(Fake(), other, samples, progress=False)
