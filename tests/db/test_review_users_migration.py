"""Migration 0005 (who decided, review claims) on both backends, with data from 0004."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import inspect, select

from tagger_core.db import open_library
from tagger_core.db.library import engine_for
from tagger_core.db.location import resolve
from tagger_core.db.migrate import alembic_config, current_revision, upgrade
from tagger_core.db.models import Prediction, ReviewDecision, Track
from tagger_core.trust.claims import claim_tracks
from tagger_core.trust.review import decide
from tagger_core.trust.review_conflicts import UNKNOWN_USER, review_conflicts

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_0004_library_upgrades_keeps_decisions_and_takes_claims(db_location: str) -> None:
    engine = engine_for(resolve(db_location))
    upgrade(engine, "0004")
    with engine.begin() as conn:
        conn.execute(
            Track.__table__.insert(),
            {"id": 1, "path": b"/m/old.flac", "path_text": "/m/old.flac", "size": 1,
             "mtime_ns": 1, "status": "ok", "first_seen": T0, "last_seen": T0, "genres": [],
             "raw_tags": {}},
        )  # fmt: skip
        conn.execute(
            Prediction.__table__.insert(),
            {"track_id": 1, "bundle_id": "genre", "confidences": {"Rock": 0.6}, "spread": {},
             "flagged": True, "flag_reasons": [], "uncertainty": 0.8, "updated_at": T0},
        )  # fmt: skip
        conn.execute(
            ReviewDecision.__table__.insert().values(
                track_id=1, task="genre", label="Rock", action="accept", created_at=T0
            )
        )
    assert "review_claims" not in inspect(engine).get_table_names()
    engine.dispose()

    lib = open_library(db_location)
    assert current_revision(lib.engine) == "0005"
    with lib.session() as s:
        old = s.scalars(select(ReviewDecision)).one()
        assert (old.label, old.action, old.decided_by) == ("Rock", "accept", None)
    assert claim_tracks(lib, "alice", 5) == [1]
    decide(lib, 1, "genre", "Rock", "reject", user="alice")
    with lib.session() as s:
        (c,) = review_conflicts(s)
    assert (c.winner, c.overruled) == ("alice", UNKNOWN_USER)
    lib.close()

    engine = engine_for(resolve(db_location))
    cfg = alembic_config()
    with engine.begin() as conn:  # and back: 0004 has neither the column nor the table
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    names = inspect(engine).get_table_names()
    columns = {c["name"] for c in inspect(engine).get_columns("review_decisions")}
    assert "review_claims" not in names and "decided_by" not in columns
    engine.dispose()
