"""Database safety: ``db check``/``backup``/``restore``, backups before migrations, damage."""

from __future__ import annotations

import os
import random
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from tagger_core.cli import main
from tagger_core.db import open_library
from tagger_core.db.library import make_engine
from tagger_core.db.migrate import alembic_config, current_revision, head_revision, upgrade
from tagger_core.db.models import Analysis, Track
from tagger_core.db.safety import (
    KEEP_MIGRATION_BACKUPS,
    backup_before_migration,
    migration_backups,
    sqlite_problems,
)
from tagger_core.errors import ConfigError


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _fill(db: Path | str, n: int) -> None:
    """A library with ``n`` tracks, each with an analysis blob: many pages on disk."""
    lib = open_library(db)
    with lib.session() as s:
        for i in range(n):
            track = Track(path=f"/music/{i:05d}.flac".encode(), path_text=f"/music/{i:05d}.flac",
                          size=1000 + i, mtime_ns=i, title=f"Track {i} " + "x" * 200)  # fmt: skip
            s.add(track)
            s.flush()
            s.add(Analysis(track_id=track.id, bundle_id="g", bundle_version="1",
                           member_logits=os.urandom(600)))  # fmt: skip
    lib.close()


def _count(db: Path | str, model=Track) -> int:  # type: ignore[no-untyped-def]
    lib = open_library(db)
    with lib.session() as s:
        n = int(s.scalar(select(func.count()).select_from(model)) or 0)
    lib.close()
    return n


def _make_orphan(db_location: str) -> None:
    """An analysis of a track that does not exist, written past the foreign key."""
    insert = (
        "INSERT INTO analyses (track_id, bundle_id, bundle_version, status, members, n_patches,"
        " seconds_analysed, created_at) VALUES (999, 'g', '2', 'ok', '[]', 0, 0, '2026-01-01')"
    )
    if "://" not in db_location:
        with closing(sqlite3.connect(db_location)) as conn:  # foreign keys are off by default
            conn.execute(insert)
            conn.commit()
        return
    lib = open_library(db_location)
    with lib.engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))  # skips FK triggers
        conn.execute(text(insert))
    lib.close()


def test_check_passes_a_sound_library_and_finds_orphans(db_location: str, capsys) -> None:
    _fill(db_location, 5)
    code, out, _ = run(capsys, "--db", db_location, "db", "check")
    assert code == 0 and out.startswith("database ok: ") and "orphaned rows: no problems" in out
    _make_orphan(db_location)
    code, out, _ = run(capsys, "--db", db_location, "db", "check")
    assert code == 1
    assert "problem: orphaned rows: 1 in analyses.track_id (no matching tracks.id)" in out
    if "://" not in db_location:
        assert "problem: foreign_key_check: 1 rows in analyses refer to missing tracks rows" in out


def test_backup_and_restore_round_trip(tmp_path: Path, capsys) -> None:
    db = tmp_path / "lib.db"
    _fill(db, 40)
    backup = tmp_path / "saved" / "lib-backup.db"
    backup.parent.mkdir()
    with closing(sqlite3.connect(db)) as writer:  # a writer mid-transaction during the backup
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM analyses")
        code, out, _ = run(capsys, "--db", str(db), "db", "backup", str(backup))
        writer.rollback()
    assert code == 0 and out.strip() == f"backed up {db} to {backup} (integrity_check ok)"
    assert sqlite_problems(backup) == [] and not Path(f"{backup}-wal").exists()
    assert sorted(p.name for p in backup.parent.iterdir()) == ["lib-backup.db"]  # no temp left
    assert _count(backup) == 40 and _count(backup, Analysis) == 40  # committed state only
    lib = open_library(db)
    with lib.session() as s:
        s.execute(Track.__table__.delete().where(Track.id > 10))
    lib.close()
    assert _count(db) == 10
    code, out, _ = run(capsys, "--db", str(db), "db", "restore", str(backup))
    assert code == 0
    assert out.startswith(f"restored {db} from {backup}; the replaced file is kept as ")
    assert _count(db) == 40
    replaced = Path(out.strip().rsplit(" ", 1)[-1])
    assert replaced.parent == tmp_path and _count(replaced) == 10


def test_damaged_library_names_its_last_backup_and_restore_recovers(
    tmp_path: Path, capsys
) -> None:
    db = tmp_path / "lib.db"
    _fill(db, 300)
    backup = tmp_path / "lib.db.bak-weekly"  # backups named <library>.bak-* beside it are found
    assert run(capsys, "--db", str(db), "db", "backup", str(backup))[0] == 0
    size = db.stat().st_size
    assert size > 100 * 4096
    with open(db, "r+b") as fh:  # overwrite pages in the middle of the file
        fh.seek((size // 2) // 4096 * 4096)
        fh.write(random.Random(0).randbytes(8 * 4096))
    with pytest.raises(ConfigError) as info:
        open_library(db)
    message = str(info.value)
    assert message.startswith(f"cannot open database {db}: it is damaged (")
    assert f"db restore {backup}`" in message and "rescan your music folders" in message
    code, _, err = run(capsys, "--db", str(db), "status")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("music-tagger: error: cannot open database") and str(backup) in err
    code, out, _ = run(capsys, "--db", str(db), "db", "check")
    assert code == 1 and "problem: integrity_check: " in out and f"db restore {backup}" in out
    code, out, _ = run(capsys, "--db", str(db), "db", "restore", str(backup))
    assert code == 0
    lib = open_library(db)
    assert current_revision(lib.engine) == head_revision()
    lib.close()
    assert _count(db) == 300


def test_newer_version_library_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    db = tmp_path / "lib.db"
    _fill(db, 3)
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00d'")
        conn.commit()
    before = db.read_bytes()
    code, _, err = run(capsys, "--db", str(db), "status")
    assert code == 2 and err.count("\n") == 1
    assert "schema revision f00d is newer than this version of Music Archive Tagger" in err
    assert "left unchanged" in err and db.read_bytes() == before
    assert not migration_backups(db)  # nothing was migrated, so nothing was backed up
    code, out, _ = run(capsys, "--db", str(db), "db", "check")
    assert code == 1 and "schema revision f00d is newer" in out


def _previous_revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    return [r.revision for r in reversed(list(script.walk_revisions())) if r.revision != head]


@pytest.mark.parametrize("revision", _previous_revisions())
def test_migrating_a_library_with_data_leaves_a_backup_that_opens(
    tmp_path: Path, revision: str
) -> None:
    db = tmp_path / "lib.db"
    engine = make_engine(db)
    upgrade(engine, revision)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO tracks (path, path_text, size, mtime_ns, status, first_seen, last_seen,"
            " genres, raw_tags, title) VALUES (x'2f612e666c6163', '/a.flac', 1, 1, 'ok',"
            " '2026-01-01', '2026-01-01', '[]', '{}', 'Old')"
        ))  # fmt: skip
    engine.dispose()
    lib = open_library(db)
    assert current_revision(lib.engine) == head_revision()
    lib.close()
    (backup,) = migration_backups(db)
    assert backup.name.startswith(f"lib.db.bak-{revision}-") and backup.name.endswith("Z")
    assert sqlite_problems(backup) == []
    old = open_library(backup, migrate=False)
    assert current_revision(old.engine) == revision
    with old.engine.connect() as conn:
        assert conn.execute(text("SELECT title FROM tracks")).scalar() == "Old"
    old.close()


def test_empty_library_is_migrated_without_a_backup(tmp_path: Path) -> None:
    db = tmp_path / "lib.db"
    engine = make_engine(db)
    upgrade(engine, _previous_revisions()[0])
    engine.dispose()
    open_library(db).close()
    assert migration_backups(db) == []


def test_only_the_newest_automatic_backups_are_kept(tmp_path: Path) -> None:
    db = tmp_path / "lib.db"
    _fill(db, 2)
    mine = tmp_path / "lib.db.bak-mine"
    mine.write_bytes(db.read_bytes())
    made = [backup_before_migration(db, head_revision()) for _ in range(KEEP_MIGRATION_BACKUPS + 2)]
    kept = [p for p in migration_backups(db) if p != mine]
    assert kept == made[-KEEP_MIGRATION_BACKUPS:]
    assert mine.exists()  # a backup the user made is never pruned


@pytest.mark.postgres
def test_backup_and_restore_on_postgresql_print_the_server_tools(pg_url: str, capsys) -> None:
    url = pg_url.replace("postgres@", "postgres:pw@")
    code, out, _ = run(capsys, "--db", url, "db", "backup", "/tmp/lib.dump")
    assert code == 1 and "pg_dump --format=custom --file /tmp/lib.dump postgresql://" in out
    assert "postgresql://postgres@127.0.0.1:" in out and "pw" not in out.split("run:")[1]
    code, out, _ = run(capsys, "--db", url, "db", "restore", "/tmp/lib.dump")
    assert code == 1 and "pg_restore --clean --if-exists --dbname postgresql://" in out
