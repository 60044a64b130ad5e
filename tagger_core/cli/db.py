"""``music-tagger db check|backup|restore``: keep the library database safe.

Each action prints one line per result and exits 1 when something is wrong, so
they fit in cron jobs and scripts.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from tagger_core.db.location import Location, resolve
from tagger_core.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser("db", help="check, back up or restore the library database")
    actions = p.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    a = actions.add_parser("check", help="integrity, foreign keys and orphaned rows")
    a.set_defaults(func=cmd_check)
    a = actions.add_parser("backup", help="copy the live library to FILE (SQLite online backup)")
    a.add_argument("file", type=Path, help="where to write the backup")
    a.set_defaults(func=cmd_backup)
    a = actions.add_parser(
        "restore", help="replace the library with BACKUP (the replaced file is kept)"
    )
    a.add_argument("backup", type=Path, help="a backup made by `db backup` or before a migration")
    a.set_defaults(func=cmd_restore)


def _libpq_url(location: Location) -> str:
    """The URL in the form pg_dump/psql take: no SQLAlchemy driver, no password.

    The password comes from ``~/.pgpass`` or ``$PGPASSWORD``, never a shell history.
    """
    assert location.url is not None
    url = location.url
    return URL.create(
        "postgresql", url.username, None, url.host, url.port, url.database, url.query
    ).render_as_string()


def cmd_check(args: argparse.Namespace) -> int:
    from tagger_core.db.check import check_database
    from tagger_core.db.library import engine_for
    from tagger_core.db.safety import recovery_hint

    location = resolve(args.db)
    engine = engine_for(location)
    try:
        report = check_database(location, engine)
    finally:
        engine.dispose()
    for note in report.notes:
        print(f"note: {note}")
    checked = ", ".join(report.checks)
    if report.ok:
        print(f"database ok: {location.display} ({checked}: no problems)")
        return 0
    for line in report.problems:
        print(f"problem: {line}")
    print(f"database {location.display}: {len(report.problems)} problem(s) ({checked})")
    if location.path is not None:
        print(f"to recover: {recovery_hint(location.path)}")
    return 1


def cmd_backup(args: argparse.Namespace) -> int:
    from tagger_core.db.safety import backup_sqlite

    location = resolve(args.db)
    dest: Path = args.file.expanduser()
    if location.path is None:
        print(
            "PostgreSQL libraries are backed up on the server side; run: pg_dump --format=custom "
            f"--file {shlex.quote(str(dest))} {shlex.quote(_libpq_url(location))}"
        )
        return 1
    if dest.is_dir():
        raise ConfigError(f"{dest} is a folder; name the backup file")
    if dest.resolve() == location.path.resolve():
        raise ConfigError("the backup file must not be the library itself")
    backup_sqlite(location.path, dest)
    print(f"backed up {location.path} to {dest} (integrity_check ok)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from tagger_core.db.library import open_library
    from tagger_core.db.safety import restore_sqlite

    location = resolve(args.db)
    backup: Path = args.backup.expanduser()
    if location.path is None:
        print(
            "PostgreSQL libraries are restored on the server side; run: pg_restore --clean "
            f"--if-exists --dbname {shlex.quote(_libpq_url(location))} {shlex.quote(str(backup))}"
        )
        return 1
    aside = restore_sqlite(location.path, backup)
    open_library(location.path).close()  # brings an older backup up to this version's schema
    kept = f"; the replaced file is kept as {aside}" if aside else ""
    print(f"restored {location.path} from {backup}{kept}")
    return 0
