"""Right-click menus, multi-selection, the column chooser and hand edits, on real files."""

from __future__ import annotations

import json
import os

import pytest
from audio_files import make_audio, tag_file
from PySide6.QtCore import QItemSelection, QItemSelectionModel, QSettings, Qt
from PySide6.QtGui import QGuiApplication
from sqlalchemy import func, select
from tiny_bundle import make_tiny_bundle

from app import process_job
from tagger_core.db.models import Analysis, LibraryRoot, Prediction, ReviewDecision, Track
from tagger_core.trust.review import decide, reviews


def wait_for_job(qtbot, win, timeout_ms: int = 60000) -> None:
    qtbot.waitUntil(lambda: win.job is None, timeout=timeout_ms)


def scanned(qtbot, window, folder, n: int = 4, seconds: float = 0.3):
    """``n`` wav files (the first one tagged) and one broken mp3, scanned through the window."""
    folder.mkdir(parents=True)
    for i in range(n):
        make_audio(folder / f"song{i}.wav", seconds=seconds, seed=i)
    tag_file(make_audio(folder / "tagged.flac", seconds=0.3), title="Tagged", genres=["Jazz"])
    (folder / "broken.mp3").write_bytes(b"not audio at all" * 10)
    window.scan_folders([str(folder)])
    wait_for_job(qtbot, window)
    return folder


def select_rows(window, top: int, bottom: int) -> None:
    model = window.model
    selection = QItemSelection(model.index(top, 0), model.index(bottom, model.columnCount() - 1))
    window.table.selectionModel().select(
        selection, QItemSelectionModel.SelectionFlag.ClearAndSelect
    )


def menu_texts(menu) -> list[str]:
    return [a.text() for a in menu.actions() if not a.isSeparator()]


def action(menu, start: str):
    return next(a for a in menu.actions() if a.text().startswith(start))


def test_track_menu_acts_on_the_whole_selection(qtbot, window, tmp_path):
    folder = scanned(qtbot, window, tmp_path / "music")
    select_rows(window, 0, 2)
    ids = window.library_actions.selected_ids()
    assert len(ids) == 3
    menu = window.library_actions.track_menu(ids)
    assert menu_texts(menu) == [
        "Analyse 3 tracks",
        "Review 3 tracks",
        "Export tags of 3 tracks…",
        "Show in file manager",
        "Copy 3 paths",
        "Remove 3 tracks from library…",
    ]
    assert action(menu, "Analyse").isEnabled() == (window.analysis_unavailable() is None)

    action(menu, "Copy").trigger()
    copied = QGuiApplication.clipboard().text().splitlines()
    assert len(copied) == 3 and all(os.path.isfile(p) for p in copied)

    opened = []
    window.library_actions.open_url = lambda url: opened.append(url.toLocalFile()) and False
    action(menu, "Show in file manager").trigger()
    assert opened == [str(folder)]
    assert "No file manager could be opened" in window.status_text.text()
    assert QGuiApplication.clipboard().text() == str(folder)

    action(menu, "Export").trigger()
    dialog = window.export_dialog
    assert dialog.isVisible() and dialog.only_selection.text() == "Only the 3 selected tracks"
    assert dialog.scope() == ids
    dialog.close()

    action(menu, "Review").trigger()
    assert window.tabs.currentWidget() is window.review
    assert window.review.queue == ids and window.review.current_track_id() == ids[0]


def test_ctrl_a_selects_every_row_for_the_actions(qtbot, window, tmp_path):
    scanned(qtbot, window, tmp_path / "music")
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    ids = window.library_actions.selected_ids()
    assert len(ids) == window.model.rowCount() == 6
    assert "Remove 6 tracks from library…" in menu_texts(window.library_actions.track_menu(ids))


def test_remove_tracks_asks_with_counts_then_keeps_the_files(qtbot, window, library, tmp_path):
    folder = scanned(qtbot, window, tmp_path / "music")
    select_rows(window, 0, 1)
    ids = window.library_actions.selected_ids()
    decide(library, ids[0], "genre", "Rock", "accept")
    questions: list[str] = []
    answers = [False, True]
    window.library_actions.confirm = lambda _t, text: questions.append(text) or answers.pop(0)

    menu = window.library_actions.track_menu(ids)
    action(menu, "Remove").trigger()
    assert "Remove 2 tracks and 1 review decision (1 reviewed track)" in questions[0]
    assert "No file on disk is touched" in questions[0]
    assert window.job is None and window.model.rowCount() == 6
    assert window.status_text.text() == "Nothing removed."

    action(menu, "Remove").trigger()
    wait_for_job(qtbot, window)
    assert window.model.rowCount() == 4
    assert "Removed 2 tracks and 1 review decision" in window.status_text.text()
    with library.session() as s:
        assert s.scalar(select(func.count()).select_from(ReviewDecision)) == 0
        assert s.scalar(select(func.count()).where(Track.id.in_(ids))) == 0
    assert len(list(folder.iterdir())) == 6, "no file on disk is touched"


def test_folder_menu_rescans_shows_and_removes_a_folder(qtbot, window, library, tmp_path):
    folder = scanned(qtbot, window, tmp_path / "music")
    sidebar = window.sidebar
    row = next(i for i in range(sidebar.count()) if sidebar.item(i).text().startswith("music"))
    pos = sidebar.visualItemRect(sidebar.item(row)).center()
    root_id, path = sidebar.folder_at(pos)
    assert path == str(folder)
    assert sidebar.folder_at(sidebar.visualItemRect(sidebar.item(0)).center()) is None
    menu = window.library_actions.folder_menu(root_id, path)
    assert menu_texts(menu) == [
        "Rescan",
        "Analyse folder",
        "Show in file manager",
        "Remove folder from library…",
    ]
    make_audio(folder / "late.wav", seconds=0.3, seed=9)
    action(menu, "Rescan").trigger()
    wait_for_job(qtbot, window)
    assert window.last_report.new == 1 and window.model.rowCount() == 7

    opened = []
    window.library_actions.open_url = lambda url: opened.append(url.toLocalFile()) or True
    action(menu, "Show").trigger()
    assert opened == [str(folder)]

    questions: list[str] = []
    window.library_actions.confirm = lambda _t, text: questions.append(text) is None
    action(menu, "Remove folder").trigger()
    wait_for_job(qtbot, window)
    assert questions[0].startswith("Remove 1 folder with 7 tracks (no review decisions)")
    assert window.model.rowCount() == 0
    assert not any(sidebar.item(i).text().startswith("music") for i in range(sidebar.count()))
    with library.session() as s:
        assert s.scalar(select(func.count()).select_from(LibraryRoot)) == 0
    assert window.rescan() is None, "a removed folder is not rescanned"
    assert (folder / "late.wav").exists()


def test_column_chooser_hides_columns_and_the_window_remembers(qtbot, library, tmp_path):
    from app.main_window import MainWindow

    path = str(tmp_path / "columns.ini")
    first = MainWindow(library, QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    menu = first.library_actions.column_menu()
    assert menu_texts(menu)[:3] == ["Title", "Artist", "Album"]
    action(menu, "Album").setChecked(False)
    action(menu, "Instrument families").setChecked(False)
    header = first.table.horizontalHeader()
    assert header.isSectionHidden(2) and header.isSectionHidden(5)
    assert not action(first.library_actions.column_menu(), "Album").isChecked()
    first.close()
    second = MainWindow(library, QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    header = second.table.horizontalHeader()
    assert header.isSectionHidden(2) and header.isSectionHidden(5)
    assert not header.isSectionHidden(0)
    # The last visible column cannot be hidden.
    for col in range(1, 8):
        second.library_actions.set_column_visible(col, False)
    second.library_actions.set_column_visible(0, False)
    assert not header.isSectionHidden(0)
    assert "last visible column" in second.status_text.text()


def test_status_column_and_errors_view_show_the_reason(qtbot, window, tmp_path):
    scanned(qtbot, window, tmp_path / "music")
    width = window.table.columnWidth(7)
    assert width >= window.table.fontMetrics().horizontalAdvance("unreadable") + 8
    window.sidebar.select_view("errors")
    assert window.model.rowCount() == 1
    shown = window.model.data(window.model.index(0, 7))
    assert shown.startswith("unreadable: ") and len(shown) > len("unreadable: ")
    header = window.table.horizontalHeader()
    assert header.visualIndex(7) == 1, "the reason is next to the title, not off-screen"
    assert window.table.columnViewportPosition(7) + 40 < window.table.viewport().width()
    window.sidebar.select_view("all")
    assert header.visualIndex(7) == 7


def test_unreadable_track_says_why_and_view_switch_clears_the_pane(qtbot, window, tmp_path):
    scanned(qtbot, window, tmp_path / "music")
    window.sidebar.select_view("errors")
    window.table.selectRow(0)
    text = window.detail.flags_label.text()
    assert text.startswith("Cannot be analysed — the file is unreadable: "), text
    assert window.detail.genre_bars.empty_text == "Cannot be analysed: the file is unreadable."
    assert not window.detail.label_editor.entry.isEnabled()
    window.sidebar.select_view("all")
    assert window.detail.track_id is None
    assert window.detail.heading.text() == "No track selected"


def test_search_finds_predicted_genres(qtbot, window, library, tmp_path):
    scanned(qtbot, window, tmp_path / "music")
    with library.session() as s:
        tid = s.scalar(select(Track.id).where(Track.path_text.like("%song2.wav")))
        s.add(
            Prediction(
                track_id=tid, bundle_id="genre", confidences={"Reggae": 0.8}, summary="Reggae 0.80"
            )
        )
    window.search.setText("reggae")
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=3000)
    assert window.model.track_id(0) == tid


def test_hand_edit_genres_of_a_multi_selection(qtbot, window, library, tmp_path):
    scanned(qtbot, window, tmp_path / "music")
    with library.session() as s:
        ids = list(s.scalars(select(Track.id).where(Track.status == "ok").order_by(Track.id)))
        s.add(Prediction(track_id=ids[0], bundle_id="genre", confidences={"Pop": 0.7}))
    rows = {window.model.track_id(r): r for r in range(window.model.rowCount())}
    window.table.selectRow(rows[ids[0]])
    editor = window.detail.label_editor
    assert editor.labels() == ["Pop"] and "this track" in editor.scope.text()
    flags_seen = []
    window.model.dataChanged.connect(lambda *_: flags_seen.append(1))

    # Ctrl-click a second and a third track: the edit applies to all three.
    for tid in ids[1:3]:
        window.table.selectionModel().select(
            window.model.index(rows[tid], 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )
    assert editor.scope.text() == "Changes apply to the 3 selected tracks."
    editor.entry.setText("rock")
    editor.add_button.click()
    assert editor.message.text() == "Kept Rock on 3 tracks."
    assert editor.labels() == ["Rock", "Pop"]
    editor.entry.setText("Not A Genre")
    editor.add_from_entry()
    assert "not a genre of the taxonomy" in editor.message.text()

    editor.list.item(1).setSelected(True)  # Pop, predicted: Remove rejects it everywhere
    editor.remove_button.click()
    assert editor.labels() == ["Rock"]
    with library.session() as s:
        state = reviews(s, "genre", ids)
    assert all(state[t].accepted == {"Rock"} and state[t].rejected == {"Pop"} for t in ids[:3])
    assert ids[3] not in state
    assert flags_seen, "the table is refreshed after a hand edit"


@pytest.fixture
def tiny(monkeypatch, tmp_path_factory) -> str:
    pytest.importorskip("tagger_core.listening.engine")
    root = tmp_path_factory.mktemp("bundles")
    make_tiny_bundle(root, "tiny-menu", seed=3)
    manifest = root / "tiny-menu" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["raw_labels"] = ["rock", "jazz", "pop", "electronic", "blues", "folk"]
    manifest.write_text(json.dumps(data))
    monkeypatch.setenv("MUSIC_TAGGER_BUNDLES", str(root))
    monkeypatch.setattr(process_job, "ISOLATE", False)
    return "tiny-menu"


def test_analyse_from_the_menus(qtbot, window, library, tmp_path, tiny):
    scanned(qtbot, window, tmp_path / "music", n=3, seconds=3.0)
    window.analysis_options = {"bundles": [tiny], "batch_size": 4, "workers": 1}
    select_rows(window, 1, 2)  # row 0 is broken.mp3 (titles sort by file name)
    ids = window.library_actions.selected_ids()
    action(window.library_actions.track_menu(ids), "Analyse 2 tracks").trigger()
    wait_for_job(qtbot, window, 120000)
    assert window.last_error is None, window.last_error
    with library.session() as s:
        done = set(s.scalars(select(Analysis.track_id).where(Analysis.status == "ok")))
        root_id = s.scalar(select(LibraryRoot.id))
    assert done == set(ids)
    menu = window.library_actions.folder_menu(root_id, str(tmp_path / "music"))
    action(menu, "Analyse folder").trigger()
    wait_for_job(qtbot, window, 120000)
    with library.session() as s:
        done = set(s.scalars(select(Analysis.track_id).where(Analysis.status == "ok")))
    assert len(done) == 4  # 3 wav + the tagged flac; the broken mp3 is not analysable
