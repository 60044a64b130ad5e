"""Calibration and classification metrics on probability and label matrices.

Every function takes ``probs`` (N tracks x C classes, floats in [0, 1]) and
``labels`` (N x C, values 0 or 1) and treats each (track, class) pair as one
binary decision, as AM'23 does when it pools "winning and non-winning" classes
into one reliability diagram. Per-class variants slice the class axis.

Notation used in the docstrings: B equal-width buckets, bucket ``b`` holds the
pairs whose confidence p falls in ``[b/B, (b+1)/B)`` (the last bucket includes
1.0); ``n_b`` pairs, ``conf_b`` their mean confidence, ``freq_b`` the fraction
of them that are positive, ``centre_b = (b + 0.5) / B`` and ``n`` all pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

from tagger_core.errors import CalibrationError

N_BUCKETS = 10
_EPS = 1e-12


def _as_matrix(array: Any, name: str) -> np.ndarray:
    """Return ``array`` as a 2-D float64 matrix (a vector becomes one column)."""
    out = np.asarray(array, dtype=np.float64)
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2:
        raise CalibrationError(f"{name} must be a tracks x classes matrix, got shape {out.shape}")
    return out


def check_probs_labels(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert a probability matrix and its binary label matrix.

    Raises ``CalibrationError`` with a one-line message on mismatched shapes,
    probabilities outside [0, 1] or non-finite, and labels other than 0/1.
    """
    p = _as_matrix(probs, "probabilities")
    y = _as_matrix(labels, "labels")
    if p.shape != y.shape:
        raise CalibrationError(
            f"probabilities {p.shape} and labels {y.shape} must have the same shape"
        )
    if p.shape[0] == 0:
        raise CalibrationError("no tracks to evaluate")
    if not np.all(np.isfinite(p)) or p.min() < 0.0 or p.max() > 1.0:
        raise CalibrationError("probabilities must be finite numbers between 0 and 1")
    if not np.all((y == 0) | (y == 1)):
        raise CalibrationError("labels must be 0 or 1")
    return p, y


def bucket_index(probs: np.ndarray, n_buckets: int = N_BUCKETS) -> np.ndarray:
    """Bucket of each confidence: ``floor(p * B)``, with p = 1.0 put in the last bucket."""
    idx = np.floor(np.asarray(probs, dtype=np.float64) * n_buckets).astype(np.int64)
    return np.clip(idx, 0, n_buckets - 1)


def _winning_mask(p: np.ndarray) -> np.ndarray:
    """One-hot mask of each track's winning (highest-confidence) class."""
    mask = np.zeros(p.shape, dtype=bool)
    mask[np.arange(p.shape[0]), np.argmax(p, axis=1)] = True
    return mask


def _nan_to_none(values: Sequence[float]) -> list[float | None]:
    return [None if v is None or np.isnan(v) else float(v) for v in values]


def _none_to_nan(values: Sequence[float | None]) -> tuple[float, ...]:
    return tuple(float("nan") if v is None else float(v) for v in values)


@dataclass(frozen=True)
class ReliabilityDiagram:
    """Per-bucket statistics of a reliability diagram (empty buckets hold NaN).

    ``count`` is ``n_b``; ``winning_count`` counts the pairs in the bucket whose
    class is the track's winning class (AM'23's weights for the weighted MAE).
    """

    n_buckets: int
    mean_confidence: tuple[float, ...]
    frequency: tuple[float, ...]
    count: tuple[int, ...]
    winning_count: tuple[int, ...]

    @property
    def edges(self) -> np.ndarray:
        """Bucket edges, ``B + 1`` values from 0 to 1."""
        return np.linspace(0.0, 1.0, self.n_buckets + 1)

    @property
    def centres(self) -> np.ndarray:
        """Bucket centres ``(b + 0.5) / B``: AM'23's expected accuracy per bucket."""
        return (np.arange(self.n_buckets) + 0.5) / self.n_buckets

    @property
    def total(self) -> int:
        """Number of (track, class) pairs in the diagram."""
        return int(sum(self.count))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (empty buckets as ``null``)."""
        return {
            "n_buckets": self.n_buckets,
            "mean_confidence": _nan_to_none(self.mean_confidence),
            "frequency": _nan_to_none(self.frequency),
            "count": list(self.count),
            "winning_count": list(self.winning_count),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReliabilityDiagram:
        """Inverse of :meth:`to_dict`."""
        return cls(
            n_buckets=int(data["n_buckets"]),
            mean_confidence=_none_to_nan(data["mean_confidence"]),
            frequency=_none_to_nan(data["frequency"]),
            count=tuple(int(c) for c in data["count"]),
            winning_count=tuple(int(c) for c in data["winning_count"]),
        )


def _diagram_from_sums(
    n_buckets: int, count: np.ndarray, conf_sum: np.ndarray, pos_sum: np.ndarray, win: np.ndarray
) -> ReliabilityDiagram:
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / count, np.nan)
        freq = np.where(count > 0, pos_sum / count, np.nan)
    return ReliabilityDiagram(
        n_buckets=n_buckets,
        mean_confidence=tuple(float(v) for v in mean_conf),
        frequency=tuple(float(v) for v in freq),
        count=tuple(int(v) for v in count),
        winning_count=tuple(int(v) for v in win),
    )


def reliability_diagram(probs: Any, labels: Any, n_buckets: int = N_BUCKETS) -> ReliabilityDiagram:
    """Reliability diagram pooled over all classes, winning and non-winning (AM'23).

    For each bucket b: ``count = n_b``, ``mean_confidence = conf_b``,
    ``frequency = freq_b = (1/n_b) * sum(y)`` over the pairs in b.
    """
    p, y = check_probs_labels(probs, labels)
    idx = bucket_index(p, n_buckets).ravel()
    win = _winning_mask(p).ravel()
    return _diagram_from_sums(
        n_buckets,
        np.bincount(idx, minlength=n_buckets).astype(np.float64),
        np.bincount(idx, weights=p.ravel(), minlength=n_buckets),
        np.bincount(idx, weights=y.ravel(), minlength=n_buckets),
        np.bincount(idx, weights=win.astype(np.float64), minlength=n_buckets),
    )


def per_class_reliability(
    probs: Any, labels: Any, n_buckets: int = N_BUCKETS
) -> list[ReliabilityDiagram]:
    """One reliability diagram per class (column), computed in one vectorised pass."""
    p, y = check_probs_labels(probs, labels)
    n_classes = p.shape[1]
    idx = (bucket_index(p, n_buckets) + np.arange(n_classes) * n_buckets).ravel()
    size = n_classes * n_buckets
    win = _winning_mask(p).ravel().astype(np.float64)
    count = np.bincount(idx, minlength=size).reshape(n_classes, n_buckets).astype(np.float64)
    conf = np.bincount(idx, weights=p.ravel(), minlength=size).reshape(n_classes, n_buckets)
    pos = np.bincount(idx, weights=y.ravel(), minlength=size).reshape(n_classes, n_buckets)
    wins = np.bincount(idx, weights=win, minlength=size).reshape(n_classes, n_buckets)
    return [
        _diagram_from_sums(n_buckets, count[c], conf[c], pos[c], wins[c]) for c in range(n_classes)
    ]


def am23_mae(diagram: ReliabilityDiagram) -> float:
    """AM'23's MAE between the reliability curve and the bucket centres.

    ``MAE = (1/|B*|) * sum_{b in B*} |freq_b - centre_b|`` over the non-empty
    buckets B*. Because it uses the centre, not ``conf_b``, a perfectly
    calibrated source scores above zero (about 0.013 for softmax(3 N(0,1)) over
    8 classes); use :func:`expected_calibration_error` to test "calibrated = 0".
    """
    freq = np.asarray(diagram.frequency)
    mask = np.asarray(diagram.count) > 0
    if not mask.any():
        return float("nan")
    return float(np.mean(np.abs(freq[mask] - diagram.centres[mask])))


def am23_weighted_mae(
    diagram: ReliabilityDiagram, weighting: Literal["winning", "all"] = "winning"
) -> float:
    """AM'23's proposed weighted MAE: bucket errors weighted by bucket frequencies.

    ``wMAE = sum_b w_b * |freq_b - centre_b|`` with ``w_b = k_b / sum_b k_b``.
    With ``weighting="winning"`` (the paper's proposal) ``k_b`` is the number of
    winning-class decisions whose confidence falls in bucket b, so the score
    reflects the confidences users act on; ``"all"`` uses ``n_b`` instead.
    """
    key = diagram.winning_count if weighting == "winning" else diagram.count
    weights = np.asarray(key, dtype=np.float64)
    if weights.sum() <= 0:
        return float("nan")
    mask = weights > 0
    freq = np.asarray(diagram.frequency)
    err = np.abs(freq[mask] - diagram.centres[mask])
    return float(np.sum(weights[mask] * err) / weights.sum())


def diagram_ece(diagram: ReliabilityDiagram) -> float:
    """ECE of a diagram: ``sum_b (n_b / n) * |freq_b - conf_b|``."""
    count = np.asarray(diagram.count, dtype=np.float64)
    mask = count > 0
    if not mask.any():
        return float("nan")
    gap = np.abs(np.asarray(diagram.frequency)[mask] - np.asarray(diagram.mean_confidence)[mask])
    return float(np.sum(count[mask] * gap) / count.sum())


def diagram_mce(diagram: ReliabilityDiagram) -> float:
    """MCE of a diagram: ``max_b |freq_b - conf_b|`` over non-empty buckets."""
    mask = np.asarray(diagram.count) > 0
    if not mask.any():
        return float("nan")
    gap = np.abs(np.asarray(diagram.frequency)[mask] - np.asarray(diagram.mean_confidence)[mask])
    return float(gap.max())


def expected_calibration_error(probs: Any, labels: Any, n_buckets: int = N_BUCKETS) -> float:
    """Count-weighted ECE over all pairs: ``sum_b (n_b / n) * |freq_b - conf_b|``."""
    return diagram_ece(reliability_diagram(probs, labels, n_buckets))


def maximum_calibration_error(probs: Any, labels: Any, n_buckets: int = N_BUCKETS) -> float:
    """MCE over all pairs: ``max_b |freq_b - conf_b|`` over non-empty buckets."""
    return diagram_mce(reliability_diagram(probs, labels, n_buckets))


def adaptive_calibration_error(probs: Any, labels: Any, n_buckets: int = N_BUCKETS) -> float:
    """Adaptive (equal-mass) ECE: ``sum_g (n_g / n) * |freq_g - conf_g|``.

    The pairs are sorted by confidence (ties broken by label, so the result
    does not depend on sample order) and split into ``B`` groups g whose sizes
    differ by at most one.
    """
    p, y = check_probs_labels(probs, labels)
    pf, yf = p.ravel(), y.ravel()
    order = np.lexsort((yf, pf))
    pf, yf = pf[order], yf[order]
    n = pf.size
    n_groups = min(n_buckets, n)
    bounds = np.linspace(0, n, n_groups + 1).round().astype(np.int64)
    sizes = np.diff(bounds)
    group = np.repeat(np.arange(n_groups), sizes)
    conf = np.bincount(group, weights=pf, minlength=n_groups)
    pos = np.bincount(group, weights=yf, minlength=n_groups)
    return float(np.sum(np.abs(pos - conf)) / n)


def brier_score(probs: Any, labels: Any) -> float:
    """Brier score averaged over all pairs: ``(1 / (N C)) * sum (p - y)^2``."""
    p, y = check_probs_labels(probs, labels)
    return float(np.mean((p - y) ** 2))


def negative_log_likelihood(
    probs: Any, labels: Any, kind: Literal["binary", "categorical"] = "binary"
) -> float:
    """Mean negative log-likelihood of the labels.

    ``binary`` (multi-label sigmoid outputs): ``-(1/(N C)) * sum y log p + (1-y) log(1-p)``.
    ``categorical`` (single-label softmax outputs, one positive per track):
    ``-(1/N) * sum_n log p_{n, y_n}``. Probabilities are clipped to
    ``[1e-12, 1 - 1e-12]`` so a confident mistake costs about 27.6, not infinity.
    """
    p, y = check_probs_labels(probs, labels)
    pc = np.clip(p, _EPS, 1.0 - _EPS)
    if kind == "binary":
        return float(-np.mean(y * np.log(pc) + (1.0 - y) * np.log1p(-pc)))
    if kind == "categorical":
        if not np.all(y.sum(axis=1) == 1):
            raise CalibrationError("categorical NLL needs exactly one positive label per track")
        return float(-np.mean(np.log(pc[y.astype(bool)])))
    raise CalibrationError(f"unknown NLL kind {kind!r}: use 'binary' or 'categorical'")


@dataclass(frozen=True)
class CalibrationSummary:
    """Calibration figures for one set of probabilities (all pairs pooled)."""

    n_tracks: int
    n_classes: int
    mae: float
    weighted_mae: float
    ece: float
    mce: float
    adaptive_ece: float
    brier: float
    nll: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN as ``null``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = None if isinstance(value, float) and np.isnan(value) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CalibrationSummary:
        """Inverse of :meth:`to_dict`."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            value = data[f.name]
            if f.name in ("n_tracks", "n_classes"):
                kwargs[f.name] = int(value)
            else:
                kwargs[f.name] = float("nan") if value is None else float(value)
        return cls(**kwargs)


def calibration_summary(
    probs: Any,
    labels: Any,
    n_buckets: int = N_BUCKETS,
    nll_kind: Literal["binary", "categorical"] = "binary",
) -> CalibrationSummary:
    """MAE, weighted MAE, ECE, MCE, adaptive ECE, Brier and NLL in one call."""
    p, y = check_probs_labels(probs, labels)
    diagram = reliability_diagram(p, y, n_buckets)
    return CalibrationSummary(
        n_tracks=int(p.shape[0]),
        n_classes=int(p.shape[1]),
        mae=am23_mae(diagram),
        weighted_mae=am23_weighted_mae(diagram),
        ece=diagram_ece(diagram),
        mce=diagram_mce(diagram),
        adaptive_ece=adaptive_calibration_error(p, y, n_buckets),
        brier=brier_score(p, y),
        nll=negative_log_likelihood(p, y, nll_kind),
    )


def per_class_summary(
    probs: Any, labels: Any, n_buckets: int = N_BUCKETS
) -> list[CalibrationSummary]:
    """One :class:`CalibrationSummary` per class (binary NLL, Brier on that column).

    The weighted MAE of a class weights its buckets by the tracks whose *winning*
    class it is, so it is NaN for a class that never wins.
    """
    p, y = check_probs_labels(probs, labels)
    out = []
    for c, diagram in enumerate(per_class_reliability(p, y, n_buckets)):
        pc, yc = p[:, [c]], y[:, [c]]
        out.append(
            CalibrationSummary(
                n_tracks=int(p.shape[0]),
                n_classes=1,
                mae=am23_mae(diagram),
                weighted_mae=am23_weighted_mae(diagram),
                ece=diagram_ece(diagram),
                mce=diagram_mce(diagram),
                adaptive_ece=adaptive_calibration_error(pc, yc, n_buckets),
                brier=brier_score(pc, yc),
                nll=negative_log_likelihood(pc, yc),
            )
        )
    return out


@dataclass(frozen=True)
class ClassificationReport:
    """MGR'25's per-class metrics at a decision threshold, with macro averages.

    With TP, FP, FN, TN counted per class from ``p >= threshold``:
    accuracy ``(TP+TN)/N``; precision ``TP/(TP+FP)``; recall ``TP/(TP+FN)``;
    F1 ``2TP/(2TP+FP+FN)``; balanced accuracy ``(recall + TN/(TN+FP)) / 2``
    (the mean of whichever of the two rates is defined). An undefined ratio is 0.
    Macro values are unweighted means over classes.
    """

    threshold: float
    positives: tuple[int, ...]
    negatives: tuple[int, ...]
    accuracy: tuple[float, ...]
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    balanced_accuracy: tuple[float, ...]

    def macro(self) -> dict[str, float]:
        """Unweighted means over classes of every per-class metric."""
        names = ("accuracy", "precision", "recall", "f1", "balanced_accuracy")
        return {n: float(np.mean(getattr(self, n))) for n in names}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, macro averages included."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
        out["macro"] = self.macro()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassificationReport:
        """Inverse of :meth:`to_dict` (the macro block is recomputed)."""
        return cls(
            threshold=float(data["threshold"]),
            positives=tuple(int(v) for v in data["positives"]),
            negatives=tuple(int(v) for v in data["negatives"]),
            **{
                n: tuple(float(v) for v in data[n])
                for n in ("accuracy", "precision", "recall", "f1", "balanced_accuracy")
            },
        )


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), 0.0)


def classification_report(probs: Any, labels: Any, threshold: float = 0.5) -> ClassificationReport:
    """Per-class accuracy, precision, recall, F1 and balanced accuracy (see the class)."""
    p, y = check_probs_labels(probs, labels)
    pred = p >= threshold
    truth = y.astype(bool)
    tp = np.sum(pred & truth, axis=0).astype(np.float64)
    fp = np.sum(pred & ~truth, axis=0).astype(np.float64)
    fn = np.sum(~pred & truth, axis=0).astype(np.float64)
    tn = np.sum(~pred & ~truth, axis=0).astype(np.float64)
    pos, neg = tp + fn, tn + fp
    recall = _safe_ratio(tp, pos)
    specificity = _safe_ratio(tn, neg)
    defined = (pos > 0).astype(np.float64) + (neg > 0).astype(np.float64)
    balanced = (recall + specificity) / np.maximum(defined, 1.0)
    return ClassificationReport(
        threshold=float(threshold),
        positives=tuple(int(v) for v in pos),
        negatives=tuple(int(v) for v in neg),
        accuracy=tuple(float(v) for v in (tp + tn) / p.shape[0]),
        precision=tuple(float(v) for v in _safe_ratio(tp, tp + fp)),
        recall=tuple(float(v) for v in recall),
        f1=tuple(float(v) for v in _safe_ratio(2 * tp, 2 * tp + fp + fn)),
        balanced_accuracy=tuple(float(v) for v in balanced),
    )
