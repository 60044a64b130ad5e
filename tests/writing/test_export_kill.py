"""An export or undo killed at any instant leaves every file wholly old or wholly new.

One test kills at a random moment of the export's progress; the others kill at
each stage of the safe write (backup, copy, tag write, verify, fsync, replace,
batch record) and then check that a rerun completes and an undo restores every
file byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import mutagen
import pytest
from sqlalchemy import select

from tagger_core.db import open_library
from tagger_core.db.models import ExportBatch, ExportItem
from tagger_core.library.file_tags import read_tags
from tagger_core.writing import ExportOptions, run_export, undo_batch
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


# A child that runs the export (or undo) CLI and SIGKILLs itself at the n-th time a stage
# of the safe write begins. The stages are recognised by a profile hook on real calls, so
# the code under test is the code that ships; nothing in it is replaced.
STAGE_CHILD = (
    "import os, signal, sys, threading\n"
    "from tagger_core.writing import batch\n"
    "from tagger_core.writing.safe_write import TEMP_MARK\n"
    "stage, nth = sys.argv[1], int(sys.argv[2])\n"
    "batch.CHUNK = 4  # several chunks, so a kill can follow recorded ones\n"
    "def on_temp(frame):\n"
    "    return str(frame.f_locals.get('path', '')).endswith(TEMP_MARK)\n"
    "def write_to_temp(arg):\n"
    "    name = getattr(getattr(arg, '__self__', None), 'name', None)\n"
    "    return isinstance(name, str) and name.endswith(TEMP_MARK)\n"
    "TESTS = {\n"
    "    'backup': lambda f, e, a: e == 'c_call' and a.__name__ == 'fsync'"
    " and f.f_code.co_name == '_durable',\n"
    "    'backups recorded': lambda f, e, a: e == 'call'"
    " and f.f_code.co_name == '_store_backups',\n"
    "    'copy': lambda f, e, a: e == 'c_call' and a.__name__ == 'sendfile',\n"
    "    'write tags': lambda f, e, a: e == 'c_call' and a.__name__ == 'write'"
    " and write_to_temp(a),\n"
    "    'verify': lambda f, e, a: e == 'call' and f.f_code.co_name == 'audio_digest'"
    " and on_temp(f),\n"
    "    'fsync': lambda f, e, a: e == 'call' and f.f_code.co_name == '_fsync_path'"
    " and on_temp(f),\n"
    "    'replace': lambda f, e, a: e == 'c_call' and a.__name__ == 'replace'"
    " and f.f_code.co_name == 'safe_write',\n"
    "    'replaced': lambda f, e, a: e == 'c_return' and a.__name__ == 'replace'"
    " and f.f_code.co_name == 'safe_write',\n"
    "    'batch record': lambda f, e, a: e == 'call'"
    " and f.f_code.co_name in ('_record', '_record_restore'),\n"
    "}\n"
    "test, hits = TESTS[stage], [0]\n"
    "def hook(frame, event, arg):\n"
    "    if test(frame, event, arg):\n"
    "        hits[0] += 1\n"
    "        if hits[0] == nth:\n"
    "            os.kill(os.getpid(), signal.SIGKILL)\n"
    "sys.argv[1:3] = []\n"
    "threading.setprofile(hook)\n"
    "sys.setprofile(hook)\n"
) + EXPORT_CLI
EXPORT_STAGES = [
    "backup",
    "backups recorded",
    "copy",
    "write tags",
    "verify",
    "fsync",
    "replace",
    "replaced",
    "batch record",
]
UNDO_STAGES = ["copy", "verify", "replace", "replaced", "batch record"]


def _killed_at(stage: str, nth: int, db: Path, *args: str) -> None:
    """Run ``export ARGS`` in a child that kills itself at the ``nth`` start of ``stage``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", STAGE_CHILD, stage, str(nth), "--db", str(db), "export", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, f"not killed at {stage}: {proc.stderr[-2000:]}"


def _library_to_export(tmp_path: Path, make_files) -> tuple[Path, Path, dict[Path, tuple]]:
    music = tmp_path / "music"
    paths = make_files(music, AVAILABLE, copies=2)
    db = tmp_path / "lib.db"
    library = open_library(db)
    scan_and_decide(library, music)
    library.close()
    options = ExportOptions()
    state = {}
    for p in paths:
        fmt = read_tags(p).format
        system = system_for(fmt, options)
        fields = system.read_all(str(p))
        new = dict(fields)
        key = system.fold(system.native_key("genre", options))
        new[key] = [*fields[key], "Jazz", "Blues"]
        new[system.fold(system.native_key("instruments", options))] = ["bass"]
        state[p] = (fmt, system, fields, new, audio_digest(p, fmt), _sha(p))
    return music, db, state


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _whole_files(state: dict[Path, tuple]) -> dict[Path, str]:
    """Each file is byte for byte the original, or wholly the new version: 'old' / 'new'."""
    seen = {}
    for p, (fmt, system, _old, new, digest, sha) in state.items():
        if _sha(p) == sha:
            seen[p] = "old"
            continue
        assert mutagen.File(p) is not None, p
        assert audio_digest(p, fmt) == digest, p
        assert system.read_all(str(p)) == new, p
        seen[p] = "new"
    return seen


@pytest.mark.parametrize("stage", EXPORT_STAGES)
def test_kill_at_each_stage_of_export_then_rerun_and_undo(tmp_path, make_files, stage) -> None:
    music, db, state = _library_to_export(tmp_path, make_files)
    nth = random.Random(stage).randint(1, 3)

    _killed_at(stage, nth, db, str(music))

    seen = _whole_files(state)
    library = open_library(db)
    with library.session() as s:
        items = {Path(os.fsdecode(i.path)): i for i in s.scalars(select(ExportItem))}
    for p, how in seen.items():
        status = items[p].status if p in items else None
        # Written in the batch ⇒ new on disk; new on disk ⇒ written, or pending when the kill
        # fell between the replace and the record (the rerun then completes it).
        assert (status == "written") <= (how == "new"), (p, status, how)
        assert how == "old" or status in ("written", "pending"), (p, status, how)
    if stage in ("replaced", "batch record"):
        assert any(how == "new" and items[p].status == "pending" for p, how in seen.items())
    else:
        assert any(how == "old" for how in seen.values())

    report = run_export(library, ExportOptions())
    assert report.failed == report.skipped == 0, report.problems
    assert set(_whole_files(state).values()) == {"new"}
    assert not list(music.glob(f".*{TEMP_MARK}"))
    with library.session() as s:
        batch = s.scalars(select(ExportBatch).order_by(ExportBatch.id)).first()
        assert batch.status == "done"
        statuses = select(ExportItem.status).where(ExportItem.batch_id == batch.id)
        assert set(s.scalars(statuses)) == {"written"}
        folder = Path(batch.options["backups"]["folder"])
    assert not list(folder.glob(".*.tmp"))

    undone = undo_batch(library, batch.id)
    assert undone.restored == len(state) and undone.inexact == 0, undone.problems
    assert set(_whole_files(state).values()) == {"old"}
    library.close()


@pytest.mark.parametrize("stage", UNDO_STAGES)
def test_kill_at_each_stage_of_undo_then_undo_again(tmp_path, make_files, stage) -> None:
    music, db, state = _library_to_export(tmp_path, make_files)
    library = open_library(db)
    batch_id = run_export(library, ExportOptions()).batch_id
    library.close()
    nth = random.Random(stage).randint(1, 3)

    _killed_at(stage, nth, db, "undo", str(batch_id))

    seen = _whole_files(state)
    library = open_library(db)
    with library.session() as s:
        items = {Path(os.fsdecode(i.path)): i.status for i in s.scalars(select(ExportItem))}
    assert all(how == "old" for p, how in seen.items() if items[p] == "restored")
    assert all(items[p] in ("written", "restored") for p in seen)
    assert any(how == "new" for how in seen.values())  # killed before the undo finished
    if stage in ("replaced", "batch record"):
        assert any(how == "old" and items[p] == "written" for p, how in seen.items())
    undone = undo_batch(library, batch_id)
    assert undone.failed == undone.skipped == undone.inexact == 0, undone.problems
    assert set(_whole_files(state).values()) == {"old"}
    assert not list(music.glob(f".*{TEMP_MARK}"))
    with library.session() as s:
        assert s.get(ExportBatch, batch_id).status == "undone"
    library.close()
