"""Edit ▸ Preferences: each page loads and saves what it shows; the policy page is generic."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox

from tagger_core.db.models import Setting
from tagger_core.trust.policy import POLICY_KEY, ReviewPolicy


def stored_policy(library) -> dict | None:  # type: ignore[no-untyped-def]
    with library.session() as s:
        row = s.get(Setting, POLICY_KEY)
        return None if row is None else dict(row.value)


def test_preferences_save_paths_models_device_policy_and_export(
    qtbot, window, library, settings, tmp_path, tiny
):
    music = tmp_path / "Music"
    music.mkdir()
    assert window.act_preferences.shortcut().toString() == "Ctrl+,"
    dialog = window.open_preferences()
    assert dialog.isVisible() and dialog.paths.database.text() == str(library.path)
    assert [dialog.index.item(i).text() for i in range(dialog.index.count())] == [
        "Paths", "Analysis", "Review", "Export",
    ]  # fmt: skip
    assert set(dialog.review.fields) == {f.name for f in dataclasses.fields(ReviewPolicy)}
    assert dialog.review.fields["accept_threshold"].value() == ReviewPolicy().accept_threshold

    # The folder chooser is the picker child, like every chooser.
    window.picker.script = str(music)
    qtbot.mouseClick(dialog.paths.choose, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.paths.music_folder.text() == str(music), timeout=30000)

    qtbot.waitUntil(lambda: dialog.analysis.models.count() > 0, timeout=60000)
    ids = [
        dialog.analysis.models.item(i).data(Qt.ItemDataRole.UserRole)
        for i in range(dialog.analysis.models.count())
    ]
    assert tiny in ids and "genre" in ids
    item = dialog.analysis.models.item(ids.index(tiny))
    item.setCheckState(Qt.CheckState.Checked)
    dialog.analysis.device.setCurrentIndex(dialog.analysis.device.findData("cpu"))
    dialog.review.fields["accept_threshold"].setValue(0.6)
    not_found = dialog.review.fields["flag_not_found"]
    assert isinstance(not_found, QCheckBox)
    not_found.setChecked(not not_found.isChecked())
    dialog.export.policy.setCurrentIndex(dialog.export.policy.findData("replace"))
    dialog.export.provenance.setChecked(True)

    dialog.accept()
    assert not dialog.isVisible()
    assert settings.value("paths/music_folder") == str(music)
    assert window._music_folder() == str(music)
    assert window._analysis_options() == {"bundles": [tiny], "device": "cpu"}
    assert window.job is not None and window.job.title == "Saving review thresholds"
    qtbot.waitUntil(lambda: window.job is None, timeout=120000)
    assert window.last_error is None, window.last_error
    saved = stored_policy(library)
    assert saved is not None and saved["accept_threshold"] == 0.6
    assert saved["flag_not_found"] == (not ReviewPolicy().flag_not_found)

    export = window.open_export()
    assert export.policy.currentData() == "replace" and export.provenance.isChecked()

    again = window.open_preferences()
    assert again.review.fields["accept_threshold"].value() == 0.6
    assert again.paths.music_folder.text() == str(music)


def test_contradictory_thresholds_keep_the_dialog_open_and_save_nothing(qtbot, window, library):
    dialog = window.open_preferences()
    low, high = dialog.review.fields["uncertain_low"], dialog.review.fields["uncertain_high"]
    assert isinstance(low, QDoubleSpinBox) and isinstance(high, QDoubleSpinBox)
    low.setValue(0.9)
    high.setValue(0.2)
    dialog.paths.music_folder.setText("/somewhere")
    dialog.accept()
    assert dialog.isVisible()
    assert "uncertain band is empty" in dialog.error.text()
    assert window.settings.value("paths/music_folder") is None
    assert window.job is None and stored_policy(library) is None
