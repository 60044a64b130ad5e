"""Which POSIX locks this process holds on a SQLite database, read from /proc/locks.

SQLite's locks belong to the process; these helpers let a test see them vanish
(or not) when other code opens and closes the database's files.
"""

from __future__ import annotations

import os
from pathlib import Path


def held_locks(db: Path) -> set[tuple[int, str, str, str]]:
    """(inode, READ/WRITE, start, end) of our pid's POSIX locks on ``db`` and its -shm."""
    inodes = {os.stat(p).st_ino for p in (db, Path(f"{db}-shm")) if p.exists()}
    found = set()
    with open("/proc/locks", encoding="ascii") as table:
        for line in table:
            fields = line.split()
            if "->" in fields or len(fields) < 8 or fields[1] != "POSIX":
                continue
            pid, inode = int(fields[4]), int(fields[5].split(":")[2])
            if pid == os.getpid() and inode in inodes:
                found.add((inode, fields[3], fields[6], fields[7]))
    return found


def integrity(library) -> str:  # type: ignore[no-untyped-def]
    """``PRAGMA integrity_check`` through the library's own (pooled) connection."""
    from sqlalchemy import text

    with library.session() as s:
        return str(s.execute(text("PRAGMA integrity_check")).scalar())
