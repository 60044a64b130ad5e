"""Which library tracks a command names: by path (folders by prefix, files exactly), by
text, or by id.

Why here: ``analyze PATH…``, ``run``, ``tracks`` and ``review`` turn what the user typed
into tracks; the path bytes, the prefix rule (a folder names every track below it) and
the queries belong to the library, and the command line stays free of SQL.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagger_core.db.models import Track
from tagger_core.errors import ConfigError
from tagger_core.library.queries import track_filter


def _folder_prefix(folder: str | Path) -> bytes:
    return os.fsencode(os.path.join(os.path.abspath(folder), ""))


def track_ids_under(session: Session, root: str | Path, *, status: str | None = "ok") -> list[int]:
    """Ids of the tracks below folder ``root`` (only those with ``status``; None: any)."""
    stmt = select(Track.id, Track.path)
    if status is not None:
        stmt = stmt.where(Track.status == status)
    prefix = _folder_prefix(root)
    return [tid for tid, raw in session.execute(stmt).all() if raw.startswith(prefix)]


def track_ids_for_paths(
    session: Session, folders: Sequence[str | Path], files: Sequence[str | Path]
) -> list[int]:
    """Ids of every track below ``folders`` and of each of ``files``.

    ``ConfigError`` names the first file that is not in the library (its folder
    needs scanning first).
    """
    prefixes = tuple(_folder_prefix(f) for f in folders)
    exact = {os.fsencode(os.path.abspath(f)) for f in files}
    rows = session.execute(select(Track.id, Track.path)).all()
    ids = [tid for tid, path in rows if path in exact or (prefixes and path.startswith(prefixes))]
    missing = exact - {path for _tid, path in rows if path in exact}
    if missing:
        name = os.fsdecode(sorted(missing)[0])
        raise ConfigError(f"{name} is not in the library; scan its folder first")
    return ids


def tracks_matching(session: Session, text: str | None, limit: int | None = None) -> list[Track]:
    """Tracks whose title, artist, album, genre or path contain ``text``, by path."""
    stmt = track_filter(select(Track), text).order_by(Track.path_text)
    if limit:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def tracks_by_id(session: Session, track_ids: Sequence[int]) -> dict[int, Track]:
    """``{id: track}`` for the given ids (missing ids are left out)."""
    return {t.id: t for t in session.scalars(select(Track).where(Track.id.in_(track_ids)))}
