"""The status-bar button that offers training heads on the archive's own tags.

After an analysis the core says, per bundle, whether the tags it calibrated
from are plentiful enough to train heads on (``train_hint`` of its
``auto_calibration``). Training takes minutes to hours and runs from the
command line, so the button shows the command and copies it, rather than
starting it behind the librarian's back.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton, QWidget


def train_hints(result: Any) -> list[str]:
    """The ``train heads --from-tags`` commands an analysis report offers (may be none)."""
    fits = getattr(result, "auto_calibration", None) or {}
    return [str(f["train_hint"]) for f in fits.values() if f and f.get("train_hint")]


class TrainFromTagsButton(QPushButton):
    """Hidden until an analysis reports enough tags to train heads on."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Train heads from tags\u2026", parent)
        self.setToolTip("Your files' tags are enough to train model heads on this archive")
        self.hints: list[str] = []
        self.setVisible(False)
        self.clicked.connect(self.show_hints)

    def update_from(self, result: Any) -> None:
        """Show or hide the button for a finished analysis's report."""
        self.hints = train_hints(result)
        self.setVisible(bool(self.hints))

    def commands(self) -> str:
        """The commands, one a line, without the explanations in parentheses."""
        return "\n".join(h.split("  (")[0] for h in self.hints)

    def show_hints(self) -> None:
        """Copy the commands and say how to run them."""
        QApplication.clipboard().setText(self.commands())
        box = QMessageBox(self)
        box.setWindowTitle("Train heads from your tags")
        box.setText(
            "Enough of your tracks carry tags to train model heads on them. Run in a "
            "terminal (copied to the clipboard; DIR is where the new model goes):"
        )
        box.setInformativeText("\n".join(self.hints))
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.open()
