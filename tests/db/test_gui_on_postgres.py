"""The desktop window on a shared PostgreSQL library (offscreen)."""

from __future__ import annotations

from pathlib import Path

import pytest
from audio_files import make_audio, tag_file
from PySide6.QtCore import QSettings

from tagger_core.db import open_library

pytestmark = pytest.mark.postgres


def test_window_scans_lists_and_searches_a_postgresql_library(qtbot, pg_url, tmp_path: Path):
    from app.main_window import MainWindow

    music = tmp_path / "music"
    music.mkdir()
    for i in range(3):
        make_audio(music / f"song{i}.wav", seconds=0.3, seed=i)
    tag_file(make_audio(music / "tagged.flac", seconds=0.5), title="Tagged Flac", genres=["Jazz"])
    library = open_library(pg_url)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(library, settings)
    qtbot.addWidget(win)
    win.show()
    try:
        assert pg_url in win.windowTitle()
        assert win.scan_folders([str(music)]) is not None
        qtbot.waitUntil(lambda: win.job is None, timeout=60000)
        assert win.last_error is None and win.model.rowCount() == 4
        counts = [win.sidebar.item(i).text() for i in range(win.sidebar.count())]
        assert "All tracks (4)" in counts and "music (4)" in counts
        win.search.setText("tagged")
        qtbot.waitUntil(lambda: win.model.rowCount() == 1, timeout=3000)
    finally:
        if win.job is not None:
            win.job.cancel()
            win.job.wait()
        win.detail.wait_for_jobs()
        library.close()
