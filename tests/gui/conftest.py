"""Fixtures for the GUI tests: a temp QSettings file and a window over a temp library."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, library, settings):
    from app.main_window import MainWindow

    win = MainWindow(library, settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    if win.job is not None:
        win.job.cancel()
        win.job.wait()
    win.detail.wait_for_jobs()
