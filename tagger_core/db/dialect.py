"""The few SQL constructs that SQLite and PostgreSQL spell differently.

Code outside ``tagger_core.db`` stays dialect-free by using these: an upsert
(``INSERT … ON CONFLICT DO UPDATE`` exists in both, under each dialect's own
``insert``) and case-insensitive ordering (SQLite's ``NOCASE`` collation does
not exist on PostgreSQL, ``lower()`` orders the same way for sorting names), and
taking the write lock at the start of a transaction (SQLite's ``BEGIN IMMEDIATE``;
PostgreSQL locks rows instead, with ``FOR UPDATE SKIP LOCKED``, which SQLite's
compiler leaves out).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement


def upsert(session: Session, model: Any) -> Any:
    """``insert(model)`` of the session's dialect, with ``on_conflict_do_update``."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


class nocase(FunctionElement[str]):  # noqa: N801 - used like a SQL function
    """Case-insensitive sort key: ``x COLLATE NOCASE`` on SQLite, ``lower(x)`` elsewhere."""

    type = Text()
    inherit_cache = True


@compiles(nocase)
def _nocase_default(element: nocase, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(nocase, "sqlite")
def _nocase_sqlite(element: nocase, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)}) COLLATE NOCASE"


def begin_immediate(session: Session) -> None:
    """On SQLite, take the write lock now: the transaction's reads then see no other writer.

    Call first in a fresh transaction, and make its first statement a write. Two
    processes doing read-then-insert (such as claiming review tracks) are serialised
    this way: the second waits (busy timeout) instead of reading what the first is
    about to take. PostgreSQL needs no such lock here; its callers lock the rows they
    read with ``FOR UPDATE SKIP LOCKED``.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    conn = session.connection()
    # An engine that emits its own BEGIN has a transaction open already; there the
    # caller's first statement being a write (as it is for claims) takes the lock.
    if not getattr(conn.connection.dbapi_connection, "in_transaction", False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
