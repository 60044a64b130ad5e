"""Opening the library database: location, SQLite pragmas, automatic migration."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from platformdirs import user_data_path
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tagger_core.errors import ConfigError

APP_NAME = "music-archive-tagger"
DB_ENV = "MUSIC_TAGGER_DB"


def default_db_path() -> Path:
    """``$MUSIC_TAGGER_DB`` if set, else ``library.db`` in the platform's user data dir."""
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env).expanduser()
    return user_data_path(APP_NAME, appauthor=False) / "library.db"


def _set_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class Library:
    """An open library database: an engine plus a session factory."""

    def __init__(self, path: Path, engine: Engine) -> None:
        self.path = path
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def files(self) -> list[Path]:
        """The database and SQLite's journal, WAL and shared-memory files beside it."""
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


def open_library(path: Path | str | None = None, *, migrate: bool = True) -> Library:
    """Open (creating if needed) the database at ``path`` and bring its schema up to date."""
    db_path = Path(path).expanduser() if path else default_db_path()
    if db_path.exists() and db_path.is_dir():
        raise ConfigError(f"database path {db_path} is a directory, not a file")
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"cannot create the folder for database {db_path}: {err.strerror}"
        ) from err
    engine = make_engine(db_path)
    try:
        if migrate:
            from tagger_core.db.migrate import upgrade

            upgrade(engine)
        else:
            with engine.connect():
                pass
    except (DatabaseError, OperationalError) as err:
        engine.dispose()
        reason = str(getattr(err, "orig", err)) or type(err).__name__
        raise ConfigError(f"cannot open database {db_path}: {reason}") from err
    return Library(db_path, engine)
