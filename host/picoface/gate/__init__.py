"""The always-on face / no-face gate: a small classifier that looks at the whole frame and lets the
detector run only while it sees a face (device ``mode: gate``).

crops (training and val frames made from face datasets), metrics (ROC AUC, threshold), export
(TFLite float/int8 and kmodel v3 with a gate contract), card (MODEL_CARD.md).
"""
