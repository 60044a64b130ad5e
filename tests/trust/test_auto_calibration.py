"""Calibration fitted on its own from the archive's tags, and when it is (not) applied."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select
from stored_outputs import add_genre_outputs

from tagger_core.db.models import Calibration, Prediction, Track
from tagger_core.trust.archive_calibration import (
    activate_calibration,
    build_calibration_set,
    fit_calibration,
)
from tagger_core.trust.auto_calibration import (
    Verdict,
    auto_calibrate,
    auto_calibrate_bundle,
    interval_judge,
)
from tagger_core.trust.review import decide, mark_reviewed

N_TRACKS = 300
TRUE_T = 3.0  # stored outputs this much too confident


def _tag_with_truth(library, labels: tuple[str, ...], truth: np.ndarray, every: int = 1) -> int:
    """Tag every ``every``-th track with its true genres; returns how many were tagged."""
    tagged = 0
    with library.session() as s:
        for i, row in enumerate(truth):
            names = [labels[c] for c in np.flatnonzero(row)]
            if names and i % every == 0:
                s.get(Track, i + 1).genres = names
                tagged += 1
    return tagged


@pytest.fixture
def tagged(library):
    bundle, truth = add_genre_outputs(library, N_TRACKS, TRUE_T, seed=3)
    n = _tag_with_truth(library, bundle.taxonomy.labels, truth)
    return bundle, truth, n


def test_fits_from_tags_and_activates_when_held_out_figures_improve(library, tagged) -> None:
    _, _, n_tagged = tagged
    fit = auto_calibrate(library, ["genre"])["genre"]
    assert fit is not None
    assert fit.source == "tags" and fit.from_tags == n_tagged and fit.from_review == 0
    assert fit.activated, fit.reason
    assert fit.after["ece"] < fit.before["ece"] and fit.after["nll"] < fit.before["nll"]
    line = fit.summary()
    assert line.startswith(f"genre calibrated on {n_tagged:,} tagged tracks: held-out ECE ")
    assert f"{fit.before['ece']:.3f} \u2192 {fit.after['ece']:.3f}" in line
    with library.session() as s:
        row = s.get(Calibration, fit.calibration_id)
        assert row.active and row.params["source"] == "tags" and row.params["auto"]
        used = set(s.scalars(select(Prediction.calibration_id)))
    assert used == {fit.calibration_id}
    data = fit.to_dict()
    assert data["summary"] == line and data["activated"] is True
    assert data["train_hint"].startswith("music-tagger train heads --from-tags --task genre")


def test_nothing_refitted_when_the_tagged_tracks_did_not_change(library, tagged) -> None:
    assert auto_calibrate_bundle(library, "genre") is not None
    assert auto_calibrate_bundle(library, "genre") is None
    with library.session() as s:
        assert len(list(s.scalars(select(Calibration)))) == 1


def test_too_few_tagged_tracks_fit_nothing(library) -> None:
    bundle, truth = add_genre_outputs(library, N_TRACKS, TRUE_T, seed=3)
    n = _tag_with_truth(library, bundle.taxonomy.labels, truth, every=10)
    assert n < 50
    assert auto_calibrate_bundle(library, "genre") is None
    assert auto_calibrate_bundle(library, "genre", min_tracks=n) is not None


def test_librarians_own_active_calibration_is_never_replaced(library, tagged) -> None:
    own = fit_calibration(library, "genre", use_tags=True, activate=True)
    assert auto_calibrate_bundle(library, "genre") is None
    with library.session() as s:
        assert s.get(Calibration, own.calibration_id).active


def test_a_fit_that_is_not_better_is_stored_but_not_applied(library, tagged) -> None:
    fit = auto_calibrate_bundle(
        library, "genre", judge=lambda b, a, y: Verdict(False, "held-out ECE 0.100 \u2192 0.120")
    )
    assert fit is not None and not fit.activated
    assert fit.summary().endswith("; not applied (held-out ECE 0.100 \u2192 0.120)")
    with library.session() as s:
        row = s.get(Calibration, fit.calibration_id)
        assert row is not None and not row.active


def test_an_earlier_automatic_fit_is_replaced_when_tags_change(library, tagged) -> None:
    first = auto_calibrate_bundle(library, "genre")
    activate_calibration(library, first.calibration_id)
    with library.session() as s:
        s.get(Track, N_TRACKS).genres = ["Jazz", "Metal"]  # one more (or changed) tagged track
        s.get(Track, N_TRACKS - 1).genres = ["Jazz"]
    second = auto_calibrate_bundle(library, "genre")
    assert second is not None and second.calibration_id != first.calibration_id


def test_the_judge_activates_only_improvements_beyond_the_noise() -> None:
    rng = np.random.default_rng(0)
    p = rng.random((2000, 3))
    y = (rng.random((2000, 3)) < p).astype(float)
    sharpened = 1 / (1 + np.exp(-6 * (p - 0.5)))  # overconfident: worse ECE and NLL
    assert not interval_judge(p, sharpened, y).improved
    assert "not better beyond the noise: held-out NLL" in interval_judge(p, sharpened, y).reason
    verdict = interval_judge(sharpened, p, y)
    assert verdict.improved and verdict.ece_halfwidth is not None
    nudged = np.clip(p + 0.002 * rng.standard_normal(p.shape), 0.01, 0.99)
    assert not interval_judge(p, nudged, y).improved  # a change inside the noise stays off


def test_reviews_outrank_tags_for_the_same_track_and_label(library, tagged) -> None:
    bundle, truth, _ = tagged
    labels = bundle.taxonomy.labels
    tid = int(np.flatnonzero(truth.any(axis=1))[0]) + 1
    tagged_label = labels[int(np.flatnonzero(truth[tid - 1])[0])]
    other = next(name for name in labels if name != tagged_label)
    decide(library, tid, "genre", tagged_label, "reject")
    decide(library, tid, "genre", other, "accept")
    with library.session() as s:
        cal_set = build_calibration_set(s, "genre", use_tags=True)
    row = cal_set.y[list(cal_set.track_ids).index(tid)]
    assert row[labels.index(tagged_label)] == 0 and row[labels.index(other)] == 1
    assert cal_set.source == "both" and cal_set.tags_overridden == 1
    mark_reviewed(library, tid + 1, "genre")
    with library.session() as s:
        cal_set = build_calibration_set(s, "genre", use_tags=True)
    assert cal_set.from_review == 1 and cal_set.source == "both"
