"""An export killed at a random instant leaves every file wholly old or wholly new."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import mutagen
from sqlalchemy import select

from tagger_core.db import open_library
from tagger_core.db.models import ExportBatch, ExportItem
from tagger_core.library.file_tags import read_tags
from tagger_core.writing import ExportOptions, run_export
from tagger_core.writing.digest import audio_digest
from tagger_core.writing.registry import system_for
from tagger_core.writing.safe_write import TEMP_MARK

from .helpers import AVAILABLE, scan_and_decide

ROOT = Path(__file__).resolve().parents[2]
# The export command alone (the full CLI also imports torch for other commands: slow start).
EXPORT_CLI = (
    "import argparse, sys\n"
    "from tagger_core.cli import export\n"
    "parser = argparse.ArgumentParser()\n"
    "parser.add_argument('--db')\n"
    "export.register(parser.add_subparsers())\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.func(args))\n"
)


def _start_export(db: Path, music: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", EXPORT_CLI, "--db", str(db), "export", str(music)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _written(db: Path) -> int:
    """Files the export in progress has already replaced (read from its own database)."""
    library = open_library(db, migrate=False)
    try:
        with library.session() as s:
            statuses = s.scalars(select(ExportItem.status)).all()
    except Exception:  # the writer holds a transaction or the table is not there yet
        return 0
    finally:
        library.close()
    return sum(status == "written" for status in statuses)


def _kill_midway(
    proc: subprocess.Popen[str], db: Path, total: int, before: int, rng: random.Random
) -> bool:
    """Kill -9 at a random moment once some, not all, files of this run are written.

    The moment is tied to the export's own progress in its database, not to the
    clock, so a fast machine cannot finish before the kill.
    """
    target = before + rng.randint(1, max(1, (total - before) // 2))
    while proc.poll() is None and _written(db) < target:
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.02))
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return alive


def test_kill_export_then_rerun_completes(tmp_path: Path, make_files) -> None:
    music = tmp_path / "music"
    paths = make_files(music, AVAILABLE, copies=15)  # more than two chunks
    db = tmp_path / "lib.db"
    library = open_library(db)
    scan_and_decide(library, music)
    options = ExportOptions()
    state = {}
    for p in paths:
        fmt = read_tags(p).format
        system = system_for(fmt, options)
        fields = system.read_all(str(p))
        key = system.fold(system.native_key("genre", options))
        new = dict(fields)
        new[key] = [*fields[key], "Jazz", "Blues"]
        new[system.fold(system.native_key("instruments", options))] = ["bass"]
        state[p] = (fmt, system, fields, new, audio_digest(p, fmt))
    library.close()

    rng = random.Random(os.getpid())
    killed_alive = []
    for _ in range(2):
        before = _written(db)
        killed_alive.append(_kill_midway(_start_export(db, music), db, len(paths), before, rng))
        old_count = new_count = 0
        for p, (fmt, system, old, new, digest) in state.items():
            assert mutagen.File(p) is not None, p
            assert audio_digest(p, fmt) == digest, p
            now = system.read_all(str(p))
            assert now in (old, new), p
            old_count += now == old
            new_count += now == new
        assert old_count + new_count == len(paths)
    assert any(killed_alive), "the export finished before it could be killed"

    library = open_library(db)
    report = run_export(library, options)
    assert report.failed == 0, report.problems
    for p, (fmt, system, _old, new, digest) in state.items():
        assert system.read_all(str(p)) == new, p
        assert audio_digest(p, fmt) == digest
    assert not list(music.glob(f"*{TEMP_MARK}"))
    with library.session() as s:
        batches = list(s.scalars(select(ExportBatch)))
        assert batches and all(b.status == "done" for b in batches)
        statuses = set(s.scalars(select(ExportItem.status)))
        assert statuses <= {"written", "skipped"}
        written = list(s.scalars(select(ExportItem).where(ExportItem.status == "written")))
        assert len({i.path for i in written}) == len(paths)
    library.close()
