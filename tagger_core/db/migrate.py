"""Alembic migrations shipped in the package, applied automatically on open.

Opening a database that is already at the newest revision is the common case (every
command, every start of the window), so it is answered without importing alembic, which
costs about a tenth of a second: the head is read from the migration scripts' own
``revision``/``down_revision`` lines and the database's from ``alembic_version``.
Alembic itself is imported only to migrate.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_REVISION_LINE = re.compile(
    r"^(down_)?revision\s*(?::[^=\n]*)?=\s*(?:None|[\"']([^\"']+)[\"'])", re.MULTILINE
)


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    """The newest migration revision this version of the code knows."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in MIGRATIONS_DIR.glob("versions/*.py"):
        for down, revision in _REVISION_LINE.findall(script.read_text(encoding="utf-8")):
            if revision:
                (parents if down else revisions).add(revision)
    heads = revisions - parents
    if len(heads) == 1:
        return heads.pop()
    # Anything unusual (merge revisions, several heads): ask alembic.
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for a new, empty database)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (no-op when already there)."""
    if revision == "head" and current_revision(engine) == head_revision():
        return
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
