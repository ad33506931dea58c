"""Box classes of a multi-class detector (``model.classes`` > 1, e.g. mask / no_mask).

``data.classes`` says, per training set, which class each face is: ``{set: {rule: label}}`` where a
rule is ``label:X`` (the box's own label is X, as facemask_kaggle's with_mask / without_mask),
``origin:P`` (the photo's ``origin`` starts with P and it has exactly one face: a classification
set's folder, as pseudo_facemask_cdeb's ``dataset/with_mask/``) or ``*`` (every face of the set).
The first rule that matches wins; ``label`` is one of ``model.labels`` or ``-`` (no known class).
A face no rule names has no known class either: it trains objectness and the box, not the class.

Boxes carry their class as a fifth column (index into model.labels, -1 unknown) through the image
cache and the augmentation (picoface.train.augment keeps extra columns); the targets put it in the
seventh channel of y (picoface.train.targets) and the loss adds a softmax cross-entropy for the
faces whose class is known (picoface.train.loss).
"""

import numpy as np

from picoface.errors import PicofaceError

UNKNOWN = "-"
RULE_KINDS = ("label", "origin")


def check_classes(cfg):
    """Config checks: labels match classes, data.classes names training sets, rules and labels."""
    m = cfg.model
    if m.classes > 1 and len(m.labels) != m.classes:
        raise PicofaceError("model.classes is %d but model.labels names %d" % (m.classes, len(m.labels)),
                            "give one short name per class, e.g. model.labels=[mask, no_mask]")
    if m.classes == 1 and m.labels and len(m.labels) != 1:
        raise PicofaceError("model.labels names %d classes for a 1-class model" % len(m.labels),
                            "drop model.labels or set model.classes")
    if len(set(m.labels)) != len(m.labels) or any(not x or x == UNKNOWN or " " in x for x in m.labels):
        raise PicofaceError("model.labels must be distinct names without spaces (not '-'), got %s" % (m.labels,),
                            "fix them")
    if cfg.data.classes and m.classes == 1:
        raise PicofaceError("data.classes gives faces classes, but model.classes is 1",
                            "set model.classes and model.labels, or drop data.classes")
    for name, rules in cfg.data.classes.items():
        if name not in cfg.data.train:
            raise PicofaceError("data.classes names %r, which is not in data.train" % name,
                                "use one of: " + ", ".join(cfg.data.train))
        if not isinstance(rules, dict) or not rules:
            raise PicofaceError("data.classes[%s] must map rules to labels" % name,
                                "e.g. {'label:with_mask': mask, '*': '-'}")
        for rule, label in rules.items():
            kind = rule.split(":", 1)[0]
            if rule != "*" and (kind not in RULE_KINDS or ":" not in rule):
                raise PicofaceError("data.classes[%s] rule %r is not label:X, origin:P or *" % (name, rule),
                                    "fix the rule")
            if label != UNKNOWN and label not in m.labels:
                raise PicofaceError("data.classes[%s][%s] = %r is not one of model.labels %s or '-'"
                                    % (name, rule, label, list(m.labels)), "fix the label")


def box_classes(sample, rules, labels):
    """Class index per box of one sample (-1: no known class) by the set's rules."""
    n = len(sample.boxes)
    out = np.full(n, -1, np.float32)
    if not rules:
        return out
    box_labels = sample.meta.get("labels") or []
    origin = str(sample.meta.get("origin", ""))
    for i in range(n):
        for rule, label in rules.items():
            if rule == "*":
                hit = True
            else:
                kind, value = rule.split(":", 1)
                if kind == "label":
                    hit = i < len(box_labels) and str(box_labels[i]) == value
                else:
                    hit = n == 1 and origin.startswith(value)
            if hit:
                out[i] = labels.index(label) if label != UNKNOWN else -1
                break
    return out


def attach_classes(cfg, samples):
    """Give every sample's boxes their class column (N, 5) by data.classes (multi-class models only).
    Returns {set: [faces per class..., unknown]} for the log."""
    labels = list(cfg.model.labels)
    counts = {}
    for s in samples:
        cls = box_classes(s, cfg.data.classes.get(s.source, {}), labels)
        s.boxes = np.concatenate([np.asarray(s.boxes, np.float32).reshape(-1, 4), cls[:, None]], 1)
        c = counts.setdefault(s.source, [0] * (len(labels) + 1))
        for k in cls.astype(int):
            c[k if k >= 0 else len(labels)] += 1
    return counts


def describe(counts, labels):
    """One log line per set: faces per class."""
    names = list(labels) + ["unknown"]
    return ["%s: %s" % (src, ", ".join("%s %d" % (n, c) for n, c in zip(names, cs)))
            for src, cs in sorted(counts.items())]
