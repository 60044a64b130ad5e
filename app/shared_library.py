"""File ▸ Connect to shared library…: open a PostgreSQL library by host, port, database, user.

Why a dialog of fields and not a URL box: a librarian knows the server's name and
their account, rarely the URL syntax. The password is never stored (not in the
settings, not in the recent list): the dialog recommends ``~/.pgpass``, which libpq
reads when the field is left empty. Anything shown (the window title, messages) uses
the location's display form, where a password is masked.

Connecting (which also brings the schema up to date) runs in a worker thread, so
an unreachable server never freezes the window; a failure is one line in the
dialog. No file chooser is involved, so the GUI's rule that it never lists a
folder in its own process (``app.file_picker``) holds here too.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from app.workers import Job
from tagger_core.db import Library, open_library
from tagger_core.db.location import PG_DRIVER
from tagger_core.errors import ConfigError
from tagger_core.trust.librarians import default_user

RECENT_KEY = "shared/recent"
RECENT_MAX = 8
PGPASS_HINT = (
    "The password is never stored. Leave it empty and put it in ~/.pgpass "
    "(a line host:port:database:user:password, file mode 600)."
)


def without_password(url: URL) -> str:
    """The URL as text with no password at all: what the recent list keeps."""
    bare = URL.create(
        url.drivername,
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )  # ``url.set(password=None)`` would keep the password: None there means "unchanged"
    return bare.render_as_string(hide_password=False)


def recent_libraries(settings: QSettings) -> list[str]:
    """Recently opened shared libraries, newest first (never with a password)."""
    value = settings.value(RECENT_KEY) or []
    items = [value] if isinstance(value, str) else list(value)
    return [str(v) for v in items if v]


def remember(settings: QSettings, url: URL) -> None:
    """Put ``url`` (password dropped) first in the recent list."""
    text = without_password(url)
    items = [text] + [v for v in recent_libraries(settings) if v != text]
    settings.setValue(RECENT_KEY, items[:RECENT_MAX])


class ConnectDialog(QDialog):
    """Host, port, database, user and an unsaved password; ``connected(library)`` on success."""

    connected = Signal(object)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to shared library")
        self.settings = settings
        self.job: Job | None = None
        #: Closed while connecting: the library that arrives afterwards is closed, not opened.
        self.abandoned = False
        self.recent = QComboBox()
        self.recent.addItem("—", None)
        for text in recent_libraries(settings):
            self.recent.addItem(text, text)
        self.recent.currentIndexChanged.connect(self._recent_chosen)
        self.host = QLineEdit("localhost")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(5432)
        self.database = QLineEdit()
        self.database.setPlaceholderText("e.g. music")
        self.user = QLineEdit(default_user())
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("empty: from ~/.pgpass")
        hint = QLabel(PGPASS_HINT)
        hint.setWordWrap(True)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Connect")
        self.buttons.accepted.connect(self.connect_library)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Recent:", self.recent)
        form.addRow("Server (host):", self.host)
        form.addRow("Port:", self.port)
        form.addRow("Database:", self.database)
        form.addRow("User:", self.user)
        form.addRow("Password:", self.password)
        form.addRow(hint)
        form.addRow(self.message)
        form.addRow(self.buttons)

    def _recent_chosen(self, _index: int) -> None:
        text = self.recent.currentData()
        if text:
            self.fill(make_url(str(text)))

    def fill(self, url: URL) -> None:
        """Show ``url``'s parts in the fields (its password, if any, is not shown)."""
        self.host.setText(url.host or "localhost")
        self.port.setValue(url.port or 5432)
        self.database.setText(url.database or "")
        self.user.setText(url.username or "")

    def url(self) -> URL:
        """The URL the fields describe; ConfigError when one is missing or malformed."""
        host, database, user = (w.text().strip() for w in (self.host, self.database, self.user))
        if not host or not database:
            raise ConfigError("enter the server's host and the database name")
        try:
            return URL.create(
                PG_DRIVER,
                username=user or None,
                password=self.password.text() or None,
                host=host,
                port=self.port.value(),
                database=database,
            )
        except (ArgumentError, ValueError) as err:
            raise ConfigError(f"not a valid server address: {err}") from err

    def connect_library(self) -> Job | None:
        """Connect in a worker; on success remember it, emit ``connected`` and close."""
        if self.job is not None:
            return None
        try:
            url = self.url()
        except ConfigError as err:
            self.message.setText(str(err))
            return None
        self.message.setText(f"Connecting to {url.render_as_string(hide_password=True)}…")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        self.abandoned = False
        target = url.render_as_string(hide_password=False)
        job = Job("Connecting", lambda _report, _cancel: open_library(target), self)
        job.finished.connect(lambda library: self._connected(url, library))
        job.failed.connect(self._failed)
        self.job = job
        job.start()
        return job

    def _connected(self, url: URL, library: Library) -> None:
        self.job = None
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
        self.password.clear()
        if self.abandoned:
            library.close()
            return
        remember(self.settings, url)
        self.message.setText("")
        self.accept()
        self.connected.emit(library)

    def _failed(self, message: str) -> None:
        self.job = None
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
        self.message.setText(message.splitlines()[0] if message else "could not connect")

    def done(self, result: Any) -> None:
        """Cancelled while connecting: the attempt runs out, its library is then closed."""
        if self.job is not None:
            self.abandoned = True
        super().done(result)
