"""The sidebar: fixed library views and one entry per library folder, with counts."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from tagger_core.db import Library
from tagger_core.library.track_views import VIEWS, folder_views, view_counts
from tagger_core.trust.review import review_counts

VIEW_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole + 2


class Sidebar(QListWidget):
    """Emits ``view_chosen(key)``; ``refresh()`` re-reads folders and counts."""

    view_chosen = Signal(str)

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.setMinimumWidth(150)
        self.currentItemChanged.connect(self._changed)
        self.refresh()
        self.setCurrentRow(0)

    def current_view(self) -> str:
        item = self.currentItem()
        return str(item.data(VIEW_ROLE)) if item else "all"

    def select_view(self, key: str) -> bool:
        for i in range(self.count()):
            if self.item(i).data(VIEW_ROLE) == key:
                self.setCurrentRow(i)
                return True
        return False

    def folder_at(self, pos: QPoint) -> tuple[int, str] | None:
        """(library folder id, path) of the folder entry at ``pos`` (None elsewhere)."""
        item = self.itemAt(pos)
        key = str(item.data(VIEW_ROLE) or "") if item else ""
        if item is None or not key.startswith("folder:"):
            return None
        return int(key[7:]), str(item.data(PATH_ROLE))

    def refresh(self) -> None:
        with self.library.session() as s:
            counts = view_counts(s)
            folders = folder_views(s)
            per_task = review_counts(s)["tasks"].values()
        # None while an album or artist of the album browser is the view: keep it so.
        current = self.current_view() if self.currentItem() else None
        self.blockSignals(True)
        self.clear()
        for key, title in VIEWS:
            if key == "outdated" and not counts.get(key) and current != key:
                continue  # listed only while some analyses are by an earlier model version
            item = self._add(key, f"{title} ({counts.get(key, 0):,})")
            if key == "outdated":
                item.setToolTip(
                    "Tracks analysed only by an earlier version of a model: their predictions "
                    "come from it. Analyse them to update (the old analyses are kept)."
                )
            if key == "flagged":
                # How selective the flags are, per task: a flag on every track tells nothing.
                item.setToolTip(
                    "Tracks waiting for review in a task:\n"
                    + "\n".join(f"{t.rate_text}, {t.waiting:,} waiting" for t in per_task)
                )
        if folders:
            header = QListWidgetItem("Folders")
            header.setFlags(Qt.ItemFlag.NoItemFlags)
            font = header.font()
            font.setBold(True)
            header.setFont(font)
            self.addItem(header)
        for key, path in folders:
            name = path.rstrip("/").rsplit("/", 1)[-1] or path
            item = self._add(key, f"{name} ({counts.get(key, 0):,})")
            item.setToolTip(path)
            item.setData(PATH_ROLE, path)
        self.blockSignals(False)
        if current is not None and not self.select_view(current):
            self.setCurrentRow(0)

    def _add(self, key: str, text: str) -> QListWidgetItem:
        item = QListWidgetItem(text)
        item.setData(VIEW_ROLE, key)
        self.addItem(item)
        return item

    def _changed(self, current: QListWidgetItem | None, _previous: object) -> None:
        if current is not None and current.data(VIEW_ROLE):
            self.view_chosen.emit(str(current.data(VIEW_ROLE)))
