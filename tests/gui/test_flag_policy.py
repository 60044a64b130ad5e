"""The review queue's "Flag policy…" dialog: live counts per task, Apply recomputes flags."""

from __future__ import annotations

from sqlalchemy import select
from stored_outputs import add_genre_outputs

from app import process_job
from tagger_core.db.models import Prediction
from tagger_core.trust.predictions import load_policy, refresh_predictions

N_TRACKS = 60


def flagged(library) -> int:
    with library.session() as s:
        return sum(p.flagged for p in s.scalars(select(Prediction)))


def test_policy_from_the_queue_recounts_and_recomputes(qtbot, window, library, monkeypatch):
    monkeypatch.setattr(process_job, "ISOLATE", False)  # jobs in the worker thread: no spawn
    add_genre_outputs(library, N_TRACKS, 2.5, seed=3, base_mean=-4.5)
    refresh_predictions(library)
    before = flagged(library)
    window.act_review.trigger()
    panel = window.review
    assert f"Genres: {before} of {N_TRACKS} flagged" in panel.rate_label.text()

    dialog = panel.open_policy()
    assert dialog is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=120000)
    assert window.last_error is None, window.last_error
    form = dialog.form
    # No calibration yet: a share is flagged by review value unless thresholds are asked for.
    assert form.not_found.isChecked() and not form.not_found_raw.isChecked()
    assert "Genres</b> (no calibration yet): would flag" in dialog.counts_label.text()
    assert before == 6  # 10 % of 60
    assert f"would flag {before} of {N_TRACKS} tracks (10 %) by review value" in (
        dialog.counts_label.text()
    )
    form.share.setValue(0.2)
    assert f"would flag 12 of {N_TRACKS} tracks (20 %)" in dialog.counts_label.text()
    form.share.setValue(0.1)
    form.not_found_raw.setChecked(True)  # thresholds on raw outputs, as before issue 16
    thresholds = int(dialog.counts_label.text().split("would flag ")[1].split(" ")[0])
    form.uncertain.setChecked(False)
    form.disagree_on.setChecked(False)
    form.contradict.setChecked(False)
    form.not_found.setChecked(False)
    assert f"would flag 0 of {N_TRACKS} tracks" in dialog.counts_label.text()
    form.not_found.setChecked(True)  # raw outputs: most tracks have no label over 0.50
    assert int(dialog.counts_label.text().split("would flag ")[1].split(" ")[0]) > 0
    form.not_found.setChecked(False)

    form.uncertain.setChecked(True)
    form.low.setValue(0.45)
    form.high.setValue(0.55)
    expected = int(dialog.counts_label.text().split("would flag ")[1].split(" ")[0])
    assert dialog.apply() is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=120000)
    assert window.last_error is None, window.last_error
    assert flagged(library) == expected < thresholds
    with library.session() as s:
        policy = load_policy(s)
    assert policy.uncertain_low == 0.45 and not policy.flag_disagree
    assert len(panel.queue) == expected
    assert f"Genres: {expected} of {N_TRACKS} flagged" in panel.rate_label.text()
    assert "Flags recomputed" in dialog.message.text()
