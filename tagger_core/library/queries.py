"""Read-side queries over the library shared by the CLI and the GUI."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session

from tagger_core.db.models import SUMMARY_NOT_FOUND, Prediction, Track
from tagger_core.errors import TaggerError


def track_filter(stmt: Select[Any], text: str | None) -> Select[Any]:
    """Restrict ``stmt`` to tracks whose tags, path or predicted labels contain ``text``.

    Predicted labels are matched in the stored summary, which lists only the
    calibrated labels that clear the accept threshold; a summary saying none
    does ("not found (best …)") is not matched, so a search for "Rock" finds
    tracks predicted as Rock, not every track whose best guess was Rock.
    """
    if not text:
        return stmt
    pattern = f"%{text}%"
    predicted = exists().where(
        Prediction.track_id == Track.id,
        Prediction.summary.ilike(pattern),
        ~Prediction.summary.like(f"{SUMMARY_NOT_FOUND}%"),
    )
    return stmt.where(
        or_(
            Track.title.ilike(pattern),
            Track.artist.ilike(pattern),
            Track.album.ilike(pattern),
            Track.genre_text.ilike(pattern),
            Track.path_text.ilike(pattern),
            predicted,
        )
    )


def find_track(session: Session, ref: str) -> Track:
    """A track by id (digits) or by path; a user error when there is none."""
    track: Track | None = None
    if ref.isdigit():
        track = session.get(Track, int(ref))
    if track is None:
        raw = os.fsencode(os.path.abspath(ref))
        track = session.scalar(select(Track).where(Track.path == raw))
    if track is None:
        raise TaggerError(f"no track {ref!r} in the library (give a track id or a scanned path)")
    return track


def status_counts(session: Session) -> dict[str, dict[str, int]]:
    """Track counts by status and by format."""
    by_status = dict(
        session.execute(select(Track.status, func.count()).group_by(Track.status)).all()
    )
    by_format = dict(
        session.execute(select(Track.format, func.count()).group_by(Track.format)).all()
    )
    return {
        "status": {str(k): int(v) for k, v in by_status.items()},
        "format": {str(k): int(v) for k, v in by_format.items()},
    }


def track_dict(track: Track) -> dict[str, Any]:
    """JSON-safe view of a track for ``--json`` output."""
    return {
        "id": track.id,
        "path": track.path_text,
        "status": track.status,
        "error": track.error,
        "note": track.note,
        "format": track.format,
        "codec": track.codec,
        "duration": track.duration,
        "sample_rate": track.sample_rate,
        "channels": track.channels,
        "bitrate": track.bitrate,
        "size": track.size,
        "title": track.title,
        "artist": track.artist,
        "album": track.album,
        "album_artist": track.album_artist,
        "year": track.year,
        "track_no": track.track_no,
        "disc_no": track.disc_no,
        "comment": track.comment,
        "genres": list(track.genres or []),
        "fingerprint": track.fingerprint,
    }
