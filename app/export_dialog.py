"""The export dialog: choose what to write, see the per-file diff, run it, undo a batch.

All file work is ``tagger_core.writing`` run in worker jobs (dry run for the
diff, the export itself, undo); the dialog only collects options and shows
what came back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
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

StartJob = Callable[[str, JobFn, Callable[[Any], Any] | None], Job]


def _values(values: list[str] | None) -> str:
    return "—" if values is None else "; ".join(values) or "(empty)"


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
        form.addRow("", conf)
        form.addRow("", self.only_reviewed)
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
        )

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

    def _finished(self, result: Any, done: Callable[[Any], str]) -> str:
        self.last_report = result
        text = done(result)
        self.summary.setText(text)
        return text

    def _failed(self, message: str) -> None:
        self.summary.setText(f"Failed: {message}")

    def _ended(self) -> None:
        self.job = None
        self.progress.setVisible(False)
        self.refresh_batches()
        self._update_buttons()

    def preview(self) -> None:
        self._start_export("Previewing export", True, self._show_diff)

    def _start_export(self, title: str, dry_run: bool, done: Callable[[ExportReport], str]) -> None:
        """Run the export (or its dry run) with the dialog's options in a worker."""
        try:
            options = self.options()
        except TaggerError as err:
            self.summary.setText(str(err))
            return
        library = self.library

        def run(report: Any, cancel: Any) -> ExportReport:
            return run_export(library, options, dry_run=dry_run, progress=report, cancel=cancel)

        self._run(title, run, done)

    def _show_diff(self, report: ExportReport) -> str:
        self.diff.clear()
        for d in report.diffs:
            top = QTreeWidgetItem(self.diff, [d.path, "", ""])
            top.setFirstColumnSpanned(False)
            for name, (old, new) in sorted(d.changes.items()):
                QTreeWidgetItem(top, [name, _values(old), _values(new)])
            top.setExpanded(True)
        for problem in report.problems[:200]:
            item = QTreeWidgetItem(self.diff, [problem, "", ""])
            item.setForeground(0, Qt.GlobalColor.darkRed)
        return (
            f"{report.written:,} files would change, {report.unchanged:,} already up to date, "
            f"{report.skipped:,} would be skipped, {report.failed:,} cannot be read."
        )

    def export(self) -> None:
        def done(r: ExportReport) -> str:
            text = (
                f"Export batch {r.batch_id}: {r.written:,} files written, "
                f"{r.unchanged:,} unchanged, {r.skipped:,} skipped, {r.failed:,} failed."
            )
            return (
                ("Export cancelled; finish it by exporting again. " + text) if r.cancelled else text
            )

        self._start_export("Exporting", False, done)

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

        def run(report: Any, cancel: Any) -> ExportReport:
            return undo_batch(library, batch_id, progress=report, cancel=cancel)

        self._run(
            "Undoing export",
            run,
            lambda r: (
                f"Batch {batch_id} undone: {r.restored:,} files restored, "
                f"{r.skipped:,} skipped, {r.failed:,} failed."
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
