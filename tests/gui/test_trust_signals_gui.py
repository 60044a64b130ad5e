"""Shift warnings (status bar, calibration panel) and conformal label sets (track detail)."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from stored_outputs import add_genre_outputs, review_truth

from app import analysis, process_job
from app.analysis import describe_result
from tagger_core.db.blob_codec import pack
from tagger_core.db.models import Analysis, Calibration, Prediction
from tagger_core.listening.report import AnalysisReport
from tagger_core.trust.archive_calibration import fit_calibration
from tagger_core.trust.shift import ACTION, ShiftResult

SHIFTED = ShiftResult("genre", "calibration 1's tracks", 0.0412, 0.002, True, 150, 150)
STEADY = ShiftResult("instrument-family", "the shipped reference", 0.0011, 0.64, False, 80, 500)


def _report() -> AnalysisReport:
    report = AnalysisReport(tracks_done=3)
    report.shift = {"genre": SHIFTED.to_dict(), "instrument-family": STEADY.to_dict()}
    return report


def test_status_line_warns_of_the_shifted_bundle_only() -> None:
    plain = describe_result(AnalysisReport(tracks_done=3))
    text = describe_result(_report())
    assert text == f"{plain} ⚠ {SHIFTED.warning}"
    assert "genre: " in text and "MMD² 0.0412" in text and "p = 0.002" in text
    assert ACTION in text and "instrument-family" not in text


def test_analysis_result_fills_status_bar_and_panel(qtbot, window, library, monkeypatch):
    add_genre_outputs(library, 30, 1.0)
    monkeypatch.setattr(analysis, "analysis_job", lambda *_a, **_k: lambda _r, _c: _report())
    panel = window.calibration
    panel.refresh_models()
    assert panel.bundle_id == "genre" and panel.shift_label.text() == ""
    window._analyse(None)
    qtbot.waitUntil(lambda: window.job is None, timeout=60000)
    assert window.last_error is None, window.last_error
    assert SHIFTED.warning in window.status_text.text()
    shown = panel.shift_label.text()
    assert "Shift" in shown and "p = 0.002" in shown and ACTION in shown
    panel.show_shifts({"genre": STEADY.to_dict() | {"bundle": "genre"}})
    assert panel.shift_label.text().startswith("No shift: this collection resembles the shipped")


def _shift_embeddings(library, after: int, delta: float) -> None:
    """Every genre analysis gets an embedding; tracks after ``after`` move by ``delta``."""
    rng = np.random.default_rng(0)
    with library.session() as s:
        for row in s.scalars(select(Analysis).order_by(Analysis.track_id)):
            emb = rng.normal(size=(2, 12)).astype(np.float16)
            if row.track_id > after:
                emb[:, :4] += delta
            row.embedding = pack(emb)


def test_panel_load_checks_shift_against_the_active_calibration(
    qtbot, window, library, monkeypatch
):
    monkeypatch.setattr(process_job, "ISOLATE", False)
    bundle, truth = add_genre_outputs(library, 300, 2.5)
    review_truth(library, bundle, truth, upto=150)
    fit_calibration(library, "genre", method="temperature", folds=3)
    _shift_embeddings(library, after=150, delta=1.5)
    panel = window.calibration
    panel.refresh_models()
    panel.folds.setValue(3)
    panel.reload()
    qtbot.waitUntil(lambda: window.job is None, timeout=120000)
    assert window.last_error is None, window.last_error
    assert panel.data["shift"]["shifted"] is True
    text = panel.shift_label.text()
    assert "genre: this collection is unlike" in text and ACTION in text


def test_detail_shows_the_conformal_label_set_only_when_fitted(qtbot, window, library):
    bundle, truth = add_genre_outputs(library, 160, 2.5, seed=4)
    review_truth(library, bundle, truth, 120)
    fit_calibration(library, "genre")
    window.model.refresh()
    panel, track = window.detail, window.model.track_id(0)
    panel.show_track(track)
    assert panel.detail.label_sets == {}
    assert panel.set_labels["genre"].isHidden()

    fit_calibration(library, "genre", conformal=0.9)
    with library.session() as s:
        p = s.scalar(select(Prediction).where(Prediction.track_id == track))
        threshold = s.get(Calibration, p.calibration_id).params["conformal"]["threshold"]
        confidences = dict(p.confidences)
    expected = sorted((k for k, v in confidences.items() if v >= threshold),
                      key=lambda k: -confidences[k])  # fmt: skip
    panel.show_track(track)
    line = panel.set_labels["genre"]
    assert not line.isHidden()
    assert line.text() == "Label set at 90 % coverage: " + (", ".join(expected) or "(empty)")
    panel.show_track(None)
    assert line.isHidden()
