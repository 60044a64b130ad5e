"""Fixtures for the GUI tests: a temp QSettings file, a window over a temp library, a tiny model."""

from __future__ import annotations

import json
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


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundles")
    from tiny_bundle import make_tiny_bundle

    make_tiny_bundle(root, "tiny-gui", seed=3)
    # Raw tags the default genre taxonomy knows, so predictions get genre labels.
    manifest = root / "tiny-gui" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["raw_labels"] = ["rock", "jazz", "pop", "electronic", "blues", "folk"]
    manifest.write_text(json.dumps(data))
    return root


@pytest.fixture
def tiny(monkeypatch, tiny_root) -> str:
    """The id of a small real bundle, found by the analysis child process through the env."""
    monkeypatch.setenv("MUSIC_TAGGER_BUNDLES", str(tiny_root))
    return "tiny-gui"
