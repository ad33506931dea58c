"""Keras (.keras / .h5) picoface models: float input pixels/255, NHWC region output."""

import numpy as np

from picoface.detectors.base import RegionDetector, error_text
from picoface.errors import PicofaceError


class KerasDetector(RegionDetector):
    default_layout = "NHWC"

    def __init__(self, path, contract=None, model=None, **kw):
        """``path``: a .keras/.h5 file; or ``path=None`` and ``model=`` an in-memory Keras model
        (e.g. validation AP during training; ``contract`` then gives anchors and thresholds)."""
        super().__init__(path, contract, **kw)
        if model is None:
            import keras

            try:
                model = keras.models.load_model(str(self.path), compile=False)
            except Exception as e:  # keras raises many types for a bad file
                raise PicofaceError("cannot load Keras model %s (%s)" % (self.path, str(e).splitlines()[0][:200]),
                                    "pass a .keras file saved by picoface train") from e
        self.model = model
        shape = self.model.inputs[0].shape
        inp = (contract or {}).get("input", {})
        self.net_h = int(shape[1] or inp.get("h") or 0)
        self.net_w = int(shape[2] or inp.get("w") or 0)
        if not self.net_w or not self.net_h:
            raise PicofaceError("%s has no fixed input size" % self.name, "set input w/h in model.json")
        self.scale = float(inp.get("scale", 1 / 255.0))
        self.channels = int(shape[-1] or 3)
        if self.macs is None:
            try:
                self.macs = keras_macs(self.model)
            except Exception as e:  # a MAC count must not stop an evaluation: it is reported
                self.macs, self.macs_error = None, "MACs not counted: %s" % error_text(e)

    def forward(self, net_rgb):
        return self.forward_many([net_rgb])[0]

    def forward_many(self, nets):
        x = np.stack(nets).astype(np.float32) * self.scale
        y = self.model(x, training=False)
        y = y[0] if isinstance(y, (list, tuple)) else y
        return list(y.numpy() if hasattr(y, "numpy") else np.asarray(y))


def keras_macs(model):
    """MACs of Conv2D / DepthwiseConv2D / Dense layers (from their output shapes). Raises what Keras
    raises for a model whose layers have no static output shape."""
    total = 0
    for layer in model.layers:
        cls = type(layer).__name__
        if cls not in ("Conv2D", "DepthwiseConv2D", "Dense"):
            continue
        out = layer.output.shape
        k = layer.get_weights()[0].shape
        if cls == "Conv2D":
            total += int(np.prod(out[1:3])) * out[3] * k[0] * k[1] * k[2]
        elif cls == "DepthwiseConv2D":
            total += int(np.prod(out[1:3])) * out[3] * k[0] * k[1]
        else:
            total += int(np.prod([d for d in out[1:-1] if d])) * k[0] * k[1]
    return int(total)
