"""The library database on both backends: SQLite files and a real PostgreSQL server.

Every test taking ``db_location`` runs twice (``[sqlite]``, ``[postgresql]``);
the PostgreSQL runs use the throw-away cluster from ``tests/db/pg_server.py``.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, inspect, select, text

from tagger_core.db import open_library
from tagger_core.db.blob_codec import pack, unpack
from tagger_core.db.library import engine_for
from tagger_core.db.location import resolve
from tagger_core.db.migrate import current_revision, head_revision, upgrade
from tagger_core.db.models import Analysis, ReviewDecision, Setting, Track
from tagger_core.errors import ConfigError
from tagger_core.library.scan import path_text

ODD_PATHS = [
    b"/music/caf\xe9/latin-1 name.flac",  # not UTF-8
    b"/music/\xff\xfe\x80/bytes.mp3",
    "/music/日本語/曲.ogg".encode(),
    b"/music/new\nline/-dash.wav",
]


def _track(raw: bytes, **extra) -> Track:
    values = {"size": 1, "mtime_ns": 1, **extra}
    return Track(path=raw, path_text=path_text(os.fsdecode(raw)), **values)


def test_new_library_is_at_head_with_every_table(db_location: str) -> None:
    lib = open_library(db_location)
    assert current_revision(lib.engine) == head_revision()
    assert {"tracks", "library_roots", "analyses", "predictions", "review_decisions",
            "export_items", "settings"} <= set(inspect(lib.engine).get_table_names())  # fmt: skip
    lib.close()
    again = open_library(db_location)  # reopening a library at head changes nothing
    assert current_revision(again.engine) == head_revision()
    again.close()


def test_blobs_are_binary_columns(db_location: str) -> None:
    lib = open_library(db_location)
    columns = {c["name"]: c["type"] for c in inspect(lib.engine).get_columns("analyses")}
    expected = "BYTEA" if lib.dialect == "postgresql" else "BLOB"
    assert str(columns["member_logits"]) == expected and str(columns["embedding"]) == expected
    sizes = {c["name"]: str(c["type"]) for c in inspect(lib.engine).get_columns("tracks")}
    assert sizes["size"] == sizes["mtime_ns"] == "BIGINT"
    lib.close()


def test_previous_version_upgrades_and_keeps_data(db_location: str) -> None:
    engine = engine_for(resolve(db_location))
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            Track.__table__.insert(),
            {"path": b"/music/x.flac", "path_text": "x.flac", "size": 10, "mtime_ns": 5,
             "status": "ok", "first_seen": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
             "last_seen": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "genres": ["Jazz"],
             "raw_tags": {}, "title": "Kept"},
        )  # fmt: skip
    engine.dispose()
    lib = open_library(db_location)
    assert current_revision(lib.engine) == head_revision()
    with lib.session() as s:
        track = s.scalars(select(Track)).one()
        assert (track.title, track.genres) == ("Kept", ["Jazz"])
        s.add(Analysis(track_id=track.id, bundle_id="g", bundle_version="1"))
    lib.close()


def test_paths_are_stored_losslessly(db_location: str) -> None:
    lib = open_library(db_location)
    with lib.session() as s:
        s.add_all(_track(raw) for raw in ODD_PATHS)
    with lib.session() as s:
        stored = {t.path: t.path_text for t in s.scalars(select(Track))}
        assert set(stored) == set(ODD_PATHS)
        assert stored[b"/music/caf\xe9/latin-1 name.flac"] == "/music/caf\ufffd/latin-1 name.flac"
        found = s.scalar(select(Track).where(Track.path == b"/music/\xff\xfe\x80/bytes.mp3"))
        assert found is not None and os.fsencode(os.fsdecode(found.path)) == found.path
    lib.close()


def test_orm_round_trip_of_every_kind_of_value(db_location: str) -> None:
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(3, 50)).astype(np.float32)
    logits[0, :3] = [np.nan, np.inf, -np.inf]
    embedding = rng.normal(size=(3, 300)).astype(np.float16)
    big = rng.integers(0, 256, 2_000_000, dtype=np.uint8).tobytes()  # NUL bytes and all
    when = dt.datetime(2026, 12, 4, 15, 30, 1, 123456, tzinfo=dt.UTC)
    lib = open_library(db_location)
    with lib.session() as s:
        track = _track(b"/m/a.flac", title="Ünïcødé ♫", genres=["Jazz", "Ambient"],
                       raw_tags={"TXXX:mood": ["calm", "😀"], "nested": {"n": 1.5}},
                       year=2003, mtime_ns=time.time_ns(), size=6 * 2**30)  # fmt: skip
        s.add(track)
        s.flush()
        s.add(Analysis(track_id=track.id, bundle_id="g", bundle_version="1",
                       member_logits=pack(logits), embedding=pack(embedding),
                       members=["a", "b", "c"], seconds_analysed=12.5,
                       created_at=when))  # fmt: skip
        s.add(Analysis(track_id=track.id, bundle_id="raw", bundle_version="1", embedding=big))
        s.add(ReviewDecision(track_id=track.id, task="genre", label="Jazz", action="accept"))
        s.add(Setting(key="review_policy", value={"accept": 0.8, "labels": ["a"]}))
        tid, mtime = track.id, track.mtime_ns
    with lib.session() as s:
        track = s.get(Track, tid)
        assert track.title == "Ünïcødé ♫" and track.genres == ["Jazz", "Ambient"]
        assert track.raw_tags == {"TXXX:mood": ["calm", "😀"], "nested": {"n": 1.5}}
        assert track.size == 6 * 2**30 and track.mtime_ns == mtime and track.year == 2003
        row = s.scalar(select(Analysis).where(Analysis.bundle_id == "g"))
        got = unpack(row.member_logits)
        assert got.dtype == np.float32 and np.array_equal(got, logits, equal_nan=True)
        assert np.array_equal(unpack(row.embedding), embedding)
        assert row.members == ["a", "b", "c"] and row.seconds_analysed == 12.5
        stamp = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.UTC)
        assert stamp == when
        raw = s.scalar(select(Analysis.embedding).where(Analysis.bundle_id == "raw"))
        assert raw == big
        assert s.get(Setting, "review_policy").value == {"accept": 0.8, "labels": ["a"]}
        assert s.scalar(select(func.count()).select_from(ReviewDecision)) == 1
        s.delete(track)  # cascades to its analyses and decisions on both backends
    with lib.session() as s:
        assert s.scalar(select(func.count()).select_from(Analysis)) == 0
        assert s.scalar(select(func.count()).select_from(ReviewDecision)) == 0
    lib.close()


def test_text_with_nul_is_stored(db_location: str) -> None:
    """A hostile tag with NUL: kept on SQLite, U+FFFD on PostgreSQL (its text cannot hold NUL)."""
    lib = open_library(db_location)
    with lib.session() as s:
        s.add(_track(b"/m/nul.mp3", title="a\x00b", raw_tags={"TIT2": ["a\x00b"]}))
    with lib.session() as s:
        track = s.scalars(select(Track)).one()
    expected = "a\ufffdb" if lib.dialect == "postgresql" else "a\x00b"
    assert track.title == expected and track.raw_tags == {"TIT2": ["a\x00b"]}
    lib.close()


def test_newer_schema_is_refused_and_left_alone(db_location: str) -> None:
    lib = open_library(db_location)
    with lib.session() as s:
        s.add(_track(b"/m/keep.flac"))
    with lib.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    lib.close()
    for migrate in (True, False):
        with pytest.raises(ConfigError, match="schema revision 9999 is newer than this version"):
            open_library(db_location, migrate=migrate)
    engine = engine_for(resolve(db_location))
    assert current_revision(engine) == "9999"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tracks")).scalar() == 1
    engine.dispose()


def _open_at_once(url: str, barrier) -> None:  # type: ignore[no-untyped-def]
    """Child process: wait for the others, open the library, exit 0 when it is at head."""
    barrier.wait(timeout=120)
    lib = open_library(url)
    at_head = current_revision(lib.engine) == head_revision()
    lib.close()
    sys.exit(0 if at_head else 1)


@pytest.mark.postgres
def test_processes_opening_a_new_shared_library_at_once_do_not_race(pg_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_open_at_once, args=(pg_url, barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    lib = open_library(pg_url)
    with lib.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    lib.close()


@pytest.mark.postgres
def test_pg_engine_settings(pg_url: str) -> None:
    lib = open_library(pg_url)
    assert lib.engine.pool._pre_ping is True
    assert lib.path == pg_url and lib.location.display == pg_url
    with lib.engine.connect() as conn:
        assert conn.execute(text("SHOW timezone")).scalar() == "UTC"
    lib.close()


def test_unreachable_server_is_one_clear_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a local port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://librarian:s3cret@127.0.0.1:{port}/archive"
    with pytest.raises(ConfigError) as info:
        open_library(url)
    message = str(info.value)
    assert message.startswith("cannot connect to database postgresql+psycopg://librarian:***@")
    assert "s3cret" not in message and "\n" not in message
    assert "refused" in message.lower()


def test_env_variable_may_be_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from tagger_core.db import default_db_path

    monkeypatch.setenv("MUSIC_TAGGER_DB", "postgresql://lib@db.example/archive")
    assert default_db_path() == "postgresql://lib@db.example/archive"
    location = resolve(None)
    assert location.path is None and location.url.drivername == "postgresql+psycopg"
    assert resolve("sqlite:////tmp/x.db").path == Path("/tmp/x.db")
    with pytest.raises(ConfigError, match="unsupported database 'mysql'"):
        resolve("mysql://u@h/db")


def test_missing_driver_is_one_clear_line(tmp_path: Path) -> None:
    """A Python without psycopg (blocked from import here) gets the install hint, not a trace."""
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from tagger_core.cli import main\n"
        "sys.exit(main(['--db', 'postgresql+psycopg://u@127.0.0.1:1/x', 'db', 'check']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "music-tagger: error: PostgreSQL support is not installed (driver psycopg 3): "
        "pip install 'music-archive-tagger[postgres]'"
    ]
