"""Calibrated confidences and review flags, recomputed from stored raw outputs.

For every analysed bundle: raw member tag logits (``analyses``) → label logits
through the bundle's taxonomy → the active calibration (identity when none is
fitted yet) → ensemble probabilities and member spread → the stored review
policy → one ``predictions`` row per track. Nothing here runs an audio model,
so changing the calibration, taxonomy or thresholds is cheap.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session

from tagger_core.analysis_store import load_outputs
from tagger_core.bundles import BundleError, load_bundle
from tagger_core.calibration.policy import ReviewPolicy, evaluate_policy
from tagger_core.calibration.scaling import IdentityScaler, scaler_from_dict
from tagger_core.db import Library
from tagger_core.db.models import Analysis, Calibration, Prediction, Setting, Track, utcnow

POLICY_KEY = "review_policy"


@dataclass
class LabelOutputs:
    """Label logits of one bundle for many tracks: ``logits`` is (members, tracks, labels)."""

    bundle_id: str
    version: str
    task: str
    labels: tuple[str, ...]
    track_ids: np.ndarray
    logits: np.ndarray


def load_label_outputs(
    session: Session, bundle_id: str, track_ids: list[int] | None = None
) -> LabelOutputs:
    """Stored outputs of the installed version of ``bundle_id``, mapped to label logits."""
    bundle = load_bundle(bundle_id)
    raw = load_outputs(session, bundle_id, bundle.version, track_ids)
    taxonomy = bundle.taxonomy
    if raw.logits.shape[0] == 0:
        logits = np.zeros((len(bundle.members), 0, len(taxonomy.labels)), np.float32)
    else:
        logits = np.asarray(taxonomy.label_logits(raw.logits.astype(np.float32)))
        logits = np.transpose(logits, (1, 0, 2))
    return LabelOutputs(
        bundle_id, bundle.version, bundle.task, taxonomy.labels, raw.track_ids, logits
    )


def load_policy(session: Session) -> ReviewPolicy:
    """The stored review policy (defaults when none was saved)."""
    row = session.get(Setting, POLICY_KEY)
    return ReviewPolicy.from_dict(row.value) if row is not None else ReviewPolicy()


def save_policy(session: Session, policy: ReviewPolicy) -> None:
    row = session.get(Setting, POLICY_KEY)
    if row is None:
        session.add(Setting(key=POLICY_KEY, value=policy.to_dict()))
    else:
        row.value, row.updated_at = policy.to_dict(), utcnow()


def active_calibration(session: Session, bundle_id: str, version: str) -> Calibration | None:
    return session.scalar(
        select(Calibration).where(
            Calibration.bundle_id == bundle_id,
            Calibration.bundle_version == version,
            Calibration.active.is_(True),
        )
    )


def calibrated(
    calibration: Calibration | None, labels: tuple[str, ...], logits: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Ensemble probabilities and spread (tracks × labels) under ``calibration``.

    Labels the calibration was not fitted on (too few examples, or added to the
    taxonomy later) keep the uncalibrated ensemble output.
    """
    identity = IdentityScaler("sigmoid").transform(logits)
    probs, spread = identity.mean.copy(), identity.std.copy()
    if calibration is None:
        return probs, spread
    fitted = list(calibration.params.get("labels", []))
    columns = [labels.index(name) for name in fitted if name in labels]
    if len(columns) != len(fitted) or not columns:
        return probs, spread
    out = scaler_from_dict(calibration.params["scaler"]).transform(logits[:, :, columns])
    probs[:, columns], spread[:, columns] = out.mean, out.std
    return probs, spread


def existing_label_matrix(
    session: Session, task: str, labels: tuple[str, ...], track_ids: np.ndarray
) -> np.ndarray | None:
    """Labels the files' own genre tags map to (genre task only), tracks × labels."""
    if task != "genre" or len(track_ids) == 0:
        return None
    from tagger_core.genre_names import load_genre_normalizer

    normalizer = load_genre_normalizer()
    rows = session.execute(select(Track.id, Track.genres).where(Track.id.in_(track_ids.tolist())))
    genres = {tid: values for tid, values in rows}
    out = np.zeros((len(track_ids), len(labels)), dtype=bool)
    index = {name: i for i, name in enumerate(labels)}
    for row, tid in enumerate(track_ids.tolist()):
        for name in normalizer.match(genres.get(tid) or []).labels:
            if name in index:
                out[row, index[name]] = True
    return out


def summary_text(labels: tuple[str, ...], probs: np.ndarray, threshold: float) -> str:
    """``"Rock 0.91, Pop 0.62"``: labels that clear the threshold, best first."""
    order = np.argsort(-probs)
    chosen = [f"{labels[i]} {probs[i]:.2f}" for i in order if probs[i] >= threshold]
    if chosen:
        return ", ".join(chosen)
    best = int(order[0])
    return f"not found (best {labels[best]} {probs[best]:.2f})"


def refresh_bundle(session: Session, bundle_id: str, track_ids: list[int] | None = None) -> int:
    """Recompute the predictions of one bundle; returns how many tracks were written."""
    outputs = load_label_outputs(session, bundle_id, track_ids)
    n = len(outputs.track_ids)
    if n == 0 or not outputs.labels:
        return 0
    calibration = active_calibration(session, bundle_id, outputs.version)
    probs, spread = calibrated(calibration, outputs.labels, outputs.logits)
    policy = load_policy(session)
    existing = existing_label_matrix(session, outputs.task, outputs.labels, outputs.track_ids)
    noun = "genre" if outputs.task == "genre" else "instrument"
    flags = evaluate_policy(probs, policy, spread, existing, outputs.labels, noun=noun)
    flagged = flags.flagged
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for i, tid in enumerate(outputs.track_ids.tolist()):
        rows.append(
            {
                "track_id": tid,
                "bundle_id": bundle_id,
                "calibration_id": calibration.id if calibration else None,
                "confidences": {
                    lab: round(float(p), 4) for lab, p in zip(outputs.labels, probs[i], strict=True)
                },
                "spread": {
                    lab: round(float(s), 4)
                    for lab, s in zip(outputs.labels, spread[i], strict=True)
                },
                "summary": summary_text(outputs.labels, probs[i], policy.accept_threshold),
                "flagged": bool(flagged[i]),
                "flag_reasons": [r.to_dict() for r in flags.reasons(i)] if flagged[i] else [],
                "uncertainty": float(flags.score[i]),
                "updated_at": now,
            }
        )
    _upsert(session, rows, now)
    return n


def _upsert(session: Session, rows: list[dict[str, Any]], now: dt.datetime) -> None:
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        stmt = insert(Prediction).values(chunk)
        stmt = stmt.on_conflict_do_update(
            index_elements=["track_id", "bundle_id"],
            set_={
                name: getattr(stmt.excluded, name)
                for name in (
                    "calibration_id",
                    "confidences",
                    "spread",
                    "summary",
                    "flagged",
                    "flag_reasons",
                    "uncertainty",
                    "updated_at",
                )
            },
        )
        session.execute(stmt)


def analysed_bundles(session: Session) -> list[str]:
    return sorted(
        session.scalars(select(Analysis.bundle_id).where(Analysis.status == "ok").distinct())
    )


def refresh_predictions(
    library: Library, track_ids: list[int] | None = None, bundle_ids: list[str] | None = None
) -> int:
    """Recompute predictions for every analysed bundle (or those given); returns rows written.

    A bundle that is no longer installed is skipped: its stored outputs stay.
    """
    written = 0
    with library.session() as s:
        for bundle_id in bundle_ids or analysed_bundles(s):
            try:
                written += refresh_bundle(s, bundle_id, track_ids)
            except BundleError:
                continue
    return written
