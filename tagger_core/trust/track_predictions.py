"""What the models heard on a track, per task, in words a terminal can print.

Why here: ``show`` and ``tracks --json`` print the same stored predictions the GUI's
detail panel draws, with whether each figure is calibrated, the member spread, the flag
reasons, the calibration state of the bundle and whether the figures come from an
earlier, outdated version of the bundle; the CLI only formats this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagger_core.db.analysis_versions import outdated_for_tracks, outdated_note
from tagger_core.db.models import Calibration, Prediction
from tagger_core.labels.bundles import BundleError, list_bundles
from tagger_core.trust.predictions import shipped_calibration


@dataclass(frozen=True)
class LabelConfidence:
    """One label's confidence, its member spread, and whether a calibration made it."""

    label: str
    confidence: float
    spread: float
    calibrated: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "confidence": self.confidence,
            "spread": self.spread,
            "calibrated": self.calibrated,
        }


@dataclass
class TaskPrediction:
    """One bundle's stored prediction on one track: labels best first, flag and why."""

    bundle_id: str
    task: str
    summary: str
    flagged: bool
    reasons: list[str]
    calibration: str
    labels: list[LabelConfidence] = field(default_factory=list)
    version: str | None = None
    outdated: bool = False

    @property
    def note(self) -> str | None:
        """The outdated mark (None for the installed version's predictions)."""
        return outdated_note(self.bundle_id, self.version or "?") if self.outdated else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": self.bundle_id,
            "task": self.task,
            "bundle_version": self.version,
            "outdated": self.outdated,
            "note": self.note,
            "summary": self.summary,
            "flagged": self.flagged,
            "reasons": list(self.reasons),
            "calibration": self.calibration,
            "labels": [c.to_dict() for c in self.labels],
        }


def _calibration_state(
    session: Session,
    bundle_id: str,
    calibration_id: int | None,
    labels: tuple[str, ...],
    version: str | None = None,
) -> tuple[str, set[str] | None]:
    """(state sentence, labels it calibrates — None for all of them) of one bundle.

    ``version``: the earlier version an outdated prediction was read from.
    """
    if calibration_id is not None:
        row = session.get(Calibration, calibration_id)
        if row is not None:
            labels = set(row.params.get("labels", []))
            return f"calibrated on this archive (#{row.id}, {row.method})", labels
    try:
        shipped = shipped_calibration(bundle_id, labels, version)
    except BundleError:
        return "uncalibrated (model bundle not installed)", set()
    if shipped is not None and version is not None:
        return f"calibrated by the calibration version {version} shipped", None
    if shipped is not None:
        return "calibrated by the calibration the model ships", None
    return "uncalibrated (raw ensemble output; fit a calibration to change that)", set()


def track_predictions(
    session: Session, track_ids: list[int]
) -> dict[int, list[TaskPrediction]]:
    """Every stored prediction of ``track_ids``, per track, genre task first."""
    if not track_ids:
        return {}
    installed = list_bundles()
    tasks = {info.id: info.task for info in installed}
    versions = {info.id: info.version for info in installed}
    outdated = outdated_for_tracks(session, versions, track_ids)
    rows = session.execute(
        select(
            Prediction.track_id,
            Prediction.bundle_id,
            Prediction.calibration_id,
            Prediction.confidences,
            Prediction.spread,
            Prediction.summary,
            Prediction.flagged,
            Prediction.flag_reasons,
        )
        .where(Prediction.track_id.in_(track_ids))
        .order_by(Prediction.bundle_id)
    ).all()
    states: dict[tuple[str, int | None, str | None], tuple[str, set[str] | None]] = {}
    out: dict[int, list[TaskPrediction]] = {}
    for r in rows:
        old = outdated.get((r.track_id, r.bundle_id))
        state_key = (r.bundle_id, r.calibration_id, old)
        if state_key not in states:
            states[state_key] = _calibration_state(
                session, r.bundle_id, r.calibration_id, tuple(r.confidences or {}), old
            )
        state, fitted = states[state_key]
        spread = r.spread or {}
        labels = [
            LabelConfidence(
                label=str(k),
                confidence=float(v),
                spread=float(spread.get(k, 0.0)),
                calibrated=fitted is None or str(k) in fitted,
            )
            for k, v in sorted((r.confidences or {}).items(), key=lambda kv: -float(kv[1]))
        ]
        reasons = [
            str(x.get("message", x)) if isinstance(x, dict) else str(x)
            for x in (r.flag_reasons or [])
        ]
        out.setdefault(r.track_id, []).append(
            TaskPrediction(
                bundle_id=r.bundle_id,
                task=tasks.get(r.bundle_id, "?"),
                summary=r.summary or "",
                flagged=bool(r.flagged),
                reasons=reasons,
                calibration=state,
                labels=labels,
                version=old or versions.get(r.bundle_id),
                outdated=old is not None,
            )
        )
    order = {"genre": 0, "instruments": 1}
    for preds in out.values():
        preds.sort(key=lambda p: (order.get(p.task, 2), p.bundle_id))
    return out
