from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from tagger_core.db import default_db_path, open_library
from tagger_core.db.library import make_engine
from tagger_core.db.migrate import current_revision, head_revision, upgrade
from tagger_core.errors import ConfigError


def test_new_database_is_at_head_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    lib = open_library(tmp_path / "new.db")
    assert current_revision(lib.engine) == head_revision()
    with lib.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10000
    tables = set(inspect(lib.engine).get_table_names())
    assert {"tracks", "library_roots", "analyses", "predictions", "review_decisions"} <= tables
    lib.close()


def test_previous_version_database_upgrades_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = make_engine(path)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tracks (path, path_text, size, mtime_ns, status, first_seen,"
                " last_seen, genres, raw_tags, title) VALUES (:p, 'x.flac', 10, 5, 'ok',"
                " '2026-01-01', '2026-01-01', '[\"Jazz\"]', '{}', 'Kept')"
            ),
            {"p": b"/music/x.flac"},
        )
    engine.dispose()
    lib = open_library(path)
    assert current_revision(lib.engine) == head_revision()
    with lib.engine.connect() as conn:
        row = conn.execute(text("SELECT title, genres FROM tracks")).one()
    assert row.title == "Kept" and row.genres == '["Jazz"]'
    assert "analyses" in inspect(lib.engine).get_table_names()
    lib.close()


def test_reopening_is_idempotent(tmp_path: Path) -> None:
    open_library(tmp_path / "a.db").close()
    lib = open_library(tmp_path / "a.db")
    assert current_revision(lib.engine) == head_revision()
    lib.close()


def test_env_variable_overrides_default_location(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MUSIC_TAGGER_DB", str(tmp_path / "env.db"))
    assert default_db_path() == tmp_path / "env.db"
    monkeypatch.delenv("MUSIC_TAGGER_DB")
    assert default_db_path().name == "library.db"


def test_directory_as_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        open_library(tmp_path)


def test_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(ConfigError, match="cannot open database"):
        open_library(path)
    assert path.read_bytes().startswith(b"this is not a database")


@pytest.fixture
def any_library(db_location: str):
    """The library on each backend: SQLite file, then the PostgreSQL test server."""
    lib = open_library(db_location)
    yield lib
    lib.close()


def test_foreign_keys_are_enforced(any_library) -> None:
    with pytest.raises(IntegrityError, match="(?i)foreign key"), any_library.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO analyses (track_id, bundle_id, bundle_version, status, members,"
            " n_patches, seconds_analysed, created_at)"
            " VALUES (999, 'g', '1', 'ok', '[]', 0, 0, CURRENT_TIMESTAMP)"
        )


def test_head_read_from_the_scripts_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from tagger_core.db.migrate import alembic_config

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()
