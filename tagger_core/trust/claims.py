"""Claims: which librarian holds which flagged track, so two never review the same one.

``claim_tracks`` hands a librarian the most useful waiting tracks that nobody else
holds, in one short transaction. On PostgreSQL the candidate tracks are read with
``SELECT … FOR UPDATE SKIP LOCKED``: concurrent claimers skip each other's rows
instead of waiting or taking the same ones. On SQLite the transaction starts with
``BEGIN IMMEDIATE``, so claimers run one after another. On both, the unique
``review_claims.track_id`` is the last word: the insert is ``ON CONFLICT DO
NOTHING``, so a track can never be held twice, whatever the timing.

A claim lasts ``hours`` (2 by default); an expired claim is free to take and is
removed by the next claim. Marking a track reviewed releases the decider's claim;
``release`` gives tracks back. Claims only distribute the work: a decision on a
track someone else holds is still recorded (the later decision wins, and
``review_conflicts`` lists disagreements).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tagger_core.db import Library
from tagger_core.db.dialect import begin_immediate, upsert
from tagger_core.db.models import Prediction, ReviewClaim, Track, utcnow
from tagger_core.errors import ConfigError
from tagger_core.trust.librarians import check_user
from tagger_core.trust.review import waiting_bundles, waiting_ids

#: How long a claim lasts unless the claimer says otherwise.
CLAIM_HOURS = 2.0
#: Tracks handed out by one claim unless the claimer says otherwise.
CLAIM_BATCH = 20
#: Insert rounds per claim: each round re-reads the candidates (others' claims are
#: seen as soon as they commit), so a round that gains nothing ends the claim.
_MAX_ROUNDS = 8


@dataclass(frozen=True)
class Claim:
    """One live claim: who holds which track until when."""

    track_id: int
    user: str
    claimed_at: dt.datetime
    expires_at: dt.datetime


def _hours(hours: float) -> dt.timedelta:
    if not 0 < hours <= 24 * 30:
        raise ConfigError(f"a claim lasts more than 0 and at most 720 hours, not {hours:g}")
    return dt.timedelta(hours=hours)


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands timestamps back without a zone; every one we store is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def claim_tracks(
    library: Library,
    user: str | None,
    n: int = CLAIM_BATCH,
    *,
    hours: float = CLAIM_HOURS,
    task: str | None = None,
    now: dt.datetime | None = None,
) -> list[int]:
    """Hand ``user`` up to ``n`` waiting tracks nobody holds, most useful first.

    Waiting means flagged and not reviewed in the queue of ``task`` (any shown task
    when None). Returns the track ids claimed now (fewer than ``n`` when the queue
    runs out; tracks the user already holds are not counted again).
    """
    who = check_user(user)
    if n < 1:
        raise ConfigError(f"claim at least one track, not {n}")
    now = now or utcnow()
    expires = now + _hours(hours)

    def take(s: Session) -> list[int]:
        got: list[int] = []
        begin_immediate(s)
        s.execute(delete(ReviewClaim).where(ReviewClaim.expires_at <= now))
        bundles = waiting_bundles(s, task)
        score = (
            select(func.max(Prediction.uncertainty))
            .where(
                Prediction.track_id == Track.id,
                Prediction.bundle_id.in_(list(bundles.values())),
            )
            .correlate(Track)
            .scalar_subquery()
        )
        for _ in range(_MAX_ROUNDS):
            candidates = (
                select(Track.id)
                .where(
                    Track.id.in_(waiting_ids(bundles)),
                    Track.id.not_in(select(ReviewClaim.track_id)),
                )
                .order_by(score.desc(), Track.id)
                .limit(n - len(got))
                .with_for_update(skip_locked=True, of=Track)
            )
            ids = list(s.scalars(candidates))
            if not ids:
                break
            insert = (
                upsert(s, ReviewClaim)
                .values(
                    [
                        {
                            "track_id": tid,
                            "claimed_by": who,
                            "claimed_at": now,
                            "expires_at": expires,
                        }  # fmt: skip
                        for tid in ids
                    ]
                )
                .on_conflict_do_nothing(index_elements=["track_id"])
                .returning(ReviewClaim.track_id)
            )
            gained = list(s.scalars(insert))
            got.extend(gained)
            if not gained or len(got) >= n:
                break
        return got

    return library.write(take, "claiming tracks for review")


def hold_batch(
    library: Library,
    user: str | None,
    batch: int = CLAIM_BATCH,
    *,
    hours: float = CLAIM_HOURS,
    task: str | None = None,
) -> list[int]:
    """Top ``user``'s claims up to ``batch`` tracks waiting in ``task``'s queue; the ids held.

    Why: review mode claims when it is entered, and entering it again must not pile
    up claims the librarian never gets to; it claims only what is missing.
    """
    who = check_user(user)
    with library.session() as s:
        waiting = waiting_ids(waiting_bundles(s, task))
        held = list(
            s.scalars(
                select(ReviewClaim.track_id).where(
                    ReviewClaim.claimed_by == who,
                    ReviewClaim.expires_at > utcnow(),
                    ReviewClaim.track_id.in_(waiting),
                )
            )
        )
    if len(held) < batch:
        held += claim_tracks(library, who, batch - len(held), hours=hours, task=task)
    return held


def release(library: Library, user: str | None, track_ids: list[int] | None = None) -> int:
    """Give back ``user``'s claims of ``track_ids`` (all of them when None); how many."""
    who = check_user(user)
    stmt = delete(ReviewClaim).where(ReviewClaim.claimed_by == who)
    if track_ids is not None:
        stmt = stmt.where(ReviewClaim.track_id.in_(track_ids))
    return library.write(lambda s: int(s.execute(stmt).rowcount or 0), "releasing claims")


def live_claims(
    session: Session, now: dt.datetime | None = None, user: str | None = None
) -> list[Claim]:
    """Claims not yet expired (of one user, if given), by holder then track."""
    now = now or utcnow()
    stmt = select(ReviewClaim).where(ReviewClaim.expires_at > now)
    if user is not None:
        stmt = stmt.where(ReviewClaim.claimed_by == check_user(user))
    rows = session.scalars(stmt.order_by(ReviewClaim.claimed_by, ReviewClaim.track_id))
    return [
        Claim(r.track_id, r.claimed_by, _aware(r.claimed_at), _aware(r.expires_at)) for r in rows
    ]
