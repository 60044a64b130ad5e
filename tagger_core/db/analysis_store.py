"""Reading and writing raw model outputs (the ``analyses`` table).

One row per (track, bundle id, bundle version). ``member_logits`` is a float32
``[members, raw tags]`` array: for each member, the *logit of the
patch-averaged probability*, ``logit(mean_p sigmoid(z_p))``. AM'23 averages
patch posteriors per file; storing the logit of that average keeps the
paper's file-level posterior exactly (``sigmoid`` gives it back) while letting
calibration work in logit space. ``embedding`` is float16 ``[members, D]``,
the mean over patches of each member's penultimate features; members with a
smaller embedding are padded with NaN (see :func:`split_embeddings`).

A row remembers the track's fingerprint at analysis time: a track whose
fingerprint differs is analysed again, an unchanged one never.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from tagger_core.db.blob_codec import pack, unpack
from tagger_core.db.models import Analysis, Track, utcnow


@dataclass(frozen=True)
class PendingTrack:
    """A track with the bundles (ids) that still have to analyse it."""

    track_id: int
    path: str
    duration: float | None
    key: str
    bundle_ids: tuple[str, ...]


def analysis_key(track: Track) -> str:
    """What identifies a track's audio content: its fingerprint, else size + mtime."""
    return track.fingerprint or f"stat:{track.size}:{track.mtime_ns}"


def pending_tracks(
    session: Session,
    bundles: Sequence[tuple[str, str]],
    track_ids: Iterable[int] | None = None,
    *,
    force: bool = False,
    retry_errors: bool = False,
) -> list[PendingTrack]:
    """Tracks (status ``ok``) lacking an up-to-date analysis by some of ``bundles``.

    ``bundles`` are ``(bundle_id, version)`` pairs. A stored row counts as up to
    date when its fingerprint matches the track's and it succeeded (or failed,
    unless ``retry_errors``); ``force`` ignores stored rows altogether.
    """
    stmt = select(Track).where(Track.status == "ok").order_by(Track.id)
    if track_ids is not None:
        ids = sorted(set(track_ids))
        if not ids:
            return []
        stmt = stmt.where(Track.id.in_(ids))
    tracks = list(session.scalars(stmt))
    done: dict[tuple[int, str], tuple[str | None, str]] = {}
    if not force and tracks:
        for bundle_id, version in bundles:
            rows = session.execute(
                select(Analysis.track_id, Analysis.fingerprint, Analysis.status).where(
                    Analysis.bundle_id == bundle_id, Analysis.bundle_version == version
                )
            )
            for track_id, fingerprint, status in rows:
                done[(track_id, bundle_id)] = (fingerprint, status)
    out = []
    for track in tracks:
        key = analysis_key(track)
        needed = []
        for bundle_id, _version in bundles:
            stored = done.get((track.id, bundle_id))
            fresh = stored is not None and stored[0] == key
            if fresh and (stored[1] == "ok" or not retry_errors):
                continue
            needed.append(bundle_id)
        if needed:
            out.append(
                PendingTrack(track.id, os.fsdecode(track.path), track.duration, key, tuple(needed))
            )
    return out


def _row(session: Session, track_id: int, bundle_id: str, version: str) -> Analysis:
    row = session.scalar(
        select(Analysis).where(
            Analysis.track_id == track_id,
            Analysis.bundle_id == bundle_id,
            Analysis.bundle_version == version,
        )
    )
    if row is None:
        row = Analysis(track_id=track_id, bundle_id=bundle_id, bundle_version=version)
        session.add(row)
    return row


def save_analysis(
    session: Session,
    *,
    track_id: int,
    bundle_id: str,
    version: str,
    key: str,
    members: Sequence[str],
    member_logits: np.ndarray,
    embeddings: Sequence[np.ndarray],
    n_patches: int,
    seconds: float,
    forms: Sequence[str] | None = None,
) -> Analysis:
    """Insert or replace the analysis of ``track_id`` by one bundle version.

    ``forms`` names the form each member ran in (``float32``, ``int8``,
    ``float16``), so outputs of approximate forms can be told apart later.
    """
    row = _row(session, track_id, bundle_id, version)
    width = max((e.shape[-1] for e in embeddings), default=0)
    emb = np.full((len(embeddings), width), np.nan, dtype=np.float16)
    for i, e in enumerate(embeddings):
        emb[i, : e.shape[-1]] = e
    row.fingerprint = key
    row.status = "ok"
    row.error = None
    row.members = list(members)
    row.member_forms = list(forms) if forms is not None else None
    row.n_patches = int(n_patches)
    row.seconds_analysed = float(seconds)
    row.member_logits = pack(np.asarray(member_logits, dtype=np.float32))
    row.embedding = pack(emb)
    row.created_at = utcnow()
    return row


def save_error(
    session: Session, *, track_id: int, bundle_id: str, version: str, key: str, error: str
) -> Analysis:
    """Record that a bundle could not analyse a track (kept until the file changes)."""
    row = _row(session, track_id, bundle_id, version)
    row.fingerprint = key
    row.status = "error"
    row.error = error
    row.members = []
    row.member_forms = None
    row.n_patches = 0
    row.seconds_analysed = 0.0
    row.member_logits = None
    row.embedding = None
    row.created_at = utcnow()
    return row


def split_embeddings(embedding: np.ndarray) -> list[np.ndarray]:
    """Per-member embeddings from a stored ``[members, D]`` array (NaN padding removed)."""
    out = []
    for row in np.asarray(embedding):
        finite = ~np.isnan(row)
        width = int(np.flatnonzero(finite)[-1]) + 1 if finite.any() else 0
        out.append(row[:width].astype(np.float32))
    return out


@dataclass
class StoredOutputs:
    """Raw outputs of one bundle version for many tracks, ready for calibration.

    ``logits``: float32 ``[tracks, members, raw tags]``; ``embeddings``:
    float32 ``[tracks, members, D]`` (NaN where a member's embedding is shorter).
    """

    bundle_id: str
    version: str
    members: list[str]
    track_ids: np.ndarray
    logits: np.ndarray
    embeddings: np.ndarray


def load_outputs(
    session: Session,
    bundle_id: str,
    version: str | None = None,
    track_ids: Iterable[int] | None = None,
) -> StoredOutputs:
    """Successful analyses of ``bundle_id`` (newest version if ``version`` is None)."""
    if version is None:
        version = session.scalar(
            select(Analysis.bundle_version)
            .where(Analysis.bundle_id == bundle_id, Analysis.status == "ok")
            .order_by(Analysis.created_at.desc())
            .limit(1)
        )
    stmt = (
        select(Analysis)
        .where(
            Analysis.bundle_id == bundle_id,
            Analysis.bundle_version == (version or ""),
            Analysis.status == "ok",
        )
        .order_by(Analysis.track_id)
    )
    if track_ids is not None:
        stmt = stmt.where(Analysis.track_id.in_(sorted(set(track_ids))))
    rows = list(session.scalars(stmt))
    members = list(rows[0].members) if rows else []
    logits = [unpack(r.member_logits) for r in rows if r.member_logits is not None]
    embs = [unpack(r.embedding).astype(np.float32) for r in rows if r.embedding is not None]
    return StoredOutputs(
        bundle_id=bundle_id,
        version=version or "",
        members=members,
        track_ids=np.array([r.track_id for r in rows], dtype=np.int64),
        logits=np.stack(logits) if logits else np.zeros((0, len(members), 0), np.float32),
        embeddings=np.stack(embs) if embs else np.zeros((0, len(members), 0), np.float32),
    )
