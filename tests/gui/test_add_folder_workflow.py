"""File ▸ Add folder as a librarian does it, with the library beside the music.

The library is ``X/library.db`` and the music ``X/lib``: the chooser lists
``X``, where Qt's file-type probing used to cancel the GUI's SQLite locks and
let the analysis child delete the WAL under the GUI's connection.
"""

from __future__ import annotations

import os

import pytest
from audio_files import make_audio
from posix_locks import held_locks, integrity
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import func, select, text

from tagger_core.db.models import Prediction

pytest.importorskip("tagger_core.listening.engine")


def _locks_now(library):  # type: ignore[no-untyped-def]
    with library.session() as s:
        s.execute(text("SELECT 1"))
    return held_locks(library.path)


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="reads /proc/locks (Linux)")
def test_add_folder_via_picker_then_analyse_in_child(qtbot, window, library, tmp_path, tiny):
    music = tmp_path / "lib"
    music.mkdir()
    for i in range(3):
        make_audio(music / f"{i}.wav", seconds=2.0, seed=i)
    assert library.path.parent == tmp_path  # the dialog lists the library's folder
    window.analysis_options = {"bundles": [tiny], "batch_size": 4, "workers": 1}
    locks = _locks_now(library)
    assert locks

    window.picker.script = str(music)
    window.act_add.trigger()
    assert window.picker.running
    assert not window.act_add.isEnabled() and not window.act_analyse_all.isEnabled()
    qtbot.waitUntil(lambda: window.analyse_offer is not None, timeout=60000)
    assert "3 new or changed tracks" in window.analyse_offer.text()
    assert held_locks(library.path) >= locks, "the chooser left the GUI's locks alone"

    window.analyse_offer.button(QMessageBox.StandardButton.Yes).click()
    assert window.job is not None and window.job.title == "Analysing"
    qtbot.waitUntil(lambda: window.job is None, timeout=180000)
    assert window.last_error is None, window.last_error
    assert held_locks(library.path) >= locks
    with library.session() as s:
        assert s.scalar(select(func.count()).select_from(Prediction)) == 3
    assert integrity(library) == "ok"
    window.model.refresh()
    assert window.model.rowCount() == 3
    assert all(window.model.data(window.model.index(r, 4)) for r in range(3)), "predictions shown"

    # Again on the same tracks: nothing to do, said plainly (not "0.0× realtime").
    window.table.selectAll()
    assert window.analyse_selection() is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=180000)
    assert window.status_text.text() == "All 3 selected tracks are already analysed; nothing to do."


def test_add_folder_offer_can_be_declined(qtbot, window, tmp_path, monkeypatch):
    from app import process_job

    monkeypatch.setattr(process_job, "ISOLATE", False)
    music = tmp_path / "more"
    music.mkdir()
    make_audio(music / "a.wav", seconds=1.0, seed=1)
    window.add_folders([str(music)])
    qtbot.waitUntil(lambda: window.analyse_offer is not None, timeout=60000)
    window.analyse_offer.button(QMessageBox.StandardButton.No).click()
    assert window.job is None and window.analyse_offer is None
    assert "Scanned 1 files: 1 new" in window.status_text.text()
    # A rescan that finds nothing new asks nothing.
    window.add_folders([str(music)])
    qtbot.waitUntil(lambda: window.job is None, timeout=60000)
    assert window.analyse_offer is None


def test_dump_refuses_the_database_and_its_wal(qtbot, window, library):
    for target in (library.path, f"{library.path}-wal", f"{library.path}-shm"):
        before = os.path.getsize(library.path)
        window._dump_chosen(str(target))
        assert window.job is None
        assert "refusing to write" in window.status_text.text()
        assert os.path.getsize(library.path) == before
    assert integrity(library) == "ok"
    assert window.failures.isVisible() and len(window.failures.entries) == 3
