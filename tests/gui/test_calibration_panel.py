"""Fitting a calibration from the panel on stored outputs of the shipped genre model."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import select
from stored_outputs import add_genre_outputs, review_truth

from app import process_job
from tagger_core.db.models import Analysis, Calibration, Prediction, Setting

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
    assert f"{narrow:,} of {N_TRACKS:,} tracks" in panel.count_label.text()
    assert "no calibration yet" in panel.count_label.text()
    assert "No calibration yet" in panel.state_label.text()
    assert "active calibration" not in panel.apply_button.text()

    panel.method.setCurrentIndex(panel.method.findData("temperature"))
    assert panel.fit() is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=180000)
    assert window.last_error is None, window.last_error
    result = panel.fit_result
    assert result is not None and result["labels"]
    assert panel.reliability.has_image() and panel.curve.has_image()
    assert panel.metrics.item(0, 0).text() != "—" and panel.metrics.item(2, 1).text() != "—"
    lo, hi = result["ci95"]["after"]["ece_ci95"]  # issue 16: every figure with its interval
    assert panel.metrics.item(2, 1).text().endswith(f"[{lo:.4f}, {hi:.4f}]")
    assert result["after"]["ece"] < result["before"]["ece"]
    # Held-out figures improved: a plain Apply, nothing to insist on.
    assert result["worse"] == [] and panel.apply_button.isEnabled()
    assert panel.apply_anyway.isHidden() and panel.apply_reason.text() == ""
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
    assert f"Active calibration: {result['calibration_id']}" in panel.state_label.text()
    assert panel.applied["flagged"] == sum(p.flagged for p in preds)
    assert policy is not None and policy.value["uncertain_low"] == pytest.approx(0.4)


@pytest.fixture
def few_reviewed(library):
    """40 reviewed tracks: enough for some labels, too few for others."""
    bundle, truth = add_genre_outputs(library, 60, TRUE_T, seed=1, base_mean=-2.0)
    review_truth(library, bundle, truth, 40)
    return bundle


def test_fit_rule_is_told_before_fit_and_models_are_tasks(
    qtbot, window, library, few_reviewed, monkeypatch
):
    """Item 6 of issue 14: the minimum-example rule only showed up after pressing Fit.

    The list offers tasks; the raw MTT tag bundle (``instruments``), analysed to lend
    its tags to the genre model, is not offered beside the instrument-family model.
    """
    monkeypatch.setattr(process_job, "ISOLATE", False)
    with library.session() as s:
        for bundle_id in ("instruments", "instrument-family"):
            s.add(Analysis(track_id=1, bundle_id=bundle_id, bundle_version="1", members=[]))
            s.add(Prediction(track_id=1, bundle_id=bundle_id, confidences={"string": 0.5}))
    window.act_calibration.trigger()
    panel = window.calibration
    qtbot.waitUntil(lambda: window.job is None, timeout=180000)
    assert [panel.model_box.itemText(i) for i in range(panel.model_box.count())] == [
        "Genres (model genre)",
        "Instrument families (model instrument-family)",
    ]
    counts = panel.data["counts"]

    def shown() -> dict[str, str]:
        return {
            panel.set_table.item(r, 0).text(): panel.set_table.item(r, 3).text()
            for r in range(panel.set_table.rowCount())
        }

    for folds in (2, 5):
        panel.folds.setValue(folds)  # told at once, before any Fit
        need = folds * 3
        rows = shown()
        for label, c in counts.items():
            enough = c["positives"] >= need and c["negatives"] >= need
            assert (rows[label] == "calibrated") == enough, (label, c, rows[label])
            if not enough:
                assert rows[label].startswith("stays raw: needs")
        assert f"needs at least {need} positive and {need} negative" in panel.rule_label.text()
    raw = [label for label, what in shown().items() if what != "calibrated"]
    assert raw and len(raw) < len(counts), "5 folds should leave some labels short"
    assert raw[0] in panel.rule_label.text() and "raw outputs" in panel.rule_label.text()


@pytest.fixture
def calibrated_already(library):
    """Outputs that are already calibrated (TRUE_T = 1): a fit can only make them worse."""
    bundle, truth = add_genre_outputs(library, N_TRACKS, 1.0, seed=1, base_mean=-2.0)
    review_truth(library, bundle, truth, N_TRACKS)
    return bundle


def test_apply_is_refused_when_held_out_figures_got_worse(
    qtbot, window, library, calibrated_already, monkeypatch
):
    """Item 5 of issue 14: Apply was enabled after any fit (``improved`` never consulted)."""
    monkeypatch.setattr(process_job, "ISOLATE", False)
    window.act_calibration.trigger()
    panel = window.calibration
    panel.folds.setValue(2)
    qtbot.waitUntil(lambda: window.job is None, timeout=180000)
    panel.method.setCurrentIndex(panel.method.findData("isotonic"))
    assert panel.fit() is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=180000)
    assert window.last_error is None, window.last_error
    result = panel.fit_result
    assert result["worse"], result  # isotonic steps on few calibrated tracks overfit
    name, before, after = result["worse"][0]
    assert not panel.apply_button.isEnabled()
    assert not panel.apply_anyway.isHidden() and panel.apply_anyway.isEnabled()
    assert f"{name} got worse ({before:.4f} → {after:.4f})" in panel.apply_reason.text()
    assert panel.apply() is None  # the plain Apply refuses, whatever calls it

    answers = iter([QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes])
    asked: list[str] = []

    def answer(_parent, title, text, *_args):
        asked.append(text)
        return next(answers)

    monkeypatch.setattr(QMessageBox, "question", answer)
    assert panel.confirm_apply_anyway() is None
    assert "Not applied" in panel.message.text()
    with library.session() as s:
        assert not s.get(Calibration, result["calibration_id"]).active
    assert panel.confirm_apply_anyway() is not None
    assert f"{name} {before:.4f} → {after:.4f}" in asked[0]
    qtbot.waitUntil(lambda: window.job is None, timeout=180000)
    assert window.last_error is None, window.last_error
    with library.session() as s:
        assert s.get(Calibration, result["calibration_id"]).active
    assert panel.apply_anyway.isHidden()
