"""Evaluation of face detectors: VOC all-point AP at several IoUs, PR curves, recall by size,
and a centroid metric for centroid-only detectors (ARCHITECTURE section 9)."""

from picoface.evaluate.ap import iou_matrix, match_centroids, match_image, pr_curve, voc_ap
from picoface.evaluate.core import evaluate, run_detector, score, score_one, to_json
from picoface.evaluate.plot import plot_pr

__all__ = ["evaluate", "score", "score_one", "run_detector", "plot_pr", "to_json", "voc_ap",
           "pr_curve", "match_image", "match_centroids", "iou_matrix"]
