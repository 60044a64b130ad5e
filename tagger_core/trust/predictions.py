"""Calibrated confidences and review flags, recomputed from stored raw outputs.

For every analysed bundle: raw member tag logits (``analyses``) → label logits
through the bundle's taxonomy → the active calibration (identity when none is
fitted yet) → ensemble probabilities and member spread → the stored review
policy → one ``predictions`` row per track. Nothing here runs an audio model,
so changing the calibration, taxonomy or thresholds is cheap.

A track analysed only by an earlier version of a bundle (the bundle was upgraded
since) keeps that version's predictions, read with that version's calibration: the
librarian's for it if active, else the one the manifest's ``previous_versions``
says it shipped. Such predictions are *outdated* (``db.analysis_versions``) until
the track is analysed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from tagger_core.db import Library
from tagger_core.db.analysis_versions import outdated_versions
from tagger_core.db.blob_codec import unpack
from tagger_core.db.dialect import upsert
from tagger_core.db.models import (
    SUMMARY_NOT_FOUND,
    Analysis,
    Calibration,
    Prediction,
    Setting,
    utcnow,
)
from tagger_core.labels.bundles import Bundle, BundleError, combined_taxonomy, load_bundle
from tagger_core.labels.taxonomy import BoundTaxonomy
from tagger_core.trust.policy import (
    POLICY_KEY,
    REVIEW_VALUE,
    ReviewPolicy,
    confidence_text,
    evaluate_policy,
)
from tagger_core.trust.review import reviews
from tagger_core.trust.review_value import select_for_review
from tagger_core.trust.scaling import IdentityScaler, scaler_from_dict
from tagger_core.trust.tag_labels import tag_label_matrix

UNCALIBRATED_MARK = "[uncalibrated]"
"""Ends the stored summary of a bundle with no calibration, so every list shows it."""


@dataclass
class LabelOutputs:
    """Label logits of one bundle for many tracks: ``logits`` is (members, tracks, labels)."""

    bundle_id: str
    version: str
    task: str
    labels: tuple[str, ...]
    track_ids: np.ndarray
    logits: np.ndarray


# A bundle whose taxonomy leaves labels uncovered borrows the raw tags of a
# partner analysed on the same tracks: the MSD genre tags have no classical tag,
# the MTT tags of ``instruments`` do. Member m of one is paired with member m
# of the other (musicnn with musicnn, VGG with VGG) and their raw tags are
# concatenated before the taxonomy rule, so every genre label gets a score.
PARTNERS: dict[str, tuple[str, ...]] = {"genre": ("instruments",)}


def _raw_logits(
    session: Session, bundle_id: str, version: str, track_ids: list[int] | None
) -> dict[int, np.ndarray]:
    """Stored (members × raw tags) logits per track id, read without ORM objects."""
    stmt = select(Analysis.track_id, Analysis.member_logits).where(
        Analysis.bundle_id == bundle_id,
        Analysis.bundle_version == version,
        Analysis.status == "ok",
        Analysis.member_logits.is_not(None),
    )
    if track_ids is not None:
        stmt = stmt.where(Analysis.track_id.in_(track_ids))
    return {tid: unpack(blob) for tid, blob in session.execute(stmt)}


def load_label_outputs(
    session: Session, bundle_id: str, track_ids: list[int] | None = None
) -> list[LabelOutputs]:
    """Label logits of the installed version of ``bundle_id``, in groups of equal label sets.

    Tracks that a partner bundle also analysed get the partner's labels too
    (see ``PARTNERS``); the rest form a second group with the bundle's own labels.
    """
    bundle = load_bundle(bundle_id)
    own = _raw_logits(session, bundle_id, bundle.version, track_ids)
    groups: list[LabelOutputs] = []
    for partner_id in PARTNERS.get(bundle_id, ()) if bundle.taxonomy.uncovered else ():
        try:
            partner = load_bundle(partner_id)
        except BundleError:
            continue
        if len(partner.members) != len(bundle.members):
            continue
        theirs = _raw_logits(session, partner_id, partner.version, track_ids)
        both = sorted(set(own) & set(theirs))
        if not both:
            continue
        taxonomy = combined_taxonomy(bundle.task, [bundle, partner])
        raw = np.stack([np.concatenate([own[t], theirs[t]], axis=-1) for t in both])
        groups.append(_group(bundle, taxonomy, np.array(both), raw))
        own = {t: v for t, v in own.items() if t not in theirs}
        break
    if own or not groups:
        ids = sorted(own)
        raw = np.stack([own[t] for t in ids]) if ids else None
        groups.append(_group(bundle, bundle.taxonomy, np.array(ids, dtype=np.int64), raw))
    return groups


def prediction_groups(
    session: Session, bundle_id: str, track_ids: list[int] | None = None
) -> list[LabelOutputs]:
    """What the predictions are computed from: the installed version's groups, then the
    tracks analysed only by earlier versions, one group per version.

    Calibration fitting and album pooling read the installed version alone
    (:func:`load_label_outputs`): outputs of another version would fit or mix
    another model.
    """
    bundle = load_bundle(bundle_id)
    return load_label_outputs(session, bundle_id, track_ids) + _outdated_groups(
        session, bundle, track_ids
    )


def _outdated_groups(
    session: Session, bundle: Bundle, track_ids: list[int] | None
) -> list[LabelOutputs]:
    """One group per earlier version, of the tracks whose newest analysis is by it.

    Rows whose width does not match that version's raw labels cannot be read as
    labels and are left out (their stored predictions stay as they are).
    """
    by_version: dict[str, list[int]] = {}
    for tid, version in outdated_versions(session, bundle.id, bundle.version, track_ids).items():
        by_version.setdefault(version, []).append(tid)
    groups = []
    for version, ids in sorted(by_version.items()):
        previous = bundle.previous_version(version)
        stored = _raw_logits(session, bundle.id, version, ids)
        width = len(previous.raw_labels)
        readable = sorted(t for t, v in stored.items() if v.shape[-1] == width)
        if not readable:
            continue
        raw = np.stack([stored[t] for t in readable])
        taxonomy = bundle.taxonomy_for(previous.raw_labels)
        groups.append(_group(bundle, taxonomy, np.array(readable), raw, version))
    return groups


def _group(
    bundle: Bundle,
    taxonomy: BoundTaxonomy,
    ids: np.ndarray,
    raw: np.ndarray | None,
    version: str | None = None,
) -> LabelOutputs:
    if raw is None:
        logits = np.zeros((len(bundle.members), 0, len(taxonomy.labels)), np.float32)
    else:
        logits = np.asarray(taxonomy.label_logits(raw.astype(np.float32)))
        logits = np.transpose(logits, (1, 0, 2))
    return LabelOutputs(
        bundle.id, version or bundle.version, bundle.task, taxonomy.labels, ids, logits
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


def shipped_calibration(
    bundle_id: str, labels: tuple[str, ...], version: str | None = None
) -> dict[str, Any] | None:
    """The calibration a bundle ships in its manifest (fitted by whoever trained it).

    It applies only where the labels are the bundle's own outputs (an identity
    taxonomy), and only until the librarian activates a calibration of their own.
    ``version``: an earlier version's, from the manifest's ``previous_versions``.
    """
    bundle = load_bundle(bundle_id)
    scaler, raw_labels = bundle.manifest.get("calibration"), bundle.raw_labels
    if version is not None and version != bundle.version:
        previous = bundle.previous_version(version)
        scaler, raw_labels = previous.calibration, previous.raw_labels
    if scaler and tuple(labels) == raw_labels:
        return {"labels": list(labels), "scaler": scaler}
    return None


def calibrated(
    calibration: Calibration | dict[str, Any] | None, labels: tuple[str, ...], logits: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Ensemble probabilities and spread (tracks × labels) under ``calibration``.

    ``calibration`` is a stored row, its ``params`` (as from :func:`shipped_calibration`)
    or None for the raw ensemble. Labels the calibration was not fitted on (too
    few examples, or added to the taxonomy later) keep the uncalibrated output.
    """
    params = calibration.params if isinstance(calibration, Calibration) else calibration
    identity = IdentityScaler("sigmoid").transform(logits)
    probs, spread = identity.mean.copy(), identity.std.copy()
    if params is None:
        return probs, spread
    fitted = list(params.get("labels", []))
    present = [name for name in fitted if name in labels]
    if not present:
        return probs, spread
    # Scalers work column by column: a fitted label this group lacks gets a
    # placeholder column whose output is discarded.
    z = np.zeros((logits.shape[0], logits.shape[1], len(fitted)), dtype=np.float64)
    for j, name in enumerate(fitted):
        if name in labels:
            z[:, :, j] = logits[:, :, labels.index(name)]
    out = scaler_from_dict(params["scaler"]).transform(z)
    for j, name in enumerate(fitted):
        if name in labels:
            c = labels.index(name)
            probs[:, c], spread[:, c] = out.mean[:, j], out.std[:, j]
    return probs, spread


def existing_label_matrix(
    session: Session, task: str, labels: tuple[str, ...], track_ids: np.ndarray
) -> np.ndarray | None:
    """Labels the files' own genre tags map to (genre task only), tracks × labels.

    Only genre tags feed the "contradicts the tag" flag: instrument credits name
    players, not every sound, so a missing family there is no contradiction.
    """
    if task != "genre":
        return None
    return tag_label_matrix(session, task, labels, track_ids)


def summary_text(labels: tuple[str, ...], probs: np.ndarray, threshold: float) -> str:
    """``"Rock 0.91, Pop 0.62"``: labels that clear the threshold, best first."""
    order = np.argsort(-probs)
    chosen = [
        f"{labels[i]} {confidence_text(probs[i], threshold)}"
        for i in order
        if probs[i] >= threshold
    ]
    if chosen:
        return ", ".join(chosen)
    best = int(order[0])
    return f"{SUMMARY_NOT_FOUND} (best {labels[best]} {confidence_text(probs[best], threshold)})"


def refresh_bundle(session: Session, bundle_id: str, track_ids: list[int] | None = None) -> int:
    """Recompute the predictions of one bundle; returns how many tracks were written."""
    policy = load_policy(session)
    only: set[int] | None = None
    if track_ids is not None and calibration_state(session, bundle_id) == "uncalibrated":
        # The review share is chosen over the whole library; rows are rewritten only
        # for the tracks asked for and those whose flag changes.
        only = set(track_ids) | set(
            session.scalars(
                select(Prediction.track_id).where(
                    Prediction.bundle_id == bundle_id, Prediction.flagged.is_(True)
                )
            )
        )
        track_ids = None
    groups = [
        _group_rows(session, outputs, policy, only)
        for outputs in prediction_groups(session, bundle_id, track_ids)
    ]
    for rows in groups:  # the only writes, last: the write lock is held briefly
        _upsert(session, rows)
    return sum(len(rows) for rows in groups)


def calibration_state(session: Session, bundle_id: str) -> str:
    """``"active"`` (the librarian's or one fitted from tags), ``"shipped"`` or ``"uncalibrated"``.

    Uncalibrated outputs are shown as such everywhere and flagged by review value.
    """
    bundle = load_bundle(bundle_id)
    if active_calibration(session, bundle_id, bundle.version) is not None:
        return "active"
    if shipped_calibration(bundle_id, bundle.taxonomy.labels) is not None:
        return "shipped"
    return "uncalibrated"


def _group_rows(
    session: Session, outputs: LabelOutputs, policy: ReviewPolicy, only: set[int] | None = None
) -> list[dict[str, Any]]:
    """Prediction rows of one label group; with ``only``, just those tracks and newly flagged."""
    n = len(outputs.track_ids)
    if n == 0 or not outputs.labels:
        return []
    calibration = active_calibration(session, outputs.bundle_id, outputs.version)
    params = (
        shipped_calibration(outputs.bundle_id, outputs.labels, outputs.version)
        if calibration is None
        else None
    )
    is_calibrated = calibration is not None or params is not None
    probs, spread = calibrated(calibration or params, outputs.labels, outputs.logits)
    existing = existing_label_matrix(session, outputs.task, outputs.labels, outputs.track_ids)
    noun = "genre" if outputs.task == "genre" else "instrument"
    flags = evaluate_policy(
        probs, policy, spread, existing, outputs.labels, noun=noun, calibrated=is_calibrated
    )
    flagged = flags.flagged
    score = flags.score
    reasons: dict[int, list[dict[str, Any]]] = {}
    by_value = not is_calibrated and not policy.not_found_uncalibrated
    if by_value:
        flagged, score, reasons = _review_value_flags(session, outputs, policy.review_share)
    now = utcnow()
    labels = outputs.labels
    probs4, spread4 = np.round(probs, 4).tolist(), np.round(spread, 4).tolist()
    rows: list[dict[str, Any]] = []
    for i, tid in enumerate(outputs.track_ids.tolist()):
        if only is not None and tid not in only and not flagged[i]:
            continue
        summary = summary_text(labels, probs[i], policy.accept_threshold)
        why = reasons.get(i, []) if by_value else [r.to_dict() for r in flags.reasons(i)]
        if not flagged[i]:
            why = []
        if not is_calibrated:
            summary = f"{summary} {UNCALIBRATED_MARK}"
        rows.append(
            {
                "track_id": tid,
                "bundle_id": outputs.bundle_id,
                "calibration_id": calibration.id if calibration else None,
                "confidences": dict(zip(labels, probs4[i], strict=True)),
                "spread": dict(zip(labels, spread4[i], strict=True)),
                "summary": summary,
                "flagged": bool(flagged[i]),
                "flag_reasons": why,
                "uncertainty": float(score[i]),
                "updated_at": now,
            }
        )
    return rows


def _embeddings(session: Session, outputs: LabelOutputs) -> np.ndarray | None:
    """Stored embeddings of the group's tracks, flattened (None when any is missing)."""
    rows = dict(
        session.execute(
            select(Analysis.track_id, Analysis.embedding).where(
                Analysis.bundle_id == outputs.bundle_id,
                Analysis.bundle_version == outputs.version,
                Analysis.status == "ok",
                Analysis.track_id.in_(outputs.track_ids.tolist()),
            )
        ).all()
    )
    blobs = [rows.get(t) for t in outputs.track_ids.tolist()]
    if any(b is None for b in blobs):
        return None
    flat = [np.nan_to_num(unpack(b).astype(np.float64)).reshape(-1) for b in blobs]
    if len({f.shape for f in flat}) != 1:
        return None
    return np.stack(flat)


def _review_value_flags(
    session: Session, outputs: LabelOutputs, share: float
) -> tuple[np.ndarray, np.ndarray, dict[int, list[dict[str, Any]]]]:
    """Flags, queue order and reasons of an uncalibrated group (see ``trust.review_value``).

    Diversity is measured on the stored embeddings; a bundle that stores none is
    measured on its mean label probabilities instead.
    """
    member_probs = 1.0 / (1.0 + np.exp(-np.asarray(outputs.logits, dtype=np.float64)))
    space = _embeddings(session, outputs)
    if space is None:
        space = member_probs.mean(axis=0)
    state = reviews(session, outputs.task, outputs.track_ids.tolist())
    done = np.array([state.get(t) is not None and state[t].reviewed
                     for t in outputs.track_ids.tolist()])  # fmt: skip
    picked = select_for_review(member_probs, space, share, done)
    n = len(outputs.track_ids)
    flagged = np.zeros(n, dtype=bool)
    flagged[picked.order] = True
    score = np.zeros(n)
    score[picked.order] = picked.value
    reasons = {
        int(i): [{"code": REVIEW_VALUE, "label": None, "message": picked.reason(k)}]
        for k, i in enumerate(picked.order.tolist())
    }
    return flagged, score, reasons


def _upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert or update prediction rows (one executemany, not one statement per row)."""
    if rows:
        stmt = upsert(session, Prediction)
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
        session.execute(stmt, rows)


def analyzed_bundles(session: Session) -> list[str]:
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
    if not bundle_ids:
        with library.session() as s:
            bundle_ids = analyzed_bundles(s)
    for bundle_id in bundle_ids:
        try:
            written += library.write(
                partial(refresh_bundle, bundle_id=bundle_id, track_ids=track_ids),
                "refreshing predictions",
            )
        except BundleError:
            continue
    return written
