"""Calibration fitted on its own after an analysis, from the tags the archive already carries.

Most collections carry genre tags, many carry performer credits: labels the
librarian already trusts enough to keep. After every analysis each bundle whose
task those tags label (see :mod:`tagger_core.trust.tag_labels`) and that has at
least ``MIN_TAGGED_TRACKS`` tagged tracks is calibrated with k-fold held-out
figures (:func:`tagger_core.trust.archive_calibration.fit_calibration`, reviews
outranking tags). The fit is always stored; it is activated only when the held-out
NLL and ECE both improve on the uncalibrated ensemble, as judged by ``judge``.

A calibration the librarian fitted and activated is never replaced; an earlier
automatic one is, when the labelled tracks or their labels changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select

from tagger_core.db import Library
from tagger_core.db.models import Calibration
from tagger_core.labels.bundles import BundleError, load_bundle
from tagger_core.trust.archive_calibration import (
    activate_calibration,
    build_calibration_set,
    eligible_labels,
    fit_calibration,
)
from tagger_core.trust.metrics import calibration_summary
from tagger_core.trust.predictions import active_calibration, analyzed_bundles
from tagger_core.trust.tag_labels import TAG_TASKS
from tagger_core.trust.uncertainty import paired_bootstrap

MIN_TAGGED_TRACKS = 50
"""Tagged tracks a bundle needs before a calibration is fitted on its own."""

TRAIN_MIN_EXAMPLES = 10
"""Positives and negatives a label needs before ``train heads --from-tags`` is offered
(the default ``--min-examples`` of that command)."""

FOLDS = 5
FIGURES = ("ece", "nll", "mae", "weighted_mae", "brier")


@dataclass(frozen=True)
class Verdict:
    """Whether a calibration improved on tracks it was not fitted on, and why (one line)."""

    improved: bool
    reason: str
    #: half-width of the held-out ECE interval after calibration, when one was computed
    ece_halfwidth: float | None = None


Judge = Callable[[np.ndarray, np.ndarray, np.ndarray], Verdict]
"""``judge(held_out_before, held_out_after, y)`` (tracks x labels each) -> Verdict."""


def interval_judge(before: np.ndarray, after: np.ndarray, y: np.ndarray) -> Verdict:
    """Improved when held-out NLL and ECE both went down beyond resampling noise.

    Tags are noisy labels, so a calibration fitted on them is switched on by itself only
    when the paired bootstrap interval of the change (same tracks before and after,
    :func:`tagger_core.trust.uncertainty.paired_bootstrap`) lies wholly below zero for
    both figures; a point improvement inside the noise is stored, not activated.
    """
    intervals = paired_bootstrap(before, after, y)
    ece_halfwidth = intervals.after.half_width("ece")
    if intervals.improved_beyond_interval():
        return Verdict(
            True, "held-out NLL and ECE both improved beyond their interval", ece_halfwidth
        )
    b, a = calibration_summary(before, y), calibration_summary(after, y)
    parts = []
    for key, name in (("nll", "NLL"), ("ece", "ECE")):
        lo, hi = intervals.change_ci95[key]
        if not hi < 0.0:
            parts.append(
                f"held-out {name} {getattr(b, key):.3f} \u2192 {getattr(a, key):.3f} "
                f"(change [{lo:+.3f}, {hi:+.3f}])"
            )
    return Verdict(False, "not better beyond the noise: " + ", ".join(parts), ece_halfwidth)


JUDGE: Judge = interval_judge
"""The one place that decides whether a calibration fitted from tags is switched on."""


@dataclass
class AutoCalibration:
    """What happened for one bundle: the fit, its held-out figures, and whether it is active."""

    bundle_id: str
    task: str
    calibration_id: int
    tracks: int
    from_tags: int
    from_review: int
    source: str
    labels: tuple[str, ...]
    activated: bool
    reason: str
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    ece_halfwidth: float | None = None
    #: labels with enough tagged positives and negatives to train heads on (``--from-tags``)
    trainable_labels: int = 0

    @property
    def train_hint(self) -> str | None:
        """The command that trains heads on the same tags, when there are enough."""
        if not self.trainable_labels:
            return None
        return (
            f"music-tagger train heads --from-tags --task {self.task} --skip-rare "
            f"--out DIR  ({self.trainable_labels} labels have \u2265{TRAIN_MIN_EXAMPLES} "
            "tagged positives and negatives)"
        )

    def summary(self) -> str:
        """``"genre calibrated on 8,412 tagged tracks: held-out ECE 0.091 → 0.018 (±0.003)"``."""
        who = f"{self.from_tags:,} tagged"
        if self.from_review:
            who += f" and {self.from_review:,} reviewed"
        pm = "" if self.ece_halfwidth is None else f" (\u00b1{self.ece_halfwidth:.3f})"
        line = (
            f"{self.bundle_id} calibrated on {who} tracks: held-out ECE "
            f"{self.before['ece']:.3f} \u2192 {self.after['ece']:.3f}{pm}"
        )
        return line if self.activated else f"{line}; not applied ({self.reason})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "calibration_id": self.calibration_id,
            "task": self.task,
            "source": self.source,
            "tracks": self.tracks,
            "from_tags": self.from_tags,
            "from_review": self.from_review,
            "labels": list(self.labels),
            "activated": self.activated,
            "reason": self.reason,
            "before": dict(self.before),
            "after": dict(self.after),
            "ece_halfwidth": self.ece_halfwidth,
            "summary": self.summary(),
            "train_hint": self.train_hint,
        }


def _figures(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    summary = calibration_summary(probs, y).to_dict()
    return {name: summary[name] for name in FIGURES}


def _trainable(y: np.ndarray) -> int:
    pos = y.sum(axis=0)
    return int(((pos >= TRAIN_MIN_EXAMPLES) & (len(y) - pos >= TRAIN_MIN_EXAMPLES)).sum())


def _should_fit(library: Library, bundle_id: str, min_tracks: int) -> tuple[str, bool]:
    """The bundle's task, and whether an automatic fit is due (enough new tags, not overruled)."""
    try:
        bundle = load_bundle(bundle_id)
    except BundleError:
        return "", False
    if bundle.task not in TAG_TASKS:
        return bundle.task, False
    with library.session() as s:
        active = active_calibration(s, bundle_id, bundle.version)
        if active is not None and not active.params.get("auto"):
            return bundle.task, False  # the librarian's own choice stands
        cal_set = build_calibration_set(s, bundle_id, use_tags=True)
        if cal_set.from_tags < min_tracks or not eligible_labels(cal_set, FOLDS)[0]:
            return bundle.task, False
        last = s.scalars(
            select(Calibration)
            .where(Calibration.bundle_id == bundle_id, Calibration.bundle_version == bundle.version)
            .order_by(Calibration.id.desc())
        ).first()
    unchanged = (
        last is not None
        and last.params.get("auto")
        and last.params.get("label_digest") == cal_set.digest()
    )
    return bundle.task, not unchanged


def auto_calibrate_bundle(
    library: Library,
    bundle_id: str,
    *,
    min_tracks: int = MIN_TAGGED_TRACKS,
    judge: Judge | None = None,
) -> AutoCalibration | None:
    """Fit (and maybe activate) a calibration of ``bundle_id`` from tags; None when none is due.

    None means: the task has no tag labels, too few tagged tracks (or no label with
    enough positives and negatives for the folds), the librarian's own calibration is
    active, or the labelled tracks and their labels are those of the last automatic fit.
    """
    task, due = _should_fit(library, bundle_id, min_tracks)
    if not due:
        return None
    fit = fit_calibration(library, bundle_id, folds=FOLDS, use_tags=True, activate=False, auto=True)
    verdict = (judge or JUDGE)(fit.held_out_before, fit.held_out_after, fit.held_out_y)
    if verdict.improved:
        activate_calibration(library, fit.calibration_id)
    return AutoCalibration(
        bundle_id=bundle_id,
        task=task,
        calibration_id=fit.calibration_id,
        tracks=len(fit.held_out_y),
        from_tags=fit.from_tags,
        from_review=fit.from_review,
        source=fit.source,
        labels=fit.labels,
        activated=verdict.improved,
        reason=verdict.reason,
        before=_figures(fit.held_out_before, fit.held_out_y),
        after=_figures(fit.held_out_after, fit.held_out_y),
        ece_halfwidth=verdict.ece_halfwidth,
        trainable_labels=_trainable(fit.held_out_y),
    )


def auto_calibrate(
    library: Library,
    bundle_ids: Iterable[str] | None = None,
    *,
    min_tracks: int = MIN_TAGGED_TRACKS,
    judge: Judge | None = None,
) -> dict[str, AutoCalibration | None]:
    """:func:`auto_calibrate_bundle` for each bundle (None: every analysed bundle)."""
    if bundle_ids is None:
        with library.session() as s:
            bundle_ids = analyzed_bundles(s)
    return {
        b: auto_calibrate_bundle(library, b, min_tracks=min_tracks, judge=judge) for b in bundle_ids
    }
