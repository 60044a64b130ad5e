"""Dropping folders, the keyboard-shortcut sheet and the About box."""

from __future__ import annotations

from audio_files import make_audio
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QAction, QDropEvent, QKeySequence
from PySide6.QtWidgets import QTreeWidgetItemIterator

from app import process_job
from app.about import version


def drop(window, paths) -> QDropEvent:  # type: ignore[no-untyped-def]
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    return event


def test_dropping_folders_adds_them_and_files_are_refused(qtbot, window, tmp_path, monkeypatch):
    monkeypatch.setattr(process_job, "ISOLATE", False)
    assert window.acceptDrops()
    one, two = tmp_path / "one", tmp_path / "two"
    for i, folder in enumerate((one, two)):
        folder.mkdir()
        make_audio(folder / f"{i}.wav", seconds=1.0, seed=i)
    loose = tmp_path / "loose.wav"
    make_audio(loose, seconds=1.0, seed=5)

    drop(window, [loose])
    assert window.job is None
    assert "1 file not added: drop the folder" in window.status_text.text()

    drop(window, [one, two, loose])
    assert window.job is not None
    assert "Scanning 2 folder(s). 1 file not added" in window.status_text.text()
    qtbot.waitUntil(lambda: window.job is None, timeout=60000)
    assert window.model.rowCount() == 2
    assert window.analyse_offer is not None  # the same offer as File ▸ Add folder
    window.analyse_offer.reject()


def sheet_rows(sheet) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    rows, it = [], QTreeWidgetItemIterator(sheet.tree)
    while it.value():
        rows.append((it.value().text(0), it.value().text(1)))
        it += 1
    return rows


def test_shortcut_sheet_lists_every_action_key_and_review_keys(qtbot, window):
    native = QKeySequence.SequenceFormat.NativeText
    window.act_shortcuts.trigger()
    sheet = window.shortcut_sheet
    assert sheet.isVisible()
    shown = " , ".join(keys for _what, keys in sheet_rows(sheet))
    for action in window.findChildren(QAction):
        for key in action.shortcuts():
            assert key.toString(native) in shown, action.text()
    rows = dict(sheet_rows(sheet))
    assert rows["Next track"] == "N, Right, J"
    assert rows["Preferences"] == "Ctrl+,"
    assert rows["Keyboard shortcuts"] == "F1, Ctrl+/"
    # It cannot drift: change a key and the sheet says so next time it is shown.
    window.act_rescan.setShortcut(QKeySequence("Ctrl+Shift+F5"))
    sheet.hide()
    window.show_shortcuts()
    assert dict(sheet_rows(sheet))["Rescan"] == "Ctrl+Shift+F5"


def test_about_shows_version_library_models_and_device(qtbot, window, library, settings):
    settings.setValue("analysis/device", "cpu")
    box = window._about()
    assert box.isVisible() and not box.isModal()
    assert f"Music Archive Tagger {version()}" in box.text()
    assert str(library.path) in box.text()
    qtbot.waitUntil(lambda: "Models:" in box.text(), timeout=60000)
    assert "genre 1.0.0 (genre)" in box.text()
    assert "Device: cpu (available here: " in box.text()
