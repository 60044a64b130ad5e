"""The library table's model: rows fetched page by page from SQL, never all at once.

Row count, sorting and the search box are SQL (``tagger_core.library.track_views``);
the model keeps a small cache of recently shown pages, so a 100,000-track
library opens as fast as a 10-track one and scrolling to the end reads one page.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from app.confidence_bars import RAW_TOOLTIP
from tagger_core.db import Library
from tagger_core.labels.tasks import TaskBundles, task_bundles
from tagger_core.library.track_views import (
    COLUMN_KEYS,
    COLUMNS,
    TrackRow,
    count_tracks,
    page_ids,
    rows_for,
)
from tagger_core.trust.predictions import UNCALIBRATED_MARK

PAGE = 200
MAX_PAGES = 40
TRACK_ID_ROLE = Qt.ItemDataRole.UserRole + 1

Index = QModelIndex | QPersistentModelIndex

_FLAG_TEXT = {"flagged": "⚑ flagged", "reviewed": "✓ reviewed", "": ""}
_STATUS_COLOURS = {"missing": "#9a6700", "unreadable": "#b42318"}


class LibraryTableModel(QAbstractTableModel):
    """Tracks of one view, filtered and sorted in SQL, fetched in pages on demand."""

    def __init__(self, library: Library, parent: Any = None) -> None:
        super().__init__(parent)
        self.library = library
        self.view = "all"
        self.text = ""
        self.sort_key = "title"
        self.descending = False
        self._count = 0
        self.bundles = TaskBundles()
        self._pages: OrderedDict[int, list[TrackRow]] = OrderedDict()
        self.rows_fetched = 0
        self.pages_fetched = 0
        self._recount()

    # -- what the view shows -------------------------------------------------------------
    def set_view(self, view: str) -> None:
        if view != self.view:
            self.view = view
            self._reset()

    def set_filter(self, text: str) -> None:
        text = text.strip()
        if text != self.text:
            self.text = text
            self._reset()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMN_KEYS):
            return
        self.sort_key = COLUMN_KEYS[column]
        self.descending = order == Qt.SortOrder.DescendingOrder
        self._reset()

    def refresh(self) -> None:
        """Re-read counts and visible rows after the database changed, keeping the scroll."""
        old = self._count
        with self.library.session() as s:
            self.bundles = task_bundles(s)
            new = count_tracks(s, self.view, self.text, self.bundles)
            if new == old:
                # Same rows (analysis results arriving): re-read the cached pages by id,
                # which is cheap, instead of re-running the sorted page queries.
                for number, page in list(self._pages.items()):
                    self._pages[number] = rows_for(s, [r.id for r in page], self.bundles)
                    self.rows_fetched += len(page)
        if new != old:
            self._pages.clear()
        if new > old:
            self.beginInsertRows(QModelIndex(), old, new - 1)
            self._count = new
            self.endInsertRows()
        elif new < old:
            self.beginRemoveRows(QModelIndex(), new, old - 1)
            self._count = new
            self.endRemoveRows()
        if new:
            self.dataChanged.emit(self.index(0, 0), self.index(new - 1, len(COLUMNS) - 1))

    def _recount(self) -> None:
        with self.library.session() as s:
            self.bundles = task_bundles(s)
            self._count = count_tracks(s, self.view, self.text, self.bundles)

    def _reset(self) -> None:
        self.beginResetModel()
        self._pages.clear()
        self._recount()
        self.endResetModel()

    # -- paging ------------------------------------------------------------------------------
    def _page(self, number: int) -> list[TrackRow]:
        page = self._pages.get(number)
        if page is not None:
            self._pages.move_to_end(number)
            return page
        with self.library.session() as s:
            ids = page_ids(
                s,
                self.view,
                self.text,
                self.sort_key,
                self.descending,
                number * PAGE,
                PAGE,
                self.bundles,
            )
            page = rows_for(s, ids, self.bundles)
        self.rows_fetched += len(page)
        self.pages_fetched += 1
        self._pages[number] = page
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        return page

    def row_at(self, row: int) -> TrackRow | None:
        """The track shown on ``row`` (None past the end)."""
        if not 0 <= row < self._count:
            return None
        page = self._page(row // PAGE)
        offset = row % PAGE
        return page[offset] if offset < len(page) else None

    def track_id(self, row: int) -> int | None:
        item = self.row_at(row)
        return item.id if item else None

    def ids_in_rows(self, ranges: list[tuple[int, int]]) -> list[int]:
        """Track ids of the rows ``top..bottom`` (inclusive) of each range, in row order.

        One SQL query per range, so Ctrl+A over 100,000 tracks does not page
        through the whole view.
        """
        out: list[int] = []
        with self.library.session() as s:
            for top, bottom in sorted(ranges):
                out.extend(
                    page_ids(
                        s,
                        self.view,
                        self.text,
                        self.sort_key,
                        self.descending,
                        top,
                        bottom - top + 1,
                        self.bundles,
                    )
                )
        return list(dict.fromkeys(out))

    def cached_track_id(self, row: int) -> int | None:
        """The track on ``row`` as last read (None when that page is not cached): no query."""
        page = self._pages.get(row // PAGE)
        offset = row % PAGE
        return page[offset].id if page is not None and offset < len(page) else None

    def row_of(self, track_id: int) -> int | None:
        """Row of a track among the cached pages (None when not cached)."""
        for number, page in self._pages.items():
            for i, item in enumerate(page):
                if item.id == track_id:
                    return number * PAGE + i
        return None

    @property
    def cached_rows(self) -> int:
        return sum(len(p) for p in self._pages.values())

    # -- Qt model interface ----------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][1]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self.row_at(index.row())
        if item is None:
            return None
        key = COLUMN_KEYS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            value = item.value(key)
            return _FLAG_TEXT.get(value, value) if key == "flag" else value
        if role == TRACK_ID_ROLE:
            return item.id
        raw = key in ("predicted", "instruments") and str(item.value(key)).endswith(
            UNCALIBRATED_MARK
        )
        outdated = item.outdated.get(key)
        if role == Qt.ItemDataRole.ToolTipRole:
            if key == "status" and item.error:
                return item.error
            notes = [n for n, shown in ((RAW_TOOLTIP, raw), (outdated, outdated)) if shown]
            if notes:
                return "\n".join([item.value(key), *notes])
            return item.value(key) or None
        if role == Qt.ItemDataRole.ForegroundRole:
            colour = _STATUS_COLOURS.get(item.status)
            if colour:
                return QBrush(QColor(colour))
            if raw or outdated:
                return QBrush(QColor("#737373"))
            if key == "flag" and item.flag == "flagged":
                return QBrush(QColor("#b54708"))
        return None
