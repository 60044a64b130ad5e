"""Albums and artists beside the fixed views: album artist → album, and artist, as a tree.

Why a second widget under the sidebar: the fixed views and folders stay one flat list
(keys, counts, context menu), while an archive's thousands of albums need a tree that
opens one album artist at a time. Choosing an album or an artist emits the same view
keys the library table understands (``album:<key>``, ``artist:<name>``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from tagger_core.db import Library
from tagger_core.library.album_views import AlbumRow, album_page, artist_counts

VIEW_ROLE = Qt.ItemDataRole.UserRole + 1
ALBUM_ARTISTS = "Albums by album artist"
ARTISTS = "Artists"


class AlbumBrowser(QTreeWidget):
    """Emits ``view_chosen(key)`` for an album or an artist; ``refresh()`` re-reads them."""

    view_chosen = Signal(str)

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.albums: list[AlbumRow] = []
        self.setHeaderHidden(True)
        self.setMinimumWidth(150)
        self.currentItemChanged.connect(self._changed)
        self.refresh()

    def refresh(self) -> None:
        """Re-read albums and artists (one grouped query each), keeping the open branches."""
        with self.library.session() as s:
            self.albums = album_page(s, limit=None)
            artists = artist_counts(s)
        current = self.current_view()
        opened = {
            self.topLevelItem(i).text(0).split(" (")[0]
            for i in range(self.topLevelItemCount())
            if self.topLevelItem(i).isExpanded()
        }
        self.blockSignals(True)
        self.clear()
        by_artist: dict[str, list[AlbumRow]] = {}
        for album in self.albums:
            by_artist.setdefault(album.artist, []).append(album)
        top = QTreeWidgetItem(self, [f"{ALBUM_ARTISTS} ({len(self.albums):,})"])
        for artist, albums in by_artist.items():
            node = QTreeWidgetItem(top, [f"{artist} ({len(albums)})"])
            for album in albums:
                year = f"{album.year} · " if album.year else ""
                leaf = QTreeWidgetItem(node, [f"{album.album} ({year}{album.tracks})"])
                leaf.setData(0, VIEW_ROLE, album.view)
                leaf.setToolTip(0, album.folder)
        people = QTreeWidgetItem(self, [f"{ARTISTS} ({len(artists):,})"])
        for name, n in artists:
            leaf = QTreeWidgetItem(people, [f"{name} ({n:,})"])
            leaf.setData(0, VIEW_ROLE, f"artist:{name}")
        for item in (top, people):
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            item.setExpanded(item.text(0).split(" (")[0] in opened)
        self.blockSignals(False)
        if current:
            self.select_view(current)

    def current_view(self) -> str | None:
        item = self.currentItem()
        key = item.data(0, VIEW_ROLE) if item is not None else None
        return str(key) if key else None

    def select_view(self, key: str) -> bool:
        """Make the album or artist with view ``key`` current (opening its branch)."""
        for top in range(self.topLevelItemCount()):
            stack = [self.topLevelItem(top)]
            while stack:
                item = stack.pop()
                if item.data(0, VIEW_ROLE) == key:
                    parent = item.parent()
                    while parent is not None:
                        parent.setExpanded(True)
                        parent = parent.parent()
                    self.setCurrentItem(item)
                    return True
                stack.extend(item.child(i) for i in range(item.childCount()))
        return False

    def _changed(self, current: QTreeWidgetItem | None, _previous: object) -> None:
        key = current.data(0, VIEW_ROLE) if current is not None else None
        if key:
            self.view_chosen.emit(str(key))
