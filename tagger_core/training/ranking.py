"""Ranking metrics for multi-label taggers: average precision per class and macro mAP.

Why separate from calibration: AP judges only the *order* of confidences (is
a clip with a flute ranked above one without?), so it is unchanged by any
monotone calibration map; calibration metrics judge the values themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def average_precision(scores: Any, labels: Any) -> np.ndarray:
    """Average precision of each class (column), the area under its precision-recall steps.

    ``AP = sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds in
    decreasing order (ties are one threshold), as in scikit-learn's
    ``average_precision_score``. A class without positives gets NaN.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim == 1:
        s, y = s[:, None], y[:, None]
    if s.shape != y.shape:
        raise ValueError(f"scores {s.shape} and labels {y.shape} must have the same shape")
    out = np.full(s.shape[1], np.nan)
    for c in range(s.shape[1]):
        truth = y[:, c].astype(bool)
        n_pos = int(truth.sum())
        if n_pos == 0:
            continue
        order = np.argsort(-s[:, c], kind="mergesort")
        ranked, hits = s[order, c], truth[order]
        tp = np.cumsum(hits)
        last = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # end of each tie group
        precision = tp[last] / (last + 1)
        recall = tp[last] / n_pos
        out[c] = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return out


def mean_average_precision(scores: Any, labels: Any) -> float:
    """Macro mAP: the mean AP over classes that have positives."""
    return float(np.nanmean(average_precision(scores, labels)))
