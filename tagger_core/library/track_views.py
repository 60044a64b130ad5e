"""Paged, sorted, filtered views of the track list, computed in SQL.

The GUI's library table shows 100,000 tracks without loading them: it asks
for the row count and for one page of rows at a time. Each sidebar view
("all", "flagged", "reviewed", "not analysed", "errors", one library folder, one
album, one artist, "outdated analyses") is a SQL condition, and every column sorts
in SQL, so nothing here ever walks the whole library in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from tagger_core.db.analysis_versions import (
    outdated_condition,
    outdated_for_tracks,
    outdated_note,
    outdated_track_ids,
)
from tagger_core.db.dialect import nocase
from tagger_core.db.models import Analysis, LibraryRoot, Prediction, ReviewDecision, Track
from tagger_core.errors import TaggerError
from tagger_core.labels.bundles import installed_versions
from tagger_core.labels.tasks import TaskBundles, task_bundles
from tagger_core.library.queries import track_filter

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
    ("outdated", "Outdated analyses"),
)

_GP = aliased(Prediction, name="genre_prediction")
_IP = aliased(Prediction, name="instrument_prediction")


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
    #: ``{column key: outdated mark}`` for the prediction columns read from an
    #: earlier bundle version (``db.analysis_versions``)
    outdated: dict[str, str] = field(default_factory=dict)

    def value(self, key: str) -> str:
        return self.status_text if key == "status" else str(getattr(self, key))

    @property
    def status_text(self) -> str:
        """The status with its reason, so the Errors view says why without a tooltip."""
        if self.status != "ok":
            return f"{self.status}: {self.error}" if self.error else self.status
        return f"analysis failed: {self.error}" if self.error else self.status


def _reviewed_clause(task: str | None = None) -> Any:
    """The track was marked reviewed (for ``task``, or for any task when None)."""
    cond = [
        ReviewDecision.track_id == Track.id,
        ReviewDecision.action == "reviewed",
        ReviewDecision.undone_at.is_(None),
    ]
    if task is not None:
        cond.append(ReviewDecision.task == task)
    return exists().where(*cond)


def _waiting_clause(bundles: TaskBundles) -> Any:
    """Flagged by the bundle shown for a task and not yet reviewed for that task.

    Only the shown bundles count, so a raw tag bundle that lends its tags to
    another is never "flagged"; the review queue of each task agrees.
    """
    return or_(
        *(
            and_(
                exists().where(
                    Prediction.track_id == Track.id,
                    Prediction.bundle_id == bundle_id,
                    Prediction.flagged.is_(True),
                ),
                ~_reviewed_clause(task),
            )
            for task, bundle_id in (("genre", bundles.genre), ("instruments", bundles.instruments))
        )
    )


def view_filter(
    stmt: Select[Any],
    view: str,
    bundles: TaskBundles = TaskBundles(),  # noqa: B008 - frozen, so safe as a default
) -> Select[Any]:
    """Restrict ``stmt`` (over ``Track``) to a sidebar view (``bundles``: those shown)."""
    if view == "all":
        return stmt
    if view == "flagged":
        return stmt.where(_waiting_clause(bundles), Track.status == "ok")
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
    if view == "outdated":
        return stmt.where(Track.status == "ok", outdated_condition(installed_versions()))
    if view.startswith("folder:") and view[7:].isdigit():
        return stmt.where(Track.root_id == int(view[7:]))
    if view.startswith("album:"):
        return stmt.where(Track.album_key == view[6:])
    if view.startswith("artist:"):
        return stmt.where(Track.artist == view[7:])
    raise TaggerError(f"unknown library view {view!r}")


def _joined(stmt: Select[Any], bundles: TaskBundles) -> Select[Any]:
    return stmt.outerjoin(
        _GP, and_(_GP.track_id == Track.id, _GP.bundle_id == bundles.genre)
    ).outerjoin(_IP, and_(_IP.track_id == Track.id, _IP.bundle_id == bundles.instruments))


def _file_name() -> Any:
    """The last component of ``path_text``: what the table shows for an untitled track."""
    folder = func.rtrim(Track.path_text, func.replace(Track.path_text, "/", ""))
    return func.substr(Track.path_text, func.length(folder) + 1)


def _sort_expression(key: str, bundles: TaskBundles) -> Any:
    if key == "title":
        return nocase(func.coalesce(Track.title, _file_name()))
    if key == "artist":
        return nocase(Track.artist)
    if key == "album":
        return nocase(Track.album)
    if key == "genre":
        return nocase(Track.genre_text)
    if key == "predicted":
        return _GP.summary
    if key == "instruments":
        return _IP.summary
    if key == "flag":
        # Ascending: waiting for review in some task, reviewed, analysed and not
        # flagged, not analysed — the order the Flag column's words say.
        analysed = exists().where(Prediction.track_id == Track.id)
        return case(
            (_waiting_clause(bundles), 0), (_reviewed_clause(), 1), (analysed, 2), else_=3
        )
    if key == "status":
        return Track.status
    raise TaggerError(f"cannot sort by {key!r}; columns are {', '.join(COLUMN_KEYS)}")


def count_tracks(
    session: Session,
    view: str = "all",
    text: str | None = None,
    bundles: TaskBundles | None = None,
) -> int:
    """Number of tracks in ``view`` matching ``text`` (``bundles``: found when not given)."""
    shown = bundles or task_bundles(session)
    stmt = track_filter(view_filter(select(func.count(Track.id)), view, shown), text)
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
    key = _sort_expression(sort, bundles)
    stmt = track_filter(view_filter(select(Track.id), view, bundles), text)
    if sort in ("predicted", "instruments"):
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
        session.execute(
            select(ReviewDecision.track_id, ReviewDecision.task).where(
                ReviewDecision.track_id.in_(ids),
                ReviewDecision.action == "reviewed",
                ReviewDecision.undone_at.is_(None),
            )
        ).all()
    )
    reviewed_tracks = {tid for tid, _ in reviewed}
    failed = dict(
        session.execute(
            select(Analysis.track_id, Analysis.error).where(
                Analysis.track_id.in_(ids), Analysis.status != "ok"
            )
        ).all()
    )
    by_track: dict[int, dict[str, Any]] = {}
    for p in preds:
        by_track.setdefault(p.track_id, {})[p.bundle_id] = p
    shown_versions = {
        b: v for b, v in installed_versions().items() if b in (bundles.genre, bundles.instruments)
    }
    old_versions = outdated_for_tracks(session, shown_versions, ids)
    found: dict[int, TrackRow] = {}
    for t in tracks:
        mine = by_track.get(t.id, {})
        g, i = mine.get(bundles.genre), mine.get(bundles.instruments)
        # Flagged while a task still waits for review, even if the other task was reviewed.
        waiting = any(
            p is not None and p.flagged and (t.id, task) not in reviewed
            for task, p in (("genre", g), ("instruments", i))
        )
        flag = "flagged" if waiting else ("reviewed" if t.id in reviewed_tracks else "")
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
            error=t.error or failed.get(t.id) or "",
            outdated={
                key: outdated_note(bundle_id, old_versions[(t.id, bundle_id)])
                for key, bundle_id in (("predicted", bundles.genre),
                                       ("instruments", bundles.instruments))
                if (t.id, bundle_id) in old_versions and mine.get(bundle_id) is not None
            },  # fmt: skip
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
    shown = task_bundles(session)
    out = {key: count_tracks(session, key, bundles=shown) for key, _ in VIEWS if key != "outdated"}
    # counted where a library with no outdated analysis answers without reading them all
    out["outdated"] = len(outdated_track_ids(session, installed_versions()))
    by_root = dict(
        session.execute(select(Track.root_id, func.count()).group_by(Track.root_id)).all()
    )
    for key, _ in folder_views(session):
        out[key] = int(by_root.get(int(key[7:]), 0))
    return out
