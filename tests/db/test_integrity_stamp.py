"""Opening an SQLite library skips the quick check only on the file that last passed it.

Real libraries, real damage (bytes overwritten in place), real crashes (a child process
that exits with its connection open). The check itself is counted by a wrapper that
calls the real ``sqlite_problems``. ``SETTLE_S`` is set to 0 where a test is not about
it, so the tests need not wait for the files' times to age 2 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from library_rows import fill_library

from tagger_core.db import integrity_stamp, open_library
from tagger_core.db.safety import sqlite_problems
from tagger_core.errors import ConfigError


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Path]:
    """The files quick-checked from now on (the check still runs); a cache of its own."""
    monkeypatch.setenv(integrity_stamp.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(integrity_stamp, "SETTLE_S", 0.0)
    seen: list[Path] = []

    def counted(path: Path, *, quick: bool = False) -> list[str]:
        seen.append(path)
        return sqlite_problems(path, quick=quick)

    monkeypatch.setattr(integrity_stamp, "sqlite_problems", counted)
    return seen


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "library.db"
    fill_library(path, 2000).close()
    return path


def _open_and_close(db: Path) -> None:
    open_library(db).close()


def test_an_unchanged_library_is_checked_once_then_opened_without_the_check(
    db: Path, checks: list[Path]
) -> None:
    _open_and_close(db)
    assert checks == [db]
    _open_and_close(db)
    _open_and_close(db)
    assert checks == [db]
    assert not integrity_stamp.has_side_files(db)  # every open above closed cleanly


def test_a_library_damaged_after_its_check_passed_is_still_reported(
    db: Path, checks: list[Path]
) -> None:
    _open_and_close(db)
    _open_and_close(db)
    assert checks == [db]  # the stamp is in use
    before = db.stat()
    with open(db, "r+b") as fh:  # damage a page in place: same file, same size
        fh.seek(db.stat().st_size // 2 // 4096 * 4096)
        fh.write(b"\xff" * 64)
    os.utime(db, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the old mtime back
    assert db.stat().st_size == before.st_size and db.stat().st_ino == before.st_ino
    with pytest.raises(ConfigError, match="it is damaged"):
        open_library(db)
    assert checks == [db, db]
    with pytest.raises(ConfigError, match="it is damaged"):  # a failed check is not stamped
        open_library(db)


def test_a_library_a_crash_left_with_its_wal_is_checked(db: Path, checks: list[Path]) -> None:
    _open_and_close(db)
    crash = (
        "import os, sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1])\n"
        "conn.execute('PRAGMA journal_mode=WAL')\n"
        "conn.execute(\"UPDATE tracks SET title = 'changed' WHERE id = 1\")\n"
        "conn.commit()\n"
        "os._exit(0)  # no close: the WAL stays, as after a crash\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(db)], check=True, timeout=60)
    assert db.with_name(db.name + "-wal").exists()
    _open_and_close(db)
    assert checks == [db, db]


def test_a_file_newer_than_the_settling_time_is_checked_on_every_open(
    db: Path, checks: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(integrity_stamp, "SETTLE_S", 3600.0)  # the file was written just now
    _open_and_close(db)
    _open_and_close(db)
    assert checks == [db, db]


def test_a_stamp_older_than_a_day_or_of_another_file_is_not_trusted(
    db: Path, checks: list[Path], tmp_path: Path
) -> None:
    _open_and_close(db)
    (stamp,) = (tmp_path / "cache" / "integrity").iterdir()
    data = json.loads(stamp.read_text(encoding="utf-8"))
    stamp.write_text(
        json.dumps({**data, "checked_at": time.time() - integrity_stamp.MAX_AGE_S - 60}),
        encoding="utf-8",
    )
    _open_and_close(db)
    assert checks == [db, db]
    _open_and_close(db)  # the check just passed again: stamped afresh
    assert checks == [db, db]
    replacement = tmp_path / "other.db"
    fill_library(replacement, 10).close()
    os.replace(replacement, db)  # another file at the same path
    _open_and_close(db)
    assert checks == [db, db, db]


def test_a_cache_folder_that_cannot_be_written_only_means_the_check_runs(
    db: Path, checks: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be", encoding="utf-8")
    monkeypatch.setenv(integrity_stamp.CACHE_ENV, str(blocker))
    _open_and_close(db)
    _open_and_close(db)
    assert checks == [db, db]
    assert blocker.read_text(encoding="utf-8").startswith("a file")
