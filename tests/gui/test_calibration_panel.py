"""Fitting a calibration from the panel on stored outputs of the shipped genre model."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from app import process_job
from tagger_core.arrays import pack
from tagger_core.bundles import load_bundle
from tagger_core.db.models import Analysis, Calibration, Prediction, Setting, Track
from tagger_core.review import decide, mark_reviewed

N_TRACKS = 160
REVIEWED = 120
TRUE_T = 2.5  # the stored outputs are this much too confident


@pytest.fixture
def analysed(library):
    """Tracks with stored genre outputs; labels follow sigmoid(z / TRUE_T); most reviewed."""
    bundle = load_bundle("genre")
    rng = np.random.default_rng(1)
    members = len(bundle.members)
    base = rng.normal(-2.0, 2.5, (N_TRACKS, 1, len(bundle.raw_labels)))
    raw = (base + rng.normal(0, 0.3, (N_TRACKS, members, base.shape[2]))).astype(np.float32)
    label_z = np.asarray(bundle.taxonomy.label_logits(raw)).mean(axis=1)
    truth = rng.random(label_z.shape) < 1 / (1 + np.exp(-label_z / TRUE_T))
    with library.session() as s:
        for i in range(N_TRACKS):
            t = Track(
                path=f"/m/{i}.flac".encode(),
                path_text=f"/m/{i}.flac",
                size=1,
                mtime_ns=1,
                title=f"T{i}",
            )
            s.add(t)
            s.flush()
            s.add(
                Analysis(
                    track_id=t.id,
                    bundle_id="genre",
                    bundle_version=bundle.version,
                    members=list(bundle.member_names),
                    member_logits=pack(raw[i]),
                )
            )
    labels = bundle.taxonomy.labels
    for tid in range(1, REVIEWED + 1):
        for c in np.flatnonzero(truth[tid - 1]):
            decide(library, tid, "genre", labels[c], "accept")
        mark_reviewed(library, tid, "genre")
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
