"""Alembic migrations shipped in the package, applied automatically on open.

Opening a database that is already at the newest revision is the common case (every
command, every start of the window), so it is answered without importing alembic, which
costs about a tenth of a second: the known revisions are read from the migration
scripts' own ``revision``/``down_revision`` lines and the database's from
``alembic_version``. Alembic itself is imported only to migrate.

On PostgreSQL several processes may open a new shared library at once, so the
migration runs in one transaction under an advisory lock: the first process
migrates, the others wait and then find the schema at head. A database whose
revision this code does not know was written by a newer version: it is refused,
never downgraded or reset.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from tagger_core.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_REVISION_LINE = re.compile(
    r"^(down_)?revision\s*(?::[^=\n]*)?=\s*(?:None|[\"']([^\"']+)[\"'])", re.MULTILINE
)
# pg_advisory_xact_lock key shared by every process that migrates a library ("music").
MIGRATION_LOCK_KEY = 0x6D75736963


class NewerSchemaError(ConfigError):
    """The database was migrated by a newer version of the app than this one."""

    def __init__(self, revision: str) -> None:
        super().__init__(
            f"schema revision {revision} is newer than this version of Music Archive Tagger "
            f"knows (up to {head_revision()}); install the newer version to use this library "
            "(it was left unchanged)"
        )
        self.revision = revision


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


@cache
def _revision_graph() -> tuple[frozenset[str], frozenset[str]]:
    """(revisions, revisions that are some script's parent) of the shipped scripts."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in MIGRATIONS_DIR.glob("versions/*.py"):
        for down, revision in _REVISION_LINE.findall(script.read_text(encoding="utf-8")):
            if revision:
                (parents if down else revisions).add(revision)
    return frozenset(revisions), frozenset(parents)


def head_revision() -> str:
    """The newest migration revision this version of the code knows."""
    revisions, parents = _revision_graph()
    heads = revisions - parents
    if len(heads) == 1:
        return next(iter(heads))
    # Anything unusual (merge revisions, several heads): ask alembic.
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def is_known_revision(revision: str) -> bool:
    return revision in _revision_graph()[0]


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for a new, empty database)."""
    with engine.connect() as conn:
        return _revision(conn)


def ensure_not_newer(revision: str | None) -> None:
    """Raise :class:`NewerSchemaError` for a revision this code has no migration for."""
    if revision is not None and not is_known_revision(revision):
        raise NewerSchemaError(revision)


def upgrade(
    engine: Engine,
    revision: str = "head",
    *,
    before_migration: Callable[[str], None] | None = None,
) -> None:
    """Upgrade the database to ``revision`` (no-op when already there).

    ``before_migration(current)`` runs before an existing database (one with a
    revision) is changed: the automatic backup of SQLite libraries (PostgreSQL
    libraries are backed up with ``pg_dump`` by their administrator).
    """
    head = head_revision()
    current = current_revision(engine)
    ensure_not_newer(current)
    if revision == "head" and current == head:
        return
    if current is not None and before_migration is not None:
        before_migration(current)
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            current = _revision(conn)  # another process may have migrated while we waited
            ensure_not_newer(current)
            if revision == "head" and current == head:
                return
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
