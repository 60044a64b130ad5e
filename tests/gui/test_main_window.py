"""The main window driven through its actions on real generated audio files."""

from __future__ import annotations

from audio_files import make_audio, tag_file
from event_loop_ticks import TickGaps
from PySide6.QtCore import QSettings, Qt


def wait_for_job(qtbot, win, timeout_ms: int = 60000) -> None:
    """Let the event loop run until the window's job has ended."""
    qtbot.waitUntil(lambda: win.job is None, timeout=timeout_ms)


def make_folder(root, n: int, prefix: str = "song"):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        path = make_audio(root / f"{prefix}{i:03d}.wav", seconds=0.3, seed=i)
        if i == 0:
            path = make_audio(root / f"{prefix}{i:03d}.flac", seconds=0.5, seed=i)
            tag_file(path, title="Tagged Flac", artist="Somebody", genres=["Jazz", "Blues"])
    (root / "broken.mp3").write_bytes(b"not audio at all" * 10)
    return root


def test_scan_through_gui_fills_table_sidebar_and_detail(qtbot, window, tmp_path):
    folder = make_folder(tmp_path / "music", 5)
    job = window.scan_folders([str(folder)])
    assert job is not None and not window.act_rescan.isEnabled()
    wait_for_job(qtbot, window)
    assert window.last_error is None
    assert window.model.rowCount() == 7  # 5 wav + 1 flac + 1 broken
    assert "7 new" in window.status_text.text() or "Scanned 7 files" in window.status_text.text()
    counts = [window.sidebar.item(i).text() for i in range(window.sidebar.count())]
    assert "All tracks (7)" in counts and "Errors (1)" in counts and "music (7)" in counts

    window.sidebar.select_view("errors")
    assert window.model.rowCount() == 1
    assert window.model.data(window.model.index(0, 7)).startswith("unreadable: ")
    window.sidebar.select_view("all")

    window.search.setText("Tagged")
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=3000)
    window.table.selectRow(0)
    assert window.detail.detail is not None
    fields = dict(window.detail.detail.fields)
    assert fields["Title"] == "Tagged Flac" and fields["Genres"] == "Jazz; Blues"
    assert window.detail.raw_tree.topLevelItemCount() > 0
    qtbot.waitUntil(
        lambda: (
            window.detail.spectrogram.pixmap() is not None
            and not window.detail.spectrogram.pixmap().isNull()
        ),
        timeout=30000,
    )
    if not window.detail.player.available:
        assert not window.detail.play_button.isEnabled()
        assert "Preview" in window.detail.play_button.toolTip()

    # Rescan finds the new file and nothing else changes.
    make_audio(folder / "late.wav", seconds=0.3, seed=99)
    window.search.setText("")
    qtbot.waitUntil(lambda: window.model.rowCount() == 7, timeout=3000)
    assert window.rescan() is not None
    wait_for_job(qtbot, window)
    assert window.model.rowCount() == 8
    assert window.last_report.new == 1 and window.last_report.unchanged == 7


def test_cancel_mid_scan_keeps_window_usable(qtbot, window, tmp_path):
    folder = make_folder(tmp_path / "many", 60)
    window.scan_folders([str(folder)])
    window.act_cancel.trigger()
    wait_for_job(qtbot, window)
    report = window.last_report
    assert report.cancelled
    assert report.new < 62
    assert "cancelled" in window.status_text.text().lower()
    assert window.act_rescan.isEnabled() and not window.act_cancel.isEnabled()
    window.rescan()
    wait_for_job(qtbot, window)
    assert window.model.rowCount() == 62


def test_event_loop_keeps_ticking_during_a_scan(qtbot, window, tmp_path):
    """Measures the longest pause of the UI thread during a scan (reported, not asserted)."""
    folder = make_folder(tmp_path / "tick", 100)
    with TickGaps() as ticks:
        window.scan_folders([str(folder)])
        wait_for_job(qtbot, window)
    gaps = ticks.gaps
    assert window.model.rowCount() == 102
    assert len(gaps) > 5, "the event loop must have kept running during the scan"
    print(f"\nlongest event-loop gap during a GUI scan: {max(gaps)} ms over {len(gaps)} ticks")


def test_settings_persist_geometry_view_and_columns(qtbot, library, tmp_path):
    from app.main_window import MainWindow

    path = str(tmp_path / "persist.ini")
    first = MainWindow(library, QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    first.show()
    first.resize(first.minimumSizeHint().width() + 10, 450)
    saved = (first.size().width(), first.size().height())
    assert saved[1] == 450
    first.table.setColumnWidth(1, 233)
    first.sidebar.select_view("flagged")
    first.review.bundle_box.setCurrentIndex(1)
    first.calibration.method.setCurrentIndex(first.calibration.method.findData("isotonic"))
    first.calibration.folds.setValue(3)
    first.close()
    second = MainWindow(library, QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    second.show()
    assert second.size().height() == saved[1]  # default height is 820; offscreen clamps width
    assert second.table.columnWidth(1) == 233
    assert second.sidebar.current_view() == "flagged"
    assert second.model.view == "flagged"
    assert second.review.task == "instruments"
    assert second.calibration.method.currentData() == "isotonic"
    assert second.calibration.folds.value() == 3


def test_shortcuts_and_disabled_analysis_say_why(window):
    assert window.act_rescan.shortcut().toString() == "F5"
    assert window.act_cancel.shortcut().toString() == "Esc"
    assert window.act_review.shortcut().toString() == "Ctrl+2"
    reason = window.analysis_unavailable()
    if reason is not None:
        assert not window.act_analyse_all.isEnabled()
        assert window.act_analyse_all.toolTip() == reason
    window.act_review.trigger()
    assert window.tabs.currentWidget() is window.review
    window.act_find.trigger()
    assert window.tabs.currentIndex() == 0


def test_sort_by_clicking_the_header(qtbot, window, tmp_path):
    folder = make_folder(tmp_path / "sort", 3)
    window.scan_folders([str(folder)])
    wait_for_job(qtbot, window)
    window.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    titles = [window.model.data(window.model.index(r, 0)) for r in range(window.model.rowCount())]
    assert titles == sorted(titles, key=str.lower, reverse=True)


def test_save_library_as_csv_and_json(qtbot, window, tmp_path):
    import csv
    import json

    folder = make_folder(tmp_path / "dump", 2)
    window.scan_folders([str(folder)])
    wait_for_job(qtbot, window)
    window.save_dump(str(tmp_path / "lib.csv"), "csv")
    wait_for_job(qtbot, window)
    rows = list(csv.DictReader((tmp_path / "lib.csv").read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 4 and "Saved 4 tracks" in window.status_text.text()
    window.save_dump(str(tmp_path / "lib.json"), "json")
    wait_for_job(qtbot, window)
    data = json.loads((tmp_path / "lib.json").read_text(encoding="utf-8"))
    assert {d["path"].rsplit("/", 1)[-1] for d in data} >= {"song000.flac", "broken.mp3"}
