"""Right-click menus of the library: tracks, folders and the column header.

Every track action works on the whole selection (Ctrl/Shift-click, Ctrl+A):
analyse, review, export, show in the file manager, copy paths, remove from
the library. Folder entries of the sidebar offer rescan, analyse, show and
remove. Removing only ever touches the database (``tagger_core.library.removal``)
and always asks first, saying how much review work would be lost.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QPoint, Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMenu, QMessageBox
from sqlalchemy import select

from tagger_core.db.models import Track
from tagger_core.library.removal import RemovalImpact, removal_impact, remove_from_library
from tagger_core.library.track_views import COLUMN_KEYS, COLUMNS

if TYPE_CHECKING:
    from app.main_window import MainWindow

#: Folders opened at most by one "Show in file manager" (a selection may span many).
MAX_FOLDERS_SHOWN = 5


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' if n != 1 else ''}"


class LibraryActions(QObject):
    """Menus and selection actions of the main window's library tab."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        #: Opens a folder in the desktop's file manager (False when there is none).
        self.open_url: Callable[[QUrl], bool] = QDesktopServices.openUrl
        #: Asks a yes/no question; tests answer it.
        self.confirm: Callable[[str, str], bool] = self._ask
        custom = Qt.ContextMenuPolicy.CustomContextMenu
        table, header, sidebar = window.table, window.table.horizontalHeader(), window.sidebar
        table.setContextMenuPolicy(custom)
        table.customContextMenuRequested.connect(self._table_menu)
        header.setContextMenuPolicy(custom)
        header.customContextMenuRequested.connect(
            lambda pos: self.column_menu().exec(header.mapToGlobal(pos))
        )
        sidebar.setContextMenuPolicy(custom)
        sidebar.customContextMenuRequested.connect(self._sidebar_menu)
        table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        window.model.modelReset.connect(self._view_reset)
        window.sidebar.view_chosen.connect(self._place_status)

    # -- selection -------------------------------------------------------------------------
    def selected_ids(self) -> list[int]:
        """Track ids of every selected row, read per selected range (one query each)."""
        ranges = [(r.top(), r.bottom()) for r in self.w.table.selectionModel().selection()]
        return self.w.model.ids_in_rows(ranges) if ranges else []

    def _selection_changed(self) -> None:
        self.w.detail.label_editor.set_selection(self.selected_ids())

    def _view_reset(self) -> None:
        """A new view, search or sort: the old row is gone, so the detail pane is cleared."""
        self.w.detail.show_track(None)
        self.w.detail.label_editor.set_selection([])

    def _place_status(self, view: str) -> None:
        """In the Errors view the Status column (with the reason) comes right after Title."""
        header = self.w.table.horizontalHeader()
        status = COLUMN_KEYS.index("status")
        header.moveSection(header.visualIndex(status), 1 if view == "errors" else status)

    # -- track menu ------------------------------------------------------------------------
    def _table_menu(self, pos: QPoint) -> None:
        index = self.w.table.indexAt(pos)
        if index.isValid() and not self.w.table.selectionModel().isRowSelected(index.row()):
            self.w.table.selectRow(index.row())
        menu = self.track_menu(self.selected_ids())
        menu.exec(self.w.table.viewport().mapToGlobal(pos))

    def track_menu(self, ids: list[int]) -> QMenu:
        """The right-click menu for ``ids`` (the selected tracks)."""
        menu = QMenu(self.w)
        n = len(ids)
        some = _plural(n, "track")
        analyse = self._add(menu, f"Analyse {some}", lambda: self.w._analyse(ids))
        reason = self.w.analysis_unavailable() or (
            "Wait for the running job to finish" if self.w.job else None
        )
        analyse.setEnabled(bool(ids) and reason is None)
        analyse.setToolTip(reason or "")
        self._add(menu, f"Review {some}", lambda: self.review(ids)).setEnabled(bool(ids))
        self._add(menu, f"Export tags of {some}…", lambda: self.export(ids)).setEnabled(bool(ids))
        menu.addSeparator()
        self._add(menu, "Show in file manager", lambda: self.show_tracks(ids)).setEnabled(bool(ids))
        self._add(menu, "Copy path" if n == 1 else f"Copy {n:,} paths", lambda: self.copy(ids))
        menu.addSeparator()
        remove = self._add(menu, f"Remove {some} from library…", lambda: self.remove(ids, []))
        remove.setEnabled(bool(ids) and self.w.job is None)
        menu.setToolTipsVisible(True)
        return menu

    def _add(self, menu: QMenu, text: str, slot: Callable[[], Any]) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def paths(self, ids: list[int]) -> list[str]:
        """File paths of ``ids`` as the file system spells them, in id order."""
        with self.w.library.session() as s:
            raw = dict(s.execute(select(Track.id, Track.path).where(Track.id.in_(ids))).all())
        return [os.fsdecode(raw[i]) for i in ids if i in raw]

    def review(self, ids: list[int]) -> None:
        self.w.tabs.setCurrentWidget(self.w.review)
        self.w.review.open_tracks(ids)

    def export(self, ids: list[int]) -> None:
        dialog = self.w.open_export()
        dialog.set_selection(ids)

    def copy(self, ids: list[int]) -> None:
        paths = self.paths(ids)
        QGuiApplication.clipboard().setText("\n".join(paths))
        self.w.status_text.setText(f"Copied {_plural(len(paths), 'path')} to the clipboard.")

    def show_tracks(self, ids: list[int]) -> None:
        folders = list(dict.fromkeys(os.path.dirname(p) for p in self.paths(ids)))
        self.show_folders(folders)

    def show_folders(self, folders: list[str]) -> None:
        """Open each folder in the file manager; say where they are when none opens."""
        shown = folders[:MAX_FOLDERS_SHOWN]
        failed = [f for f in shown if not self.open_url(QUrl.fromLocalFile(f))]
        if failed:
            QGuiApplication.clipboard().setText("\n".join(failed))
            self.w.status_text.setText(
                f"No file manager could be opened; the folder path is copied: {failed[0]}"
            )
        elif len(folders) > len(shown):
            self.w.status_text.setText(f"Opened the first {len(shown)} of {len(folders)} folders.")

    # -- folder menu -----------------------------------------------------------------------
    def _sidebar_menu(self, pos: QPoint) -> None:
        found = self.w.sidebar.folder_at(pos)
        if found is not None:
            self.folder_menu(*found).exec(self.w.sidebar.viewport().mapToGlobal(pos))

    def folder_menu(self, root_id: int, path: str) -> QMenu:
        """The right-click menu of a library folder in the sidebar."""
        menu = QMenu(self.w)
        idle = self.w.job is None
        present = os.path.isdir(path)
        rescan = self._add(menu, "Rescan", lambda: self.w.scan_folders([path]))
        rescan.setEnabled(idle and present)
        rescan.setToolTip("" if present else f"{path} is not there (unplugged drive?)")
        analyse = self._add(menu, "Analyse folder", lambda: self.analyse_folder(root_id))
        reason = self.w.analysis_unavailable()
        analyse.setEnabled(idle and reason is None)
        analyse.setToolTip(reason or "")
        self._add(menu, "Show in file manager", lambda: self.show_folders([path]))
        menu.addSeparator()
        remove = self._add(menu, "Remove folder from library…", lambda: self.remove([], [root_id]))
        remove.setEnabled(idle)
        menu.setToolTipsVisible(True)
        return menu

    def analyse_folder(self, root_id: int) -> None:
        with self.w.library.session() as s:
            ids = list(s.scalars(select(Track.id).where(Track.root_id == root_id)))
        if not ids:
            self.w.status_text.setText("This folder has no tracks to analyse.")
            return
        self.w._analyse(ids)

    # -- removing --------------------------------------------------------------------------
    def _ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(
            self.w,
            title,
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def remove(self, track_ids: list[int], root_ids: list[int]) -> bool:
        """Ask, then remove tracks and folders from the library (never from disk)."""
        if self.w.job is not None or not (track_ids or root_ids):
            return False
        library = self.w.library
        with library.session() as s:
            impact = removal_impact(s, track_ids, root_ids)
        text = (
            f"Remove {impact.sentence()} from the library?\n\n"
            "No file on disk is touched. Their analyses, predictions and review decisions "
            "are deleted."
        )
        if root_ids:
            text += " A removed folder is no longer scanned; add it again to bring it back."
        else:
            text += " Rescanning their folder adds the files again, without those decisions."
        if not self.confirm("Remove from library?", text):
            self.w.status_text.setText("Nothing removed.")
            return False

        def run(_report: Any, _cancel: Any) -> RemovalImpact:
            return remove_from_library(library, track_ids, root_ids)

        def done(result: RemovalImpact) -> str:
            self.w.detail.show_track(None)
            return f"Removed {result.sentence()} from the library; no file was touched."

        self.w.start_job("Removing from library", run, done)
        return True

    # -- columns ---------------------------------------------------------------------------
    def column_menu(self) -> QMenu:
        """Tick boxes for the table's columns; hiding is kept by the saved header state."""
        header = self.w.table.horizontalHeader()
        menu = QMenu(self.w)
        for col, (_key, title) in enumerate(COLUMNS):
            action = menu.addAction(title)
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(col))
            action.toggled.connect(lambda on, c=col: self.set_column_visible(c, on))
        return menu

    def set_column_visible(self, column: int, visible: bool) -> None:
        header = self.w.table.horizontalHeader()
        shown = [c for c in range(header.count()) if not header.isSectionHidden(c)]
        if not visible and shown == [column]:
            self.w.status_text.setText("The last visible column stays.")
            return
        header.setSectionHidden(column, not visible)
