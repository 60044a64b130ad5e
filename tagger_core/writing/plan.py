"""What each track should get written: labels from review decisions and/or predictions.

The newest live decision per (track, task, label) counts: accept/add include
the label, reject excludes it (``tagger_core.trust.review.reviews``). With a minimum
confidence, calibrated predictions of the task's bundle add labels at or above
it, unless a person rejected them; with conformal sets, the labels of each
track's conformal set (the threshold stored with the calibration behind its
prediction; a prediction from a calibration without one adds nothing). Merging
with a file's existing values
happens later, against what the file holds at write time (:func:`target_values`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from tagger_core.db.models import Calibration, Prediction, Track
from tagger_core.errors import TaggerError
from tagger_core.labels.genre_normalizer import GENRE_LABELS
from tagger_core.labels.tasks import task_bundles
from tagger_core.trust.review import reviews
from tagger_core.writing.options import ExportOptions


@dataclass
class TrackPlan:
    """Labels to write into one track: per task, those to include and those to drop."""

    track_id: int
    accept: dict[str, list[str]] = field(default_factory=dict)
    reject: dict[str, list[str]] = field(default_factory=dict)
    provenance: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrackPlan:
        return cls(
            track_id=int(data["track_id"]),
            accept={k: list(v) for k, v in data.get("accept", {}).items()},
            reject={k: list(v) for k, v in data.get("reject", {}).items()},
            provenance=data.get("provenance"),
        )


def order_labels(task: str, labels: set[str]) -> list[str]:
    """Taxonomy order for genres (stable diffs), alphabetical otherwise."""
    rank = {name: i for i, name in enumerate(GENRE_LABELS)} if task == "genre" else {}
    return sorted(labels, key=lambda x: (rank.get(x, len(rank)), x.casefold()))


def path_condition(paths: list[str]) -> Any:
    """SQL condition: the track is one of ``paths`` or lies under one of them."""
    conds = []
    for p in paths:
        raw = os.fsencode(os.path.abspath(p)).rstrip(b"/") or b"/"
        prefix = raw if raw.endswith(b"/") else raw + b"/"
        # Bytes between "dir/" and "dir0" ("0" follows "/") are exactly the paths under dir.
        upper = prefix[:-1] + b"0"
        conds.append(or_(Track.path == raw, and_(Track.path >= prefix, Track.path < upper)))
    return or_(*conds)


def check_paths(session: Session, paths: list[str]) -> None:
    """``TaggerError`` naming the first path that holds no track of the library."""
    for p in paths:
        if session.scalar(select(Track.id).where(path_condition([p])).limit(1)) is None:
            raise TaggerError(f"no tracks of the library at or under {p} (scan it first)")


def target_values(
    existing: list[str], accept: list[str], reject: list[str], policy: str
) -> list[str]:
    """The values a field should hold: merge keeps existing ones a person did not reject.

    Existing values are kept verbatim (never re-split on "/"); comparison is
    case-insensitive so "rock" and "Rock" are not both written.
    """
    rejected = {r.casefold() for r in reject}
    out: list[str] = []
    seen: set[str] = set()
    base = existing if policy == "merge" else []
    for value in [*base, *accept]:
        key = value.casefold()
        if key in seen or (key in rejected and value not in accept):
            continue
        seen.add(key)
        out.append(value)
    return out


def _provenance(preds: list[Prediction], calibs: dict[int, Calibration]) -> str:
    """Machine-readable record of where the confidences came from (JSON, sorted keys)."""
    entries = {}
    for p in sorted(preds, key=lambda x: x.bundle_id):
        cal = calibs.get(p.calibration_id) if p.calibration_id is not None else None
        entries[p.bundle_id] = {
            "model": p.bundle_id,
            "model_version": cal.bundle_version if cal else None,
            "calibration": (
                {"id": cal.id, "method": cal.method, "created": cal.created_at.isoformat()}
                if cal
                else None
            ),
            "confidences": {k: round(float(v), 4) for k, v in sorted(p.confidences.items())},
        }
    return json.dumps({"music_tagger": entries}, sort_keys=True, ensure_ascii=False)


def export_track_ids(
    session: Session, paths: list[str] | None = None, track_ids: list[int] | None = None
) -> list[int]:
    """The readable tracks an export covers, in path order (``paths``/``track_ids`` narrow)."""
    stmt = select(Track.id).where(Track.status == "ok")
    if paths:
        check_paths(session, paths)
        stmt = stmt.where(path_condition(paths))
    chosen = set(track_ids) if track_ids is not None else None
    return [
        t for t in session.scalars(stmt.order_by(Track.path)) if chosen is None or t in chosen
    ]


def plan_exports(
    session: Session,
    options: ExportOptions,
    paths: list[str] | None = None,
    track_ids: list[int] | None = None,
) -> list[TrackPlan]:
    """One plan per track that has something to write, in path order.

    ``paths`` and ``track_ids`` (the GUI's selection) each narrow the tracks.
    """
    track_ids = export_track_ids(session, paths, track_ids)
    wanted = set(track_ids)
    states = {task: reviews(session, task) for task in options.tasks}
    preds: dict[int, list[Prediction]] = {}
    if options.min_confidence is not None or options.conformal_sets or options.provenance:
        for p in session.scalars(select(Prediction)):
            if p.track_id in wanted:
                preds.setdefault(p.track_id, []).append(p)
    need_calibs = options.provenance or options.conformal_sets
    calibs = {c.id: c for c in session.scalars(select(Calibration))} if need_calibs else {}
    set_thresholds = {
        cid: float(c.params["conformal"]["threshold"])
        for cid, c in calibs.items()
        if (c.params or {}).get("conformal")
    }
    # The bundle whose predictions the app shows for each task (e.g. instrument-family).
    shown = task_bundles(session)
    bundle_of = {"genre": shown.genre, "instruments": shown.instruments}
    plans: list[TrackPlan] = []
    for tid in track_ids:
        plan = TrackPlan(track_id=tid)
        for task in options.tasks:
            state = states[task].get(tid)
            if options.only_reviewed and (state is None or not state.reviewed):
                continue
            accepted = set(state.accepted) if state else set()
            rejected = set(state.rejected) if state else set()
            for p in preds.get(tid, []):
                if p.bundle_id != bundle_of.get(task, task):
                    continue
                floor = options.min_confidence
                if options.conformal_sets:
                    floor = set_thresholds.get(p.calibration_id or -1)
                if floor is None:
                    continue
                for label, conf in p.confidences.items():
                    if float(conf) >= floor and label not in rejected:
                        accepted.add(label)
            if accepted:
                plan.accept[task] = order_labels(task, accepted)
            if rejected and options.policy == "merge":
                plan.reject[task] = order_labels(task, rejected)
        if not plan.accept and not plan.reject:
            continue
        if options.provenance and preds.get(tid):
            plan.provenance = _provenance(preds[tid], calibs)
        plans.append(plan)
    return plans
