"""Albums and artists of the library, grouped and paged in SQL.

Why SQL: an archive of 100,000 tracks holds thousands of albums; the sidebar, the
``albums`` command and the album view ask for one page or one album at a time and
group by the indexed ``tracks.album_key`` (see ``album_identity``), so nothing walks
the whole library in Python. An album's artist is its album artist tag, else the one
artist all its tracks share, else "Various Artists".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from tagger_core.db.dialect import nocase
from tagger_core.db.models import Track
from tagger_core.errors import TaggerError
from tagger_core.library.album_identity import folder_of

VARIOUS_ARTISTS = "Various Artists"
UNKNOWN_ARTIST = "Unknown artist"
ALBUM_SORTS = ("artist", "album", "year", "tracks")


@dataclass(frozen=True)
class AlbumRow:
    """One album: its key, what to call it, and how many tracks it has."""

    key: str
    album: str
    artist: str
    year: int | None
    tracks: int
    folder: str

    @property
    def view(self) -> str:
        """The sidebar/table view key of this album."""
        return f"album:{self.key}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "album": self.album,
            "artist": self.artist,
            "year": self.year,
            "tracks": self.tracks,
            "folder": self.folder,
        }


def _artist_expr() -> Any:
    return func.coalesce(
        func.max(Track.album_artist),
        case(
            (func.min(Track.artist) != func.max(Track.artist), VARIOUS_ARTISTS),
            else_=func.coalesce(func.max(Track.artist), UNKNOWN_ARTIST),
        ),
    )


def _grouped() -> Select[Any]:
    return (
        select(
            Track.album_key,
            func.min(Track.album).label("album"),
            _artist_expr().label("artist"),
            func.min(Track.year).label("year"),
            func.count(Track.id).label("tracks"),
            func.min(Track.path_text).label("first_path"),
        )
        .where(Track.album_key.is_not(None))
        .group_by(Track.album_key)
    )


def _matching(stmt: Select[Any], text: str | None) -> Select[Any]:
    """Albums with a track whose album, album artist or artist contains ``text``."""
    if not text:
        return stmt
    pattern = f"%{text}%"
    return stmt.having(
        func.max(
            case(
                (
                    or_(
                        Track.album.ilike(pattern),
                        Track.album_artist.ilike(pattern),
                        Track.artist.ilike(pattern),
                    ),
                    1,
                ),
                else_=0,
            )
        )
        == 1
    )


def _row(r: Any) -> AlbumRow:
    return AlbumRow(
        key=r.album_key,
        album=r.album or "",
        artist=r.artist,
        year=r.year,
        tracks=int(r.tracks),
        folder=folder_of(r.first_path or ""),
    )


def count_albums(session: Session, text: str | None = None) -> int:
    """How many albums match ``text`` (all albums when empty)."""
    inner = _matching(_grouped(), text).subquery()
    return int(session.scalar(select(func.count()).select_from(inner)) or 0)


def album_page(
    session: Session,
    text: str | None = None,
    sort: str = "artist",
    offset: int = 0,
    limit: int | None = 200,
) -> list[AlbumRow]:
    """One page of albums matching ``text``, sorted by ``sort`` (then artist, album, key)."""
    if sort not in ALBUM_SORTS:
        raise TaggerError(f"cannot sort albums by {sort!r}; choose {', '.join(ALBUM_SORTS)}")
    stmt = _matching(_grouped(), text)
    artist = nocase(_artist_expr())
    album = nocase(func.min(Track.album))
    first = {
        "artist": [],
        "album": [album],
        "year": [func.min(Track.year).asc().nulls_last()],
        "tracks": [func.count(Track.id).desc()],
    }[sort]
    stmt = stmt.order_by(*first, artist, album, Track.album_key).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_row(r) for r in session.execute(stmt)]


def album_row(session: Session, key: str) -> AlbumRow | None:
    """The album with ``key`` (None when no track has it)."""
    r = session.execute(_grouped().where(Track.album_key == key)).first()
    return _row(r) if r is not None else None


def album_track_ids(session: Session, key: str) -> list[int]:
    """Track ids of one album in playing order (disc, track number, path)."""
    return list(
        session.scalars(
            select(Track.id)
            .where(Track.album_key == key)
            .order_by(
                Track.disc_no.asc().nulls_first(),
                Track.track_no.asc().nulls_last(),
                Track.path_text,
            )
        )
    )


def album_keys_of(session: Session, track_ids: list[int]) -> dict[int, str]:
    """Album key of each of ``track_ids`` that belongs to an album."""
    if not track_ids:
        return {}
    rows = session.execute(
        select(Track.id, Track.album_key).where(
            Track.id.in_(track_ids), Track.album_key.is_not(None)
        )
    )
    return {tid: key for tid, key in rows}


def artist_counts(session: Session) -> list[tuple[str, int]]:
    """Every track artist with its track count, by name (for the sidebar's Artists)."""
    rows = session.execute(
        select(Track.artist, func.count(Track.id))
        .where(Track.artist.is_not(None), Track.artist != "")
        .group_by(Track.artist)
        .order_by(nocase(Track.artist))
    )
    return [(str(a), int(n)) for a, n in rows]


def album_headings(session: Session, track_ids: list[int]) -> dict[int, str]:
    """``"Artist – Album"`` of each of ``track_ids`` that belongs to an album."""
    keys = album_keys_of(session, track_ids)
    if not keys:
        return {}
    rows = session.execute(_grouped().where(Track.album_key.in_(sorted(set(keys.values())))))
    heading = {r.album_key: f"{r.artist} – {r.album or ''}" for r in rows}
    return {tid: heading[key] for tid, key in keys.items() if key in heading}
