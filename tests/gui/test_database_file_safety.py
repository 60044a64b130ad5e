"""The library database survives file choosers: the GUI process never lists folders.

SQLite's POSIX locks belong to the process, and closing any descriptor of the
database drops them all; Qt's file dialog opens and closes the files of the
folder it lists. These tests show the hazard is real in-process, and that the
picker child (``app.file_picker``) leaves the GUI's locks and data intact
while an analysis-like child writes the same database.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from db_writer import write_settings
from posix_locks import held_locks, integrity
from PySide6.QtCore import QCoreApplication, QEvent
from sqlalchemy import func, select, text

from app.file_picker import FilePicker, decode_path, encode_path
from tagger_core.db import open_library
from tagger_core.db.models import Setting

pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/locks"), reason="reads POSIX locks from /proc/locks (Linux)"
)
APP = Path(__file__).resolve().parents[2] / "app"
TESTS = Path(__file__).resolve().parents[1]


def _open_with_locks(db: Path):  # type: ignore[no-untyped-def]
    library = open_library(db)
    with library.session() as s:  # a pooled connection stays open: it holds the -shm lock
        s.execute(text("SELECT count(*) FROM settings"))
    locks = held_locks(db)
    assert locks, "an open WAL connection holds POSIX locks"
    return library, locks


def test_listing_the_folder_in_process_drops_the_locks(tmp_path):
    """Why the picker exists: Qt's dialog in the library's own process cancels its locks."""
    (tmp_path / "lib").mkdir()
    out = subprocess.run(
        [sys.executable, str(TESTS / "in_process_listing.py"), str(tmp_path / "lib.db")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert out.returncode == 0, out.stderr
    locks = json.loads(out.stdout.splitlines()[-1])
    assert locks["before"], "an open WAL connection holds POSIX locks"
    assert locks["after"] == [], "listing the folder in-process dropped them all"


def test_picker_child_keeps_the_locks_while_a_writer_child_writes(qtbot, tmp_path):
    db = tmp_path / "lib.db"
    (tmp_path / "lib").mkdir()
    library, locks = _open_with_locks(db)
    ctx = multiprocessing.get_context("spawn")
    writer = ctx.Process(target=write_settings, args=(str(db), 150, 0.01))
    writer.start()
    picker = FilePicker(lambda: 0)
    try:
        picker.script = str(tmp_path / "lib")
        chosen: list[str] = []
        assert picker.choose_folder("Add a music folder", str(tmp_path), chosen.append)
        qtbot.waitUntil(lambda: not picker.running, timeout=30000)
        assert chosen == [str(tmp_path / "lib")]
        assert held_locks(db) >= locks, "the dialog in its own process leaves our locks alone"
    finally:
        picker.stop()
        # Finish the QProcess's deferred deletion while its parent picker is alive.
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        writer.join(60)
    assert writer.exitcode == 0
    assert held_locks(db) >= locks
    with library.session() as s:
        assert s.scalar(select(func.count()).select_from(Setting)) == 150
    assert integrity(library) == "ok"
    library.close()


def test_scanning_the_folder_that_holds_the_library_keeps_its_locks(tmp_path):
    """The scanner opens only files with audio extensions, never ``lib.db`` beside them."""
    from audio_files import make_audio

    from tagger_core.library.scan import scan

    library, locks = _open_with_locks(tmp_path / "lib.db")
    make_audio(tmp_path / "song.wav", seconds=1.0, seed=1)
    report = scan(library, [tmp_path])
    assert report.new == 1 and report.unreadable == 0
    assert held_locks(tmp_path / "lib.db") >= locks
    assert integrity(library) == "ok"
    library.close()


def test_picker_hands_back_names_without_loss(tmp_path):
    """Hex of the bytes on stdout: spaces and non-ASCII names come back intact."""
    raw = os.fsdecode(b"caf\xe9-\xff")  # not valid UTF-8: the transport itself is lossless
    assert os.fsencode(decode_path(encode_path(raw))) == b"caf\xe9-\xff"
    folder = tmp_path / "Björk – Homogenic (1997) 音"
    folder.mkdir()
    out = subprocess.run(
        [sys.executable, "-m", "app.file_picker", "folder", "--select", str(folder), "--accept"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert out.returncode == 0, out.stderr
    assert decode_path(out.stdout) == str(folder)


def test_scripted_picker_gives_up_on_a_folder_it_cannot_list(tmp_path, monkeypatch):
    out = subprocess.run(
        [sys.executable, "-m", "app.file_picker", "folder", "--select",
         str(tmp_path / "missing" / "x"), "--accept"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    assert out.returncode == 1 and out.stdout == ""


def test_no_file_dialog_or_folder_model_outside_the_picker():
    """The rule, enforced: only ``app/file_picker.py`` may list folders with Qt."""
    pattern = re.compile(r"\b(QFileDialog|QFileSystemModel|QFileIconProvider)\b")
    offenders = [
        f"{path.name}:{n}"
        for path in sorted(APP.glob("*.py"))
        if path.name != "file_picker.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, offenders
