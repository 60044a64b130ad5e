"""Opening the library database: SQLite file or PostgreSQL server, checks, migration.

An SQLite library gets WAL, foreign keys and a busy timeout on every
connection, a quick integrity check when opened (skipped while the file is
provably the one that last passed it: ``integrity_stamp``) and a backup before
any migration. A PostgreSQL library gets ``pool_pre_ping`` (a shared server
restarts and drops idle connections) and a connect timeout. Every failure to
open is one line that says what to do, never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DatabaseError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tagger_core.db.integrity_stamp import quick_check_problems
from tagger_core.db.location import DB_ENV, Location, default_db_path, resolve
from tagger_core.db.retry import run_write
from tagger_core.db.safety import backup_before_migration, damaged_message, sqlite_problems
from tagger_core.errors import ConfigError

__all__ = ["DB_ENV", "Library", "default_db_path", "make_engine", "open_library"]

T = TypeVar("T")
PG_CONNECT_TIMEOUT_S = 10
#: How long one SQLite statement waits for another writer before the retry in ``retry`` takes over.
BUSY_TIMEOUT_MS = 10000
PG_MISSING_DRIVER = (
    "PostgreSQL support is not installed (driver psycopg 3): "
    "pip install 'music-archive-tagger[postgres]'"
)


def _set_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")  # first: switching to WAL may wait
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


@cache
def _nul_safe_dumpers() -> tuple[type, type]:
    """psycopg ``str`` dumpers (text and binary) that store NUL as U+FFFD."""
    from psycopg.types.string import StrBinaryDumper, StrDumperUnknown

    class NulSafeText(StrDumperUnknown):
        def dump(self, obj: str):  # type: ignore[no-untyped-def]
            return super().dump(obj.replace("\x00", "\ufffd"))

    class NulSafeBinary(StrBinaryDumper):
        def dump(self, obj: str):  # type: ignore[no-untyped-def]
            return super().dump(obj.replace("\x00", "\ufffd"))

    return NulSafeText, NulSafeBinary


def _adapt_text(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL text cannot hold NUL: a hostile tag with one would abort a whole scan.

    There it is stored as U+FFFD; SQLite keeps such text as it is.
    """
    for dumper in _nul_safe_dumpers():
        dbapi_conn.adapters.register_dumper(str, dumper)


class Library:
    """An open library database: an engine plus a session factory.

    ``path`` is what reopens the same library (a file path, or the server URL);
    ``location.display`` is the form for messages (no password).
    """

    def __init__(self, location: Location, engine: Engine) -> None:
        self.location = location
        self.path: Path | str = location.value
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def write(self, work: Callable[[Session], T], what: str) -> T:
        """Run the write transaction ``work(session)``, again while another writer is in the way.

        Every writer goes through here (see :mod:`tagger_core.db.retry`); ``what``
        names the write in the one-line message given if the library stays busy.
        """
        return run_write(self.session, work, what)

    def close(self) -> None:
        self.engine.dispose()

    def files(self) -> list[Path]:
        """The database and SQLite's journal, WAL and shared-memory files beside it.

        A library on a server has no files here.
        """
        if self.dialect != "sqlite":
            return []
        base = Path(os.path.abspath(self.path))
        return [base] + [base.with_name(base.name + s) for s in ("-journal", "-wal", "-shm")]

    def refuse_as_target(self, target: str | os.PathLike[str]) -> None:
        """Raise ConfigError when ``target`` is one of this library's own files.

        Writing a dump over the database or its WAL would destroy the library.
        """
        path = Path(os.path.abspath(target))
        for own in self.files():
            if path == own or (path.exists() and own.exists() and path.samefile(own)):
                raise ConfigError(
                    f"refusing to write to {path}: it is the library database "
                    "(or one of its SQLite files); choose another file"
                )


def make_engine(path: Path) -> Engine:
    """SQLite engine with WAL, foreign keys and a busy timeout on every connection."""
    engine = create_engine(f"sqlite:///{path}", future=True)
    event.listen(engine, "connect", _set_pragmas)
    return engine


def server_engine(url: URL) -> Engine:
    """PostgreSQL engine (psycopg 3); a clear error when the driver is not installed."""
    try:
        engine = create_engine(
            url,
            pool_pre_ping=True,
            connect_args={
                "connect_timeout": PG_CONNECT_TIMEOUT_S,
                "options": "-c timezone=UTC",  # timestamps come back in UTC, as on SQLite
            },
        )
    except (ImportError, NoSuchModuleError) as err:
        raise ConfigError(PG_MISSING_DRIVER) from err
    event.listen(engine, "connect", _adapt_text)
    return engine


def engine_for(location: Location) -> Engine:
    """An engine on ``location`` without checks or migration (``db check`` looks at damage)."""
    if location.path is not None:
        return make_engine(location.path)
    assert location.url is not None
    return server_engine(location.url)


def _one_line(err: BaseException) -> str:
    reason = str(getattr(err, "orig", err)) or type(err).__name__
    lines = [line.strip() for line in reason.splitlines() if line.strip()]
    return "; ".join(lines[:2])


def _prepare_sqlite(db_path: Path) -> None:
    if db_path.exists() and db_path.is_dir():
        raise ConfigError(f"database path {db_path} is a directory, not a file")
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"cannot create the folder for database {db_path}: {err.strerror}"
        ) from err
    if db_path.is_file() and db_path.stat().st_size > 0:
        problems = quick_check_problems(db_path)
        if problems:
            raise ConfigError(damaged_message(db_path, problems[0]))


def open_library(path: Path | str | None = None, *, migrate: bool = True) -> Library:
    """Open (creating if needed) the library at ``path`` and bring its schema up to date.

    ``path`` is an SQLite file path or a ``postgresql+psycopg://`` URL; None
    means ``$MUSIC_TAGGER_DB`` or the default file.
    """
    from tagger_core.db.migrate import current_revision, ensure_not_newer, upgrade

    location = resolve(path)
    if location.path is not None:
        _prepare_sqlite(location.path)
    engine = engine_for(location)
    try:
        if migrate:
            db_path = location.path
            upgrade(
                engine,
                before_migration=(
                    (lambda rev: backup_before_migration(db_path, rev)) if db_path else None
                ),
            )
        else:
            ensure_not_newer(current_revision(engine))
    except ConfigError as err:
        engine.dispose()
        raise ConfigError(f"cannot open database {location.display}: {err}") from err
    except (DatabaseError, OperationalError) as err:
        engine.dispose()
        if location.path is None:
            raise ConfigError(
                f"cannot connect to database {location.display}: {_one_line(err)}"
            ) from err
        reason = _one_line(err)
        if location.path.is_file() and sqlite_problems(location.path, quick=True):
            raise ConfigError(damaged_message(location.path, reason)) from err
        raise ConfigError(f"cannot open database {location.display}: {reason}") from err
    return Library(location, engine)
