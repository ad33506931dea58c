"""Faces a dataset did not label become ignore regions, found by a detector trained elsewhere.

Some sets label only some of the faces in a photo (facemask_kaggle's SOURCE.md: "Not every face in
every photo is annotated (e.g. some small or turned-away faces)"). Trained as they are, each of those
faces is a negative: the detector is taught to miss small faces in crowds, the faces that count
most on WIDER FACE. ``mark_unlabelled`` runs a reference detector (by default Ultra-Light RFB-320,
trained on WIDER FACE train) over each photo; a detection scoring at least ``score`` that overlaps
no label and no ignore box (IoU < ``max_iou``) is added to the sample's ignore boxes. There the
loss neither rewards nor punishes a detection, so a wrong guess by the reference costs little.
Detections the reference is sure of (``face_score``) can instead become faces to learn from.
"""

import numpy as np

from picoface.evaluate.ap import iou_matrix


def unlabelled_boxes(boxes, ignore, dets, score=0.5, max_iou=0.3):
    """Detections ([x, y, w, h, score] rows) scoring >= score that overlap no box of ``boxes`` or
    ``ignore`` by IoU >= max_iou, as (N, 5) float32 [x, y, w, h, score]."""
    d = np.asarray(dets, np.float64).reshape(-1, 5)
    d = d[(d[:, 4] >= score) & (d[:, 2] > 0) & (d[:, 3] > 0)]
    known = np.concatenate([np.asarray(boxes, np.float64).reshape(-1, 4),
                            np.asarray(ignore, np.float64).reshape(-1, 4)])
    if len(d) and len(known):
        d = d[iou_matrix(d[:, :4], known).max(axis=1) < max_iou]
    return d.astype(np.float32)


def mark_unlabelled(samples, detector, score=0.5, max_iou=0.3, read=None, progress=True, face_score=0.0):
    """Add each sample's unlabelled faces (as ``detector`` sees them) to its ignore boxes, in place;
    with ``face_score`` > 0, those scoring at least that become faces (boxes) instead.
    Returns (ignore boxes added, face boxes added)."""
    if read is None:
        from picoface.data import read_image as read
    it = samples
    if progress:
        from tqdm import tqdm

        it = tqdm(samples, desc="unlabelled faces", unit="img", leave=False)
    added = faces = 0
    for s in it:
        extra = unlabelled_boxes(s.boxes, s.ignore, detector.detect(read(s.image_path)), score, max_iou)
        sure = extra[:, 4] >= face_score if face_score > 0 else np.zeros(len(extra), bool)
        if sure.any():
            s.boxes = np.concatenate([np.asarray(s.boxes, np.float32).reshape(-1, 4), extra[sure, :4]])
            faces += int(sure.sum())
        if (~sure).any():
            s.ignore = np.concatenate([np.asarray(s.ignore, np.float32).reshape(-1, 4), extra[~sure, :4]])
            added += int((~sure).sum())
    return added, faces
