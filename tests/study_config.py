"""The tiny training config the study tests share: a synthetic set with 30 % of its photos held out
as the val mix (letterboxed), one epoch of two steps, and the export section each test asks for."""

MODEL = "{width: 0.25, extra_blocks: 0, activation: relu}"


def write(tmp_path, export, model=MODEL, name="exp.yaml"):
    """Write ``tmp_path/name`` (the synthetic set once under tmp_path/data) and return its path."""
    from picoface.train.synthetic import make_dataset

    if not (tmp_path / "data" / "syn_train").is_dir():
        make_dataset(tmp_path / "data" / "syn_train", n=24, size=(96, 72), seed=1)
    cfg = tmp_path / name
    cfg.write_text("""
name: tiny
out: %(out)s
run_dir: %(run)s
input: {w: 64, h: 64, fit: stretch}
model: %(model)s
data: {root: %(data)s, train: [syn_train], holdout: {syn_train: 0.3}, val: holdout, val_framing: letterbox,
       cache_side: 96}
train: {epochs: 1, batch_size: 8, steps_per_epoch: 2, warmup_epochs: 0, threads: 2}
export: %(export)s
""" % {"out": tmp_path / "out", "run": tmp_path / "run", "data": tmp_path / "data", "model": model, "export": export})
    return cfg
