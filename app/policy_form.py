"""The review-flag policy as a form: each reason with its switch and its threshold.

Used by the calibration panel and by the review panel's "Flag policy…" dialog,
so the librarian sees the same settings, in the same words, in both places.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QWidget,
)

from tagger_core.trust.policy import SETTING_HELP, FlagCounts, ReviewPolicy


def _spin(value: float, low: float, high: float, step: float = 0.05) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(2)
    box.setValue(value)
    box.setMaximumWidth(90)
    return box


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    row.addStretch(1)
    return row


class PolicyForm(QWidget):
    """Switches and thresholds of a ``ReviewPolicy``; ``changed`` fires on every edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        p = ReviewPolicy()
        self.uncertain = QCheckBox("on")
        self.low = _spin(p.uncertain_low, 0.0, 1.0)
        self.high = _spin(p.uncertain_high, 0.0, 1.0)
        self.accept = _spin(p.accept_threshold, 0.0, 1.0)
        self.not_found = QCheckBox("on")
        self.not_found_raw = QCheckBox("thresholds also for models with no calibration")
        self.disagree_on = QCheckBox("on")
        self.disagree = _spin(p.disagreement_limit, 0.0, 0.5, 0.01)
        self.contradict = QCheckBox("on")
        self.share = _spin(p.review_share, 0.01, 1.0, 0.01)
        self.checks = {
            "flag_uncertain": self.uncertain,
            "flag_not_found": self.not_found,
            "not_found_uncalibrated": self.not_found_raw,
            "flag_disagree": self.disagree_on,
            "contradict_existing": self.contradict,
        }
        self.spins = {
            "uncertain_low": self.low,
            "uncertain_high": self.high,
            "accept_threshold": self.accept,
            "disagreement_limit": self.disagree,
            "review_share": self.share,
        }
        for key, widget in {**self.checks, **self.spins}.items():
            widget.setToolTip(SETTING_HELP[key].capitalize() + ".")
        for check in self.checks.values():
            check.toggled.connect(self._edited)
        for spin in self.spins.values():
            spin.valueChanged.connect(self._edited)

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(
            "Uncertain label, band:", _row(self.uncertain, self.low, QLabel("to"), self.high)
        )
        form.addRow("Accept threshold:", _row(self.accept))
        form.addRow("No label found:", _row(self.not_found, self.not_found_raw))
        form.addRow("Members disagree, spread over:", _row(self.disagree_on, self.disagree))
        form.addRow("Contradicts the genre tag:", _row(self.contradict))
        form.addRow("Uncalibrated models, share to review:", _row(self.share))
        self.set_policy(p.to_dict())

    def _edited(self, _value: Any = None) -> None:
        self.low.setEnabled(self.uncertain.isChecked())
        self.high.setEnabled(self.uncertain.isChecked())
        self.not_found_raw.setEnabled(self.not_found.isChecked())
        self.disagree.setEnabled(self.disagree_on.isChecked())
        self.changed.emit()

    def policy(self) -> ReviewPolicy:
        """The settings as shown (ConfigError when they contradict each other)."""
        values: dict[str, Any] = {k: c.isChecked() for k, c in self.checks.items()}
        values.update({k: s.value() for k, s in self.spins.items()})
        return ReviewPolicy.from_dict(values)

    def set_policy(self, values: dict[str, Any]) -> None:
        """Show ``values`` without firing ``changed`` once per widget."""
        p = ReviewPolicy.from_dict(values).to_dict()
        for key, widget in {**self.checks, **self.spins}.items():
            widget.blockSignals(True)
            if isinstance(widget, QCheckBox):
                widget.setChecked(bool(p[key]))
            else:
                widget.setValue(float(p[key]))
            widget.blockSignals(False)
        self._edited()


def counts_text(counts: FlagCounts) -> str:
    """ "12 of 19 tracks (63 %): 3 uncertain, …": what one policy flags, and why."""
    share = f" ({100 * counts.flagged / counts.tracks:.0f} %)" if counts.tracks else ""
    return (
        f"{counts.flagged:,} of {counts.tracks:,} tracks{share}: "
        f"{counts.uncertain:,} uncertain, {counts.not_found:,} with no label found, "
        f"{counts.disagree:,} where the members disagree, "
        f"{counts.contradicts_tag:,} contradicting their genre tag"
    )


def share_text(tracks: int, share: float) -> str:
    """What the policy flags of a model with no calibration: a share, by review value."""
    flagged = min(tracks, max(1, math.ceil(share * tracks))) if tracks else 0
    return (
        f"would flag {flagged:,} of {tracks:,} tracks ({100 * share:.0f} %) by review value: "
        "the most uncertain, spread over the collection, so the first reviews teach a "
        "calibration most (the thresholds apply once it is calibrated)."
    )
