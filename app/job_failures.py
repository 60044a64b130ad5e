"""Failed jobs stay visible: a status-bar button counts them and opens their full text.

Why: the status bar keeps one line and the next message replaces it; a failure
(a user error, a bug, the analysis child dying) must not vanish with it, and
must not block the window with a modal box either.
"""

from __future__ import annotations

import time

from PySide6.QtWidgets import QDialog, QPlainTextEdit, QToolButton, QVBoxLayout, QWidget


def one_line(message: str) -> str:
    """The line of a (possibly multi-line) failure worth showing in the status bar."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return "no reason given"
    return lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1]}"


class JobFailures(QToolButton):
    """``⚠ N errors`` in the status bar; clicking shows every failure in a non-modal window."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[str] = []
        self.setAutoRaise(True)
        self.setVisible(False)
        self.setToolTip("Jobs that failed since the window opened: click to read why")
        self.clicked.connect(self.show_log)
        self.log = QDialog(parent)
        self.log.setWindowTitle("Job errors")
        self.log.setModal(False)
        self.log_text = QPlainTextEdit()
        self.log_text.setReadOnly(True)
        layout = QVBoxLayout(self.log)
        layout.addWidget(self.log_text)
        self.log.resize(720, 360)

    def add(self, title: str, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.entries.append(f"{stamp}  {title} failed:\n{message.strip()}\n")
        self.log_text.setPlainText("\n".join(self.entries))
        n = len(self.entries)
        self.setText(f"⚠ {n} error{'s' if n != 1 else ''}")
        self.setVisible(True)

    def show_log(self) -> None:
        self.log.show()
        self.log.raise_()
