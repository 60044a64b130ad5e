from __future__ import annotations

import numpy as np
import pytest

from tagger_core.training.ranking import average_precision, mean_average_precision


def test_hand_computed_cases():
    assert average_precision([0.9, 0.8, 0.1], [1, 1, 0])[0] == pytest.approx(1.0)
    # ranks: pos, neg, pos -> (1/1 + 2/3) / 2
    assert average_precision([0.9, 0.8, 0.1], [1, 0, 1])[0] == pytest.approx(5 / 6)
    ap = average_precision(np.array([[0.2, 0.5], [0.4, 0.5]]), np.array([[0, 1], [0, 0]]))
    assert np.isnan(ap[0]) and ap[1] == pytest.approx(0.5)  # a tie is one threshold
    assert mean_average_precision(np.array([[0.2, 0.5], [0.4, 0.5]]), [[0, 1], [0, 0]]) == 0.5


def test_matches_scikit_learn_with_ties():
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.random((300, 4)) < 0.3
    s = np.round(rng.random((300, 4)) + 0.4 * y, 1)
    expected = [sklearn.average_precision_score(y[:, c], s[:, c]) for c in range(4)]
    assert np.allclose(average_precision(s, y), expected)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        average_precision(np.zeros((3, 2)), np.zeros((3, 3)))
