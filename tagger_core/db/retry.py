"""Write transactions that survive other programs writing to the same library.

The GUI, a scheduled ``analyze``, a colleague's ``review`` and an ``export``
may all write to one library at once. SQLite lets one writer in at a time
(the others wait up to the busy timeout, then fail with "database is
locked"); PostgreSQL may abort one of two transactions that collide
(serialization failure, deadlock). Both are transient: the same transaction
run again a moment later succeeds. Every writer therefore hands its
transaction to :func:`run_write` as a function of a session: it is rolled
back and run again after a jittered, growing pause, for at most
``MAX_WAIT_S``; then one clear :class:`DatabaseBusyError` says nothing was
changed. The function must only touch the database (and objects it creates),
so running it twice is the same as running it once.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tagger_core.errors import TaggerError

__all__ = ["MAX_WAIT_S", "DatabaseBusyError", "is_transient", "run_write"]

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_WAIT_S = 120.0  # total time a write keeps trying before it gives up
FIRST_PAUSE_S = 0.05
LONGEST_PAUSE_S = 2.0
#: PostgreSQL: serialization_failure, deadlock_detected.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})
#: SQLite: SQLITE_BUSY, SQLITE_LOCKED (primary result codes).
TRANSIENT_SQLITE_CODES = frozenset({5, 6})


class DatabaseBusyError(TaggerError):
    """Another program kept the library busy for longer than a write will wait."""


def is_transient(err: BaseException) -> bool:
    """True for errors that go away when the same transaction is run again."""
    orig = err.orig if isinstance(err, DBAPIError) else err
    if isinstance(orig, sqlite3.OperationalError):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in TRANSIENT_SQLITE_CODES
        text = str(orig)
        return "database is locked" in text or "database table is locked" in text
    return getattr(orig, "sqlstate", None) in TRANSIENT_SQLSTATES


def pauses(deadline: float) -> Iterator[float]:
    """Jittered pauses (uniform between half and all of a doubling cap) until ``deadline``."""
    cap = FIRST_PAUSE_S
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        yield min(left, random.uniform(cap / 2, cap))
        cap = min(cap * 2, LONGEST_PAUSE_S)


def run_write(
    sessions: Callable[[], AbstractContextManager[Session]],
    work: Callable[[Session], T],
    what: str,
    *,
    max_wait_s: float | None = None,
) -> T:
    """Run ``work(session)`` in one transaction of ``sessions()``; again while it is transient.

    ``what`` names the write for the log and for the final message
    ("recording a review decision"). Non-transient errors pass through at once.
    ``max_wait_s`` defaults to ``MAX_WAIT_S``.
    """
    started = time.monotonic()
    waits = pauses(started + (MAX_WAIT_S if max_wait_s is None else max_wait_s))
    attempt = 1
    while True:
        try:
            with sessions() as session:
                return work(session)
        except DBAPIError as err:
            if not is_transient(err):
                raise
            pause = next(waits, None)
            reason = str(err.orig).splitlines()[0] if err.orig is not None else str(err)
            if pause is None:
                waited = time.monotonic() - started
                log.info("%s: gave up after %d attempts in %.1f s: %s",
                         what, attempt, waited, reason)  # fmt: skip
                raise DatabaseBusyError(
                    f"{what} failed: the library database stayed busy for {waited:.0f} s "
                    "(another program kept writing to it); nothing was changed, try again"
                ) from err
            log.info("%s: attempt %d hit a busy database (%s); retrying in %.2f s",
                     what, attempt, reason, pause)  # fmt: skip
            time.sleep(pause)
            attempt += 1
