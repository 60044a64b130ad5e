"""The export dialog: choose what to write, see the per-file diff, run it, undo a batch.

All file work is ``tagger_core.writing`` run in worker jobs (dry run for the
diff, the export itself, undo); the dialog only collects options and shows
what came back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.workers import Job, JobFn
from tagger_core.db import Library
from tagger_core.errors import TaggerError
from tagger_core.writing import ExportOptions, ExportReport, list_batches, run_export, undo_batch
from tagger_core.writing.album_plan import plan_with_albums

StartJob = Callable[[str, JobFn, Callable[[Any], Any] | None], Job]


def _values(values: list[str] | None) -> str:
    return "—" if values is None else "; ".join(values) or "(empty)"


@dataclass
class Outcome:
    """What one dialog job came back with.

    ``report`` is what ran (export, undo, or the dry run itself); ``preview``
    is a dry run made after it, so the diff's "Now" column is what the files
    hold once the job is done; ``instrument_tracks`` counts the tracks with
    instrument families to write (to say why none were written).
    """

    report: ExportReport
    preview: ExportReport
    instrument_tracks: int
    options: ExportOptions


def instruments_note(options: ExportOptions, instrument_tracks: int, field_changes: int) -> str:
    """Why ticking "Instrument families" writes nothing ("" when it writes something)."""
    if "instruments" not in options.tasks or field_changes:
        return ""
    if instrument_tracks:
        return (
            f"Instrument families: the files already hold them ({options.instruments_field} "
            "field; TXXX in MP3, a freeform atom in MP4)."
        )
    how = (
        f"and no prediction reaches {options.min_confidence:.2f}"
        if options.min_confidence is not None
        else '(tick "Also write labels with calibrated confidence" to write predicted ones)'
    )
    return (
        "Instrument families: nothing to write — no track here has accepted instrument "
        f"families {how}."
    )


class ExportDialog(QDialog):
    """Non-modal dialog; jobs run through ``start_job`` so the status bar shows them too."""

    def __init__(self, library: Library, start_job: StartJob, parent: QWidget | None = None):
        super().__init__(parent)
        self.library = library
        self.start_job = start_job
        self.job: Job | None = None
        self.last_report: ExportReport | None = None
        self.setWindowTitle("Export tags to files")
        self.resize(900, 640)
        #: Asks before files are written; returns True to go on (tests answer it).
        self.confirm: Callable[[str], bool] = self._ask
        self.track_ids: list[int] | None = None
        self.only_selection = QCheckBox("")
        self.only_selection.setVisible(False)

        self.genres = QCheckBox("Genres")
        self.genres.setChecked(True)
        self.instruments = QCheckBox("Instrument families")
        self.instruments.setChecked(True)
        self.policy = QComboBox()
        self.policy.addItem("Merge with the file's genres (drop rejected ones)", "merge")
        self.policy.addItem("Replace the file's genres with the accepted ones", "replace")
        self.use_confidence = QCheckBox("Also write labels with calibrated confidence ≥")
        self.min_confidence = QDoubleSpinBox()
        self.min_confidence.setRange(0.5, 1.0)
        self.min_confidence.setSingleStep(0.05)
        self.min_confidence.setValue(0.9)
        self.min_confidence.setEnabled(False)
        self.use_confidence.toggled.connect(self.min_confidence.setEnabled)
        self.album_genres = QCheckBox(
            "One genre set per album, written to all its tracks (like beets)"
        )
        self.album_genres.setToolTip(
            "Each album gets the genres most of its tracks would get, plus those whose\n"
            "album-level confidence reaches the minimum; unchecked, every track gets its own."
        )
        self.only_reviewed = QCheckBox("Only tracks a person marked reviewed")
        self.id3 = QComboBox()
        self.id3.addItem("ID3v2.4 (multiple values)", 4)
        self.id3.addItem("ID3v2.3 (values joined with '; ')", 3)
        self.provenance = QCheckBox("Record where the labels came from (model, calibration)")

        tasks = QHBoxLayout()
        tasks.addWidget(self.genres)
        tasks.addWidget(self.instruments)
        tasks.addStretch(1)
        conf = QHBoxLayout()
        conf.addWidget(self.use_confidence)
        conf.addWidget(self.min_confidence)
        conf.addStretch(1)
        form_box = QGroupBox("What to write")
        form = QFormLayout(form_box)
        form.addRow("Labels:", tasks)
        form.addRow("Existing genres:", self.policy)
        form.addRow("Albums:", self.album_genres)
        form.addRow("", conf)
        form.addRow("", self.only_reviewed)
        form.addRow("", self.only_selection)
        form.addRow("MP3 tags:", self.id3)
        form.addRow("", self.provenance)

        self.diff = QTreeWidget()
        self.diff.setHeaderLabels(["File / field", "Now", "After export"])
        self.diff.setColumnWidth(0, 380)
        self.diff.setColumnWidth(1, 200)
        self.summary = QLabel("Press Preview to see what would change in each file.")
        self.summary.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)

        self.batches = QTreeWidget()
        self.batches.setHeaderLabels(["Batch", "Status", "Created", "Files"])
        self.batches.setRootIsDecorated(False)
        self.batches.setMaximumHeight(120)

        self.preview_button = QPushButton("Preview")
        self.export_button = QPushButton("Export")
        self.undo_button = QPushButton("Undo last batch")
        self.preview_button.clicked.connect(self.preview)
        self.export_button.clicked.connect(self.export)
        self.undo_button.clicked.connect(self.undo_last)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        for b in (self.preview_button, self.export_button, self.undo_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(buttons)

        layout = QVBoxLayout(self)
        layout.addWidget(form_box)
        layout.addWidget(QLabel("Changes per file:"))
        layout.addWidget(self.diff, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.progress)
        layout.addWidget(QLabel("Export batches (newest first):"))
        layout.addWidget(self.batches)
        layout.addLayout(row)
        self.refresh_batches()

    # -- options ---------------------------------------------------------------------------
    def options(self) -> ExportOptions:
        """The options the controls describe (TaggerError when they make no sense)."""
        tasks = tuple(
            t
            for t, box in (("genre", self.genres), ("instruments", self.instruments))
            if box.isChecked()
        )
        return ExportOptions(
            tasks=tasks,
            policy=str(self.policy.currentData()),
            min_confidence=self.min_confidence.value() if self.use_confidence.isChecked() else None,
            only_reviewed=self.only_reviewed.isChecked(),
            id3_version=int(self.id3.currentData()),
            provenance=self.provenance.isChecked(),
            album_genres=self.album_genres.isChecked(),
        )

    def set_selection(self, track_ids: list[int] | None) -> None:
        """Limit the export to these tracks (the library's selection); None: the whole library."""
        self.track_ids = list(track_ids) if track_ids else None
        n = len(self.track_ids or [])
        self.only_selection.setText(f"Only the {n:,} selected track{'s' if n != 1 else ''}")
        self.only_selection.setChecked(bool(n))
        self.only_selection.setVisible(bool(n))

    def scope(self) -> list[int] | None:
        """The tracks the next job covers (None: every track of the library)."""
        return self.track_ids if self.only_selection.isChecked() else None

    def _ask(self, question: str) -> bool:
        answer = QMessageBox.question(
            self,
            "Write tags into files?",
            question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    # -- jobs ------------------------------------------------------------------------------
    def _run(self, title: str, fn: Callable[[Any, Any], Any], done: Callable[[Any], str]) -> None:
        if self.job is not None:
            return
        try:
            job = self.start_job(title, fn, lambda result: self._finished(result, done))
        except RuntimeError as err:
            self.summary.setText(f"Cannot start: {err}")
            return
        self.job = job
        job.progress.connect(self._progress)
        job.failed.connect(self._failed)
        job.ended.connect(self._ended)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self._update_buttons()

    def _progress(self, done: int, total: int, _text: str) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def _finished(self, result: Outcome, done: Callable[[Outcome], str]) -> str:
        self.last_report = result.report
        self._show_diff(result.preview)
        text = done(result)
        field = result.options.instruments_field
        note = instruments_note(
            result.options, result.instrument_tracks, _field_changes(result.preview, field)
        )
        text = f"{text}\n{note}" if note else text
        self.summary.setText(text)
        return text

    def _failed(self, message: str) -> None:
        self.summary.setText(f"Failed: {message}")

    def _ended(self) -> None:
        self.job = None
        self.progress.setVisible(False)
        self.refresh_batches()
        self._update_buttons()

    def _start(
        self,
        title: str,
        work: Callable[[Any, Any], ExportReport] | None,
        done: Callable[[Outcome], str],
    ) -> None:
        """Run ``work`` (None: only the dry run) then a dry run, with the dialog's options."""
        try:
            options = self.options()
        except TaggerError as err:
            self.summary.setText(str(err))
            return
        library, track_ids = self.library, self.scope()

        def run(report: Any, cancel: Any) -> Outcome:
            did = work(report, cancel) if work is not None else None
            preview = run_export(
                library, options, track_ids=track_ids, dry_run=True, progress=report
            )
            with library.session() as s:
                plans = plan_with_albums(s, options, None, track_ids)
            n = sum(1 for p in plans if p.accept.get("instruments"))
            return Outcome(did or preview, preview, n, options)

        self._run(title, run, done)

    def preview(self) -> None:
        self._start("Previewing export", None, lambda r: _would_change(r.preview))

    def _show_diff(self, report: ExportReport) -> None:
        """One item per file; under an album heading when album-wide genres are chosen."""
        self.diff.clear()
        grouped = self.album_genres.isChecked()
        albums: dict[str | None, QTreeWidgetItem] = {}
        for d in report.diffs:
            parent: Any = self.diff
            if grouped:
                if d.album not in albums:
                    albums[d.album] = QTreeWidgetItem(
                        self.diff, [d.album or "Not in an album", "", ""]
                    )
                    albums[d.album].setExpanded(True)
                parent = albums[d.album]
            top = QTreeWidgetItem(parent, [d.path, "", ""])
            top.setFirstColumnSpanned(False)
            for name, (old, new) in sorted(d.changes.items()):
                QTreeWidgetItem(top, [name, _values(old), _values(new)])
            top.setExpanded(True)
        for problem in report.problems[:200]:
            item = QTreeWidgetItem(self.diff, [problem, "", ""])
            item.setForeground(0, Qt.GlobalColor.darkRed)

    def export(self) -> None:
        """Dry run first; write only after the librarian confirms what would change."""
        self._start("Checking what the export would change", None, self._confirm_export)

    def _confirm_export(self, result: Outcome) -> str:
        r = result.preview
        if not r.written:
            return "Nothing to write: " + _would_change(r)
        fields = sum(len(d.changes) for d in r.diffs)
        question = (
            f"Write {fields:,} field change{'s' if fields != 1 else ''} into "
            f"{r.written:,} file{'s' if r.written != 1 else ''}?\n\n"
            "Each file is replaced by a verified copy; the old values are kept, "
            "so the batch can be undone."
        )
        if not self.confirm(question):
            return "Export not started. " + _would_change(r)
        QTimer.singleShot(0, self._export_now)
        return f"Writing {r.written:,} files…"

    def _export_now(self) -> None:
        options, library, track_ids = self.options(), self.library, self.scope()

        def work(report: Any, cancel: Any) -> ExportReport:
            return run_export(library, options, track_ids=track_ids, progress=report, cancel=cancel)

        def done(result: Outcome) -> str:
            r = result.report
            text = (
                f"Export batch {r.batch_id}: {r.written:,} files written, "
                f"{r.unchanged:,} unchanged, {r.skipped:,} skipped, {r.failed:,} failed."
            )
            return (
                ("Export cancelled; finish it by exporting again. " + text) if r.cancelled else text
            )

        self._start("Exporting", work, done)

    def last_done_batch(self) -> int | None:
        for b in list_batches(self.library):
            if b["kind"] == "export" and b["status"] == "done":
                return int(b["id"])
        return None

    def undo_last(self) -> None:
        batch_id = self.last_done_batch()
        if batch_id is None:
            self.summary.setText("No finished export batch to undo.")
            return
        library = self.library

        def work(report: Any, cancel: Any) -> ExportReport:
            return undo_batch(library, batch_id, progress=report, cancel=cancel)

        self._start(
            "Undoing export",
            work,
            lambda o: (
                f"Batch {batch_id} undone: {o.report.restored:,} files restored, "
                f"{o.report.skipped:,} skipped, {o.report.failed:,} failed."
            ),
        )

    def refresh_batches(self) -> None:
        self.batches.clear()
        for b in list_batches(self.library)[:50]:
            files = sum(b["items"].values())
            created = b["created_at"].strftime("%Y-%m-%d %H:%M") if b["created_at"] else ""
            QTreeWidgetItem(self.batches, [str(b["id"]), b["status"], created, str(files)])
        self._update_buttons()

    def _update_buttons(self) -> None:
        idle = self.job is None
        self.preview_button.setEnabled(idle)
        self.export_button.setEnabled(idle)
        can_undo = idle and self.last_done_batch() is not None
        self.undo_button.setEnabled(can_undo)
        self.undo_button.setToolTip(
            "Restore the tags the last finished export batch replaced"
            if can_undo
            else "No finished export batch to undo"
        )


def _would_change(r: ExportReport) -> str:
    return (
        f"{r.written:,} files would change, {r.unchanged:,} already up to date, "
        f"{r.skipped:,} would be skipped, {r.failed:,} cannot be read."
    )


def _field_changes(r: ExportReport, field: str) -> int:
    """Changes of the dry run to one custom field (its native key names it in every format)."""
    return sum(1 for d in r.diffs for key in d.changes if field.upper() in key.upper())
