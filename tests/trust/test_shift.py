"""Shift checks on a real library: against a calibration's own tracks and shipped references."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from stored_outputs import add_genre_outputs, review_truth

from tagger_core.db.blob_codec import pack
from tagger_core.db.models import Analysis
from tagger_core.labels.bundles import load_bundle
from tagger_core.resources import resource_path
from tagger_core.trust.archive_calibration import fit_calibration
from tagger_core.trust.shift import (
    ACTION,
    REFERENCE_FILE,
    check_shift,
    load_reference,
    track_features,
)

N = 300
REVIEWED = 150


def set_embeddings(library, shift_after: int, delta: float, seed: int = 0) -> None:
    """Give every genre analysis an embedding; tracks after ``shift_after`` move by ``delta``."""
    rng = np.random.default_rng(seed)
    with library.session() as s:
        for row in s.scalars(select(Analysis).order_by(Analysis.track_id)):
            emb = rng.normal(size=(2, 12)).astype(np.float16)
            emb[1, 8:] = np.nan  # the second member's embedding is narrower
            if row.track_id > shift_after:
                emb[:, :4] += delta
            row.embedding = pack(emb)


@pytest.fixture
def calibrated(library):
    bundle, truth = add_genre_outputs(library, N, 2.5)
    review_truth(library, bundle, truth, upto=REVIEWED)
    fit_calibration(library, "genre", method="temperature", folds=3)
    return library


def test_features_drop_padding_and_summarise_confidences() -> None:
    logits = np.array([[0.0, 2.0], [0.0, -2.0]])
    emb = np.array([[1, 2, 3], [4, 5, np.nan]], dtype=np.float16)
    e, c = track_features(logits, emb)
    np.testing.assert_allclose(e, [1, 2, 3, 4, 5])
    np.testing.assert_allclose(c[:2], [0.5, 0.5])
    assert c[2] == pytest.approx(np.std([1 / (1 + np.exp(-2)), 1 / (1 + np.exp(2))]) / 2)


def test_same_tracks_as_the_calibration_are_not_shifted(calibrated) -> None:
    set_embeddings(calibrated, shift_after=N, delta=0.0)
    result = check_shift(calibrated, "genre")
    assert result.reference.startswith("calibration ")
    assert (result.n_reference, result.n_library) == (REVIEWED, N - REVIEWED)
    assert result.p_value is not None and result.p_value > 0.01 and result.shifted is False
    assert result.warning is None


def test_a_collection_unlike_the_calibration_is_shifted(calibrated) -> None:
    set_embeddings(calibrated, shift_after=REVIEWED, delta=1.5)
    result = check_shift(calibrated, "genre")
    assert result.shifted is True and result.p_value < 0.01 and result.statistic > 0
    assert ACTION in result.warning and "genre" in result.warning
    new_only = check_shift(calibrated, "genre", track_ids=range(REVIEWED + 1, REVIEWED + 31))
    assert new_only.n_library == 30 and new_only.shifted is True
    assert json.loads(json.dumps(result.to_dict()))["shifted"] is True


def test_without_a_reference_or_tracks_it_says_why(library) -> None:
    add_genre_outputs(library, 30, 1.0)
    result = check_shift(library, "genre")  # no embeddings stored: nothing to compare
    assert result.statistic is None and result.shifted is None
    assert "too few tracks" in result.reason


@pytest.mark.parametrize("bundle_id", ["genre", "instruments", "instrument-family"])
def test_shipped_references_fit_their_bundles(bundle_id: str) -> None:
    bundle = load_bundle(bundle_id)
    path = Path(resource_path("models")) / bundle_id / REFERENCE_FILE
    features, source = load_reference(path)
    widths = sum(m.embedding_dim for m in bundle.members)
    assert features.embedding.shape == (200, widths)
    assert features.confidence.shape == (200, len(bundle.raw_labels) + 1)
    assert np.isfinite(features.embedding).all() and "tools/make_shift_reference.py" in source
