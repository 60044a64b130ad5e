"""The GUI says what calibrating from tags did and offers training on the same tags."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QApplication
from stored_outputs import add_genre_outputs

from app import process_job
from app.analysis import describe_result
from tagger_core.db.models import Track
from tagger_core.listening.report import AnalysisReport


def _tag_with_truth(library, labels, truth: np.ndarray) -> None:
    with library.session() as s:
        for i, row in enumerate(truth):
            s.get(Track, i + 1).genres = [labels[c] for c in np.flatnonzero(row)]


def test_status_bar_and_train_button_after_an_analysis(qtbot, window, library, monkeypatch):
    monkeypatch.setattr(process_job, "ISOLATE", False)
    bundle, truth = add_genre_outputs(library, 240, 3.0, seed=5)
    _tag_with_truth(library, bundle.taxonomy.labels, truth)
    assert not window.train_from_tags.isVisible()
    window.analysis_options = {"bundles": ["genre"], "optimize": False}
    window._analyse([])  # nothing new to analyse: the tags alone are calibrated from
    qtbot.waitUntil(lambda: window.job is None, timeout=60000)
    assert window.last_error is None
    status = window.status_text.text()
    assert "Genre calibrated on " in status and "tagged tracks: held-out ECE " in status
    assert window.train_from_tags.isVisible()
    window.train_from_tags.click()
    clip = QApplication.clipboard().text()
    assert clip == "music-tagger train heads --from-tags --task genre --skip-rare --out DIR"


def test_describe_result_without_and_with_auto_calibration() -> None:
    report = AnalysisReport(tracks_done=3)
    plain = describe_result(report)
    assert "calibrated" not in plain
    report.auto_calibration = {
        "genre": {"summary": "genre calibrated on 80 tagged tracks: held-out ECE 0.091 \u2192 "
                  "0.018", "train_hint": None},  # fmt: skip
        "instruments": None,
    }
    assert describe_result(report) == (
        plain + " Genre calibrated on 80 tagged tracks: held-out ECE 0.091 \u2192 0.018."
    )
    report.auto_calibration_error = "database is locked"
    assert describe_result(report).endswith("Not calibrated from tags: database is locked")
