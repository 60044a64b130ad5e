"""Fitting a calibration from the panel on stored outputs of the shipped genre model."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from stored_outputs import add_genre_outputs, review_truth

from app import process_job
from tagger_core.db.models import Calibration, Prediction, Setting

N_TRACKS = 160
REVIEWED = 120
TRUE_T = 2.5  # the stored outputs are this much too confident


@pytest.fixture
def analysed(library):
    """Tracks with stored genre outputs; labels follow sigmoid(z / TRUE_T); most reviewed."""
    bundle, truth = add_genre_outputs(
        library, N_TRACKS, TRUE_T, seed=1, base_mean=-2.0, title=lambda i: f"T{i}"
    )
    review_truth(library, bundle, truth, REVIEWED)
    return bundle


def test_fit_compare_and_apply_from_the_panel(qtbot, window, library, analysed, monkeypatch):
    monkeypatch.setattr(process_job, "ISOLATE", False)  # jobs in the worker thread: no spawn
    panel = window.calibration
    window.act_calibration.trigger()
    assert window.tabs.currentWidget() is panel
    assert panel.model_box.currentData() == "genre"
    panel.folds.setValue(2)
    qtbot.waitUntil(lambda: window.job is None, timeout=180000)  # loads on first visit
    assert window.last_error is None, window.last_error
    assert panel.data is not None and panel.data["from_review"] == REVIEWED
    labels = [panel.set_table.item(r, 0).text() for r in range(panel.set_table.rowCount())]
    assert "Rock" in labels and len(labels) == len(panel.data["counts"])
    first = panel.data["counts"][labels[0]]
    assert int(panel.set_table.item(0, 1).text()) == first["positives"]
    assert first["positives"] + first["negatives"] == REVIEWED

    # Live counts follow the thresholds.
    panel.not_found.setChecked(False)
    panel.contradict.setChecked(False)
    panel.disagree.setValue(0.5)
    panel.low.setValue(0.0)
    panel.high.setValue(1.0)
    assert panel.flag_counts.flagged == N_TRACKS
    panel.low.setValue(0.99)
    narrow = panel.flag_counts.flagged
    assert narrow < N_TRACKS
    assert f"Would flag {narrow:,} of {N_TRACKS:,}" in panel.count_label.text()

    panel.method.setCurrentIndex(panel.method.findData("temperature"))
    assert panel.fit() is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=180000)
    assert window.last_error is None, window.last_error
    result = panel.fit_result
    assert result is not None and result["labels"]
    assert panel.reliability.has_image() and panel.curve.has_image()
    assert panel.metrics.item(0, 0).text() != "—" and panel.metrics.item(2, 1).text() != "—"
    assert result["after"]["ece"] < result["before"]["ece"]
    with library.session() as s:
        row = s.get(Calibration, result["calibration_id"])
        assert row is not None and not row.active

    panel.low.setValue(0.4)
    panel.high.setValue(0.6)
    assert panel.apply() is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=180000)
    assert window.last_error is None, window.last_error
    with library.session() as s:
        row = s.get(Calibration, result["calibration_id"])
        assert row is not None and row.active
        preds = list(s.scalars(select(Prediction).where(Prediction.bundle_id == "genre")))
        policy = s.get(Setting, "review_policy")
    assert len(preds) == N_TRACKS
    assert all(p.calibration_id == result["calibration_id"] for p in preds)
    assert panel.applied is not None
    assert panel.applied["flagged"] == sum(p.flagged for p in preds)
    assert policy is not None and policy.value["uncertain_low"] == pytest.approx(0.4)
