"""Calibrating a bundle on the librarian's own archive, and keeping versions of it.

The calibration set is every analysed track whose labels are fully known:
tracks a person marked *reviewed* (accepted/added labels are positives, every
other label a negative) and, when the librarian trusts them, tracks whose
existing tags map onto the taxonomy (genre tags; instrument credits and the
INSTRUMENTS field — see :mod:`tagger_core.trust.tag_labels`: mapped labels
positive, the rest negative). On a tagged track a person's accepted or rejected
label outranks the tag for that label (the track then counts for both
sources). Other tracks with only some labels decided are left out rather than
guessed. ``source`` says where the labels came from: ``"reviews"``, ``"tags"``
or ``"both"``. Labels with too few positives or negatives for k-fold
cross-validation keep the uncalibrated output and are reported with how many
more examples they need; if no label qualifies the fit is refused.

Every fit is stored with bootstrap intervals of its held-out figures
(:mod:`tagger_core.trust.uncertainty`), the sample of its tracks that serves as
its shift reference (:mod:`tagger_core.trust.shift`) and, when asked, a
conformal threshold (:mod:`tagger_core.trust.conformal`). Never worse: a fit
whose held-out NLL or ECE did not go down (a point comparison,
``CrossValReport.worse``) is stored but not activated unless forced.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tagger_core.db import Library
from tagger_core.db.models import Calibration, Track
from tagger_core.errors import CalibrationError
from tagger_core.trust.conformal import ConformalFit, fit_conformal
from tagger_core.trust.crossval import (
    MIN_PER_FOLD,
    CrossValReport,
    cross_validate,
    stratified_folds,
)
from tagger_core.trust.metrics import ReliabilityDiagram, reliability_diagram
from tagger_core.trust.predictions import LabelOutputs, load_label_outputs, refresh_bundle
from tagger_core.trust.review import reviews
from tagger_core.trust.scaling import (
    IdentityScaler,
    IsotonicScaler,
    PlattScaler,
    Scaler,
    TemperatureCurve,
    TemperatureScaler,
    mae_temperature_curve,
    scaler_from_dict,
)
from tagger_core.trust.shift import calibration_reference_ids
from tagger_core.trust.tag_labels import tag_label_matrix
from tagger_core.trust.uncertainty import PairedIntervals, paired_bootstrap

METHODS = ("temperature", "per-class", "platt", "isotonic")
FITS = ("nll", "mae")
# the metrics a calibration is shown with, before → after (terminal table and report)
REPORTED_METRICS = ("mae", "weighted_mae", "ece", "nll", "brier")


@dataclass
class CalibrationSet(LabelOutputs):
    """Label outputs of the labelled tracks, with their 0/1 labels (tracks × labels)."""

    y: np.ndarray
    from_review: int = 0
    from_tags: int = 0
    tags_overridden: int = 0

    @property
    def source(self) -> str:
        """``"reviews"``, ``"tags"`` or ``"both"``: which labels the set holds."""
        reviewed = self.from_review > 0 or self.tags_overridden > 0
        if self.from_tags and reviewed:
            return "both"
        return "tags" if self.from_tags else "reviews"

    def digest(self) -> str:
        """A fingerprint of the tracks and their labels (an unchanged set needs no refit)."""
        h = hashlib.sha256(np.ascontiguousarray(self.track_ids, dtype=np.int64).tobytes())
        h.update("\x00".join(self.labels).encode())
        h.update(np.ascontiguousarray(self.y, dtype=np.uint8).tobytes())
        return h.hexdigest()[:32]

    def counts(self) -> dict[str, dict[str, int]]:
        """Positives and negatives per label."""
        pos = self.y.sum(axis=0).astype(int)
        return {
            name: {"positives": int(pos[i]), "negatives": int(len(self.y) - pos[i])}
            for i, name in enumerate(self.labels)
        }


def build_calibration_set(
    session: Session, bundle_id: str, use_tags: bool = False
) -> CalibrationSet:
    """The tracks of ``bundle_id`` whose labels are known (see the module docstring)."""
    # Tracks with and without a partner bundle's outputs have different label sets;
    # the calibration is fitted on the larger group and applied to both by label name.
    outputs = max(load_label_outputs(session, bundle_id), key=lambda g: len(g.track_ids))
    labels = outputs.labels
    state = reviews(session, outputs.task, outputs.track_ids.tolist())
    tags = (
        tag_label_matrix(session, outputs.task, labels, outputs.track_ids) if use_tags else None
    )
    ok = set(session.scalars(select(Track.id).where(Track.status == "ok")))
    rows: list[int] = []
    ys: list[np.ndarray] = []
    n_review = n_tags = n_overridden = 0
    index = {name: c for c, name in enumerate(labels)}
    for i, tid in enumerate(outputs.track_ids.tolist()):
        if tid not in ok:
            continue
        review = state.get(tid)
        if review is not None and review.reviewed:
            ys.append(np.array([name in review.accepted for name in labels], dtype=np.float64))
            n_review += 1
        elif tags is not None and tags[i].any():
            row = tags[i].astype(np.float64)
            decided = [] if review is None else [
                (index[n], v) for names, v in ((review.accepted, 1.0), (review.rejected, 0.0))
                for n in names if n in index
            ]  # fmt: skip
            for c, value in decided:
                row[c] = value
            n_overridden += bool(decided)
            ys.append(row)
            n_tags += 1
        else:
            continue
        rows.append(i)
    idx = np.array(rows, dtype=np.int64)
    return CalibrationSet(
        bundle_id=bundle_id,
        version=outputs.version,
        task=outputs.task,
        labels=labels,
        track_ids=outputs.track_ids[idx] if len(idx) else np.zeros(0, np.int64),
        logits=outputs.logits[:, idx, :],
        y=np.stack(ys) if ys else np.zeros((0, len(labels))),
        from_review=n_review,
        from_tags=n_tags,
        tags_overridden=n_overridden,
    )


def make_scaler(method: str, fit: str = "nll") -> Scaler:
    """A scaler for sigmoid (multi-label) outputs; AM'23's ``mae`` grid search or NLL."""
    if method not in METHODS:
        raise CalibrationError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if fit not in FITS:
        raise CalibrationError(f"unknown fitting criterion {fit!r}; choose nll or mae")
    fit_method = "mae_grid" if fit == "mae" else "nll"
    if method == "temperature":
        return TemperatureScaler("sigmoid", per_class=False, fit_method=fit_method)
    if method == "per-class":
        return TemperatureScaler("sigmoid", per_class=True, fit_method=fit_method)
    if method == "platt":
        return PlattScaler()
    return IsotonicScaler()


@dataclass
class FitResult:
    """A fitted (and stored) calibration with its held-out evaluation."""

    calibration_id: int
    labels: tuple[str, ...]
    skipped: dict[str, str]
    report: CrossValReport
    diagram_before: ReliabilityDiagram
    diagram_after: ReliabilityDiagram
    curve: TemperatureCurve
    intervals: PairedIntervals
    activated: bool = False
    worse: list[tuple[str, float, float]] = field(default_factory=list)
    conformal: ConformalFit | None = None
    source: str = "reviews"
    set_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    from_review: int = 0
    from_tags: int = 0
    #: held-out probabilities before/after (tracks x fitted labels) and their labels,
    #: for judging the improvement track by track (bootstrap intervals)
    held_out_before: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    held_out_after: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    held_out_y: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def not_activated_because(self) -> str:
        """Why a fit that was asked to be activated was not ("" when it was, or was not asked)."""
        if self.activated or not self.worse:
            return ""
        return worse_text(self.worse)


def worse_text(worse: list[tuple[str, float, float]]) -> str:
    """``"held-out NLL got worse (0.4100 → 0.4300)"``, one clause per figure."""
    return "held-out " + ", ".join(f"{n} got worse ({b:.4f} → {a:.4f})" for n, b, a in worse)


def eligible_labels(cal_set: CalibrationSet, folds: int) -> tuple[list[int], dict[str, str]]:
    """Label columns with enough positives and negatives; the others with what they lack."""
    need = folds * MIN_PER_FOLD
    keep: list[int] = []
    skipped: dict[str, str] = {}
    for c, name in enumerate(cal_set.labels):
        pos = int(cal_set.y[:, c].sum())
        neg = len(cal_set.y) - pos
        if pos >= need and neg >= need:
            keep.append(c)
        else:
            lacking = []
            if pos < need:
                lacking.append(f"{need - pos} more positive")
            if neg < need:
                lacking.append(f"{need - neg} more negative")
            skipped[name] = (
                f"has {pos} positive and {neg} negative tracks; needs {' and '.join(lacking)}"
            )
    return keep, skipped


def out_of_fold(z: np.ndarray, y: np.ndarray, scaler: Scaler, folds: int, seed: int) -> np.ndarray:
    """Held-out calibrated probabilities of every track (for honest diagrams)."""
    fold = stratified_folds(y, folds, seed)
    out = np.empty(y.shape)
    for f in range(folds):
        test = fold == f
        fitted = scaler_from_dict(scaler.to_dict()).fit(z[:, ~test], y[~test])
        out[test] = fitted.transform(z[:, test]).mean
    return out


def fit_calibration(
    library: Library,
    bundle_id: str,
    method: str = "per-class",
    fit: str = "nll",
    folds: int = 5,
    use_tags: bool = False,
    activate: bool = True,
    seed: int = 0,
    force: bool = False,
    conformal: float | None = None,
    n_resamples: int = 1000,
    auto: bool = False,
) -> FitResult:
    """Fit, cross-validate and store a calibration of ``bundle_id``; activate it if asked.

    A fit that did worse held out is activated only with ``force``; ``conformal``
    (a coverage such as 0.9) also fits a conformal label-set threshold. ``auto``
    marks one fitted without being asked (after an analysis, from tags), which a
    later automatic fit may replace; one the librarian fitted it never does.
    """
    if folds < 2:
        raise CalibrationError("cross-validation needs at least 2 folds")
    scaler = make_scaler(method, fit)
    with library.session() as s:
        cal_set = build_calibration_set(s, bundle_id, use_tags)
    if len(cal_set.y) == 0:
        hint = "" if use_tags else " or trust existing genre tags (--use-tags)"
        raise CalibrationError(
            f"no labelled tracks for {bundle_id!r}: review some tracks (mark them reviewed){hint}"
        )
    keep, skipped = eligible_labels(cal_set, folds)
    if not keep:
        need = folds * MIN_PER_FOLD
        raise CalibrationError(
            f"no label has enough examples for {folds}-fold cross-validation: each needs at least "
            f"{need} positive and {need} negative tracks ({len(cal_set.y)} labelled tracks so far)"
        )
    labels = tuple(cal_set.labels[c] for c in keep)
    z, y = cal_set.logits[:, :, keep].astype(np.float64), cal_set.y[:, keep]
    report = cross_validate(z, y, scaler, k=folds, seed=seed, class_names=labels)
    before = IdentityScaler("sigmoid").transform(z).mean
    after = out_of_fold(z, y, scaler, folds, seed)
    curve = mae_temperature_curve(z, y)
    fitted = scaler_from_dict(scaler.to_dict()).fit(z, y)
    intervals = paired_bootstrap(before, after, y, n_resamples=n_resamples, seed=seed)
    worse = report.worse()
    conformal_fit = (
        None if conformal is None else fit_conformal(after, y, conformal, folds=folds, seed=seed)
    )
    params: dict[str, Any] = {
        "labels": list(labels),
        "scaler": fitted.to_dict(),
        "skipped": skipped,
        "source": cal_set.source,
        "auto": auto,
        "label_digest": cal_set.digest(),
    }
    if conformal_fit is not None:
        params["conformal"] = conformal_fit.to_dict()

    def store(s: Session) -> int:
        row = Calibration(
            bundle_id=bundle_id,
            bundle_version=cal_set.version,
            method=method,
            fit_criterion=fit,
            params=params,
            fitted_on=cal_set.track_ids.tolist(),
            metrics_before=_metrics(report, "before", reliability_diagram(before, y)),
            metrics_after=_metrics(report, "after", reliability_diagram(after, y)),
            active=False,
        )
        row.metrics_after["temperature_curve"] = curve.to_dict()
        row.metrics_after["label_counts"] = cal_set.counts()
        row.metrics_before["ci95"] = intervals.before.to_dict()
        row.metrics_after["ci95"] = intervals.after.to_dict()
        uncertainty = intervals.to_dict()
        row.metrics_after["uncertainty"] = {
            k: uncertainty[k]
            for k in ("change_ci95", "n_resamples", "seed", "more_tracks_for_ece_pm_0_01")
        }
        row.metrics_after["worse"] = [list(w) for w in worse]
        row.metrics_after["shift_reference"] = {
            "track_ids": calibration_reference_ids(cal_set.track_ids.tolist(), seed)
        }
        s.add(row)
        s.flush()
        return row.id

    calibration_id = library.write(store, "saving the calibration")
    activated = activate and (force or not worse)
    if activated:
        activate_calibration(library, calibration_id, force=True)
    return FitResult(
        calibration_id=calibration_id,
        labels=labels,
        skipped=skipped,
        report=report,
        diagram_before=reliability_diagram(before, y),
        diagram_after=reliability_diagram(after, y),
        curve=curve,
        intervals=intervals,
        activated=activated,
        worse=worse,
        conformal=conformal_fit,
        source=cal_set.source,
        set_counts=cal_set.counts(),
        from_review=cal_set.from_review,
        from_tags=cal_set.from_tags,
        held_out_before=before,
        held_out_after=after,
        held_out_y=y,
    )


def _metrics(report: CrossValReport, which: str, diagram: ReliabilityDiagram) -> dict[str, Any]:
    return {
        "pooled": getattr(report, which).to_dict(),
        "per_class": {c.name: getattr(c, which).to_dict() for c in report.per_class},
        "diagram": diagram.to_dict(),
        "folds": report.k,
    }


def activate_calibration(library: Library, calibration_id: int, force: bool = False) -> None:
    """Make one calibration the active one of its bundle and recompute its predictions.

    One that did worse held out (stored ``worse`` figures) needs ``force``: the
    caller has asked the librarian (GUI "Apply anyway…", CLI ``--force``).
    """

    def activate(s: Session) -> None:
        row = s.get(Calibration, calibration_id)
        if row is None:
            raise CalibrationError(f"no calibration with id {calibration_id}")
        worse = [tuple(w) for w in (row.metrics_after or {}).get("worse", [])]
        if worse and not force:
            raise CalibrationError(
                f"calibration {calibration_id} was not activated: {worse_text(worse)}; "
                "activate it anyway with --force"
            )
        s.execute(
            update(Calibration).where(Calibration.bundle_id == row.bundle_id).values(active=False)
        )
        row.active = True
        s.flush()
        refresh_bundle(s, row.bundle_id)

    library.write(activate, "activating the calibration")


def deactivate_calibrations(library: Library, bundle_id: str) -> None:
    """Go back to uncalibrated outputs for ``bundle_id``."""

    def deactivate(s: Session) -> None:
        s.execute(
            update(Calibration).where(Calibration.bundle_id == bundle_id).values(active=False)
        )
        refresh_bundle(s, bundle_id)

    library.write(deactivate, "deactivating calibrations")


def list_calibrations(session: Session, bundle_id: str | None = None) -> list[Calibration]:
    stmt = select(Calibration).order_by(Calibration.id)
    if bundle_id:
        stmt = stmt.where(Calibration.bundle_id == bundle_id)
    return list(session.scalars(stmt))
