"""Scores of a face / no-face gate: ROC, AUC, the threshold that keeps a share of faces."""

import numpy as np


def roc(scores, labels):
    """(fpr, tpr, thresholds), thresholds descending; a score >= threshold says face."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels) > 0.5
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(y)[distinct]
    fp = np.cumsum(~y)[distinct]
    P, N = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    return np.r_[0.0, fp / N], np.r_[0.0, tp / P], np.r_[np.inf, s[distinct]]


def auc(scores, labels):
    fpr, tpr, _ = roc(scores, labels)
    return float(np.trapezoid(tpr, fpr))


def threshold_at_tpr(scores, labels, tpr_target):
    """The highest threshold whose true-positive rate is at least tpr_target, with its (tpr, fpr)."""
    fpr, tpr, th = roc(scores, labels)
    i = int(np.argmax(tpr >= tpr_target - 1e-12))
    return float(th[i]), float(tpr[i]), float(fpr[i])


def summary(scores, labels, threshold):
    """Accuracy, TPR and FPR at a threshold, plus AUC."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels) > 0.5
    pred = s >= threshold
    return {"auc": round(auc(s, y), 4), "accuracy": round(float((pred == y).mean()), 4),
            "tpr": round(float(pred[y].mean()) if y.any() else 0.0, 4),
            "fpr": round(float(pred[~y].mean()) if (~y).any() else 0.0, 4),
            "threshold": float(threshold), "faces": int(y.sum()), "non_faces": int((~y).sum())}
