"""Edit ▸ Preferences: one page per concern, each with ``load()`` and ``save()``.

Paths, analysis models and device, and export defaults are this user's and
live in QSettings; the review thresholds belong to the library (its
``settings`` table), since they decide which of its tracks are flagged, and
saving them recomputes the flags in a child process (a job).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core_info import DEVICE_CHOICES, CoreInfo
from app.file_picker import FilePicker
from tagger_core.db import Library
from tagger_core.db.models import Setting
from tagger_core.errors import TaggerError
from tagger_core.trust.policy import POLICY_KEY, ReviewPolicy

MUSIC_FOLDER = "paths/music_folder"
BUNDLES = "analysis/bundles"
DEVICE = "analysis/device"
#: Wording for the policy's fields; a field added later shows its own name until given one.
POLICY_LABELS = {
    "uncertain_low": "Uncertain band from",
    "uncertain_high": "Uncertain band to",
    "accept_threshold": "Accept threshold",
    "disagreement_limit": "Disagreement limit (spread of the models)",
    "flag_not_found": "Flag tracks where no label clears the accept threshold",
    "contradict_existing": "Flag predictions that contradict the file's own genre tag",
}


def _setting_list(settings: QSettings, key: str) -> list[str]:
    value = settings.value(key)
    if value is None or value == "":
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def analysis_preferences(settings: QSettings) -> dict[str, Any]:
    """Keyword arguments for ``analyze`` chosen in the preferences (empty: the core's defaults)."""
    options: dict[str, Any] = {}
    bundles = _setting_list(settings, BUNDLES)
    if bundles:
        options["bundles"] = bundles
    device = str(settings.value(DEVICE) or "auto")
    if device != "auto":
        options["device"] = device
    return options


def apply_export_defaults(dialog: Any, settings: QSettings) -> None:
    """Preset a new export dialog's choices with the saved defaults."""
    for key, box in (("policy", dialog.policy), ("id3_version", dialog.id3)):
        index = box.findData(_typed(settings.value(f"export/{key}"), box.currentData()))
        if index >= 0:
            box.setCurrentIndex(index)
    for key, check in (("provenance", dialog.provenance), ("only_reviewed", dialog.only_reviewed)):
        value = settings.value(f"export/{key}")
        if value is not None:
            check.setChecked(str(value).lower() == "true")


def _typed(value: Any, like: Any) -> Any:
    """QSettings' INI files give strings back; compare as the combo box's data type."""
    if value is None:
        return None
    return int(value) if isinstance(like, int) else str(value)


class PathsPage(QWidget):
    title = "Paths"

    def __init__(self, library: Library, settings: QSettings, picker: FilePicker) -> None:
        super().__init__()
        self.settings = settings
        self.database = QLabel(library.location.display)
        self.database.setToolTip("Open another library with music-tagger-gui --db FILE")
        self.music_folder = QLineEdit()
        self.music_folder.setPlaceholderText("your home folder")
        self.choose = QPushButton("Choose…")
        self.choose.clicked.connect(
            lambda: picker.choose_folder(
                "Default music folder", self.music_folder.text(), self.music_folder.setText
            )
        )
        row = QHBoxLayout()
        row.addWidget(self.music_folder, 1)
        row.addWidget(self.choose)
        form = QFormLayout(self)
        form.addRow("Library database:", self.database)
        form.addRow("Default music folder:", row)

    def load(self) -> None:
        self.music_folder.setText(str(self.settings.value(MUSIC_FOLDER) or ""))

    def save(self) -> None:
        self.settings.setValue(MUSIC_FOLDER, self.music_folder.text().strip())


class AnalysisPage(QWidget):
    """Models and device for the GUI's analyses; the lists come from ``CoreInfo`` (a child)."""

    title = "Analysis"

    def __init__(self, settings: QSettings, core: CoreInfo) -> None:
        super().__init__()
        self.settings = settings
        self.models = QListWidget()
        self.device = QComboBox()
        for choice in DEVICE_CHOICES:
            self.device.addItem(choice, choice)
        self.note = QLabel("Looking for models…")
        self.note.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Models (none ticked: the defaults):", self.models)
        form.addRow("Device:", self.device)
        form.addRow(self.note)
        self.core = core

    def load(self) -> None:
        index = self.device.findData(str(self.settings.value(DEVICE) or "auto"))
        self.device.setCurrentIndex(max(index, 0))
        self.core.request(self._listed)

    def _listed(self, info: dict[str, Any] | None) -> None:
        from PySide6.QtCore import Qt

        if info is None:
            self.note.setText(f"Models could not be listed: {self.core.error}")
            return
        chosen = set(_setting_list(self.settings, BUNDLES))
        self.models.clear()
        for b in info["bundles"]:
            self.models.addItem(f"{b['id']} {b['version']} ({b['task']})")
            item = self.models.item(self.models.count() - 1)
            item.setData(Qt.ItemDataRole.UserRole, b["id"])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            checked = b["id"] in chosen
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        for i, choice in enumerate(DEVICE_CHOICES):
            present = choice == "auto" or choice in info["devices"]
            self.device.setItemText(i, choice if present else f"{choice} (not available here)")
        self.note.setText(f"Devices available here: {', '.join(info['devices'])}.")

    def chosen_models(self) -> list[str]:
        from PySide6.QtCore import Qt

        return [
            str(self.models.item(i).data(Qt.ItemDataRole.UserRole))
            for i in range(self.models.count())
            if self.models.item(i).checkState() == Qt.CheckState.Checked
        ]

    def save(self) -> None:
        self.settings.setValue(DEVICE, self.device.currentData())
        if self.models.count():  # only once the list arrived: keep the choice otherwise
            self.settings.setValue(BUNDLES, self.chosen_models())


class ReviewPage(QWidget):
    """Every field of ``ReviewPolicy``: numbers as spin boxes, switches as check boxes."""

    title = "Review"

    def __init__(self, library: Library, save_policy: Callable[[ReviewPolicy], Any]) -> None:
        super().__init__()
        self.library = library
        self.save_policy = save_policy
        self.fields: dict[str, QDoubleSpinBox | QCheckBox] = {}
        form = QFormLayout(self)
        for f in dataclasses.fields(ReviewPolicy):
            label = POLICY_LABELS.get(f.name, f.name.replace("_", " ").capitalize())
            if isinstance(f.default, bool):
                widget: QDoubleSpinBox | QCheckBox = QCheckBox(label)
                form.addRow(widget)
            else:
                widget = QDoubleSpinBox()
                widget.setRange(0.0, 1.0)
                widget.setDecimals(2)
                widget.setSingleStep(0.05)
                form.addRow(f"{label}:", widget)
            self.fields[f.name] = widget
        self.message = QLabel("Saving recomputes which tracks are flagged.")
        self.message.setWordWrap(True)
        form.addRow(self.message)
        self.loaded: ReviewPolicy | None = None

    def load(self) -> None:
        with self.library.session() as s:
            row = s.get(Setting, POLICY_KEY)
            policy = ReviewPolicy.from_dict(row.value) if row is not None else ReviewPolicy()
        self.loaded = policy
        for name, widget in self.fields.items():
            value = getattr(policy, name)
            if isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            else:
                widget.setValue(float(value))

    def policy(self) -> ReviewPolicy:
        """The policy the controls describe (ConfigError when they contradict each other)."""
        values = {
            name: w.isChecked() if isinstance(w, QCheckBox) else round(w.value(), 4)
            for name, w in self.fields.items()
        }
        return ReviewPolicy.from_dict(values)

    def save(self) -> None:
        policy = self.policy()
        if policy != self.loaded:
            self.save_policy(policy)
            self.loaded = policy


class ExportPage(QWidget):
    """Defaults a new export dialog starts with."""

    title = "Export"

    def __init__(self, settings: QSettings) -> None:
        super().__init__()
        self.settings = settings
        self.policy = QComboBox()
        self.policy.addItem("Merge with the file's genres", "merge")
        self.policy.addItem("Replace the file's genres", "replace")
        self.id3 = QComboBox()
        self.id3.addItem("ID3v2.4", 4)
        self.id3.addItem("ID3v2.3", 3)
        self.provenance = QCheckBox("Record where the labels came from")
        self.only_reviewed = QCheckBox("Only tracks a person marked reviewed")
        form = QFormLayout(self)
        form.addRow("Existing genres:", self.policy)
        form.addRow("MP3 tags:", self.id3)
        form.addRow(self.provenance)
        form.addRow(self.only_reviewed)

    def load(self) -> None:
        apply_export_defaults(self, self.settings)

    def save(self) -> None:
        self.settings.setValue("export/policy", self.policy.currentData())
        self.settings.setValue("export/id3_version", self.id3.currentData())
        self.settings.setValue("export/provenance", self.provenance.isChecked())
        self.settings.setValue("export/only_reviewed", self.only_reviewed.isChecked())


class PreferencesDialog(QDialog):
    """A page list on the left, the chosen page on the right; OK saves every page."""

    def __init__(
        self,
        library: Library,
        settings: QSettings,
        picker: FilePicker,
        core: CoreInfo,
        save_policy: Callable[[ReviewPolicy], Any],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.settings = settings
        self.paths = PathsPage(library, settings, picker)
        self.analysis = AnalysisPage(settings, core)
        self.review = ReviewPage(library, save_policy)
        self.export = ExportPage(settings)
        self.pages: list[Any] = [self.paths, self.analysis, self.review, self.export]
        self.index = QListWidget()
        self.index.setMaximumWidth(140)
        self.stack = QStackedWidget()
        for page in self.pages:
            self.index.addItem(page.title)
            self.stack.addWidget(page)
        self.index.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.index.setCurrentRow(0)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        body = QHBoxLayout()
        body.addWidget(self.index)
        body.addWidget(self.stack, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(720, 400)

    def load(self) -> None:
        self.error.setText("")
        for page in self.pages:
            page.load()

    def accept(self) -> None:
        """Save every page; a contradictory setting keeps the dialog open and says why."""
        try:
            self.review.policy()  # refuse before anything is saved
            for page in self.pages:
                page.save()
        except TaggerError as err:
            self.error.setText(str(err))
            return
        self.settings.sync()
        super().accept()
