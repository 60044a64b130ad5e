"""Review decisions: what a person accepted, rejected or added, with undo.

Decisions are appended, never edited or deleted; undo stamps ``undone_at``.
The effective state of a (track, task, label) is its newest live decision,
whoever made it: when two librarians decide the same label, the later one wins
and both stay in the history (``review_conflicts`` lists such pairs). Every
decision records who made it (``decided_by``; the OS login by default).
A track marked ``reviewed`` for a task has had every label looked at, so the
labels not accepted count as negatives when building a calibration set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import CompoundSelect, Select, delete, func, select, union
from sqlalchemy.orm import Session

from tagger_core.db import Library
from tagger_core.db.models import Prediction, ReviewClaim, ReviewDecision, Track, utcnow
from tagger_core.errors import TaggerError
from tagger_core.labels.tasks import TASKS, task_bundles
from tagger_core.trust.librarians import check_user

LABEL_ACTIONS = ("accept", "reject", "add")


@dataclass
class TrackReview:
    """Effective decisions of one track for one task."""

    accepted: set[str] = field(default_factory=set)
    rejected: set[str] = field(default_factory=set)
    reviewed: bool = False


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise TaggerError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")


def decide(
    library: Library,
    track_id: int,
    task: str,
    label: str,
    action: str,
    confidence: float | None = None,
    user: str | None = None,
) -> int:
    """Record accept/reject/add of ``label`` on a track by ``user``; returns the decision id.

    A label decision keeps the user's claim of the track: they are still working on
    it. Marking it reviewed (:func:`mark_reviewed`) releases the claim.
    """
    _check_task(task)
    if action not in LABEL_ACTIONS:
        raise TaggerError(f"unknown action {action!r}; expected accept, reject or add")
    who = check_user(user)

    def record(s: Session) -> int:
        if s.get(Track, track_id) is None:
            raise TaggerError(f"no track with id {track_id}")
        row = ReviewDecision(
            track_id=track_id,
            task=task,
            label=label,
            action=action,
            confidence=confidence,
            decided_by=who,
        )
        s.add(row)
        s.flush()
        return row.id

    return library.write(record, "recording a review decision")


def mark_reviewed(library: Library, track_id: int, task: str, user: str | None = None) -> int:
    """Mark that ``user`` has looked at every label of ``task``; releases their claim of it.

    The claim goes in the same transaction as the mark: a finished track is never
    left held, and a crash in between cannot leave a mark without the release.
    """
    _check_task(task)
    who = check_user(user)

    def record(s: Session) -> int:
        if s.get(Track, track_id) is None:
            raise TaggerError(f"no track with id {track_id}")
        row = ReviewDecision(
            track_id=track_id, task=task, label=None, action="reviewed", decided_by=who
        )
        s.add(row)
        s.execute(
            delete(ReviewClaim).where(
                ReviewClaim.track_id == track_id, ReviewClaim.claimed_by == who
            )
        )
        s.flush()
        return row.id

    return library.write(record, "marking a track reviewed")


def undo_last(
    library: Library, track_id: int | None = None, user: str | None = None
) -> ReviewDecision | None:
    """Undo the newest live decision (of one track, of one user, if given); None when none.

    With ``user``, a librarian's undo never takes back a colleague's decision.
    """

    def undo(s: Session) -> ReviewDecision | None:
        stmt = select(ReviewDecision).where(ReviewDecision.undone_at.is_(None))
        if track_id is not None:
            stmt = stmt.where(ReviewDecision.track_id == track_id)
        if user is not None:
            stmt = stmt.where(ReviewDecision.decided_by == check_user(user))
        row = s.scalar(stmt.order_by(ReviewDecision.id.desc()).limit(1))
        if row is not None:
            row.undone_at = utcnow()
        return row

    return library.write(undo, "undoing a review decision")


def reviews(
    session: Session, task: str, track_ids: list[int] | None = None
) -> dict[int, TrackReview]:
    """Effective review state per track for ``task`` (only tracks with live decisions)."""
    _check_task(task)
    stmt = (
        select(ReviewDecision)
        .where(ReviewDecision.task == task, ReviewDecision.undone_at.is_(None))
        .order_by(ReviewDecision.id)
    )
    if track_ids is not None:
        stmt = stmt.where(ReviewDecision.track_id.in_(track_ids))
    out: dict[int, TrackReview] = {}
    for d in session.scalars(stmt):
        state = out.setdefault(d.track_id, TrackReview())
        if d.action == "reviewed":
            state.reviewed = True
        elif d.label is not None:
            if d.action in ("accept", "add"):
                state.accepted.add(d.label)
                state.rejected.discard(d.label)
            else:
                state.rejected.add(d.label)
                state.accepted.discard(d.label)
    return out


def _reviewed_for(task: str) -> Select[Any]:
    """Track ids a person marked reviewed for ``task`` (reviewing genres leaves instruments)."""
    return select(ReviewDecision.track_id).where(
        ReviewDecision.action == "reviewed",
        ReviewDecision.task == task,
        ReviewDecision.undone_at.is_(None),
    )


def waiting_bundles(session: Session, task: str | None = None) -> dict[str, str]:
    """``{task: bundle shown for it}`` for ``task``, or for every task when None."""
    shown = task_bundles(session)
    if task is not None:
        _check_task(task)
        return {task: shown.for_task(task)}
    return {t: shown.for_task(t) for t in TASKS}


def waiting_ids(bundles: dict[str, str]) -> CompoundSelect:
    """Track ids waiting in the review queue of any ``{task: bundle}`` given."""
    return union(
        *(
            select(Prediction.track_id)
            .join(Track, Track.id == Prediction.track_id)
            .where(
                Prediction.bundle_id == bundle_id,
                Prediction.flagged.is_(True),
                Track.status == "ok",
                Prediction.track_id.not_in(_reviewed_for(task).scalar_subquery()),
            )
            for task, bundle_id in bundles.items()
        )
    )


def review_queue(
    session: Session,
    bundle_id: str,
    task: str,
    limit: int | None = None,
    only: list[int] | None = None,
) -> list[Prediction]:
    """Flagged predictions of ``bundle_id`` not yet reviewed for ``task``, most uncertain first.

    ``only`` keeps the queue to those tracks (a librarian's claims).
    """
    _check_task(task)
    stmt = (
        select(Prediction)
        .join(Track, Track.id == Prediction.track_id)
        .where(
            Prediction.bundle_id == bundle_id,
            Prediction.flagged.is_(True),
            Track.status == "ok",
            Prediction.track_id.not_in(_reviewed_for(task).scalar_subquery()),
        )
        .order_by(Prediction.uncertainty.desc(), Prediction.track_id)
    )
    if only is not None:
        stmt = stmt.where(Prediction.track_id.in_(only))
    if limit:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class TaskCounts:
    """One task's queue: tracks with predictions, how many are flagged, reviewed, waiting."""

    task: str
    bundle_id: str
    tracks: int
    flagged: int
    reviewed: int
    waiting: int

    @property
    def rate_text(self) -> str:
        """ "Genres: 19 of 19 flagged (100 %)": how selective the flags are."""
        share = f" ({100 * self.flagged / self.tracks:.0f} %)" if self.tracks else ""
        return f"{TASK_NAMES[self.task]}: {self.flagged:,} of {self.tracks:,} flagged{share}"


TASK_NAMES = {"genre": "Genres", "instruments": "Instrument families"}


def task_counts(session: Session, task: str, bundle_id: str) -> TaskCounts:
    """Flag and review counts of the bundle the app shows for ``task`` (readable tracks only)."""
    _check_task(task)
    base = (
        select(func.count())
        .select_from(Prediction)
        .join(Track, Track.id == Prediction.track_id)
        .where(Prediction.bundle_id == bundle_id, Track.status == "ok")
    )
    flagged = base.where(Prediction.flagged.is_(True))
    reviewed_ids = _reviewed_for(task).scalar_subquery()
    return TaskCounts(
        task=task,
        bundle_id=bundle_id,
        tracks=int(session.scalar(base) or 0),
        flagged=int(session.scalar(flagged) or 0),
        reviewed=int(session.scalar(base.where(Prediction.track_id.in_(reviewed_ids))) or 0),
        waiting=int(session.scalar(flagged.where(Prediction.track_id.not_in(reviewed_ids))) or 0),
    )


def review_counts(session: Session) -> dict[str, Any]:
    """Tracks flagged, reviewed and waiting over the tasks the app shows, and per task.

    Only the bundle shown for each task counts (``track_views.task_bundles``), so
    a raw tag bundle analysed to help another is never counted as flagged. A
    track counts as waiting while any task still has it in its queue.
    """
    shown = task_bundles(session)
    flagged_ids: set[int] = set()
    waiting_ids: set[int] = set()
    reviewed_ids: set[int] = set()
    per_task: dict[str, TaskCounts] = {}
    for task, bundle_id in (("genre", shown.genre), ("instruments", shown.instruments)):
        per_task[task] = task_counts(session, task, bundle_id)
        flagged = set(
            session.scalars(
                select(Prediction.track_id)
                .join(Track, Track.id == Prediction.track_id)
                .where(
                    Prediction.bundle_id == bundle_id,
                    Prediction.flagged.is_(True),
                    Track.status == "ok",
                )
            )
        )
        reviewed = set(session.scalars(_reviewed_for(task)))
        flagged_ids |= flagged
        waiting_ids |= flagged - reviewed
        reviewed_ids |= reviewed
    decisions = session.scalar(
        select(func.count()).select_from(ReviewDecision).where(ReviewDecision.undone_at.is_(None))
    )
    return {
        "flagged": len(flagged_ids),
        "reviewed": len(reviewed_ids),
        "waiting": len(waiting_ids),
        "decisions": int(decisions or 0),
        "tasks": per_task,
    }


def set_label(
    library: Library,
    track_ids: list[int],
    task: str,
    label: str,
    keep: bool,
    threshold: float = 0.5,
    user: str | None = None,
) -> int:
    """A person's hand edit of one label on several tracks, in one transaction.

    Keeping a label records ``accept`` where the shown model predicts it at or
    above ``threshold`` and ``add`` elsewhere; dropping it records ``reject``.
    Export reads these decisions, so what was edited is what gets written.
    Returns the number of decisions recorded (made by ``user``).
    """
    _check_task(task)
    who = check_user(user)

    def record(s: Session) -> int:
        found = set(s.scalars(select(Track.id).where(Track.id.in_(track_ids))))
        missing = [t for t in track_ids if t not in found]
        if missing:
            raise TaggerError(f"no track with id {missing[0]}")
        shown = task_bundles(s)
        bundle = shown.for_task(task)
        confidences = dict(
            s.execute(
                select(Prediction.track_id, Prediction.confidences).where(
                    Prediction.bundle_id == bundle, Prediction.track_id.in_(track_ids)
                )
            ).all()
        )
        for tid in dict.fromkeys(track_ids):
            value = (confidences.get(tid) or {}).get(label)
            conf = float(value) if value is not None else None
            if not keep:
                action = "reject"
            else:
                action = "accept" if conf is not None and conf >= threshold else "add"
            s.add(
                ReviewDecision(
                    track_id=tid,
                    task=task,
                    label=label,
                    action=action,
                    confidence=conf,
                    decided_by=who,
                )
            )
        return len(dict.fromkeys(track_ids))

    return library.write(record, "recording label edits")
