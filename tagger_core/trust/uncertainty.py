"""Bootstrap intervals on calibration figures, resampling *tracks*.

Why: on a hundred reviewed tracks AM'23's MAE moves by several hundredths from
sparse buckets alone, so a bare "0.168 → 0.180" says little. Resampling whole
tracks (not (track, label) pairs) keeps a track's labels together, as they are
drawn together: the labels of one recording are not independent decisions.

How, vectorised: every figure this module reports is a function of a few sums
over tracks — per bucket the pair count, confidence sum, positive count and
winning-class count, plus each track's Brier and NLL sums. These per-track
sums form one matrix ``S`` (tracks × K); a resample is a vector of
multiplicities ``w`` (how often each track was drawn), and ``W @ S`` gives the
sums of all R resamples in one product. With every ``w = 1`` the formulas are
exactly those of :mod:`tagger_core.trust.metrics` (a test holds them equal).

Held-out "after" probabilities come from k-fold fits: the bootstrap resamples
the tracks scored, not the refitting, so the intervals leave out the variance
of the fit itself (they are somewhat narrow for tiny sets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tagger_core.errors import CalibrationError
from tagger_core.trust.metrics import N_BUCKETS, bucket_index, check_probs_labels

FIGURES = ("mae", "weighted_mae", "ece", "brier", "nll")
"""The figures that get an interval, in the order reports show them."""

N_RESAMPLES = 1000
LEVEL = 0.95
ECE_TARGET_HALF_WIDTH = 0.01
_EPS = 1e-12

Interval = tuple[float, float]


def track_sums(
    probs: Any,
    labels: Any,
    n_buckets: int = N_BUCKETS,
    nll_kind: Literal["binary", "categorical"] = "binary",
) -> np.ndarray:
    """Per-track sums every figure is built from: tracks × (4 B + 2).

    Columns: pairs per bucket, confidence sum per bucket, positives per bucket,
    winning-class pairs per bucket (each B wide), then the track's squared-error
    sum and its NLL sum (over labels for ``binary``, its one positive for
    ``categorical``).
    """
    p, y = check_probs_labels(probs, labels)
    n, c = p.shape
    b = bucket_index(p, n_buckets)
    onehot = np.zeros((n, c, n_buckets))
    np.put_along_axis(onehot, b[:, :, None], 1.0, axis=2)
    win = np.zeros((n, c))
    win[np.arange(n), np.argmax(p, axis=1)] = 1.0
    pc = np.clip(p, _EPS, 1.0 - _EPS)
    if nll_kind == "binary":
        nll = -(y * np.log(pc) + (1.0 - y) * np.log1p(-pc)).sum(axis=1)
    else:
        nll = -np.log(np.where(y > 0, pc, 1.0)).sum(axis=1)
    return np.concatenate(
        [
            onehot.sum(axis=1),
            np.einsum("ncb,nc->nb", onehot, p),
            np.einsum("ncb,nc->nb", onehot, y),
            np.einsum("ncb,nc->nb", onehot, win),
            ((p - y) ** 2).sum(axis=1, keepdims=True),
            nll[:, None],
        ],
        axis=1,
    )


def figures_from_sums(
    sums: np.ndarray,
    n_classes: int,
    n_buckets: int = N_BUCKETS,
    nll_kind: Literal["binary", "categorical"] = "binary",
) -> dict[str, np.ndarray]:
    """MAE, weighted MAE, ECE, Brier and NLL from summed rows of :func:`track_sums`.

    ``sums`` is R × (4 B + 2), one row per resample (the column sums of the
    tracks drawn, each as often as it was drawn). Returns one length-R array per
    figure; a figure with no defined bucket is NaN, as in ``metrics``.
    """
    nb = n_buckets
    count, conf, pos, win = (sums[:, i * nb : (i + 1) * nb] for i in range(4))
    sq, nll = sums[:, 4 * nb], sums[:, 4 * nb + 1]
    n_tracks = count.sum(axis=1) / n_classes
    filled = count > 0
    centres = (np.arange(nb) + 0.5) / nb
    with np.errstate(invalid="ignore", divide="ignore"):
        freq = np.where(filled, pos / np.where(filled, count, 1.0), 0.0)
        err = np.where(filled, np.abs(freq - centres), 0.0)
        mae = err.sum(axis=1) / filled.sum(axis=1)
        wmae = (win * err).sum(axis=1) / win.sum(axis=1)
        ece = np.abs(pos - conf).sum(axis=1) / count.sum(axis=1)
        brier = sq / count.sum(axis=1)
        per = n_tracks if nll_kind == "categorical" else count.sum(axis=1)
        nll_mean = nll / per
    return {"mae": mae, "weighted_mae": wmae, "ece": ece, "brier": brier, "nll": nll_mean}


def resample_weights(n_tracks: int, n_resamples: int, seed: int) -> np.ndarray:
    """R × N multiplicities of N tracks drawn with replacement, R times (float32)."""
    rng = np.random.default_rng(seed)
    dtype = np.int32 if n_resamples * n_tracks < 2**31 else np.int64
    idx = rng.integers(0, n_tracks, size=(n_resamples, n_tracks), dtype=dtype)
    idx += (np.arange(n_resamples, dtype=dtype) * n_tracks)[:, None]
    counts = np.bincount(idx.ravel(), minlength=n_resamples * n_tracks)
    return counts.reshape(n_resamples, n_tracks).astype(np.float32)


def _spread(draws: np.ndarray, level: float) -> float:
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return float("nan")
    tail = (1.0 - level) / 2.0 * 100.0
    q_lo, q_hi = np.percentile(finite, [tail, 100.0 - tail])
    return float(q_hi - q_lo) / 2.0


def basic_interval(point: float, draws: np.ndarray, level: float, floor: float | None) -> Interval:
    """The basic (reverse-percentile) bootstrap interval ``[2θ̂ − q_hi, 2θ̂ − q_lo]``.

    Why not the plain percentile interval: ECE and AM'23's MAE are sums of
    absolute gaps, biased upward, and a resample (with duplicated tracks) is
    biased further; for a perfectly calibrated source the percentile interval
    excluded the true value in every trial, the basic one — which reflects the
    bootstrap's bias back — covers it far more often (``docs/calibration.md``).
    ``floor`` clips the lower end (0 for figures that cannot be negative).
    """
    finite = draws[np.isfinite(draws)]
    if finite.size == 0 or not math.isfinite(point):
        return (float("nan"), float("nan"))
    tail = (1.0 - level) / 2.0 * 100.0
    q_lo, q_hi = np.percentile(finite, [tail, 100.0 - tail])
    lo, hi = 2.0 * point - q_hi, 2.0 * point - q_lo
    if floor is not None:
        lo, hi = max(lo, floor), max(hi, floor)
    return (float(lo), float(hi))


@dataclass(frozen=True)
class FigureIntervals:
    """Point values and bootstrap intervals of the figures of one set of probabilities."""

    n_tracks: int
    values: dict[str, float]
    ci95: dict[str, Interval]
    spread: dict[str, float]
    """Half the distance between the bootstrap quantiles: the interval's half-width
    before clipping at 0 (what shrinks as 1/√n)."""

    def half_width(self, figure: str) -> float:
        return self.spread[figure]

    def to_dict(self) -> dict[str, Any]:
        """``{"mae": v, "mae_ci95": [lo, hi], …}`` (NaN as null), the CLI's contract."""
        out: dict[str, Any] = {}
        for name in FIGURES:
            out[name] = _none_if_nan(self.values[name])
            out[f"{name}_ci95"] = [_none_if_nan(v) for v in self.ci95[name]]
        return out


def _none_if_nan(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


@dataclass(frozen=True)
class PairedIntervals:
    """Before and after on the same resampled tracks, with the interval of the change."""

    before: FigureIntervals
    after: FigureIntervals
    change_ci95: dict[str, Interval]
    n_resamples: int
    seed: int

    def improved_beyond_interval(self, figures: tuple[str, ...] = ("nll", "ece")) -> bool:
        """Whether each figure went down with the whole 95 % interval of the change below 0.

        The change is paired (the same tracks drawn for before and after), so a
        calibration passes only when its improvement is not resampling noise.
        """
        return all(self.change_ci95[f][1] < 0.0 for f in figures)

    def tracks_for_ece_half_width(self, target: float = ECE_TARGET_HALF_WIDTH) -> int:
        """An estimate of the labelled tracks for an ECE interval of ±``target`` (after).

        Assumes the half-width shrinks as 1/√n, as a mean's does; ECE's bucket
        structure and bias make this a rough guide, not a promise.
        """
        return tracks_needed(self.after.half_width("ece"), self.after.n_tracks, target)

    def to_dict(self) -> dict[str, Any]:
        needed = self.tracks_for_ece_half_width()
        return {
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "change_ci95": {k: [_none_if_nan(v) for v in iv] for k, iv in self.change_ci95.items()},
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "tracks_for_ece_pm_0_01": needed,
            "more_tracks_for_ece_pm_0_01": max(0, needed - self.after.n_tracks),
        }


def interval_text(figures: dict[str, Any], name: str) -> str:
    """``"[0.0123, 0.0456]"`` from a :meth:`FigureIntervals.to_dict` (a dash if missing)."""
    lo, hi = figures.get(f"{name}_ci95") or (None, None)
    return "[  —  ]" if lo is None or hi is None else f"[{lo:.4f}, {hi:.4f}]"


def caption(title: str, figures: dict[str, Any]) -> str:
    """A diagram caption: the title, then ECE and weighted MAE with their intervals, one a line.

    ``figures`` is a :meth:`FigureIntervals.to_dict`; missing figures are left out.
    """
    parts = []
    for key, name in (("ece", "ECE"), ("weighted_mae", "wMAE")):
        value, ci = figures.get(key), figures.get(f"{key}_ci95") or [None, None]
        if value is None:
            continue
        interval = "" if None in ci else f" [{ci[0]:.3f}, {ci[1]:.3f}]"
        parts.append(f"{name} {value:.3f}{interval}")
    return "\n".join([title, *parts])


def tracks_needed(half_width: float, n_tracks: int, target: float) -> int:
    """``n · (h / target)²``: tracks for a half-width ``target`` if it scales as 1/√n."""
    if not math.isfinite(half_width) or half_width <= 0:
        return n_tracks
    return int(math.ceil(n_tracks * (half_width / target) ** 2))


def bootstrap_figures(
    probs: Any,
    labels: Any,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
    n_buckets: int = N_BUCKETS,
    nll_kind: Literal["binary", "categorical"] = "binary",
) -> FigureIntervals:
    """Basic-bootstrap 95 % intervals of MAE, weighted MAE, ECE, Brier and NLL."""
    return paired_bootstrap(
        probs, probs, labels, n_resamples, seed, level, n_buckets, nll_kind
    ).before


def paired_bootstrap(
    before: Any,
    after: Any,
    labels: Any,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
    n_buckets: int = N_BUCKETS,
    nll_kind: Literal["binary", "categorical"] = "binary",
) -> PairedIntervals:
    """Intervals of the figures before and after calibration, and of their change.

    Both are scored on the same resampled tracks each time, so the interval of
    ``after − before`` is far narrower than the two intervals side by side.
    """
    if n_resamples < 10:
        raise CalibrationError("the bootstrap needs at least 10 resamples")
    if not 0.0 < level < 1.0:
        raise CalibrationError("the interval level must be between 0 and 1")
    s_before = track_sums(before, labels, n_buckets, nll_kind)
    s_after = track_sums(after, labels, n_buckets, nll_kind)
    n, c = np.asarray(labels).reshape(s_before.shape[0], -1).shape
    weights = resample_weights(n, n_resamples, seed)
    ones = np.ones((1, n))
    out: list[FigureIntervals] = []
    boot: list[dict[str, np.ndarray]] = []
    for sums in (s_before, s_after):
        point = figures_from_sums(ones @ sums, c, n_buckets, nll_kind)
        draws = figures_from_sums(weights @ sums.astype(np.float32), c, n_buckets, nll_kind)
        boot.append(draws)
        values = {k: float(v[0]) for k, v in point.items()}
        out.append(
            FigureIntervals(
                n_tracks=n,
                values=values,
                ci95={k: basic_interval(values[k], draws[k], level, 0.0) for k in FIGURES},
                spread={k: _spread(draws[k], level) for k in FIGURES},
            )
        )
    change = {
        k: basic_interval(out[1].values[k] - out[0].values[k], boot[1][k] - boot[0][k], level, None)
        for k in FIGURES
    }
    return PairedIntervals(out[0], out[1], change, n_resamples, seed)
