"""Conflicts: two librarians who decided the same label of the same track differently.

The later decision wins (the effective state is the newest live decision) and both
stay in the history; this lists each such disagreement so someone can look again.
A pair counts when different people disagree on whether the label applies (accept
or add against reject); the same person changing their mind is no conflict.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from tagger_core.db.models import ReviewDecision, Track

#: Shown for decisions made before the library recorded who decided.
UNKNOWN_USER = "(unrecorded)"


@dataclass(frozen=True)
class Conflict:
    """The winning decision on a label and the latest one by someone else it overrules."""

    track_id: int
    path: str
    task: str
    label: str
    winner: str
    winner_action: str
    winner_at: dt.datetime
    overruled: str
    overruled_action: str
    overruled_at: dt.datetime

    def text(self) -> str:
        """One line for the terminal and the report."""
        return (
            f"track {self.track_id} {self.path} · {self.task} {self.label}: "
            f"{self.winner} {self.winner_action} ({self.winner_at:%Y-%m-%d %H:%M}) wins over "
            f"{self.overruled} {self.overruled_action} ({self.overruled_at:%Y-%m-%d %H:%M})"
        )


def _positive(action: str) -> bool:
    return action in ("accept", "add")


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def review_conflicts(session: Session) -> list[Conflict]:
    """Every (track, task, label) whose live decisions by different people disagree."""
    live = (ReviewDecision.undone_at.is_(None), ReviewDecision.label.is_not(None))
    # Only labels more than one person decided can conflict: found in SQL, so a big
    # archive's single-librarian decisions are never loaded.
    shared = (
        select(ReviewDecision.track_id, ReviewDecision.task, ReviewDecision.label)
        .where(*live)
        .group_by(ReviewDecision.track_id, ReviewDecision.task, ReviewDecision.label)
        .having(func.count(func.distinct(func.coalesce(ReviewDecision.decided_by, ""))) > 1)
        .subquery()
    )
    rows = session.execute(
        select(ReviewDecision, Track.path_text)
        .join(Track, Track.id == ReviewDecision.track_id)
        .join(
            shared,
            and_(
                shared.c.track_id == ReviewDecision.track_id,
                shared.c.task == ReviewDecision.task,
                shared.c.label == ReviewDecision.label,
            ),
        )
        .where(*live)
        .order_by(ReviewDecision.id)
    ).all()
    history: dict[tuple[int, str, str], list[ReviewDecision]] = {}
    paths: dict[int, str] = {}
    for decision, path in rows:
        assert decision.label is not None
        history.setdefault((decision.track_id, decision.task, decision.label), []).append(decision)
        paths[decision.track_id] = path
    found: list[Conflict] = []
    for (track_id, task, label), decisions in history.items():
        last = decisions[-1]
        who = last.decided_by or UNKNOWN_USER
        other = next(
            (
                d
                for d in reversed(decisions[:-1])
                if (d.decided_by or UNKNOWN_USER) != who
                and _positive(d.action) != _positive(last.action)
            ),
            None,
        )
        if other is None:
            continue
        found.append(
            Conflict(
                track_id=track_id,
                path=paths[track_id],
                task=task,
                label=label,
                winner=who,
                winner_action=last.action,
                winner_at=_utc(last.created_at),
                overruled=other.decided_by or UNKNOWN_USER,
                overruled_action=other.action,
                overruled_at=_utc(other.created_at),
            )
        )
    return sorted(found, key=lambda c: c.winner_at, reverse=True)
