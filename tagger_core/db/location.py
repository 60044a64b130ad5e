"""Where the library lives: an SQLite file path or a PostgreSQL connection URL.

``--db`` and ``$MUSIC_TAGGER_DB`` take either. A value with a ``scheme://`` is a
URL; anything else is a file path, exactly as before PostgreSQL support existed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_path
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from tagger_core.errors import ConfigError

APP_NAME = "music-archive-tagger"
DB_ENV = "MUSIC_TAGGER_DB"
PG_DRIVER = "postgresql+psycopg"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_PG_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def is_database_url(value: str) -> bool:
    """True for ``scheme://…`` values; file paths (even odd ones) are never URLs."""
    return bool(_SCHEME.match(value))


def default_db_path() -> Path | str:
    """``$MUSIC_TAGGER_DB`` if set (a path or a URL), else ``library.db`` in the user data dir."""
    env = os.environ.get(DB_ENV)
    if env:
        return env if is_database_url(env) else Path(env).expanduser()
    return user_data_path(APP_NAME, appauthor=False) / "library.db"


@dataclass(frozen=True)
class Location:
    """A resolved database location: SQLite ``path`` or PostgreSQL ``url``."""

    path: Path | None = None
    url: URL | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.path is not None

    @property
    def value(self) -> Path | str:
        """What reopens the same database (handed to child processes as ``str``)."""
        if self.path is not None:
            return self.path
        assert self.url is not None
        return self.url.render_as_string(hide_password=False)

    @property
    def display(self) -> str:
        """For messages: the path, or the URL with any password masked."""
        if self.path is not None:
            return str(self.path)
        assert self.url is not None
        return self.url.render_as_string(hide_password=True)


def resolve(target: Path | str | None) -> Location:
    """Turn a ``--db`` value (or None for the default) into a :class:`Location`."""
    value = target if target else default_db_path()
    if isinstance(value, Path) or not is_database_url(value):
        return Location(path=Path(value).expanduser())
    try:
        url = make_url(value)
    except ArgumentError as err:
        raise ConfigError(f"not a valid database URL: {_masked(value)}") from err
    if url.drivername.startswith("sqlite"):
        if not url.database:
            raise ConfigError("an sqlite:/// URL needs a file path")
        return Location(path=Path(url.database).expanduser())
    if url.drivername not in _PG_SCHEMES:
        raise ConfigError(
            f"unsupported database {url.drivername!r}: use a file path (SQLite) or "
            f"{PG_DRIVER}://user@host/dbname (PostgreSQL)"
        )
    return Location(url=url.set(drivername=PG_DRIVER))


def _masked(value: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", value)
