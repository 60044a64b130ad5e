"""Scores of a model with no calibration are shown as uncalibrated in the table and the detail."""

from __future__ import annotations

from PySide6.QtCore import Qt
from stored_outputs import add_genre_outputs, review_truth

from app.confidence_bars import RAW_TOOLTIP
from app.policy_form import PolicyForm
from tagger_core.library.track_views import COLUMN_KEYS
from tagger_core.trust.archive_calibration import fit_calibration
from tagger_core.trust.predictions import UNCALIBRATED_MARK, refresh_predictions


def test_table_and_detail_say_uncalibrated_until_a_calibration_is_active(
    qtbot, window, library
) -> None:
    bundle, truth = add_genre_outputs(library, 160, 2.5, seed=4)
    refresh_predictions(library)
    model, panel = window.model, window.detail
    model.refresh()
    column = COLUMN_KEYS.index("predicted")
    cell = model.index(0, column)
    assert str(model.data(cell)).endswith(UNCALIBRATED_MARK)
    assert RAW_TOOLTIP in model.data(cell, Qt.ItemDataRole.ToolTipRole)
    assert model.data(cell, Qt.ItemDataRole.ForegroundRole) is not None
    panel.show_track(model.track_id(0))
    assert "uncalibrated scores" in panel.genre_box.title()
    assert not panel.genre_bars.calibrated and panel.genre_bars.toolTip() == RAW_TOOLTIP

    review_truth(library, bundle, truth, 120)
    fit_calibration(library, "genre")
    model.refresh()
    cell = model.index(0, column)
    assert not str(model.data(cell)).endswith(UNCALIBRATED_MARK)
    assert model.data(cell, Qt.ItemDataRole.ForegroundRole) is None
    panel.show_track(model.track_id(0))
    assert panel.genre_box.title().startswith("Predicted genres (calibrated")
    assert panel.genre_bars.calibrated and panel.genre_bars.toolTip() == ""


def test_policy_form_edits_the_review_share(qtbot) -> None:
    form = PolicyForm()
    qtbot.addWidget(form)
    assert form.policy().review_share == 0.10
    form.share.setValue(0.25)
    assert form.policy().review_share == 0.25
    form.set_policy({"review_share": 0.05})
    assert form.share.value() == 0.05
