"""The review queue's "Flag policy…" dialog: see and change why tracks are flagged.

Opening it loads, in a child process, the confidences of each task's shown
model (``app.calibration_tasks.flag_inputs``); every edit then recounts the
flagged tracks on those arrays. Apply saves the policy and recomputes every
prediction's flags from the stored model outputs (``apply_policy``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import calibration_tasks
from app.policy_form import PolicyForm, counts_text, share_text
from app.process_job import in_child_process
from app.workers import Job, JobFn
from tagger_core.db import Library
from tagger_core.errors import TaggerError
from tagger_core.trust.policy import count_flags
from tagger_core.trust.review import TASK_NAMES

StartJob = Callable[[str, JobFn, Callable[[Any], Any] | None], Job]


class FlagPolicyDialog(QDialog):
    """The policy form, the live count of flagged tracks per task, and Apply."""

    applied = Signal(dict)

    def __init__(self, library: Library, start_job: StartJob, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Flag policy")
        self.library = library
        self.start_job = start_job
        self.inputs: dict[str, Any] | None = None
        self.form = PolicyForm()
        self.form.changed.connect(self.update_counts)
        self.counts_label = QLabel("Loading the models' confidences…")
        self.counts_label.setWordWrap(True)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.apply_button = QPushButton("Apply: recompute flags")
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(self.apply)
        buttons.addButton(self.apply_button, QDialogButtonBox.ButtonRole.ApplyRole)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "A track goes to the review queue for any reason switched on here. "
            "Applying recomputes the flags of every analysed track from the stored "
            "model outputs; nothing is analysed again."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addWidget(self.form)
        layout.addWidget(self.counts_label)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def load(self) -> Job | None:
        """Read the stored policy and the arrays the live counts use."""
        fn = in_child_process(calibration_tasks.flag_inputs, str(self.library.path))
        return self._run("Loading flag policy", fn, self._loaded)

    def _run(self, title: str, fn: JobFn, done: Callable[[Any], str]) -> Job | None:
        try:
            job = self.start_job(title, fn, done)
        except RuntimeError as err:
            self.message.setText(f"Cannot start: {err}; try again when it has finished.")
            return None
        job.failed.connect(lambda msg: self._failed(title, msg))
        self.apply_button.setEnabled(False)
        return job

    def _failed(self, title: str, message: str) -> None:
        self.message.setText(f"{title} failed: {message}")
        self.update_counts()

    def _loaded(self, inputs: dict[str, Any]) -> str:
        self.inputs = inputs
        self.form.set_policy(inputs["policy"])
        self.update_counts()
        return "Flag policy loaded."

    def update_counts(self) -> None:
        """Recount, per task, the tracks the policy as set would flag."""
        if self.inputs is None:
            return
        try:
            policy = self.form.policy()
        except TaggerError as err:
            self.counts_label.setText(f"⚠ {err}")
            self.apply_button.setEnabled(False)
            return
        lines = []
        for task, data in self.inputs["tasks"].items():
            if not data["calibrated"] and not policy.not_found_uncalibrated:
                lines.append(f"<b>{TASK_NAMES[task]}</b> (no calibration yet): " + share_text(
                    len(data["probs"]) if data["probs"] is not None else 0, policy.review_share
                ))  # fmt: skip
                continue
            counts = count_flags(
                data["probs"], policy, data["spread"], data["existing"], data["calibrated"]
            )
            raw = "" if data["calibrated"] else " (no calibration yet)"
            lines.append(f"<b>{TASK_NAMES[task]}</b>{raw}: would flag {counts_text(counts)}.")
        self.counts_label.setText("<br>".join(lines) or "No analysed tracks yet.")
        self.apply_button.setEnabled(bool(lines))

    def apply(self) -> Job | None:
        try:
            policy = self.form.policy()
        except TaggerError as err:
            self.message.setText(str(err))
            return None
        fn = in_child_process(
            calibration_tasks.apply_policy, str(self.library.path), policy.to_dict()
        )
        return self._run("Recomputing flags", fn, self._applied)

    def _applied(self, result: dict[str, Any]) -> str:
        self.apply_button.setEnabled(True)
        parts = []
        for task, c in result["counts"].items():
            if c["tracks"]:
                parts.append(f"{TASK_NAMES[task]}: {c['flagged']:,} of {c['tracks']:,} flagged")
        text = "Flags recomputed. " + ("; ".join(parts) or "No analysed tracks.") + "."
        self.message.setText(text)
        self.applied.emit(result)
        return text
