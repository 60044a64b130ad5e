"""The main window: sidebar views, the library table, track detail, review and calibration.

Every long piece of work (scan, analysis, fitting, export) runs as a ``Job`` in
a worker thread, one at a time; the status bar shows its count and time left,
and the table re-reads what the job has committed every half second.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QByteArray, QItemSelection, QItemSelectionModel, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QTableView,
    QTabWidget,
    QWidget,
)
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.album_browser import AlbumBrowser
from app.album_panel import AlbumPanel
from app.core_info import CoreInfo
from app.file_picker import FilePicker
from app.folder_drop import dropped_folders
from app.job_failures import JobFailures, one_line
from app.library_model import LibraryTableModel
from app.outdated_hint import OutdatedButton
from app.progress_text import format_duration, progress_message
from app.sidebar import Sidebar
from app.track_detail import TrackDetailPanel
from app.train_hint import TrainFromTagsButton
from app.workers import Job, JobFn
from tagger_core.db import Library
from tagger_core.db.changes import ChangeWatch
from tagger_core.db.models import LibraryRoot
from tagger_core.errors import TaggerError
from tagger_core.library.scan import ScanReport, scan
from tagger_core.library.track_views import COLUMN_KEYS

REFRESH_INTERVAL = 0.5
#: How often the window looks for what other programs committed to the library (ms).
CHANGE_POLL_MS = 3000
#: Selected rows found again after other programs moved them (the current row always is).
MAX_KEPT_SELECTION = 1000


class MainWindow(QMainWindow):
    """The application's one main window over an open library."""

    def __init__(self, library: Library, settings: QSettings | None = None) -> None:
        super().__init__()
        self.library = library
        self.settings = settings or QSettings()
        self.job: Job | None = None
        self.last_report: Any = None
        self.last_error: str | None = None
        #: Extra keyword arguments for ``tagger_core.listening.engine.analyze``
        #: (tests pick small models).
        self.analysis_options: dict[str, Any] = {}
        #: Models and devices, asked of a child process (the GUI never imports torch).
        self.core_info = CoreInfo(self)
        self._last_refresh = 0.0
        # The location's display form: a server URL's password never shows.
        self.setWindowTitle(f"Music Archive Tagger — {library.location.display}")

        self.model = LibraryTableModel(library, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        for col, width in enumerate((180, 130, 140, 110, 170, 150, 80, 60)):
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)

        self.sidebar = Sidebar(library)
        self.sidebar.view_chosen.connect(self.show_view)
        self.albums = AlbumBrowser(library)
        self.albums.view_chosen.connect(self.show_view)
        self.album_panel = AlbumPanel(library)
        self.album_panel.setVisible(False)
        self.detail = TrackDetailPanel(library)

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.sidebar)
        left.addWidget(self.albums)
        left.setSizes([260, 400])
        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(self.album_panel)
        centre.addWidget(self.table)
        centre.setStretchFactor(1, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(centre)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 1)
        self.splitter.setSizes([200, 900, 380])

        self.tabs = QTabWidget()
        self.tabs.addTab(self.splitter, "Library")
        self.setCentralWidget(self.tabs)
        self._add_panels()

        self.search = QLineEdit()
        self.search.setPlaceholderText(
            "Search title, artist, album, genre, path, predicted  (Ctrl+F)"
        )
        self.search.setClearButtonEnabled(True)
        self.search.setMaximumWidth(360)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)
        self._search_timer.timeout.connect(lambda: self.model.set_filter(self.search.text()))
        self.search.textChanged.connect(lambda _t: self._search_timer.start())

        self.status_text = QLabel("Ready")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setVisible(False)
        self.failures = JobFailures(self)
        self.train_from_tags = TrainFromTagsButton(self)
        self.outdated = OutdatedButton(self.library, self)
        self.outdated.show_requested.connect(lambda: self.sidebar.select_view("outdated"))
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.outdated)
        self.statusBar().addPermanentWidget(self.train_from_tags)
        self.statusBar().addPermanentWidget(self.failures)
        self.statusBar().addPermanentWidget(self.progress)
        #: Every file and folder chooser runs in a child process (see app.file_picker).
        self.picker = FilePicker(lambda: int(self.winId()), self)
        self.picker.running_changed.connect(lambda _running: self._update_actions())
        self.picker.failed.connect(self.status_text.setText)
        self.analyse_offer: QMessageBox | None = None
        #: The window that replaced this one (File ▸ Connect to shared library…).
        self.successor: MainWindow | None = None

        self._make_actions()
        self._make_menus_and_toolbar()
        self._add_library_actions()
        self._restore_settings()
        self._update_actions()
        self.setAcceptDrops(True)
        self.changes = ChangeWatch(library)
        self.change_timer = QTimer(self)
        self.change_timer.setInterval(CHANGE_POLL_MS)
        self.change_timer.timeout.connect(self.show_outside_changes)
        self.change_timer.start()

    # -- panels that plug into the cores ---------------------------------------------------
    def _add_panels(self) -> None:
        from app.review_panel import ReviewPanel

        self.review = ReviewPanel(self.library, self.detail.player, self.start_job)
        self.review.decisions_changed.connect(self.refresh_library)
        self.review.user_changed.connect(self._user_changed)
        self.album_panel.review_requested.connect(self.review_album)
        self.tabs.addTab(self.review, "Review")
        from app.calibration_panel import CalibrationPanel

        self.calibration = CalibrationPanel(self.library, self.start_job)
        self.tabs.addTab(self.calibration, "Calibration")
        self.tabs.currentChanged.connect(self._tab_changed)

    def _user_changed(self, name: str) -> None:
        """The review field's name: stored, and used for hand edits in the track detail too."""
        self.settings.setValue("review/user", name)
        self.detail.label_editor.user = name

    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.review:
            self.review.reload()
            self.review.setFocus()
        elif self.tabs.widget(index) is self.calibration:
            self.calibration.refresh_models()
            if self.calibration.data is None and self.job is None:
                self.calibration.reload()  # first visit: load the calibration set

    def _add_library_actions(self) -> None:
        """Right-click menus, the column chooser, multi-selection and hand edits."""
        from app.library_actions import LibraryActions

        self.library_actions = LibraryActions(self)
        self.detail.decisions_changed.connect(self.refresh_library)
        status = COLUMN_KEYS.index("status")
        sample = "unreadable: corrupt or unsupported file"  # the reason shows, not "unrea…"
        self.table.setColumnWidth(status, self.table.fontMetrics().horizontalAdvance(sample) + 16)

    # -- actions ---------------------------------------------------------------------------
    def _action(self, text: str, shortcut: Any, slot: Callable[[], Any], tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        action.setStatusTip(tip)
        action.setToolTip(f"{tip} ({action.shortcut().toString()})" if shortcut else tip)
        return action

    def _make_actions(self) -> None:
        Std = QKeySequence.StandardKey
        self.act_add = self._action(
            "&Add folder…",
            Std.Open,
            self.add_folder_dialog,
            "Add a music folder to the library and scan it",
        )
        self.act_connect = self._action(
            "Connect to shared &library…",
            None,
            self.open_connect_dialog,
            "Open a library on a PostgreSQL server, shared with other librarians",
        )
        self.act_rescan = self._action(
            "&Rescan", "F5", self.rescan, "Scan every library folder again for new or changed files"
        )
        self.act_cancel = self._action(
            "&Cancel", "Esc", self.cancel_job, "Stop the running job; work committed so far is kept"
        )
        self.act_quit = self._action("&Quit", Std.Quit, self.close, "Quit")
        self.act_find = self._action("&Find", Std.Find, self._focus_search, "Search the library")
        self.act_library = self._action(
            "&Library", "Ctrl+1", lambda: self.tabs.setCurrentIndex(0), "Library view"
        )
        self.act_review = self._action(
            "Re&view mode", "Ctrl+2", self.open_review, "Review flagged tracks, most useful first"
        )
        self.act_export = self._action(
            "&Export tags…",
            "Ctrl+E",
            self.open_export,
            "Write accepted labels into the files' tags, with a per-file preview and undo",
        )
        self.act_calibration = self._action(
            "&Calibration",
            "Ctrl+3",
            lambda: self.tabs.setCurrentWidget(self.calibration),
            "Calibrate a model on your archive and set the review thresholds",
        )
        self.act_dump = self._action(
            "Save library as CSV/&JSON…",
            None,
            self.save_dump_dialog,
            "Write every track, its tags, predictions and decisions to a CSV or JSON file",
        )
        self.act_about = self._action("&About", None, self._about, "About this application")
        self.act_preferences = self._action(
            "&Preferences…",
            "Ctrl+,",
            self.open_preferences,
            "Paths, analysis models and device, review thresholds, export defaults",
        )
        self.act_shortcuts = self._action(
            "&Keyboard shortcuts", "F1", self.show_shortcuts, "Every keyboard shortcut"
        )
        self.act_shortcuts.setShortcuts([QKeySequence("F1"), QKeySequence("Ctrl+/")])
        self.act_analyse_sel = self._action(
            "Analyse &selection", "Ctrl+R", self.analyse_selection, "Analyse the selected tracks"
        )
        self.act_analyse_all = self._action(
            "Analyse &all",
            "Ctrl+Shift+R",
            self.analyse_all,
            "Analyse every track that is not analysed yet",
        )
        self.act_quick_pass = self._action(
            "&Quick pass over all (fast profile)",
            None,
            self.quick_pass,
            "Analyse every track with the distilled fast models: a first, much cheaper look at "
            "a large archive (its own calibration; the full ensembles stay the default)",
        )

    def _make_menus_and_toolbar(self) -> None:
        bar = self.menuBar()
        m = bar.addMenu("&File")
        m.addActions([self.act_add, self.act_rescan])
        m.addSeparator()
        m.addAction(self.act_connect)
        m.addSeparator()
        m.addAction(self.act_export)
        m.addAction(self.act_dump)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = bar.addMenu("&Edit")
        m.addAction(self.act_preferences)
        m = bar.addMenu("&Analysis")
        m.addActions([self.act_analyse_sel, self.act_analyse_all, self.act_quick_pass])
        m.addSeparator()
        m.addAction(self.act_cancel)
        m = bar.addMenu("&View")
        m.addActions([self.act_library, self.act_review, self.act_calibration, self.act_find])
        m = bar.addMenu("&Help")
        m.addAction(self.act_shortcuts)
        m.addAction(self.act_about)
        tb = self.addToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        tb.addActions(
            [
                self.act_add,
                self.act_rescan,
                self.act_analyse_sel,
                self.act_analyse_all,
                self.act_cancel,
            ]
        )
        tb.addSeparator()
        tb.addAction(self.act_review)
        tb.addAction(self.act_export)
        spacer = QWidget()
        spacer.setSizePolicy(
            spacer.sizePolicy().horizontalPolicy().Expanding, spacer.sizePolicy().verticalPolicy()
        )
        tb.addWidget(spacer)
        tb.addWidget(self.search)

    def _update_actions(self) -> None:
        """Jobs run one at a time; nothing starts while a file chooser is open."""
        busy = self.job is not None or self.picker.running
        self.act_cancel.setEnabled(self.job is not None)
        for act in (
            self.act_add,
            self.act_rescan,
            self.act_dump,
            self.act_export,
            self.act_preferences,
            self.act_connect,
        ):
            act.setEnabled(not busy)
        reason = self.analysis_unavailable()
        for act in (self.act_analyse_sel, self.act_analyse_all, self.act_quick_pass):
            act.setEnabled(not busy and reason is None)
            if reason:
                act.setToolTip(reason)
                act.setStatusTip(reason)

    def analysis_unavailable(self) -> str | None:
        """Why tracks cannot be analysed from the GUI yet (None when they can)."""
        from app.analysis import analysis_problem

        return analysis_problem()

    def _focus_search(self) -> None:
        self.tabs.setCurrentIndex(0)
        self.search.setFocus()
        self.search.selectAll()

    def open_export(self) -> Any:
        """Show the export dialog (one per window, non-modal)."""
        from app.export_dialog import ExportDialog

        if getattr(self, "export_dialog", None) is None:
            self.export_dialog = ExportDialog(self.library, self.start_job, self)
            from app.preferences import apply_export_defaults

            apply_export_defaults(self.export_dialog, self.settings)
        self.export_dialog.refresh_batches()
        self.export_dialog.show()
        self.export_dialog.raise_()
        return self.export_dialog

    def save_dump_dialog(self) -> None:
        start = os.path.join(self._music_folder(), "library.csv")
        self.picker.choose_save_file(
            "Save library as", start, "CSV (*.csv);;JSON (*.json)", self._dump_chosen
        )

    def _dump_chosen(self, path: str) -> None:
        try:
            self.save_dump(path, "json" if path.lower().endswith(".json") else "csv")
        except TaggerError as err:
            self.status_text.setText(str(err))
            self.failures.add("Saving library", str(err))

    def save_dump(self, path: str, fmt: str) -> Job:
        """Write the whole library to ``path`` (csv or json) in a worker.

        Refuses (ConfigError) the database itself and its SQLite files as target.
        """
        from tagger_core.writing import dump

        library = self.library
        library.refuse_as_target(path)
        library.refuse_as_target(f"{path}.partial")

        def run(report: Callable[[int, int, str], None], _cancel: Any) -> int:
            tmp = f"{path}.partial"
            with open(tmp, "w", encoding="utf-8", newline="") as out:
                n = dump(library, fmt, out)
            os.replace(tmp, path)
            return n

        return self.start_job("Saving library", run, lambda n: f"Saved {n:,} tracks to {path}.")

    def open_review(self) -> None:
        self.tabs.setCurrentWidget(self.review)

    def _about(self) -> QMessageBox:
        """A non-modal About box; models and devices fill in when the core child answers."""
        from app.about import about_text

        box = getattr(self, "about_box", None)
        if box is None:
            box = QMessageBox(
                QMessageBox.Icon.Information,
                "About Music Archive Tagger",
                "",
                QMessageBox.StandardButton.Close,
                self,
            )
            box.setWindowModality(Qt.WindowModality.NonModal)
            self.about_box = box
        device = str(self.settings.value("analysis/device") or "auto")

        def fill(info: dict[str, Any] | None) -> None:
            where = self.library.location.display
            box.setText(about_text(where, device, info, self.core_info.error))

        fill(None)
        self.core_info.request(fill)
        box.show()
        box.raise_()
        return box

    def open_connect_dialog(self) -> Any:
        """File ▸ Connect to shared library…: a PostgreSQL library replaces this window's."""
        from app.shared_library import ConnectDialog

        if getattr(self, "connect_dialog", None) is None:
            self.connect_dialog = ConnectDialog(self.settings, self)
            self.connect_dialog.connected.connect(self.switch_library)
        self.connect_dialog.show()
        self.connect_dialog.raise_()
        return self.connect_dialog

    def switch_library(self, library: Library) -> MainWindow | None:
        """Show ``library`` in a new window, as if started with ``--db``; this one closes.

        A job in flight (scan, analysis…) works on this library, so switching waits for it.
        """
        if self.job is not None:
            library.close()
            self.status_text.setText(
                f"Wait for {self.job.title.lower()} to finish, then connect again."
            )
            return None
        self.save_settings()
        window = MainWindow(library, self.settings)
        window.setGeometry(self.geometry())
        window.show()
        self.successor = window
        self.close()
        self.library.close()
        return window

    def open_preferences(self) -> Any:
        """Edit ▸ Preferences (non-modal; one per window)."""
        from app.preferences import PreferencesDialog

        if getattr(self, "preferences", None) is None:
            self.preferences = PreferencesDialog(
                self.library, self.settings, self.picker, self.core_info, self.save_policy, self
            )
        self.preferences.load()
        self.preferences.show()
        self.preferences.raise_()
        return self.preferences

    def save_policy(self, policy: Any) -> Job | None:
        """Store review thresholds and recompute the flags, in a child process."""
        from app import calibration_tasks
        from app.process_job import in_child_process
        from tagger_core.labels.tasks import GENRE_BUNDLE

        if self.job is not None:
            raise TaggerError(f"wait for {self.job.title.lower()} to finish before saving")
        fn = in_child_process(
            calibration_tasks.apply, str(self.library.path), GENRE_BUNDLE, None, policy.to_dict()
        )
        return self.start_job(
            "Saving review thresholds",
            fn,
            lambda r: f"Review thresholds saved; {r['flagged']:,} tracks flagged for review.",
        )

    def show_shortcuts(self) -> Any:
        from app.shortcut_sheet import ShortcutSheet

        if getattr(self, "shortcut_sheet", None) is None:
            self.shortcut_sheet = ShortcutSheet(self.menuBar(), self.review, self)
        self.shortcut_sheet.show()
        self.shortcut_sheet.raise_()
        return self.shortcut_sheet

    # -- drag and drop ---------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        """Folders dropped are added and scanned; files are refused, with the reason."""
        folders, refused = dropped_folders(event.mimeData().urls())
        event.acceptProposedAction()
        if not folders:
            self.status_text.setText(refused or "Nothing to add: drop folders of music.")
            return
        if self.add_folders(folders) is not None and refused:
            self.status_text.setText(f"Scanning {len(folders)} folder(s). {refused}")

    # -- selection -------------------------------------------------------------------------
    def _row_changed(self, current: Any, _previous: Any) -> None:
        self.detail.show_track(self.model.track_id(current.row()) if current.isValid() else None)

    def selected_track_ids(self) -> list[int]:
        return self.library_actions.selected_ids()

    # -- jobs ------------------------------------------------------------------------------
    def start_job(self, title: str, fn: JobFn, on_done: Callable[[Any], None] | None = None) -> Job:
        """Run ``fn`` in a worker thread, with progress in the status bar."""
        if self.job is not None:
            raise RuntimeError("a job is already running")
        job = Job(title, fn, self)
        self.job = job
        self.last_error = None
        job.progress.connect(self._job_progress)
        job.finished.connect(lambda result: self._job_finished(job, result, on_done))
        job.failed.connect(lambda message: self._job_failed(job, message))
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.status_text.setText(f"{title}…")
        job.start()
        self._update_actions()
        return job

    def _job_progress(self, done: int, total: int, _text: str) -> None:
        job = self.job
        if job is None:
            return
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        self.status_text.setText(
            progress_message(job.title, done, total, time.perf_counter() - job.started_at)
        )
        now = time.perf_counter()
        if now - self._last_refresh >= REFRESH_INTERVAL:
            self._last_refresh = now
            self.model.refresh()

    def _job_ended(self) -> None:
        self.job = None
        self.progress.setVisible(False)
        self._update_actions()
        self.refresh_library()
        self.albums.refresh()

    def _job_finished(self, job: Job, result: Any, on_done: Callable[[Any], None] | None) -> None:
        self.last_report = result
        elapsed = format_duration(time.perf_counter() - job.started_at)
        self._job_ended()
        message = on_done(result) if on_done else None
        self.status_text.setText(message or f"{job.title} finished in {elapsed}.")
        job.deleteLater()

    def _job_failed(self, job: Job, message: str) -> None:
        """Say so in the status bar, keep the full text in the errors list, stay usable."""
        self.last_error = message
        self._job_ended()
        self.failures.add(job.title, message)
        self.status_text.setText(f"{job.title} failed: {one_line(message)}")
        job.deleteLater()

    def cancel_job(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status_text.setText(f"Cancelling {self.job.title.lower()}…")

    def refresh_library(self) -> None:
        """Re-read what decisions can change: the table, the counts, the album panel.

        The album tree changes only when tracks come or go (``_job_ended``): grouping a
        big library's albums costs a noticeable fraction of a second, too much per key
        press in review mode.
        """
        self.model.refresh()
        self.sidebar.refresh()
        self.outdated.refresh()
        if self.album_panel.isVisible() and self.album_panel.key:
            self.album_panel.show_album(self.album_panel.key)

    def show_outside_changes(self) -> bool:
        """Show what other programs committed: a colleague's decisions, an analysis, a rescan.

        The selected tracks stay selected (found again if their rows moved) and the
        detail panel is redrawn only when its track changed. True when anything had.
        """
        try:
            if not self.changes.changed():
                return False
        except SQLAlchemyError:
            return False  # a server restarting: the next look tries again
        current = self.table.currentIndex()
        keep = self.model.cached_track_id(current.row()) if current.isValid() else None
        # As shown, from the rows read before (the database already holds the new order).
        rows = itertools.chain.from_iterable(
            range(r.top(), r.bottom() + 1) for r in self.table.selectionModel().selection()
        )
        ids = map(self.model.cached_track_id, itertools.islice(rows, MAX_KEPT_SELECTION))
        selected = [t for t in ids if t is not None]
        self.refresh_library()
        if keep is not None and self.model.track_id(current.row()) != keep:
            self._select_again(keep, selected)
        self.detail.refresh()
        return True

    def _select_again(self, current: int, selected: list[int]) -> None:
        """Select these tracks again where their rows are now (among the rows read)."""
        flags = QItemSelectionModel.SelectionFlag
        rows = [r for r in (self.model.row_of(t) for t in selected) if r is not None]
        selection = QItemSelection()
        for row in rows:
            selection.select(self.model.index(row, 0), self.model.index(row, 0))
        chooser = self.table.selectionModel()
        row = self.model.row_of(current)
        if row is not None:
            chooser.setCurrentIndex(self.model.index(row, 0), flags.NoUpdate)
        chooser.select(selection, flags.ClearAndSelect | flags.Rows)

    def show_view(self, key: str) -> None:
        """Show a view in the table; an album's view also shows its album-level labels."""
        self.model.set_view(key)
        is_album = key.startswith("album:")
        if is_album:
            self.album_panel.show_album(key[6:])
        self.album_panel.setVisible(is_album)
        if self.sender() is self.albums:
            self.sidebar.blockSignals(True)
            self.sidebar.clearSelection()
            self.sidebar.setCurrentItem(None)
            self.sidebar.blockSignals(False)
        elif self.sender() is self.sidebar:
            self.albums.blockSignals(True)
            self.albums.setCurrentItem(None)
            self.albums.blockSignals(False)

    def review_album(self, key: str) -> None:
        """Review mode on one album: its tracks in order, the album's genres one key away."""
        self.tabs.setCurrentWidget(self.review)
        self.review.open_album(key)

    # -- scan ------------------------------------------------------------------------------
    def _music_folder(self) -> str:
        """Where choosers start: the default music folder of the preferences, else home."""
        folder = self.settings.value("paths/music_folder")
        return str(folder) if folder and os.path.isdir(str(folder)) else os.path.expanduser("~")

    def add_folder_dialog(self) -> None:
        self.picker.choose_folder("Add a music folder", self._music_folder(), self.add_folders)

    def add_folders(self, folders: list[str] | str) -> Job | None:
        """Scan new library folders, then offer to analyse what they added."""
        folders = [folders] if isinstance(folders, str) else folders
        if self.job is not None:
            self.status_text.setText(f"Wait for {self.job.title.lower()} to finish, then add.")
            return None

        def done(report: ScanReport) -> str:
            text = self._scan_done(report)
            if not report.cancelled:
                self._offer_analysis(report.new + report.changed)
            return text

        return self.scan_folders(folders, done)

    def _offer_analysis(self, added: int) -> None:
        """Ask (without blocking the window) whether to analyse the tracks just added."""
        if added == 0 or self.analysis_unavailable() is not None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Analyse new tracks?",
            f"{added:,} new or changed track{'s' if added != 1 else ''} added. "
            "Analyse the tracks not analysed yet now?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.button(QMessageBox.StandardButton.Yes).setText("Analyse now")
        box.button(QMessageBox.StandardButton.No).setText("Not now")
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.finished.connect(lambda code: self._offer_answered(box, code))
        self.analyse_offer = box
        box.show()

    def _offer_answered(self, box: QMessageBox, code: int) -> None:
        self.analyse_offer = None
        box.deleteLater()
        if code == QMessageBox.StandardButton.Yes:
            self.analyse_all()

    def scan_then_analyse(self, folders: list[str]) -> Job:
        """The main job at start-up: scan, then analyse what is new (when analysis exists)."""

        def done(report: ScanReport) -> str:
            text = self._scan_done(report)
            if not report.cancelled and self.analysis_unavailable() is None:
                QTimer.singleShot(0, self.analyse_all)
            return text

        return self.scan_folders(folders, done)

    def scan_folders(
        self, folders: list[str], on_done: Callable[[ScanReport], str] | None = None
    ) -> Job:
        library = self.library

        def run(report: Callable[[int, int, str], None], cancel: Any) -> ScanReport:
            return scan(
                library,
                folders,
                progress=lambda p: report(p.done, p.total, p.path),
                cancel=cancel,
            )

        return self.start_job("Scanning", run, on_done or self._scan_done)

    def rescan(self) -> Job | None:
        with self.library.session() as s:
            roots = [os.fsdecode(p) for p in s.scalars(select(LibraryRoot.path))]
        present = [r for r in roots if os.path.isdir(r)]
        if not present:
            self.status_text.setText(
                "No library folders to rescan: add one with File ▸ Add folder."
            )
            return None
        return self.scan_folders(present)

    def _scan_done(self, report: ScanReport) -> str:
        text = (
            f"Scanned {report.seen:,} files: {report.new:,} new, {report.changed:,} changed, "
            f"{report.moved:,} moved, {report.missing:,} missing, "
            f"{report.unreadable:,} unreadable."
        )
        return ("Scan cancelled; what was read is kept. " + text) if report.cancelled else text

    # -- analysis --------------------------------------------------------------------------
    def analyse_selection(self) -> Job | None:
        ids = self.selected_track_ids()
        if not ids:
            self.status_text.setText("Select tracks to analyse first.")
            return None
        return self._analyse(ids)

    def analyse_all(self) -> Job | None:
        return self._analyse(None)

    def quick_pass(self) -> Job | None:
        """Every track through the ``fast`` profile's bundles (analyze --profile fast)."""
        from tagger_core.listening.report import PROFILES

        return self._analyse(None, bundles=list(PROFILES["fast"]))

    def _analyse(self, ids: list[int] | None, **overrides: Any) -> Job | None:
        from app.analysis import analysis_job, describe_result

        if self.analysis_unavailable() is not None or self.job is not None:
            return None

        def done(result: Any) -> str:
            self.train_from_tags.update_from(result)
            self.calibration.show_shifts(getattr(result, "shift", None) or {})
            return describe_result(result, selected=ids is not None)

        return self.start_job(
            "Analysing",
            analysis_job(self.library, ids, **{**self._analysis_options(), **overrides}),
            done,
        )

    def _analysis_options(self) -> dict[str, Any]:
        """The preferences' models and device, overridden by ``analysis_options``."""
        from app.preferences import analysis_preferences

        return {**analysis_preferences(self.settings), **self.analysis_options}

    # -- settings --------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 820)
        state = s.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        splitter = s.value("window/splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)
        header = s.value("table/header")
        if isinstance(header, QByteArray):
            self.table.horizontalHeader().restoreState(header)
        view = s.value("library/view")
        if isinstance(view, str) and not self.sidebar.select_view(view):
            self.albums.select_view(view)
        for box, key in (
            (self.review.bundle_box, "review/task"),
            (self.calibration.method, "calibration/method"),
            (self.calibration.criterion, "calibration/criterion"),
        ):
            index = box.findData(s.value(key))
            if index >= 0:
                box.blockSignals(True)
                box.setCurrentIndex(index)
                box.blockSignals(False)
        from app.review_claims import claim_batch, librarian, through_claims

        self.review.through_claims = through_claims(s, self.library)
        self.review.claim_size = claim_batch(s)
        self.review.set_user(librarian(s))
        self.detail.label_editor.user = self.review.user
        folds = s.value("calibration/folds")
        if folds is not None and str(folds).isdigit():
            self.calibration.folds.setValue(int(folds))

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/splitter", self.splitter.saveState())
        s.setValue("table/header", self.table.horizontalHeader().saveState())
        s.setValue("library/view", self.albums.current_view() or self.sidebar.current_view())
        s.setValue("review/task", self.review.bundle_box.currentData())
        s.setValue("calibration/method", self.calibration.method.currentData())
        s.setValue("calibration/criterion", self.calibration.criterion.currentData())
        s.setValue("calibration/folds", self.calibration.folds.value())
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job.wait(30000)
        self.change_timer.stop()
        self.changes.close()
        self.picker.stop()
        self.core_info.stop()
        self.detail.stop()
        self.detail.wait_for_jobs()
        self.save_settings()
        super().closeEvent(event)
