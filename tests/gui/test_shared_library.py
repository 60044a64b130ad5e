"""File ▸ Connect to shared library…: a PostgreSQL library by its parts, password never kept."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from sqlalchemy.engine import make_url

from app.shared_library import ConnectDialog, recent_libraries
from tagger_core.db import open_library
from tagger_core.db.models import Track


def _settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_empty_fields_and_an_unreachable_server_are_one_line(qtbot, tmp_path: Path) -> None:
    dialog = ConnectDialog(_settings(tmp_path))
    qtbot.addWidget(dialog)
    dialog.host.clear()
    assert dialog.connect_library() is None
    assert dialog.message.text() == "enter the server's host and the database name"
    dialog.host.setText("127.0.0.1")
    dialog.port.setValue(_closed_port())
    dialog.database.setText("music")
    dialog.password.setText("s3cret")
    job = dialog.connect_library()
    assert job is not None
    qtbot.waitUntil(lambda: dialog.job is None, timeout=30000)
    text = dialog.message.text()
    assert text.startswith("cannot connect to database") and "\n" not in text
    assert "s3cret" not in text
    assert recent_libraries(dialog.settings) == []


@pytest.mark.postgres
def test_connect_opens_the_shared_library_in_the_window(qtbot, pg_url, tmp_path: Path) -> None:
    from app.main_window import MainWindow

    shared = open_library(pg_url)
    with shared.session() as s:
        s.add(Track(path=b"/srv/a.flac", path_text="/srv/a.flac", size=1, mtime_ns=1))
    shared.close()
    settings = _settings(tmp_path)
    start = open_library(tmp_path / "local.db")
    win = MainWindow(start, settings)
    qtbot.addWidget(win)
    win.show()
    assert win.act_connect in win.menuBar().actions()[0].menu().actions()
    dialog = win.open_connect_dialog()
    url = make_url(pg_url)
    dialog.host.setText(url.host)
    dialog.port.setValue(url.port)
    dialog.database.setText(url.database)
    dialog.user.setText(url.username)
    dialog.password.setText("never-stored")  # the test server trusts local connections
    with qtbot.waitSignal(dialog.connected, timeout=60000) as blocker:
        dialog.connect_library()
    new = win.successor
    assert new is not None and new.library is blocker.args[0]
    qtbot.addWidget(new)
    try:
        assert new.library.dialect == "postgresql" and new.model.rowCount() == 1
        title = new.windowTitle()
        assert "never-stored" not in title and "***" in title and url.database in title
        assert not win.isVisible() and new.isVisible()
        # remembered without the password, and offered in the dialog next time
        assert recent_libraries(settings) == [pg_url]  # the test server's URL has no password
        settings.sync()
        text = Path(settings.fileName()).read_text()
        assert "never-stored" not in text
        again = ConnectDialog(settings)
        qtbot.addWidget(again)
        again.recent.setCurrentIndex(1)
        assert (again.database.text(), again.port.value()) == (url.database, url.port)
        assert again.password.text() == ""
    finally:
        new.detail.wait_for_jobs()
        win.detail.wait_for_jobs()
        new.library.close()
