"""Experiment config: defaults <- YAML <- key=value, validation, suggestions, hash, round trip."""

import pytest

from picoface.errors import PicofaceError
from picoface.train.config import (config_hash, load_config, parse_override, resume_hash, save_config)


def _yaml(tmp_path, text, name="exp.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_defaults_then_yaml_then_overrides(tmp_path):
    p = _yaml(tmp_path, "name: exp\ninput: {w: 128, h: 128}\ntrain: {epochs: 7, lr: 0.01}\n")
    cfg = load_config(p, ["train.epochs=3", "model.width=0.5", "data.train=[a, b]"])
    assert cfg.name == "exp"
    assert (cfg.input.w, cfg.input.h) == (128, 128)      # YAML over defaults
    assert cfg.train.epochs == 3                           # CLI over YAML
    assert cfg.train.lr == 0.01                            # YAML kept
    assert cfg.model.width == 0.5 and isinstance(cfg.model.width, float)
    assert cfg.data.train == ["a", "b"]
    assert cfg.model.stride == 16                          # default kept
    assert cfg.run_dir == "runs/exp"


def test_unknown_key_gets_a_suggestion(tmp_path):
    with pytest.raises(PicofaceError, match=r"unknown config key 'train.epoch'.*did you mean 'epochs'"):
        load_config(_yaml(tmp_path, "train: {epoch: 3}\n"))
    with pytest.raises(PicofaceError, match=r"did you mean 'train'"):
        load_config(None, ["trian.epochs=3"])
    with pytest.raises(PicofaceError, match=r"did you mean 'augment'"):
        load_config(_yaml(tmp_path, "augmnet: {flip: 0.5}\n"))


def test_bad_types_name_the_key(tmp_path):
    with pytest.raises(PicofaceError, match=r"train.epochs must be int"):
        load_config(None, ["train.epochs=many"])
    with pytest.raises(PicofaceError, match=r"train.epochs must be int"):
        load_config(None, ["train.epochs=true"])          # bool is not an int
    with pytest.raises(PicofaceError, match=r"input.grayscale must be bool"):
        load_config(_yaml(tmp_path, "input: {grayscale: 3}\n"))
    with pytest.raises(PicofaceError, match=r"model.anchor_boxes\[0\]\[1\] must be float"):
        load_config(None, ["model.anchor_boxes=[[1, x]]", "model.anchors=1"])
    with pytest.raises(PicofaceError, match=r"section"):
        load_config(_yaml(tmp_path, "train: 5\n"))


def test_choices_and_ranges():
    with pytest.raises(PicofaceError, match=r"input.fit='strech'.*did you mean 'stretch'"):
        load_config(None, ["input.fit=strech"])
    with pytest.raises(PicofaceError, match=r"model.width"):
        load_config(None, ["model.width=3"])
    with pytest.raises(PicofaceError, match=r"model.stride"):
        load_config(None, ["model.stride=4"])
    with pytest.raises(PicofaceError, match=r"data.val_size_rule='min_side'.*did you mean 'min-side'"):
        load_config(None, ["data.val_size_rule=min_side"])
    with pytest.raises(PicofaceError, match=r"anchor_boxes must hold 5"):
        load_config(None, ["model.anchor_boxes=[[1, 1]]"])
    for bad in ["loss.rescore=1.5", "loss.extra_anchor_iou=1", "loss.box=-1", "train.ema=1",
                "export.clip_output=[1, 6]", "export.clip_output=[-6]", "augment.occlude=1.5",
                "export.qat_epochs=-1", "export.qat_lr=0"]:
        with pytest.raises(PicofaceError, match=bad.split("=")[0].replace(".", r"\.") + " must be"):
            load_config(None, [bad])
    with pytest.raises(PicofaceError, match=r"export\.qat_epochs needs .*export\.clip_output"):
        load_config(None, ["export.qat_epochs=2"])
    assert load_config(None, ["export.qat_epochs=2", "export.clip_output=[-5, 4.2]"]).export.qat_epochs == 2
    with pytest.raises(PicofaceError, match=r"model\.stem_kernel 5 with model\.stem_stride 5 is not a supported stem"):
        load_config(None, ["model.stem_kernel=5", "model.stem_stride=5"])
    with pytest.raises(PicofaceError, match=r"output stride of 32, not model.stride 16.*product x 4"):
        load_config(None, ["model.stem_kernel=4", "model.stem_stride=4", "model.strides=[2, 2, 2]"])
    c = load_config(None, ["model.stem_kernel=4", "model.stem_stride=4", "model.strides=[1, 2, 2]",
                           "input.grayscale=true"])
    assert (c.model.stem_stride, c.input.channels) == (4, 1)


def test_values_are_parsed_without_eval():
    key, value = parse_override("name=__import__('os').getcwd()")
    assert key == "name" and value == "__import__('os').getcwd()"
    cfg = load_config(None, ["name=__import__('os').getcwd()"])
    assert cfg.name == "__import__('os').getcwd()"
    with pytest.raises(PicofaceError, match="key=value"):
        parse_override("train.epochs")


def test_hash_and_resolved_round_trip(tmp_path):
    a = load_config(None, ["train.epochs=3"])
    b = load_config(None, ["train.epochs=3"])
    c = load_config(None, ["train.epochs=4"])
    assert config_hash(a) == config_hash(b) != config_hash(c)
    assert len(config_hash(a)) == 16
    # resuming may change the epoch count and the budget, not the model
    assert resume_hash(a) == resume_hash(c)
    assert resume_hash(a) != resume_hash(load_config(None, ["model.width=0.5"]))
    out = tmp_path / "resolved.yaml"
    save_config(c, out)
    assert config_hash(c) in out.read_text().splitlines()[0]
    again = load_config(out)
    assert config_hash(again) == config_hash(c)


def test_shipped_configs_validate(root):
    for name in ("picoface_k210_320x240", "picoface_openmv_240x176", "picoface_k210_mask_320x240"):
        cfg = load_config(root / "models" / name / "train.yaml")
        assert cfg.name == name
        assert cfg.out == "models/" + name
        assert "widerface_val" not in cfg.data.train
        assert 0 < cfg.train.budget_minutes <= 60


def test_overrides_may_follow_the_flags(tmp_path, capsys):
    """`picoface train --config X --ship-only key=value`: overrides after a flag are still overrides;
    anything else left over is refused by argparse as before."""
    from picoface.cli import main

    cfg = _yaml(tmp_path, "train: {epochs: 1}\n")
    assert main(["train", "--config", str(cfg), "--quiet", "train.epochs=x", "--profile", "1"]) == 1
    assert "train.epochs" in capsys.readouterr().err        # parsed as an override (and refused as a value)
    assert main(["train", "--config", str(cfg), "--quiet", "--profile", "1", "train.epochs=x"]) == 1
    assert "train.epochs" in capsys.readouterr().err
    for stray in ("--bogus", "epochs"):
        with pytest.raises(SystemExit) as e:
            main(["train", "--config", str(cfg), "train.epochs=2", "--quiet", stray])
        assert e.value.code == 2 and "unrecognized arguments: " + stray in capsys.readouterr().err


def test_keys_added_later_leave_the_hash_alone_at_their_default():
    """A config that does not use model.labels / model.init / data.classes / loss.cls keeps the hash it
    had before those keys existed (study points and checkpoints resume); setting one changes it."""
    from picoface.train.config import LATER_KEYS, to_dict

    plain = load_config(None, [])
    d = to_dict(plain)
    for dotted in LATER_KEYS:
        sec, key = dotted.split(".")
        del d[sec][key]
    import hashlib
    import json

    before = hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    assert config_hash(plain) == before
    assert config_hash(load_config(None, ["loss.cls=2.0"])) != before
    assert resume_hash(load_config(None, ["loss.cls=2.0"])) != resume_hash(plain)
