"""Verification protocol of LFW View 2: pair scores, 10-fold accuracy, ROC, TAR at FAR.

- Scores are cosine similarities of the two images' embeddings (embeddings are L2-normalised).
- A pair is called "same" when its score is above the threshold.
- 10-fold accuracy: for each fold the threshold is the one that maximises accuracy on the other
  folds (candidates: midpoints between consecutive distinct scores of those folds, plus one below
  and one above all of them; ties go to the lowest threshold); the fold's accuracy is measured with
  it (with a single fold, e.g. ``--limit-folds 1``, the fold's own best threshold, flagged as
  optimistic). Reported as the mean and the population standard deviation over the folds (as facenet,
  insightface).
- TAR at FAR f (ROC over all pairs): the operating point is the lowest threshold that accepts at
  most floor(f * N_neg) negative pairs — no interpolation between ROC points. With LFW's 3,000
  negatives, FAR 1e-3 means at most 3 false accepts (threshold = the 4th highest negative score,
  pairs must score strictly above it); FAR 1e-2 means at most 30.
"""

import numpy as np


def cosine(ea, eb):
    """Row-wise cosine similarity of two (N, D) arrays."""
    ea = np.asarray(ea, np.float64)
    eb = np.asarray(eb, np.float64)
    na = np.linalg.norm(ea, axis=1)
    nb = np.linalg.norm(eb, axis=1)
    return (ea * eb).sum(1) / np.maximum(na * nb, 1e-12)


def best_threshold(scores, same):
    """(threshold, accuracy) maximising the accuracy of ``score > threshold`` on these pairs."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(same, bool)
    u = np.unique(s)
    cands = np.concatenate([[u[0] - 1.0], (u[:-1] + u[1:]) / 2.0, [u[-1] + 1.0]])
    # accuracy of each candidate: sorted scores + counts of positives/negatives at or below it
    order = np.argsort(s, kind="stable")
    ss, yy = s[order], y[order]
    below = np.searchsorted(ss, cands, side="right")          # pairs rejected (score <= t)
    pos_below = np.concatenate([[0], np.cumsum(yy)])[below]    # positives rejected
    neg_below = below - pos_below                              # negatives rejected (correct)
    n_pos = int(y.sum())
    acc = (neg_below + (n_pos - pos_below)) / float(len(s))
    i = int(np.argmax(acc))
    return float(cands[i]), float(acc[i])


def accuracy(scores, same, threshold):
    return float(np.mean((np.asarray(scores) > threshold) == np.asarray(same, bool)))


def kfold(scores, same, folds):
    """10-fold (or k-fold) accuracy: each fold's threshold is chosen on the other folds only."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(same, bool)
    f = np.asarray(folds)
    ks = sorted(set(f.tolist()))
    accs, ths = [], []
    for k in ks:
        test = f == k
        train = ~test if len(ks) > 1 else test  # one fold only: its own threshold (optimistic, flagged)
        t, _ = best_threshold(s[train], y[train])
        ths.append(t)
        accs.append(accuracy(s[test], y[test], t))
    return {"fold_accuracy": accs, "fold_threshold": ths, "mean": float(np.mean(accs)), "std": float(np.std(accs)),
            "threshold_from": "other folds" if len(ks) > 1 else "the same fold (only one fold: optimistic)"}


def roc(scores, same):
    """(far, tar, thresholds): the ROC of ``score > t`` for t over every distinct score, from the
    strictest (nothing accepted) to the loosest (everything accepted)."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(same, bool)
    u = np.unique(s)[::-1]
    ts = np.concatenate([[u[0]], u[1:], [u[-1] - 1.0]]) if len(u) else np.array([0.0])
    neg = np.sort(s[~y])
    pos = np.sort(s[y])
    far = 1.0 - np.searchsorted(neg, ts, side="right") / max(len(neg), 1)
    tar = 1.0 - np.searchsorted(pos, ts, side="right") / max(len(pos), 1)
    return far, tar, ts


def tar_at_far(scores, same, far):
    """{"tar", "threshold", "false_accepts", "far"} at the lowest threshold accepting at most
    floor(far * N_neg) negatives (pairs are accepted when their score is strictly above it)."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(same, bool)
    neg = np.sort(s[~y])[::-1]
    pos = s[y]
    k = int(np.floor(far * len(neg) + 1e-9))
    t = float(neg[k]) if k < len(neg) else float(neg[-1] - 1.0) if len(neg) else float("-inf")
    fa = int((neg > t).sum())
    return {"tar": float(np.mean(pos > t)) if len(pos) else float("nan"), "threshold": t,
            "false_accepts": fa, "far": fa / float(max(len(neg), 1)), "negatives": int(len(neg))}


def verify(scores, same, folds, fars=(1e-2, 1e-3)):
    """Everything the reports show about a set of scored pairs."""
    out = {"pairs": int(len(scores)), "positives": int(np.sum(same)), "folds": len(set(np.asarray(folds).tolist()))}
    out["kfold"] = kfold(scores, same, folds)
    out["tar_at_far"] = {"%g" % f: tar_at_far(scores, same, f) for f in fars}
    return out
