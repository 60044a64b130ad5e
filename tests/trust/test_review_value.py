"""Review queue of an uncalibrated bundle: a share of the library, chosen by review value."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sqlalchemy import select
from stored_outputs import add_genre_outputs, review_truth

from tagger_core.db.blob_codec import pack
from tagger_core.db.models import Analysis, Prediction
from tagger_core.trust.archive_calibration import fit_calibration
from tagger_core.trust.policy import ReviewPolicy
from tagger_core.trust.predictions import (
    UNCALIBRATED_MARK,
    calibration_state,
    refresh_predictions,
    save_policy,
)
from tagger_core.trust.review import review_queue
from tagger_core.trust.review_value import select_for_review, uncertainty


def test_uncertainty_separates_unsure_from_split_members() -> None:
    unsure = np.full((2, 1, 3), 0.5)  # both members say 0.5
    split = np.array([[[0.0001, 0.01, 0.01]], [[0.9999, 0.01, 0.01]]])  # one says 0, one 1
    sure = np.full((2, 1, 3), 0.01)
    h, bald = uncertainty(np.concatenate([unsure, split, sure], axis=1))
    assert h[0] == pytest.approx(1.0) and bald[0] == pytest.approx(0.0, abs=1e-9)
    assert h[1] == pytest.approx(1.0, abs=1e-3) and bald[1] > 0.99
    assert h[2] < 0.1 and bald[2] == pytest.approx(0.0, abs=1e-9)


def _two_clusters(n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Two far-apart clusters; A (first half) holds the 10 most uncertain tracks, B the next 10."""
    rng = np.random.default_rng(0)
    centre = np.full(n, 0.05)
    centre[:10], centre[n // 2 : n // 2 + 10] = 0.48, 0.40
    p = centre[None, :, None] + rng.uniform(-0.01, 0.01, (3, n, 4))
    emb = rng.normal(0, 1, (n, 16))
    emb[: n // 2, 0] += 40.0
    return p, emb


def test_picks_cover_the_collection_not_only_the_most_uncertain_cluster() -> None:
    p, emb = _two_clusters()
    picked = select_for_review(p, emb, share=0.06)
    assert len(picked.order) == 6
    in_a = (picked.order < 50).sum()
    assert 0 < in_a < 6, picked.order  # top uncertainty alone would take all six from A
    assert picked.order[0] < 50  # the most uncertain first
    assert np.all(np.diff(picked.value) <= 1e-12)  # most valuable first
    assert picked.reason(0).startswith("uncertain: 1.00") and "nothing like it" in picked.reason(0)
    assert any("far from reviewed tracks" in picked.reason(k) for k in range(1, 6))


def test_reviewed_tracks_are_never_picked_and_picks_keep_away_from_them() -> None:
    p, emb = _two_clusters()
    reviewed = np.zeros(100, dtype=bool)
    reviewed[:10] = True  # cluster A already has reviews
    picked = select_for_review(p, emb, share=0.03, reviewed=reviewed)
    assert not reviewed[picked.order].any()
    assert picked.order[0] >= 50  # the unreviewed cluster first
    assert "far from reviewed tracks" in picked.reason(0)


def test_share_is_validated_and_rounded_up() -> None:
    p, emb = _two_clusters(30)
    assert len(select_for_review(p, emb, share=0.1).order) == 3
    assert len(select_for_review(p, emb, share=0.01).order) == 1
    with pytest.raises(ValueError, match="review share"):
        select_for_review(p, emb, share=0.0)


N = 200


@pytest.fixture
def uncalibrated(library):
    bundle, truth = add_genre_outputs(library, N, 2.5, seed=1)
    rng = np.random.default_rng(2)
    with library.session() as s:
        for a in s.scalars(select(Analysis)):
            a.embedding = pack(rng.normal(0, 1, (len(bundle.members), 8)).astype(np.float32))
    return bundle, truth


def _preds(library) -> list[Prediction]:
    with library.session() as s:
        return list(s.scalars(select(Prediction).order_by(Prediction.track_id)))


def test_uncalibrated_bundle_flags_a_share_with_reasons_and_says_so(library, uncalibrated) -> None:
    with library.session() as s:
        assert calibration_state(s, "genre") == "uncalibrated"
    refresh_predictions(library)
    preds = _preds(library)
    flagged = [p for p in preds if p.flagged]
    assert len(flagged) == math.ceil(0.10 * N)
    assert all(p.summary.endswith(UNCALIBRATED_MARK) for p in preds)
    for p in flagged:
        assert [r["code"] for r in p.flag_reasons] == ["review_value"]
        assert p.flag_reasons[0]["message"].startswith("uncertain: ")
    with library.session() as s:
        queue = review_queue(s, "genre", "genre")
        save_policy(s, ReviewPolicy(review_share=0.25))
    assert [q.track_id for q in queue][: len(flagged)] == [
        p.track_id for p in sorted(flagged, key=lambda p: (-p.uncertainty, p.track_id))
    ]
    refresh_predictions(library, [1, 2])  # a partial refresh still chooses over the library
    assert sum(p.flagged for p in _preds(library)) == math.ceil(0.25 * N)


def test_reviewed_tracks_leave_the_share_and_a_calibration_ends_it(library, uncalibrated) -> None:
    bundle, truth = uncalibrated
    review_truth(library, bundle, truth, 120)
    refresh_predictions(library)
    flagged = {p.track_id for p in _preds(library) if p.flagged}
    assert flagged and min(flagged) > 120
    fit_calibration(library, "genre")
    with library.session() as s:
        assert calibration_state(s, "genre") == "active"
    preds = _preds(library)
    assert not any(p.summary.endswith(UNCALIBRATED_MARK) for p in preds)
    assert all(r["code"] != "review_value" for p in preds for r in p.flag_reasons)


def test_a_large_share_ranks_the_rest_once_after_the_greedy_picks(monkeypatch) -> None:
    from tagger_core.trust import review_value

    p, emb = _two_clusters()
    full = select_for_review(p, emb, share=0.1)
    monkeypatch.setattr(review_value, "GREEDY_PICKS", 3)
    quick = select_for_review(p, emb, share=0.1)
    assert len(quick.order) == 10 == len(set(quick.order.tolist()))
    assert quick.order[:3].tolist() == full.order[:3].tolist()
    assert np.all(np.diff(quick.value) <= 0)
    assert (quick.order < 50).any() and (quick.order >= 50).any()
