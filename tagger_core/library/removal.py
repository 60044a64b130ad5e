"""Removing tracks and folders from the library (never from disk).

A librarian removes what should not be in the archive's database: the track
rows and everything computed or decided about them (analyses, predictions,
review decisions) go in one transaction, so an interruption leaves either all
of it or none. Export history keeps its items (their track link is cleared),
so an earlier export can still be undone. A removed folder is no longer a
library root, so Rescan does not bring it back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from tagger_core.db import Library
from tagger_core.db.models import (
    Analysis,
    ExportItem,
    LibraryRoot,
    Prediction,
    ReviewDecision,
    Track,
)
from tagger_core.errors import TaggerError

CHUNK = 500  # ids per statement, well under SQLite's bound-variable limit


@dataclass(frozen=True)
class RemovalImpact:
    """What a removal takes out of the library (what a confirmation should say)."""

    tracks: int = 0
    folders: int = 0
    decisions: int = 0
    reviewed_tracks: int = 0

    def sentence(self) -> str:
        """One line for a confirmation: tracks, folders and the review work lost."""
        parts = [f"{self.tracks:,} track{'s' if self.tracks != 1 else ''}"]
        if self.folders:
            parts.insert(0, f"{self.folders:,} folder{'s' if self.folders != 1 else ''} with")
        text = " ".join(parts)
        if self.decisions:
            text += (
                f" and {self.decisions:,} review decision{'s' if self.decisions != 1 else ''}"
                f" ({self.reviewed_tracks:,} reviewed track"
                f"{'s' if self.reviewed_tracks != 1 else ''})"
            )
        else:
            text += " (no review decisions)"
        return text


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def _track_ids(session: Session, track_ids: Iterable[int], root_ids: Sequence[int]) -> list[int]:
    """The given tracks plus every track of the given folders, without repeats."""
    ids = set(track_ids)
    for chunk in _chunks(list(root_ids)):
        ids.update(session.scalars(select(Track.id).where(Track.root_id.in_(chunk))))
    return sorted(ids)


def removal_impact(
    session: Session, track_ids: Iterable[int] = (), root_ids: Sequence[int] = ()
) -> RemovalImpact:
    """Count what removing these tracks and folders would delete (nothing is changed)."""
    ids = _track_ids(session, track_ids, root_ids)
    tracks = decisions = 0
    reviewed: set[int] = set()
    for chunk in _chunks(ids):
        tracks += int(session.scalar(select(func.count()).where(Track.id.in_(chunk))) or 0)
        live = (ReviewDecision.track_id.in_(chunk), ReviewDecision.undone_at.is_(None))
        decisions += int(
            session.scalar(select(func.count()).select_from(ReviewDecision).where(*live)) or 0
        )
        reviewed.update(session.scalars(select(ReviewDecision.track_id).where(*live).distinct()))
    folders = 0
    for chunk in _chunks(list(root_ids)):
        folders += int(session.scalar(select(func.count()).where(LibraryRoot.id.in_(chunk))) or 0)
    return RemovalImpact(tracks, folders, decisions, len(reviewed))


def remove_from_library(
    library: Library, track_ids: Iterable[int] = (), root_ids: Sequence[int] = ()
) -> RemovalImpact:
    """Delete tracks (and whole folders) from the database in one transaction.

    No file is touched. Returns what was removed.
    """
    track_ids = list(track_ids)

    def remove(s: Session) -> RemovalImpact:
        ids = _track_ids(s, track_ids, root_ids)
        impact = removal_impact(s, ids, root_ids)
        for chunk in _chunks(ids):
            for table in (ReviewDecision, Prediction, Analysis):
                s.execute(delete(table).where(table.track_id.in_(chunk)))
            s.execute(
                update(ExportItem).where(ExportItem.track_id.in_(chunk)).values(track_id=None)
            )
            s.execute(delete(Track).where(Track.id.in_(chunk)))
        for chunk in _chunks(list(root_ids)):
            s.execute(delete(LibraryRoot).where(LibraryRoot.id.in_(chunk)))
        return impact

    return library.write(remove, "removing tracks from the library")


def resolve_paths(session: Session, paths: Sequence[str]) -> tuple[list[int], list[int]]:
    """(track ids, folder ids) a list of paths names: a library folder, or tracks at/under it.

    A path that is neither a library folder nor holds any track is a user error.
    """
    track_ids: set[int] = set()
    root_ids: list[int] = []
    for p in paths:
        raw = os.fsencode(os.path.abspath(p)).rstrip(b"/") or b"/"
        root = session.scalar(select(LibraryRoot.id).where(LibraryRoot.path == raw))
        if root is not None:
            root_ids.append(root)
            continue
        prefix = raw + b"/"
        upper = raw + b"0"  # "0" follows "/": the range holds exactly the paths under raw
        found = list(
            session.scalars(
                select(Track.id).where(
                    or_(Track.path == raw, (Track.path >= prefix) & (Track.path < upper))
                )
            )
        )
        if not found:
            raise TaggerError(f"no library folder and no tracks at or under {p}")
        track_ids.update(found)
    return sorted(track_ids), root_ids
