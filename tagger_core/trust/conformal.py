"""Conformal label sets: per track, a set of labels that holds *all* its true labels.

Why: a threshold of 0.5 on calibrated confidences gives each label a fair
chance, but says nothing about how often a track's whole set of labels is
found. A conformal set does: on tracks exchangeable with the calibration
tracks, the set contains every true label with probability at least 1 − α.

Method — split (inductive) conformal prediction (Papadopoulos et al., 2002;
Angelopoulos & Bates, "A Gentle Introduction to Conformal Prediction", 2021)
with the multi-label score ``s = max over the track's true labels of (1 − p)``
(0 for a track with none). With ``q̂`` the ⌈(n + 1)(1 − α)⌉-th smallest of the
n calibration scores, the set ``{labels : p ≥ 1 − q̂}`` misses a true label
exactly when the track's score exceeds ``q̂``, which happens with probability
at most α. One threshold on *calibrated* probabilities suits this app: the
labels' confidences are already on one scale, and it is one number to store.
Per-label thresholds with conformal risk control (Angelopoulos et al., 2022,
"Conformal Risk Control") would bound the expected share of labels missed — a
weaker promise than "all labels"; per-label thresholds with a union bound
would be needlessly wide.

Held-out coverage is measured by cross-conformal folds: each fold's threshold
is fitted on the other folds and checked on it; the stored threshold is fitted
on all labelled tracks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tagger_core.errors import CalibrationError
from tagger_core.trust.metrics import check_probs_labels

DEFAULT_TARGET = 0.9
METHOD = "split-max-score"


def scores(probs: Any, labels: Any) -> np.ndarray:
    """Each track's nonconformity: the largest ``1 − p`` over its true labels (0 if none)."""
    p, y = check_probs_labels(probs, labels)
    return np.where(y > 0, 1.0 - p, 0.0).max(axis=1)


def conformal_quantile(values: np.ndarray, target: float) -> float:
    """``q̂``: the ⌈(n + 1)·target⌉-th smallest score (1.0 — every label — if n is too small)."""
    n = len(values)
    rank = math.ceil((n + 1) * target)
    if n == 0 or rank > n:
        return 1.0
    return float(np.sort(values)[rank - 1])


def threshold_for(probs: Any, labels: Any, target: float = DEFAULT_TARGET) -> float:
    """The probability a label needs to enter the set: ``1 − q̂``."""
    _check_target(target)
    return 1.0 - conformal_quantile(scores(probs, labels), target)


def _check_target(target: float) -> None:
    if not 0.0 < target < 1.0:
        raise CalibrationError(f"conformal coverage must be between 0 and 1, got {target}")


def label_sets(probs: Any, threshold: float) -> np.ndarray:
    """Boolean tracks × labels mask of the conformal sets (``p ≥ threshold``)."""
    p = np.asarray(probs, dtype=np.float64)
    return p >= threshold


@dataclass(frozen=True)
class ConformalFit:
    """A fitted conformal threshold with its held-out coverage and set size."""

    target: float
    threshold: float
    n_tracks: int
    folds: int
    coverage_held_out: float
    mean_set_size: float
    method: str = METHOD

    def to_dict(self) -> dict[str, Any]:
        """JSON form, stored with the calibration (``"conformal"``) and printed by the CLI."""
        return {
            "method": self.method,
            "target": self.target,
            "threshold": self.threshold,
            "n_tracks": self.n_tracks,
            "folds": self.folds,
            "coverage_held_out": self.coverage_held_out,
            "mean_set_size": self.mean_set_size,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConformalFit:
        return cls(
            target=float(data["target"]),
            threshold=float(data["threshold"]),
            n_tracks=int(data["n_tracks"]),
            folds=int(data["folds"]),
            coverage_held_out=float(data["coverage_held_out"]),
            mean_set_size=float(data["mean_set_size"]),
            method=str(data.get("method", METHOD)),
        )


def fit_conformal(
    probs: Any, labels: Any, target: float = DEFAULT_TARGET, folds: int = 5, seed: int = 0
) -> ConformalFit:
    """Fit the threshold on all tracks; measure coverage and set size on held-out folds.

    ``probs`` should be calibrated probabilities not fitted on these tracks
    (e.g. out-of-fold), so the scores are those new tracks will get.
    """
    _check_target(target)
    p, y = check_probs_labels(probs, labels)
    n = p.shape[0]
    if not 2 <= folds <= n:
        raise CalibrationError(f"conformal folds must be between 2 and {n}, got {folds}")
    s = scores(p, y)
    fold = np.random.default_rng(seed).permutation(n) % folds
    covered = np.zeros(n, dtype=bool)
    size = np.zeros(n)
    for f in range(folds):
        test = fold == f
        threshold = 1.0 - conformal_quantile(s[~test], target)
        sets = label_sets(p[test], threshold)
        covered[test] = np.all(sets | (y[test] == 0), axis=1)
        size[test] = sets.sum(axis=1)
    return ConformalFit(
        target=float(target),
        threshold=1.0 - conformal_quantile(s, target),
        n_tracks=n,
        folds=folds,
        coverage_held_out=float(covered.mean()),
        mean_set_size=float(size.mean()),
    )


def label_set(
    probs: Any, conformal: ConformalFit | dict[str, Any], labels: tuple[str, ...] | None = None
) -> Any:
    """The conformal set of one track (``probs``: one value per label) or of many.

    With ``labels`` given and one track: the label names in the set, most
    confident first; otherwise the boolean mask.
    """
    fit = conformal if isinstance(conformal, ConformalFit) else ConformalFit.from_dict(conformal)
    p = np.asarray(probs, dtype=np.float64)
    mask = label_sets(p, fit.threshold)
    if labels is None or p.ndim != 1:
        return mask
    order = np.argsort(-p, kind="stable")
    return [labels[i] for i in order if mask[i]]
