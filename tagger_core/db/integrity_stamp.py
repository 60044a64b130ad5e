"""Remembering that an SQLite library passed its quick check: an unchanged file is not re-read.

Why: opening a library runs ``PRAGMA quick_check``, which reads every page of the file
(0.07 s of the 0.5 s ``status`` took on a 100,000-track library) and on an
unchanged file can only repeat its last answer. So after a check passes, the file's
state is written to a stamp in the user cache folder, and the next open skips the check
when the file is provably the one that passed.

Why that is safe. The state is ``(device, inode, size, mtime_ns, ctime_ns)``: any write
to the file (SQLite's own, a checkpoint, another program's) sets mtime and ctime, and
no program can set ``ctime`` back (``touch -d``, ``cp -p`` and ``rsync -a`` set it to
now; only turning the system clock back could), so a changed file never matches; a
file replaced by another has another inode or ctime. Beyond that the check runs again whenever:

* a ``-wal``, ``-journal`` or ``-shm`` file lies beside the database: the last
  connection did not close cleanly (a crash, a power cut; a clean close of the last
  connection checkpoints and deletes them), or another process has it open now and
  part of the database is in the WAL, which the state of the main file does not cover;
* the stamp is more than a day old (damage no write explains, such as a failing disk,
  is still found within a day; ``music-tagger db check`` runs the full check any time);
* the system clock says the stamp was written in the future.

A state is recorded only when no such file existed before or after the check, the file
did not change during the check, and its mtime and ctime are at least ``SETTLE_S``
older than the check: a write in the same timestamp tick as the check (file systems
keep coarse times, FAT's are 2 s) then cannot hide behind an unchanged mtime.

The stamp is one small JSON file per database (named by a hash of its real path),
replaced atomically; a stamp that cannot be read or written only means the check runs.
It needs no fsync: whatever a crash leaves of it is either unreadable or a true
statement about a state that passed (the file that had that state is checked again
as soon as its state differs).
``$MUSIC_TAGGER_CACHE_DIR`` overrides the cache folder (tests use a temporary one).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import suppress
from pathlib import Path

from tagger_core.db.location import APP_NAME
from tagger_core.db.safety import sqlite_problems

CACHE_ENV = "MUSIC_TAGGER_CACHE_DIR"
#: how long a passed check is trusted on an unchanged file
MAX_AGE_S = 24 * 3600
#: how much older than the check the file's times must be for its state to be recorded
SETTLE_S = 2.0
SIDE_FILES = ("-wal", "-journal", "-shm")

FileState = tuple[int, int, int, int, int]


def stamp_dir() -> Path:
    """``$MUSIC_TAGGER_CACHE_DIR/integrity`` if set, else ``integrity`` in the user cache folder."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override) / "integrity"
    from platformdirs import user_cache_path

    return user_cache_path(APP_NAME, appauthor=False) / "integrity"


def file_state(db_path: Path) -> FileState:
    """What any change to the file changes: device, inode, size, mtime and ctime (ns)."""
    st = os.stat(db_path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def has_side_files(db_path: Path) -> bool:
    """True when a WAL, journal or shared-memory file lies beside the database."""
    return any(db_path.with_name(db_path.name + suffix).exists() for suffix in SIDE_FILES)


def _stamp_path(db_path: Path) -> Path:
    real = os.path.realpath(db_path)
    return stamp_dir() / (hashlib.sha256(os.fsencode(real)).hexdigest()[:32] + ".json")


def check_still_holds(db_path: Path) -> bool:
    """True when the last passed quick check was of exactly this file, closed cleanly, today."""
    if has_side_files(db_path):
        return False
    try:
        stamp = json.loads(_stamp_path(db_path).read_text(encoding="utf-8"))
        recorded = tuple(stamp["state"])
        age = time.time() - float(stamp["checked_at"])
        same_file = stamp["path"] == os.path.realpath(db_path)
        return same_file and 0 <= age < MAX_AGE_S and recorded == file_state(db_path)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def quick_check_problems(db_path: Path) -> list[str]:
    """What ``PRAGMA quick_check`` finds in ``db_path``; [] without reading it when
    the last passed check still holds. A passed check is recorded when it may be."""
    if check_still_holds(db_path):
        return []
    started = time.time()
    before = file_state(db_path)
    closed_cleanly = not has_side_files(db_path)
    problems = sqlite_problems(db_path, quick=True)
    if not problems and closed_cleanly:
        _record(db_path, before, started)
    return problems


def _record(db_path: Path, before: FileState, started: float) -> None:
    """Remember that the check begun at ``started``, on the file in state ``before``, passed.

    Only when the file is settled, unchanged, and still without side files (see the
    module docstring); a stamp that cannot be written is left out.
    """
    if has_side_files(db_path) or file_state(db_path) != before:
        return
    if max(before[3], before[4]) > int((started - SETTLE_S) * 1e9):
        return
    stamp = {"path": os.path.realpath(db_path), "state": list(before), "checked_at": started}
    path = _stamp_path(db_path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(stamp), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
