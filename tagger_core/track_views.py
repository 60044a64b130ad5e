"""Paged, sorted, filtered views of the track list, computed in SQL.

The GUI's library table shows 100,000 tracks without loading them: it asks
for the row count and for one page of rows at a time. Each sidebar view
("all", "flagged", "reviewed", "not analysed", "errors", one library folder)
is a SQL condition, and every column sorts in SQL, so nothing here ever walks
the whole library in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from tagger_core.db.dialect import nocase
from tagger_core.db.models import Analysis, LibraryRoot, Prediction, ReviewDecision, Track
from tagger_core.errors import TaggerError
from tagger_core.queries import track_filter

GENRE_BUNDLE = "genre"
INSTRUMENT_BUNDLE = "instrument-family"
SHOW_THRESHOLD = 0.5

#: (key, heading) of the library table's columns, in display order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("title", "Title"),
    ("artist", "Artist"),
    ("album", "Album"),
    ("genre", "Existing genre"),
    ("predicted", "Predicted genres"),
    ("instruments", "Instrument families"),
    ("flag", "Flag"),
    ("status", "Status"),
)
COLUMN_KEYS = tuple(key for key, _ in COLUMNS)

#: Fixed sidebar views; library folders are ``folder:<root id>``.
VIEWS: tuple[tuple[str, str], ...] = (
    ("all", "All tracks"),
    ("flagged", "Flagged"),
    ("reviewed", "Reviewed"),
    ("not_analysed", "Not analysed"),
    ("errors", "Errors"),
)

_GP = aliased(Prediction, name="genre_prediction")
_IP = aliased(Prediction, name="instrument_prediction")


@dataclass(frozen=True)
class TaskBundles:
    """Which model bundle's predictions fill the genre and the instrument columns."""

    genre: str = GENRE_BUNDLE
    instruments: str = INSTRUMENT_BUNDLE


def task_bundles(session: Session) -> TaskBundles:
    """The bundles whose predictions the table shows, found from the stored predictions.

    A bundle whose labels are the app's genre labels fills the genre column, any
    other the instrument column; the default bundles win when several qualify.
    """
    from tagger_core.genre_names import GENRE_LABELS

    genre_labels = set(GENRE_LABELS)
    found: dict[str, list[str]] = {"genre": [], "instruments": []}
    for bundle_id in session.scalars(select(Prediction.bundle_id).distinct()):
        sample = session.scalar(
            select(Prediction.confidences).where(Prediction.bundle_id == bundle_id).limit(1)
        )
        keys = set(sample or {})
        task = "genre" if keys and keys <= genre_labels else "instruments"
        found[task].append(bundle_id)

    def pick(task: str, default: str) -> str:
        ids = sorted(found[task])
        return default if default in ids or not ids else ids[0]

    return TaskBundles(pick("genre", GENRE_BUNDLE), pick("instruments", INSTRUMENT_BUNDLE))


@dataclass(frozen=True)
class TrackRow:
    """What one line of the library table shows."""

    id: int
    title: str
    artist: str
    album: str
    genre: str
    predicted: str
    instruments: str
    flag: str
    status: str
    error: str

    def value(self, key: str) -> str:
        return str(getattr(self, key))


def _reviewed_clause() -> Any:
    return exists().where(
        ReviewDecision.track_id == Track.id,
        ReviewDecision.action == "reviewed",
        ReviewDecision.undone_at.is_(None),
    )


def _flagged_clause() -> Any:
    return exists().where(Prediction.track_id == Track.id, Prediction.flagged.is_(True))


def view_filter(stmt: Select[Any], view: str) -> Select[Any]:
    """Restrict ``stmt`` (over ``Track``) to a sidebar view."""
    if view == "all":
        return stmt
    if view == "flagged":
        return stmt.where(_flagged_clause(), ~_reviewed_clause(), Track.status == "ok")
    if view == "reviewed":
        return stmt.where(_reviewed_clause())
    if view == "not_analysed":
        return stmt.where(
            Track.status == "ok",
            ~exists().where(Analysis.track_id == Track.id, Analysis.status == "ok"),
        )
    if view == "errors":
        return stmt.where(
            or_(
                Track.status != "ok",
                exists().where(Analysis.track_id == Track.id, Analysis.status != "ok"),
            )
        )
    if view.startswith("folder:") and view[7:].isdigit():
        return stmt.where(Track.root_id == int(view[7:]))
    raise TaggerError(f"unknown library view {view!r}")


def _joined(stmt: Select[Any], bundles: TaskBundles) -> Select[Any]:
    return stmt.outerjoin(
        _GP, and_(_GP.track_id == Track.id, _GP.bundle_id == bundles.genre)
    ).outerjoin(_IP, and_(_IP.track_id == Track.id, _IP.bundle_id == bundles.instruments))


def _file_name() -> Any:
    """The last component of ``path_text``: what the table shows for an untitled track."""
    folder = func.rtrim(Track.path_text, func.replace(Track.path_text, "/", ""))
    return func.substr(Track.path_text, func.length(folder) + 1)


def _nocase(expr: Any) -> Any:
    return nocase(expr)


def _sort_expression(key: str) -> Any:
    if key == "title":
        return _nocase(func.coalesce(Track.title, _file_name()))
    if key == "artist":
        return _nocase(Track.artist)
    if key == "album":
        return _nocase(Track.album)
    if key == "genre":
        return _nocase(Track.genre_text)
    if key == "predicted":
        return _GP.summary
    if key == "instruments":
        return _IP.summary
    if key == "flag":
        return case((_GP.flagged.is_(True), 1), else_=0) + case((_IP.flagged.is_(True), 1), else_=0)
    if key == "status":
        return Track.status
    raise TaggerError(f"cannot sort by {key!r}; columns are {', '.join(COLUMN_KEYS)}")


def count_tracks(session: Session, view: str = "all", text: str | None = None) -> int:
    """Number of tracks in ``view`` matching ``text``."""
    stmt = track_filter(view_filter(select(func.count(Track.id)), view), text)
    return int(session.scalar(stmt) or 0)


def page_ids(
    session: Session,
    view: str = "all",
    text: str | None = None,
    sort: str = "title",
    descending: bool = False,
    offset: int = 0,
    limit: int = 200,
    bundles: TaskBundles = TaskBundles(),  # noqa: B008 - frozen, so safe as a default
) -> list[int]:
    """Track ids of one page of the view, in display order (ties broken by id)."""
    key = _sort_expression(sort)
    stmt = track_filter(view_filter(select(Track.id), view), text)
    if sort in ("predicted", "instruments", "flag"):
        stmt = _joined(stmt, bundles)
    order = key.desc() if descending else key.asc()
    tie = Track.id.desc() if descending else Track.id.asc()
    stmt = stmt.order_by(order.nulls_last(), tie).offset(offset).limit(limit)
    return list(session.scalars(stmt))


def label_summary(confidences: dict[str, Any] | None, threshold: float = SHOW_THRESHOLD) -> str:
    """ "Rock 0.91, Pop 0.62": labels at or over ``threshold``, else the best one in brackets."""
    if not confidences:
        return ""
    ranked = sorted(
        ((str(k), float(v)) for k, v in confidences.items() if v is not None),
        key=lambda kv: -kv[1],
    )
    shown = [f"{k} {v:.2f}" for k, v in ranked if v >= threshold]
    if shown:
        return ", ".join(shown)
    return f"({ranked[0][0]} {ranked[0][1]:.2f})" if ranked else ""


def _shown(prediction: Any) -> str:
    """The stored summary (what the column sorts by), else one made from the confidences."""
    if prediction is None:
        return ""
    return prediction.summary or label_summary(prediction.confidences)


def rows_for(
    session: Session,
    ids: list[int],
    bundles: TaskBundles = TaskBundles(),  # noqa: B008 - frozen, so safe as a default
) -> list[TrackRow]:
    """Display rows of ``ids``, in the order given (ids not found are skipped)."""
    if not ids:
        return []
    tracks = session.execute(
        select(
            Track.id,
            Track.title,
            Track.path_text,
            Track.artist,
            Track.album,
            Track.genre_text,
            Track.status,
            Track.error,
        ).where(Track.id.in_(ids))
    ).all()
    preds = session.execute(
        select(
            Prediction.track_id,
            Prediction.bundle_id,
            Prediction.confidences,
            Prediction.summary,
            Prediction.flagged,
        ).where(
            Prediction.track_id.in_(ids),
            Prediction.bundle_id.in_((bundles.genre, bundles.instruments)),
        )
    ).all()
    reviewed = set(
        session.scalars(
            select(ReviewDecision.track_id).where(
                ReviewDecision.track_id.in_(ids),
                ReviewDecision.action == "reviewed",
                ReviewDecision.undone_at.is_(None),
            )
        )
    )
    by_track: dict[int, dict[str, Any]] = {}
    for p in preds:
        by_track.setdefault(p.track_id, {})[p.bundle_id] = p
    found: dict[int, TrackRow] = {}
    for t in tracks:
        mine = by_track.get(t.id, {})
        g, i = mine.get(bundles.genre), mine.get(bundles.instruments)
        flagged = any(p.flagged for p in mine.values())
        flag = "reviewed" if t.id in reviewed else ("flagged" if flagged else "")
        found[t.id] = TrackRow(
            id=t.id,
            title=t.title or t.path_text.rsplit("/", 1)[-1],
            artist=t.artist or "",
            album=t.album or "",
            genre=t.genre_text or "",
            predicted=_shown(g),
            instruments=_shown(i),
            flag=flag,
            status=t.status,
            error=t.error or "",
        )
    return [found[i] for i in ids if i in found]


def folder_views(session: Session) -> list[tuple[str, str]]:
    """``(view key, folder path)`` of every library folder, by path."""
    rows = session.execute(
        select(LibraryRoot.id, LibraryRoot.path_text).order_by(LibraryRoot.path_text)
    ).all()
    return [(f"folder:{r.id}", r.path_text) for r in rows]


def view_counts(session: Session) -> dict[str, int]:
    """Track count of every fixed view and every folder (for the sidebar)."""
    out = {key: count_tracks(session, key) for key, _ in VIEWS}
    by_root = dict(
        session.execute(select(Track.root_id, func.count()).group_by(Track.root_id)).all()
    )
    for key, _ in folder_views(session):
        out[key] = int(by_root.get(int(key[7:]), 0))
    return out
