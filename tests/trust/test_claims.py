"""Claims on both backends: who holds what, expiry, release, and many claimers at once.

Every test taking ``db_location`` runs on SQLite and on the PostgreSQL test server.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing

import pytest
from claimers import claim_until_empty
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tagger_core.db import open_library
from tagger_core.db.models import Prediction, ReviewClaim, ReviewDecision, Track
from tagger_core.errors import ConfigError
from tagger_core.trust.claims import claim_tracks, hold_batch, live_claims, release
from tagger_core.trust.review import decide, mark_reviewed

LATER = dt.timedelta(hours=3)


def _flagged_library(db: str, n: int) -> tuple[list[int], set[int]]:
    """``n`` tracks, every third unflagged: (flagged ids most uncertain first, flagged set)."""
    lib = open_library(db)
    with lib.session() as s:
        rows = [
            Track(path=f"/m/{i:03}.flac".encode(), path_text=f"/m/{i:03}.flac", size=1, mtime_ns=1)
            for i in range(n)
        ]
        s.add_all(rows)
        s.flush()
        for i, row in enumerate(rows):
            s.add(
                Prediction(
                    track_id=row.id, bundle_id="genre", flagged=i % 3 != 0, uncertainty=i / n
                )
            )
        flagged = {row.id for i, row in enumerate(rows) if i % 3 != 0}
        ordered = [row.id for row in reversed(rows) if row.id in flagged]
    lib.close()
    return ordered, flagged


def test_claims_hand_out_the_most_useful_tracks_nobody_holds(db_location: str) -> None:
    ordered, flagged = _flagged_library(db_location, 12)
    lib = open_library(db_location)
    alice = claim_tracks(lib, "alice", 3)
    bob = claim_tracks(lib, "bob", 20)
    assert alice == ordered[:3]
    assert sorted(bob) == sorted(ordered[3:])  # only the flagged ones, none of alice's
    assert claim_tracks(lib, "carol", 5) == []
    with lib.session() as s:
        held = {c.track_id: c.user for c in live_claims(s)}
        assert held == {**dict.fromkeys(alice, "alice"), **dict.fromkeys(bob, "bob")}
        assert [c.track_id for c in live_claims(s, user="alice")] == sorted(alice)
    lib.close()


def test_the_unique_track_refuses_a_second_holder(db_location: str) -> None:
    ordered, _ = _flagged_library(db_location, 3)
    lib = open_library(db_location)
    claim_tracks(lib, "alice", 1)
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(IntegrityError), lib.session() as s:
        s.add(ReviewClaim(track_id=ordered[0], claimed_by="bob", claimed_at=now,
                          expires_at=now + LATER))  # fmt: skip
    lib.close()


def test_expired_claims_are_free_to_take(db_location: str) -> None:
    ordered, _ = _flagged_library(db_location, 6)
    lib = open_library(db_location)
    first = claim_tracks(lib, "alice", 2, hours=2)
    later = dt.datetime.now(dt.UTC) + LATER
    with lib.session() as s:
        assert live_claims(s, now=later) == []
    assert claim_tracks(lib, "bob", 2, now=later) == first == ordered[:2]
    with lib.session() as s:
        assert {c.user for c in live_claims(s, now=later)} == {"bob"}
        assert s.scalar(select(func.count()).select_from(ReviewClaim)) == 2  # alice's are gone
    with pytest.raises(ConfigError):
        claim_tracks(lib, "bob", 2, hours=0)
    lib.close()


def test_release_and_reviewed_mark_give_tracks_back(db_location: str) -> None:
    ordered, flagged = _flagged_library(db_location, 9)
    lib = open_library(db_location)
    mine = claim_tracks(lib, "alice", 4)
    decide(lib, mine[0], "genre", "Rock", "accept", user="alice")
    with lib.session() as s:  # a label decision keeps the claim: alice is still on it
        assert mine[0] in {c.track_id for c in live_claims(s)}
    mark_reviewed(lib, mine[0], "genre", user="alice")
    assert release(lib, "bob") == 0  # bob holds nothing; alice's claims stay
    assert release(lib, "alice", [mine[1]]) == 1
    with lib.session() as s:
        assert sorted(c.track_id for c in live_claims(s)) == sorted(mine[2:])
        users = set(s.scalars(select(ReviewDecision.decided_by)))
        assert users == {"alice"}
    # the reviewed track is no longer waiting; the released one is free again
    bob = claim_tracks(lib, "bob", 10)
    assert mine[1] in bob and mine[0] not in bob
    assert release(lib, "alice") == 2
    lib.close()


def _claim_at_once(db: str, claimers: int, batch: int) -> dict[str, list[int]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(claimers)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=claim_until_empty, args=(db, f"user{i}", batch, barrier, out))
        for i in range(claimers)
    ]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=240) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * claimers
    return results


def test_many_processes_claiming_at_once_never_share_a_track(db_location: str) -> None:
    _, flagged = _flagged_library(db_location, 150)
    results = _claim_at_once(db_location, claimers=5, batch=4)
    handed = [tid for ids in results.values() for tid in ids]
    assert len(handed) == len(set(handed)), "a track was handed to two librarians"
    assert set(handed) == flagged
    lib = open_library(db_location)
    with lib.session() as s:
        held = {(c.user, c.track_id) for c in live_claims(s)}
    assert held == {(user, tid) for user, ids in results.items() for tid in ids}
    lib.close()


def test_hold_batch_tops_up_without_piling_up(db_location: str) -> None:
    ordered, _ = _flagged_library(db_location, 15)
    lib = open_library(db_location)
    first = hold_batch(lib, "alice", 3, task="genre")
    assert first == ordered[:3]
    assert sorted(hold_batch(lib, "alice", 3, task="genre")) == sorted(first)  # nothing more
    mark_reviewed(lib, first[0], "genre", user="alice")  # one done: one more claimed
    again = hold_batch(lib, "alice", 3, task="genre")
    assert sorted(again) == sorted(first[1:] + [ordered[3]])
    lib.close()


def test_sqlite_claim_takes_the_write_lock_before_reading(tmp_path) -> None:
    """BEGIN IMMEDIATE: while one claim reads its candidates, no other writer can start."""
    import sqlite3

    from tagger_core.db.dialect import begin_immediate

    db = tmp_path / "library.db"
    lib = open_library(db)
    other = sqlite3.connect(db, timeout=0, isolation_level=None)
    with lib.session() as s:
        begin_immediate(s)
        s.execute(select(func.count()).select_from(Track))  # only a read so far
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")  # free again once the claim's transaction ended
    other.execute("ROLLBACK")
    other.close()
    lib.close()
