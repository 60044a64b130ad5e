"""The calibration settings panel: pick a model, see its calibration set, fit, compare, apply.

Fitting, the calibration set and applying run in a child process through the
main window's job runner (``app.calibration_tasks``). The review thresholds
are live: moving one recounts, on arrays loaded once, how many tracks the
setting would flag (``tagger_core.trust.policy.count_flags``).

The model list offers the tasks the librarian sees (Genres, Instrument
families), each backed by the bundle the library table shows for it; a raw
tag bundle analysed only to lend its tags to another is not offered. A fit
whose held-out figures did not improve is not applied without an explicit
"Apply anyway…".
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
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
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
from app.policy_form import PolicyForm, counts_text
from app.process_job import in_child_process
from app.workers import Job, JobFn
from tagger_core.db import Library
from tagger_core.db.models import Analysis
from tagger_core.errors import TaggerError
from tagger_core.labels.tasks import task_bundles
from tagger_core.trust.crossval import MIN_PER_FOLD
from tagger_core.trust.policy import ReviewPolicy, count_flags
from tagger_core.trust.review import TASK_NAMES

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


def set_rule(counts: dict[str, dict[str, int]], folds: int) -> dict[str, str]:
    """Per label, what a fit with ``folds`` folds will do: calibrate it, or what it lacks.

    The same rule as ``tagger_core.trust.archive_calibration.eligible_labels``, told before Fit.
    """
    need = folds * MIN_PER_FOLD
    out: dict[str, str] = {}
    for label, c in counts.items():
        lacking = [
            f"{need - c[key]} more {word}"
            for key, word in (("positives", "positive"), ("negatives", "negative"))
            if c[key] < need
        ]
        out[label] = "calibrated" if not lacking else "stays raw: needs " + " and ".join(lacking)
    return out


class CalibrationPanel(QWidget):
    """Calibration of one model bundle, and the review policy over its predictions."""

    def __init__(self, library: Library, start_job: StartJob, parent: QWidget | None = None):
        super().__init__(parent)
        self.library = library
        self.start_job = start_job
        self.data: dict[str, Any] | None = None
        self.fit_result: dict[str, Any] | None = None
        self.applied: dict[str, Any] | None = None
        #: per bundle, the last shift check (``ShiftResult.to_dict()``): an analysis's or a load's
        self.shifts: dict[str, dict[str, Any]] = {}
        self.problem = calibration_problem()

        self.model_box = QComboBox()
        self.use_tags = QCheckBox("Also trust existing genre tags as labels")
        self.reload_button = QPushButton("Load")
        self.reload_button.clicked.connect(self.reload)
        self.model_box.currentIndexChanged.connect(lambda _i: self._model_changed())
        self.use_tags.toggled.connect(lambda _c: self.reload())
        top = QHBoxLayout()
        top.addWidget(QLabel("Model:"))
        top.addWidget(self.model_box, 1)
        top.addWidget(self.use_tags)
        top.addWidget(self.reload_button)

        self.set_summary = QLabel("")
        self.set_summary.setWordWrap(True)
        self.state_label = QLabel("")
        self.state_label.setWordWrap(True)
        self.shift_label = QLabel("")
        self.shift_label.setWordWrap(True)
        self.set_table = QTableWidget(0, 4)
        self.set_table.setHorizontalHeaderLabels(["Label", "Positives", "Negatives", "At fit"])
        self.set_table.verticalHeader().setVisible(False)
        self.set_table.horizontalHeader().setStretchLastSection(True)
        self.set_table.setMinimumHeight(220)
        set_box = QGroupBox("Calibration set (labels per class)")
        set_layout = QVBoxLayout(set_box)
        set_layout.addWidget(self.set_summary)
        self.rule_label = QLabel("")
        self.rule_label.setWordWrap(True)
        set_layout.addWidget(self.rule_label)
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
        self.folds.valueChanged.connect(lambda _v: self._show_set())
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
        self.metrics.setHorizontalHeaderLabels(["Before [95 % interval]", "After [95 % interval]"])
        self.metrics.setVerticalHeaderLabels([name for _, name in METRICS])
        self.metrics.setMinimumHeight(200)
        self.metrics.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        results_box = QGroupBox("Held-out results (cross-validated)")
        results = QGridLayout(results_box)
        results.addWidget(self.reliability, 0, 0, 2, 1)
        results.addWidget(self.curve, 0, 1)
        results.addWidget(self.metrics, 1, 1)
        results.setColumnStretch(0, 3)
        results.setColumnStretch(1, 2)

        self.policy_form = PolicyForm()
        self.policy_form.changed.connect(self.update_counts)
        form = self.policy_form
        self.low, self.high, self.accept, self.disagree = (
            form.low,
            form.high,
            form.accept,
            form.disagree,
        )
        self.not_found, self.contradict = form.not_found, form.contradict
        self.count_label = QLabel("")
        self.count_label.setWordWrap(True)
        self.apply_button = QPushButton("Apply: make active and recompute flags")
        self.apply_button.clicked.connect(self.apply)
        self.apply_anyway = QPushButton("Apply anyway…")
        self.apply_anyway.setToolTip("Make this calibration active although it did worse held out")
        self.apply_anyway.clicked.connect(self.confirm_apply_anyway)
        self.apply_anyway.setVisible(False)
        self.apply_reason = QLabel("")
        self.apply_reason.setWordWrap(True)
        apply_row = QHBoxLayout()
        apply_row.addWidget(self.apply_button)
        apply_row.addWidget(self.apply_anyway)
        apply_row.addWidget(self.apply_reason, 1)
        policy_box = QGroupBox("Review thresholds")
        policy_layout = QVBoxLayout(policy_box)
        policy_layout.addWidget(self.policy_form)
        policy_layout.addWidget(self.count_label)
        policy_layout.addLayout(apply_row)

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
        layout.addWidget(self.state_label)
        layout.addWidget(self.shift_label)
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
        """List the tasks whose shown bundle has analysed tracks (Genres, Instrument families)."""
        with self.library.session() as s:
            analysed = set(
                s.scalars(select(Analysis.bundle_id).where(Analysis.status == "ok").distinct())
            )
            shown = task_bundles(s)
        tasks = [
            (task, bundle_id)
            for task, bundle_id in (("genre", shown.genre), ("instruments", shown.instruments))
            if bundle_id in analysed
        ]
        ids = [bundle_id for _, bundle_id in tasks]
        current = self.bundle_id
        self.model_box.blockSignals(True)
        self.model_box.clear()
        for task, bundle_id in tasks:
            self.model_box.addItem(f"{TASK_NAMES[task]} (model {bundle_id})", bundle_id)
        if current in ids:
            self.model_box.setCurrentIndex(ids.index(current))
        self.model_box.blockSignals(False)
        self._update_enabled()

    def _model_changed(self) -> None:
        self._show_shift()
        self.reload()

    def show_shifts(self, shifts: dict[str, dict[str, Any] | None]) -> None:
        """Keep each bundle's newest shift check (an analysis's ``report.shift``) and show it."""
        self.shifts.update({b: s for b, s in shifts.items() if s is not None})
        self._show_shift()

    def _show_shift(self) -> None:
        """The selected model's shift check: the warning, "no shift", or nothing when untested."""
        check = self.shifts.get(self.bundle_id or "")
        if check is None:
            self.shift_label.setText("")
        elif check.get("shifted") is None:
            reason = check.get("reason") or "no test could be made"
            self.shift_label.setText(f"Shift not checked: {_html(reason)}.")
        elif check.get("warning"):
            self.shift_label.setText(f"<b>⚠ Shift:</b> {_html(check['warning'])}")
        else:
            self.shift_label.setText(
                f"No shift: this collection resembles {_html(check['reference'])} "
                f"(MMD² {check['statistic']:.3g}, p = {check['p_value']:.3g})."
            )

    def _update_enabled(self, busy: bool = False) -> None:
        reason = self.problem or (
            None if self.bundle_id else "No analysed tracks yet: analyse the library first."
        )
        for widget in (self.reload_button, self.fit_button, self.apply_button):
            widget.setEnabled(reason is None and not busy)
            widget.setToolTip(reason or "")
        if reason:
            self.message.setText(reason)
        fit = self.fit_result
        worse = fit["worse"] if fit is not None else []
        self.apply_anyway.setVisible(bool(worse))
        self.apply_anyway.setEnabled(reason is None and not busy)
        if worse:
            # Held-out figures got worse: no plain Apply, only the explicit "Apply anyway…".
            self.apply_button.setEnabled(False)
            self.apply_reason.setText(
                "⚠ Not applied: held-out "
                + ", ".join(f"{name} got worse ({b:.4f} → {a:.4f})" for name, b, a in worse)
                + "."
            )
        else:
            self.apply_reason.setText("")
        if fit is not None:
            self.apply_button.setText(f"Apply calibration {fit['calibration_id']} and thresholds")
        elif self.data is not None and self.data.get("active_id") is None:
            self.apply_button.setText("Apply thresholds (no calibration yet)")
        else:
            self.apply_button.setText("Apply thresholds (keep the active calibration)")
        if self.data is not None and self.data.get("set_rule") is not None:
            if not any(v == "calibrated" for v in self.data["set_rule"].values()):
                self.fit_button.setEnabled(False)
                self.fit_button.setToolTip(self.rule_label.text())

    def policy(self) -> ReviewPolicy:
        """The thresholds as set (ConfigError when they contradict each other)."""
        return self.policy_form.policy()

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
        n = data["from_review"] + data["from_tags"]
        self.set_summary.setText(
            f"{n:,} labelled tracks: {data['from_review']:,} reviewed by a person, "
            f"{data['from_tags']:,} from existing genre tags."
        )
        self._show_set()
        self._show_calibrations(data["calibrations"])
        self._show_state()
        if data.get("shift") is not None:
            self.show_shifts({data["bundle_id"]: data["shift"]})
        self.policy_form.set_policy(data["policy"])
        self.update_counts()
        self.message.setText("")
        return f"Calibration set of {data['bundle_id']}: {n:,} labelled tracks."

    def _show_set(self) -> None:
        """The set's counts per label and, for the folds chosen, what a fit will do with each."""
        if self.data is None:
            return
        counts = self.data["counts"]
        folds = self.folds.value()
        rule = set_rule(counts, folds)
        self.data["set_rule"] = rule
        self.set_table.setRowCount(len(counts))
        for row, (label, c) in enumerate(counts.items()):
            for col, value in enumerate((label, c["positives"], c["negatives"], rule[label])):
                item = QTableWidgetItem(str(value))
                if col in (1, 2):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.set_table.setItem(row, col, item)
        self.set_table.resizeColumnsToContents()
        raw = [label for label, what in rule.items() if what != "calibrated"]
        need = folds * MIN_PER_FOLD
        text = (
            f"{folds}-fold cross-validation needs at least {need} positive and {need} negative "
            f"tracks per label; {len(rule) - len(raw)} of {len(rule)} labels have them."
        )
        if raw and len(raw) < len(rule):
            text += " The others keep the models' raw outputs: " + ", ".join(raw) + "."
        elif raw:
            text += " Nothing can be fitted yet: review more tracks (or trust the genre tags)."
        self.rule_label.setText(text)
        self._update_enabled()

    def _show_state(self) -> None:
        """Say which calibration the confidences come from (never "active" when there is none)."""
        if self.data is None:
            return
        active = self.data.get("active_id")
        if active is None:
            self.state_label.setText(
                "<b>No calibration yet</b>: confidences are the models' raw outputs."
            )
            return
        row = next((c for c in self.data["calibrations"] if c["id"] == active), None)
        what = f" ({row['method']}, fitted on {row['tracks']:,} tracks)" if row else ""
        self.state_label.setText(f"<b>Active calibration: {active}</b>{what}.")

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
        intervals = result.get("ci95") or {}
        for row, (key, _name) in enumerate(METRICS):
            for col, which in enumerate(("before", "after")):
                value = result[which].get(key)
                text = "—" if value is None else f"{value:.4f}"
                lo, hi = intervals.get(which, {}).get(f"{key}_ci95") or (None, None)
                if value is not None and lo is not None and hi is not None:
                    text += f"  [{lo:.4f}, {hi:.4f}]"
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
        if result["worse"]:
            text += " It did worse on held-out tracks; it is not applied unless you insist."
        else:
            text += " It did better on held-out tracks: press Apply to make it active."
        self.fit_message.setText(text)
        self.fit_message.setToolTip("\n".join(f"{k}: {v}" for k, v in skipped.items()))
        self._update_enabled()
        before, after = result["before"].get("ece") or 0.0, result["after"].get("ece") or 0.0
        verdict = " Worse held out: not applied." if result["worse"] else ""
        return (
            f"Calibration {result['calibration_id']} fitted: held-out ECE "
            f"{before:.3f} → {after:.3f}.{verdict}"
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
        if not self.problem and self.bundle_id and not (self.fit_result or {}).get("worse"):
            self.apply_button.setEnabled(True)
        if data is None or data.get("probs") is None:
            self.count_label.setText("Load a model to see how many tracks these settings flag.")
            return
        calibrated = bool(self.fit_result) or bool(data.get("calibrated"))
        counts = count_flags(data["probs"], policy, data["spread"], data["existing"], calibrated)
        self.flag_counts = counts
        if self.fit_result:
            which = "the new calibration"
        elif data.get("active_id") is not None:
            which = "the active calibration"
        else:
            which = "the raw outputs (no calibration yet)"
        self.count_label.setText(f"<b>Would flag</b>, under {which}: {counts_text(counts)}.")

    def confirm_apply_anyway(self) -> Job | None:
        """Apply a calibration that did worse held out, once the librarian confirms it."""
        fit = self.fit_result
        if fit is None:
            return None
        worse = "; ".join(f"{name} {b:.4f} → {a:.4f}" for name, b, a in fit["worse"])
        answer = QMessageBox.question(
            self,
            "Apply a calibration that did worse?",
            f"On tracks it was not fitted on, calibration {fit['calibration_id']} made the "
            f"confidences less trustworthy ({worse}). Make it active anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            self.message.setText("Not applied.")
            return None
        return self.apply(anyway=True)

    def apply(self, anyway: bool = False) -> Job | None:
        """Save the thresholds and make the fitted calibration active (if it improved)."""
        if self.problem or not self.bundle_id:
            return None
        if self.fit_result is not None and self.fit_result["worse"] and not anyway:
            self.message.setText(self.apply_reason.text())
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
        if self.data is not None and cal is not None:
            self.data["active_id"] = cal
            self.data["calibrated"] = True
        self._show_state()
        what = f"Calibration {cal} is active; " if cal is not None else "Thresholds saved; "
        text = what + f"{result['flagged']:,} tracks flagged for review."
        self.message.setText(text)
        return text


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
