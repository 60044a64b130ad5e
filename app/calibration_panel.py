"""The calibration settings panel: pick a model, see its calibration set, fit, compare, apply.

Fitting, the calibration set and applying run in a child process through the
main window's job runner (``app.calibration_tasks``). The review thresholds
are live: moving one recounts, on arrays loaded once, how many tracks the
setting would flag (``tagger_core.trust.policy.count_flags``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select

from app import calibration_tasks
from app.process_job import in_child_process
from app.workers import Job, JobFn
from tagger_core.db import Library
from tagger_core.db.models import Analysis
from tagger_core.errors import TaggerError
from tagger_core.trust.policy import ReviewPolicy, count_flags

StartJob = Callable[[str, JobFn, Callable[[Any], Any] | None], Job]
METHODS = (
    ("per-class", "Temperature per label"),
    ("temperature", "One temperature (AM'23)"),
    ("platt", "Platt scaling"),
    ("isotonic", "Isotonic regression"),
)
CRITERIA = (("nll", "Negative log-likelihood"), ("mae", "MAE grid search (AM'23)"))
METRICS = (
    ("mae", "MAE (AM'23)"),
    ("weighted_mae", "Weighted MAE (AM'23)"),
    ("ece", "ECE"),
    ("mce", "MCE"),
    ("brier", "Brier score"),
    ("nll", "NLL"),
)


def calibration_problem() -> str | None:
    """Why calibration cannot be used here (None when its core is installed)."""
    if importlib.util.find_spec("tagger_core.trust.archive_calibration") is None:
        return (
            "Calibration is not available in this build: "
            "tagger_core.trust.archive_calibration is missing."
        )
    return None


class ImageLabel(QLabel):
    """A picture that scales to the label's width, keeping its aspect ratio."""

    def __init__(self, placeholder: str) -> None:
        super().__init__(placeholder)
        self._pixmap: QPixmap | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(160)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setStyleSheet("color: palette(mid); border: 1px solid palette(midlight);")

    def set_png(self, data: bytes) -> None:
        pixmap = QPixmap()
        pixmap.loadFromData(data, "PNG")
        self._pixmap = pixmap
        self._rescale()

    def has_image(self) -> bool:
        return self._pixmap is not None and not self._pixmap.isNull()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is None or self._pixmap.isNull():
            return
        width = max(200, self.width() - 4)
        scaled = self._pixmap.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
        self.setPixmap(scaled)
        self.setMinimumHeight(min(scaled.height(), 520))


def _spin(value: float, low: float, high: float, step: float = 0.05) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(2)
    box.setValue(value)
    box.setMaximumWidth(90)
    return box


class CalibrationPanel(QWidget):
    """Calibration of one model bundle, and the review policy over its predictions."""

    def __init__(self, library: Library, start_job: StartJob, parent: QWidget | None = None):
        super().__init__(parent)
        self.library = library
        self.start_job = start_job
        self.data: dict[str, Any] | None = None
        self.fit_result: dict[str, Any] | None = None
        self.applied: dict[str, Any] | None = None
        self.problem = calibration_problem()

        self.model_box = QComboBox()
        self.use_tags = QCheckBox("Also trust existing genre tags as labels")
        self.reload_button = QPushButton("Load")
        self.reload_button.clicked.connect(self.reload)
        self.model_box.currentIndexChanged.connect(lambda _i: self.reload())
        self.use_tags.toggled.connect(lambda _c: self.reload())
        top = QHBoxLayout()
        top.addWidget(QLabel("Model:"))
        top.addWidget(self.model_box, 1)
        top.addWidget(self.use_tags)
        top.addWidget(self.reload_button)

        self.set_summary = QLabel("")
        self.set_summary.setWordWrap(True)
        self.set_table = QTableWidget(0, 3)
        self.set_table.setHorizontalHeaderLabels(["Label", "Positives", "Negatives"])
        self.set_table.verticalHeader().setVisible(False)
        self.set_table.horizontalHeader().setStretchLastSection(True)
        self.set_table.setMinimumHeight(220)
        set_box = QGroupBox("Calibration set (labels per class)")
        set_layout = QVBoxLayout(set_box)
        set_layout.addWidget(self.set_summary)
        set_layout.addWidget(self.set_table)

        self.method = QComboBox()
        for key, text in METHODS:
            self.method.addItem(text, key)
        self.criterion = QComboBox()
        for key, text in CRITERIA:
            self.criterion.addItem(text, key)
        self.folds = QSpinBox()
        self.folds.setRange(2, 10)
        self.folds.setValue(5)
        self.fit_button = QPushButton("Fit")
        self.fit_button.clicked.connect(self.fit)
        self.fit_message = QLabel("")
        self.fit_message.setWordWrap(True)
        fit_box = QGroupBox("Fit a calibration")
        fit_form = QFormLayout(fit_box)
        fit_form.addRow("Method:", self.method)
        fit_form.addRow("Fitting criterion:", self.criterion)
        fit_form.addRow("Cross-validation folds:", self.folds)
        fit_form.addRow(self.fit_button)
        fit_form.addRow(self.fit_message)

        self.calibrations = QTableWidget(0, 5)
        self.calibrations.setHorizontalHeaderLabels(["Id", "Method", "Fit", "Tracks", "Active"])
        self.calibrations.verticalHeader().setVisible(False)
        self.calibrations.setMaximumHeight(150)
        self.calibrations.horizontalHeader().setStretchLastSection(True)
        stored_box = QGroupBox("Stored calibrations")
        QVBoxLayout(stored_box).addWidget(self.calibrations)

        self.reliability = ImageLabel("Reliability diagrams before and after appear after a fit.")
        self.curve = ImageLabel("The MAE-vs-temperature curve appears after a fit.")
        self.metrics = QTableWidget(len(METRICS), 2)
        self.metrics.setHorizontalHeaderLabels(["Before", "After"])
        self.metrics.setVerticalHeaderLabels([name for _, name in METRICS])
        self.metrics.setMinimumHeight(200)
        self.metrics.horizontalHeader().setStretchLastSection(True)
        results_box = QGroupBox("Held-out results (cross-validated)")
        results = QGridLayout(results_box)
        results.addWidget(self.reliability, 0, 0, 2, 1)
        results.addWidget(self.curve, 0, 1)
        results.addWidget(self.metrics, 1, 1)
        results.setColumnStretch(0, 3)
        results.setColumnStretch(1, 2)

        policy = ReviewPolicy()
        self.low = _spin(policy.uncertain_low, 0.0, 1.0)
        self.high = _spin(policy.uncertain_high, 0.0, 1.0)
        self.accept = _spin(policy.accept_threshold, 0.0, 1.0)
        self.disagree = _spin(policy.disagreement_limit, 0.0, 0.5, 0.01)
        self.not_found = QCheckBox("Flag tracks where no label clears the accept threshold")
        self.not_found.setChecked(policy.flag_not_found)
        self.contradict = QCheckBox("Flag confident predictions that contradict the genre tag")
        self.contradict.setChecked(policy.contradict_existing)
        for box in (self.low, self.high, self.accept, self.disagree):
            box.valueChanged.connect(lambda _v: self.update_counts())
        for check in (self.not_found, self.contradict):
            check.toggled.connect(lambda _c: self.update_counts())
        self.count_label = QLabel("")
        self.count_label.setWordWrap(True)
        band = QHBoxLayout()
        band.addWidget(self.low)
        band.addWidget(QLabel("to"))
        band.addWidget(self.high)
        band.addStretch(1)
        self.apply_button = QPushButton("Apply: make active and recompute flags")
        self.apply_button.clicked.connect(self.apply)
        policy_box = QGroupBox("Review thresholds")
        policy_form = QFormLayout(policy_box)
        policy_form.addRow("Uncertain band:", band)
        policy_form.addRow("Accept threshold:", self.accept)
        policy_form.addRow("Disagreement limit (member spread):", self.disagree)
        policy_form.addRow(self.not_found)
        policy_form.addRow(self.contradict)
        policy_form.addRow(self.count_label)
        policy_form.addRow(self.apply_button)

        left = QVBoxLayout()
        left.addWidget(set_box)
        left.addWidget(fit_box)
        left.addWidget(stored_box)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(results_box)
        right.addWidget(policy_box)
        columns = QHBoxLayout()
        columns.addLayout(left, 2)
        columns.addLayout(right, 5)
        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.addLayout(top)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        layout.addLayout(columns)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.refresh_models()

    # -- state -----------------------------------------------------------------------------
    @property
    def bundle_id(self) -> str | None:
        data = self.model_box.currentData()
        return str(data) if data else None

    def refresh_models(self) -> None:
        """List the analysed models (distinct bundles in the analyses table)."""
        with self.library.session() as s:
            ids = sorted(
                s.scalars(select(Analysis.bundle_id).where(Analysis.status == "ok").distinct())
            )
        current = self.bundle_id
        self.model_box.blockSignals(True)
        self.model_box.clear()
        for bundle_id in ids:
            self.model_box.addItem(bundle_id, bundle_id)
        if current in ids:
            self.model_box.setCurrentIndex(ids.index(current))
        self.model_box.blockSignals(False)
        self._update_enabled()

    def _update_enabled(self, busy: bool = False) -> None:
        reason = self.problem or (
            None if self.bundle_id else "No analysed tracks yet: analyse the library first."
        )
        for widget in (self.reload_button, self.fit_button, self.apply_button):
            widget.setEnabled(reason is None and not busy)
            widget.setToolTip(reason or "")
        if reason:
            self.message.setText(reason)
        if self.fit_result is None:
            self.apply_button.setText("Apply thresholds (keep the active calibration)")
        else:
            self.apply_button.setText(
                f"Apply calibration {self.fit_result['calibration_id']} and thresholds"
            )

    def policy(self) -> ReviewPolicy:
        """The thresholds as set (ConfigError when they contradict each other)."""
        return ReviewPolicy(
            uncertain_low=self.low.value(),
            uncertain_high=self.high.value(),
            accept_threshold=self.accept.value(),
            disagreement_limit=self.disagree.value(),
            flag_not_found=self.not_found.isChecked(),
            contradict_existing=self.contradict.isChecked(),
        )

    def _set_policy(self, values: dict[str, Any]) -> None:
        p = ReviewPolicy.from_dict(values)
        for box, value in (
            (self.low, p.uncertain_low),
            (self.high, p.uncertain_high),
            (self.accept, p.accept_threshold),
            (self.disagree, p.disagreement_limit),
        ):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)
        for check, flag in (
            (self.not_found, p.flag_not_found),
            (self.contradict, p.contradict_existing),
        ):
            check.blockSignals(True)
            check.setChecked(flag)
            check.blockSignals(False)

    # -- jobs ------------------------------------------------------------------------------
    def _run(self, title: str, fn: JobFn, done: Callable[[Any], str]) -> Job | None:
        try:
            job = self.start_job(title, fn, done)
        except RuntimeError as err:
            self.message.setText(f"Cannot start: {err}")
            return None
        job.failed.connect(lambda msg: self.message.setText(f"{title} failed: {msg}"))
        job.ended.connect(lambda: self._update_enabled())
        self._update_enabled(busy=True)
        return job

    def reload(self) -> Job | None:
        """Load the calibration set, stored calibrations, policy and live-count arrays."""
        if self.problem or not self.bundle_id:
            self._update_enabled()
            return None
        fn = in_child_process(
            calibration_tasks.panel_data,
            str(self.library.path),
            self.bundle_id,
            self.use_tags.isChecked(),
        )
        return self._run("Loading calibration set", fn, self._loaded)

    def _loaded(self, data: dict[str, Any]) -> str:
        self.data = data
        self.fit_result = None
        counts = data["counts"]
        self.set_table.setRowCount(len(counts))
        for row, (label, c) in enumerate(counts.items()):
            for col, value in enumerate((label, c["positives"], c["negatives"])):
                item = QTableWidgetItem(str(value))
                if col:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.set_table.setItem(row, col, item)
        self.set_table.resizeColumnsToContents()
        n = data["from_review"] + data["from_tags"]
        self.set_summary.setText(
            f"{n:,} labelled tracks: {data['from_review']:,} reviewed by a person, "
            f"{data['from_tags']:,} from existing genre tags."
        )
        self._show_calibrations(data["calibrations"])
        self._set_policy(data["policy"])
        self.update_counts()
        self.message.setText("")
        return f"Calibration set of {data['bundle_id']}: {n:,} labelled tracks."

    def _show_calibrations(self, rows: list[dict[str, Any]]) -> None:
        self.calibrations.setRowCount(len(rows))
        for r, c in enumerate(rows):
            values = (c["id"], c["method"], c["fit"], c["tracks"], "✓" if c["active"] else "")
            for col, value in enumerate(values):
                self.calibrations.setItem(r, col, QTableWidgetItem(str(value)))
        self.calibrations.resizeColumnsToContents()

    def fit(self) -> Job | None:
        if self.problem or not self.bundle_id:
            return None
        fn = in_child_process(
            calibration_tasks.fit,
            str(self.library.path),
            self.bundle_id,
            str(self.method.currentData()),
            str(self.criterion.currentData()),
            self.folds.value(),
            self.use_tags.isChecked(),
        )
        return self._run("Fitting calibration", fn, self._fitted)

    def _fitted(self, result: dict[str, Any]) -> str:
        self.fit_result = result
        self.reliability.set_png(result["reliability_png"])
        self.curve.set_png(result["curve_png"])
        for row, (key, _name) in enumerate(METRICS):
            for col, which in enumerate(("before", "after")):
                value = result[which].get(key)
                text = "—" if value is None else f"{value:.4f}"
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.metrics.setItem(row, col, item)
        self._show_calibrations(result["calibrations"])
        if self.data is not None:
            for key in ("probs", "spread", "existing"):
                self.data[key] = result[key]
        self.update_counts()
        skipped = result["skipped"]
        text = f"Calibration {result['calibration_id']} fitted on {len(result['labels'])} labels."
        if skipped:
            text += " Too few examples to calibrate (left as they are): " + ", ".join(skipped) + "."
        self.fit_message.setText(text + " Press Apply to make it active.")
        self.fit_message.setToolTip("\n".join(f"{k}: {v}" for k, v in skipped.items()))
        self._update_enabled()
        before, after = result["before"].get("ece") or 0.0, result["after"].get("ece") or 0.0
        return (
            f"Calibration {result['calibration_id']} fitted: held-out ECE "
            f"{before:.3f} → {after:.3f}."
        )

    def update_counts(self) -> None:
        """Recount the tracks the thresholds would flag (on arrays already loaded)."""
        data = self.data
        try:
            policy = self.policy()
        except TaggerError as err:
            self.count_label.setText(f"⚠ {err}")
            self.apply_button.setEnabled(False)
            return
        if not self.problem and self.bundle_id:
            self.apply_button.setEnabled(True)
        if data is None or data.get("probs") is None:
            self.count_label.setText("Load a model to see how many tracks these settings flag.")
            return
        counts = count_flags(data["probs"], policy, data["spread"], data["existing"])
        self.flag_counts = counts
        which = "the new calibration" if self.fit_result else "the active calibration"
        self.count_label.setText(
            f"<b>Would flag {counts.flagged:,} of {counts.tracks:,} tracks</b> under {which}: "
            f"{counts.uncertain:,} uncertain, {counts.not_found:,} with no label found, "
            f"{counts.disagree:,} where the members disagree, "
            f"{counts.contradicts_tag:,} contradicting their genre tag."
        )

    def apply(self) -> Job | None:
        if self.problem or not self.bundle_id:
            return None
        try:
            policy = self.policy()
        except TaggerError as err:
            self.message.setText(str(err))
            return None
        calibration_id = self.fit_result["calibration_id"] if self.fit_result else None
        fn = in_child_process(
            calibration_tasks.apply,
            str(self.library.path),
            self.bundle_id,
            calibration_id,
            policy.to_dict(),
        )
        return self._run("Applying calibration", fn, self._applied)

    def _applied(self, result: dict[str, Any]) -> str:
        self.applied = result
        cal = result["calibration_id"]
        self.fit_result = None
        for row in range(self.calibrations.rowCount()):
            item = self.calibrations.item(row, 0)
            active = cal is not None and item is not None and item.text() == str(cal)
            if cal is not None:
                self.calibrations.setItem(row, 4, QTableWidgetItem("✓" if active else ""))
        self._update_enabled()
        what = f"Calibration {cal} is active; " if cal is not None else "Thresholds saved; "
        text = what + f"{result['flagged']:,} tracks flagged for review."
        self.message.setText(text)
        return text
