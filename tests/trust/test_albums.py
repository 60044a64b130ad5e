"""Album-level confidences: pooling, calibration on album-wide labels, disagreement flags."""

from __future__ import annotations

import numpy as np
import pytest
from album_outputs import add_album_outputs

from tagger_core.db.models import Track
from tagger_core.errors import CalibrationError
from tagger_core.trust.album_calibration import fit_album_calibration, known_album_labels
from tagger_core.trust.albums import (
    POOLINGS,
    AlbumPrediction,
    album_outputs,
    album_predictions,
    disagreements,
    load_album_calibration,
    pool_tracks,
    state_text,
)
from tagger_core.trust.predictions import refresh_predictions
from tagger_core.trust.review import decide, mark_reviewed


def test_poolings_of_consistent_and_mixed_tracks() -> None:
    z = np.array([[[3.0, -3.0], [3.0, -3.0]]])  # 1 member, 2 tracks, 2 labels
    assert pool_tracks(z, "logit-mean") == pytest.approx(np.array([[3.0, -3.0]]))
    assert pool_tracks(z, "prob-mean") == pytest.approx(np.array([[3.0, -3.0]]))
    mixed = np.array([[[4.0], [-4.0], [-4.0]]])
    # logit mean keeps the majority's direction; the probability mean is pulled by the odd one
    assert pool_tracks(mixed, "logit-mean")[0, 0] == pytest.approx(-4 / 3)
    assert pool_tracks(mixed, "prob-mean")[0, 0] > pool_tracks(mixed, "logit-mean")[0, 0]
    with pytest.raises(ValueError):
        pool_tracks(z, "median")


def test_album_wide_tags_are_the_album_labels(library) -> None:
    bundle, truth, keys = add_album_outputs(library, 30, 4, 2.0)
    with library.session() as s:
        outputs = album_outputs(s, "genre")["logit-mean"]
        assert outputs.keys == keys and outputs.logits.shape == (2, 30, len(bundle.taxonomy.labels))
        rows, y, by_review, by_tags = known_album_labels(s, outputs, use_tags=True)
        with_labels = [a for a in range(30) if truth[a].any()]
        assert rows == with_labels and by_tags == len(rows) and by_review == 0
        assert np.array_equal(y.astype(bool), truth[with_labels])
        # one track tagged differently: the album's labels are no longer album-wide
        track = s.query(Track).filter(Track.album_key == keys[rows[0]]).first()
        track.genres = ["Polka"] if track.genres != ["Polka"] else ["Rock"]
        s.flush()
        rows2, *_ = known_album_labels(s, outputs, use_tags=True)
        assert rows[0] not in rows2


def test_album_calibration_improves_overconfident_albums_and_is_used(library) -> None:
    add_album_outputs(library, 400, 3, 3.0, seed=1)
    refresh_predictions(library)
    with library.session() as s:
        raw = album_predictions(s, "genre")
    state = fit_album_calibration(library, "genre", folds=3, use_tags=True)
    assert set(state["comparison"]) == set(POOLINGS)
    chosen = state["comparison"][state["pooling"]]["after"]["nll"]
    assert chosen == min(c["after"]["nll"] for c in state["comparison"].values())
    assert state["active"] and state["worse"] == []
    assert state["report"]["after"]["nll"] < state["report"]["before"]["nll"]
    assert "calibrated" in state_text(state)
    with library.session() as s:
        assert load_album_calibration(s, "genre")["pooling"] == state["pooling"]
        cal = album_predictions(s, "genre")
    key = next(iter(cal))
    assert cal[key].calibrated and not raw[key].calibrated
    # too-confident outputs: calibration pulls the album's best confidence towards 0.5
    label = raw[key].ranked()[0][0]
    assert abs(cal[key].probs[label] - 0.5) < abs(raw[key].probs[label] - 0.5)


def test_a_calibration_that_is_worse_on_held_out_albums_is_not_activated(library) -> None:
    # outputs already calibrated (true_t = 1), few albums, isotonic: held-out NLL gets worse
    add_album_outputs(library, 60, 2, 1.0, seed=3)
    state = fit_album_calibration(library, "genre", method="isotonic", folds=3, use_tags=True)
    assert state["worse"], "this set-up must make the held-out figures worse"
    assert not state["active"]
    assert "not applied" in state_text(state)
    with library.session() as s:
        assert not next(iter(album_predictions(s, "genre").values())).calibrated


def test_no_known_albums_is_a_one_line_error(library) -> None:
    add_album_outputs(library, 5, 2, 1.0)
    with pytest.raises(CalibrationError, match="album-wide"):
        fit_album_calibration(library, "genre", use_tags=False)


def test_reviewed_albums_count_as_known(library) -> None:
    _, _, keys = add_album_outputs(library, 3, 2, 1.0)
    for tid in (1, 2):  # both tracks of the first album
        decide(library, tid, "genre", "Jazz", "accept")
        mark_reviewed(library, tid, "genre")
    with library.session() as s:
        outputs = album_outputs(s, "genre")["logit-mean"]
        rows, y, by_review, _ = known_album_labels(s, outputs, use_tags=False)
    labels = outputs.labels
    assert rows == [0] and by_review == 1
    assert [labels[c] for c in np.flatnonzero(y[0])] == ["Jazz"]


def test_disagreeing_tracks_flag_the_album() -> None:
    album = AlbumPrediction(
        key="k", bundle_id="genre", labels=("Jazz", "Rock"), probs={"Jazz": 0.8, "Rock": 0.3},
        spread={}, calibrated=False, pooling="logit-mean", tracks=[1, 2, 3],
    )  # fmt: skip
    agree = {1: {"Jazz": 0.9, "Rock": 0.1}, 2: {"Jazz": 0.7, "Rock": 0.2}}
    assert disagreements(album, agree, 0.5) == ([], [])
    mixed = {**agree, 3: {"Jazz": 0.05, "Rock": 0.95}}
    reasons, odd = disagreements(album, mixed, 0.5)
    assert odd == [3]
    assert any("disagree on Jazz" in r for r in reasons)
    assert any("1 of 3 tracks" in r for r in reasons)


def test_a_bundle_with_no_analysed_album_has_no_album_predictions(library) -> None:
    add_album_outputs(library, 3, 2, 1.0)  # genre outputs only
    with library.session() as s:
        assert album_predictions(s, "instrument-family") == {}
        assert len(album_predictions(s, "genre")) == 3
