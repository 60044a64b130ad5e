"""Has anything been committed to the library since the last look? (cheap enough to poll)

A window that stays open all day must show what other programs write: a
colleague's review decisions, a scheduled analysis, a rescan. Each backend has
a counter that moves on every commit, by any program, and costs one tiny query:

- SQLite: ``PRAGMA data_version`` on one connection kept for the purpose (it
  changes when any *other* connection commits, in this process or another);
- PostgreSQL: the next transaction id (``pg_snapshot_xmax``), which moves when
  any transaction that writes starts. Read-only transactions (this poll
  included) take none, so a quiet library reads as unchanged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tagger_core.db.library import Library

_PG_NEXT_XID = text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")


class ChangeWatch:
    """Answers :meth:`changed` by comparing the backend's commit counter with the last look."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self._conn: Any = None  # SQLite: the connection whose data_version is read
        self._last = self._stamp()

    def _stamp(self) -> str:
        if self.library.dialect == "sqlite":
            if self._conn is None:
                self._conn = self.library.engine.raw_connection()
            cur = self._conn.cursor()
            try:
                return str(cur.execute("PRAGMA data_version").fetchone()[0])
            finally:
                cur.close()
        with self.library.engine.connect() as conn:
            return str(conn.execute(_PG_NEXT_XID).scalar())

    def changed(self) -> bool:
        """True once after each look at which something new had been committed."""
        stamp = self._stamp()
        if stamp == self._last:
            return False
        self._last = stamp
        return True

    def close(self) -> None:
        """Give the SQLite connection back to the pool (it stays open there)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
