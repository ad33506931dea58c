"""What every point of a study shares: the base config and model, prepared as ``export`` prepares
it, the calibration photos, the val contract, and the firmware / board checks of a point."""

import json
from pathlib import Path

import numpy as np

from picoface.errors import PicofaceError


def find_model(cfg, model):
    """The trained .keras model: ``model``, else picoface.keras in the config's out folder."""
    from picoface.paths import resolve_path

    p = Path(model) if model else resolve_path(cfg.out) / "picoface.keras"
    if not p.is_file():
        raise PicofaceError("model %s not found" % p, "pass --model with a trained .keras file" if not model
                            else "check the --model path")
    if p.suffix != ".keras":
        raise PicofaceError("%s is not a .keras model" % p, "pass the .keras file a training run wrote")
    if not (p.parent / "anchors.json").is_file():
        raise PicofaceError("no anchors.json beside %s" % p, "use a run directory or a shipped model folder")
    return p


class Context:
    def __init__(self, cfg, config_path, model_path, budget_s, calib=None, kmodel=None, progress=True, log=print,
                 opts=None):
        import keras

        from picoface.export import tflite
        from picoface.export.shipping import calibration_images
        from picoface.train.val import val_contract
        from picoface.train.model import count_macs

        self.cfg, self.config_path, self.model_path = cfg, config_path, Path(model_path)
        self.budget_s = float(budget_s)
        self.progress, self.log = progress, log
        self.kmodel = kmodel
        self.anchors = np.asarray(json.loads((self.model_path.parent / "anchors.json").read_text()), np.float32)
        model = keras.models.load_model(str(self.model_path), compile=False)
        self.grid = (cfg.input.w // cfg.model.stride, cfg.input.h // cfg.model.stride)
        if (model.output_shape[2], model.output_shape[1]) != self.grid:
            raise PicofaceError("model output %s does not match the grid %s of %s" % (model.output_shape, self.grid, config_path),
                                "pass the training config the model was trained with as --base")
        self.calib = calibration_images(cfg, cfg.export.calib_images, seed=cfg.seed, calib=calib)
        self.folded = tflite.fold(model, cfg.model)
        if cfg.export.equalize:
            tflite.equalize(self.folded, self.calib)
        self.shipped = tflite.clip_output(self.folded, *cfg.export.clip_output) if cfg.export.clip_output else self.folded
        self.contract = val_contract(cfg, self.anchors, self.grid, count_macs(self.folded))
        self.opts = dict(opts or {})
        self.ids = []
        self._cache = None
        self.board = None
        if cfg.export.board:
            from picoface.boards import load_board

            self.board = load_board(cfg.export.board)

    def train_cache(self):
        """The training photos, decoded once for every point that trains."""
        if self._cache is None:
            from picoface.train.trainset import load_train_cache

            self._cache = load_train_cache(self.cfg, progress=self.progress, log=self.log)
        return self._cache

    def limits(self, fmt, dtype, nbytes, arena, layout="NHWC"):
        """"ok", or every firmware limit of the config's board broken by this point's head and every
        board budget its file or arena exceeds (the checks ``export`` and ``kmodel convert`` make)."""
        from picoface import firmware

        if self.board is None:
            return "not checked (no export.board in the config)"
        ch = len(self.anchors) * (5 + self.cfg.model.classes)
        head = {"grid_w": self.grid[0], "grid_h": self.grid[1], "anchors": len(self.anchors),
                "classes": self.cfg.model.classes, "layout": layout, "dtype": dtype,
                "output_values": self.grid[0] * self.grid[1] * ch}
        problems = []
        for fam in self.board.firmware:
            problems += [v.message for v in firmware.check_detector(fam, **head)]
        mem = self.board.memory
        if fmt != self.board.model_format:
            problems.append("%s runs %s models, not %s" % (self.board.name, self.board.model_format, fmt))
        elif fmt == "kmodel-v3" and nbytes > self.board.model_byte_budget():
            problems.append("kmodel %d B > the board's %d B" % (nbytes, self.board.model_byte_budget()))
        elif fmt == "tflite-int8":
            if "model_bytes" in mem and nbytes > mem["model_bytes"]:
                problems.append("model file %d B > budget %d B" % (nbytes, mem["model_bytes"]))
            if arena is not None and "tflm_arena_bytes" in mem and arena > mem["tflm_arena_bytes"]:
                problems.append("TFLM arena %d B > budget %d B" % (arena, mem["tflm_arena_bytes"]))
        return "; ".join(problems) or "ok (%s)" % self.board.name
