"""Alembic migrations shipped in the package, applied automatically on open.

On PostgreSQL several processes may open a new shared library at once, so the
migration runs in one transaction under an advisory lock: the first process
migrates, the others wait and then find the schema at head. A database whose
revision this code does not know was written by a newer version: it is refused,
never downgraded or reset.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text

from tagger_core.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
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
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    """The newest migration revision this version of the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def is_known_revision(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def current_revision(engine: Engine) -> str | None:
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
