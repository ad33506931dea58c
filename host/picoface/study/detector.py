"""A Q-format simulated model (``study.qformat.QModel``) behind picoface's detector protocol, so it is
decoded, NMS'd and scored exactly like the TFLite and kmodel artifacts."""

from picoface.detectors.base import RegionDetector


class QFormatDetector(RegionDetector):
    default_layout = "NHWC"

    def __init__(self, qmodel, contract, name):
        super().__init__(None, contract, name=name)
        self.q = qmodel
        self.net_w = int(contract["input"]["w"])
        self.net_h = int(contract["input"]["h"])
        self.bytes = qmodel.weight_bytes()

    def forward(self, net_rgb):
        return self.forward_many([net_rgb])[0]

    def forward_many(self, nets):
        import numpy as np

        return list(self.q.forward(np.stack(nets)))
