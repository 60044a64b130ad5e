"""Protecting an SQLite library: integrity checks, atomic backups, restore.

A library holds months of review decisions, so it is never changed blind:
every migration of a library with data is preceded by a verified backup beside
it (``library.db.bak-<revision>-<UTC time>``, the newest few kept), a damaged
file is reported with the way back (the newest backup, or a rescan), and a
restore keeps the file it replaces.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from contextlib import closing
from pathlib import Path

from tagger_core.errors import ConfigError

KEEP_MIGRATION_BACKUPS = 3
_BACKUP_TAG = ".bak-"


def sqlite_problems(path: Path, *, quick: bool = False) -> list[str]:
    """What ``PRAGMA integrity_check`` (or the faster ``quick_check``) finds; [] when sound."""
    pragma = "quick_check(20)" if quick else "integrity_check(100)"
    try:
        with closing(sqlite3.connect(path, timeout=10)) as conn:
            rows = conn.execute(f"PRAGMA {pragma}").fetchall()
    except sqlite3.DatabaseError as err:
        return [str(err) or type(err).__name__]
    return [str(r[0]) for r in rows if r[0] != "ok"]


def migration_backups(db_path: Path) -> list[Path]:
    """Backups beside ``db_path`` (automatic and ``db backup`` ones there), oldest first."""
    found = [p for p in db_path.parent.glob(f"{db_path.name}{_BACKUP_TAG}*") if p.is_file()]
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))


def latest_backup(db_path: Path) -> Path | None:
    backups = migration_backups(db_path)
    return backups[-1] if backups else None


def recovery_hint(db_path: Path) -> str:
    """The way back from a damaged library, naming its newest backup when there is one."""
    backup = latest_backup(db_path)
    rebuild = "or move it aside and rescan your music folders to rebuild it"
    if backup is None:
        return f"no backup found beside it; restore one of yours with `music-tagger --db "\
            f"{db_path} db restore BACKUP`, {rebuild}"
    return f"restore the last backup with `music-tagger --db {db_path} db restore {backup}`, "\
        f"{rebuild}"


def damaged_message(db_path: Path, reason: str) -> str:
    return f"cannot open database {db_path}: it is damaged ({reason}); {recovery_hint(db_path)}"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup_sqlite(source: Path, dest: Path) -> None:
    """Copy a live library to ``dest`` with SQLite's online backup API, atomically.

    The copy is written beside ``dest``, made a single self-contained file
    (rollback journal, not WAL), verified with ``integrity_check`` and only then
    renamed into place, so ``dest`` is either the old file or a sound backup.
    """
    if not source.is_file():
        raise ConfigError(f"no database at {source}")
    tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    try:
        with closing(sqlite3.connect(source, timeout=30)) as src, closing(
            sqlite3.connect(tmp)
        ) as dst:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        problems = sqlite_problems(tmp)
        if problems:
            raise ConfigError(
                f"backup of {source} failed its integrity check ({problems[0]}); "
                "the database itself may be damaged: run `music-tagger db check`"
            )
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except sqlite3.DatabaseError as err:
        raise ConfigError(f"cannot back up {source}: {err}") from err
    except OSError as err:
        raise ConfigError(f"cannot write backup {dest}: {err.strerror or err}") from err
    finally:
        tmp.unlink(missing_ok=True)


def has_data(db_path: Path) -> bool:
    """True when any table of the library (not Alembic's own) holds a row."""
    with closing(sqlite3.connect(db_path, timeout=10)) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' "
                "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version'"
            )
        ]
        return any(
            conn.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone() is not None for t in tables
        )


def backup_before_migration(db_path: Path, revision: str) -> Path | None:
    """Back up a library with data before migrating it from ``revision``; keep the newest few.

    Returns the backup, or None for a library without data. A failed backup
    raises, so the migration does not run.
    """
    if not has_data(db_path):
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    dest = db_path.with_name(f"{db_path.name}{_BACKUP_TAG}{revision}-{stamp}")
    n = 1
    while dest.exists():
        dest = db_path.with_name(f"{db_path.name}{_BACKUP_TAG}{revision}-{stamp}-{n}")
        n += 1
    backup_sqlite(db_path, dest)
    automatic = [p for p in migration_backups(db_path) if _is_automatic(db_path, p)]
    for old in automatic[:-KEEP_MIGRATION_BACKUPS]:
        old.unlink(missing_ok=True)
    return dest


def _is_automatic(db_path: Path, backup: Path) -> bool:
    """Automatic backups are ``<name>.bak-<revision>-<YYYYmmddTHHMMSSZ>[-n]``."""
    rest = backup.name[len(db_path.name) + len(_BACKUP_TAG) :]
    parts = rest.split("-")
    return len(parts) >= 2 and len(parts[1]) == 16 and parts[1].endswith("Z")


def restore_sqlite(db_path: Path, backup: Path) -> Path | None:
    """Replace the library with a verified copy of ``backup``; returns where the old file went.

    The replaced database (with its WAL) is renamed to ``<name>.replaced-<time>``,
    never deleted: a restore can itself be undone.
    """
    if not backup.is_file():
        raise ConfigError(f"backup not found: {backup}")
    problems = sqlite_problems(backup)
    if problems:
        raise ConfigError(f"backup {backup} is damaged too ({problems[0]}); choose another")
    staged = db_path.with_name(f".{db_path.name}.restoring-{os.getpid()}")
    backup_sqlite(backup, staged)
    aside: Path | None = None
    try:
        if db_path.exists():
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            aside = db_path.with_name(f"{db_path.name}.replaced-{stamp}")
            os.replace(db_path, aside)
            for suffix in ("-wal", "-shm"):
                side = db_path.with_name(db_path.name + suffix)
                if side.exists():
                    os.replace(side, aside.with_name(aside.name + suffix))
        os.replace(staged, db_path)
        _fsync_dir(db_path.parent)
    except OSError as err:
        raise ConfigError(f"cannot restore {db_path}: {err.strerror or err}") from err
    finally:
        staged.unlink(missing_ok=True)
    return aside
