"""Conformal label sets: coverage of all of a track's labels, set size vs sharpness."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tagger_core.errors import CalibrationError
from tagger_core.trust.conformal import (
    ConformalFit,
    conformal_quantile,
    fit_conformal,
    label_set,
    scores,
    threshold_for,
)


def calibrated_multilabel(
    n: int, sharpness: float, seed: int, classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated sigmoid outputs: labels drawn from p itself; sharper = more extreme p."""
    rng = np.random.default_rng(seed)
    z = sharpness * rng.normal(-1.0, 1.0, (n, classes))
    p = 1 / (1 + np.exp(-z))
    return p, (rng.random(p.shape) < p).astype(float)


def test_scores_by_hand() -> None:
    p = np.array([[0.9, 0.2, 0.6], [0.1, 0.1, 0.1], [0.3, 0.8, 0.5]])
    y = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 1]])
    np.testing.assert_allclose(scores(p, y), [0.4, 0.0, 0.5])
    assert conformal_quantile(np.array([0.1, 0.2, 0.3, 0.4]), 0.5) == 0.3  # ceil(5 * .5) = 3rd
    assert conformal_quantile(np.array([0.1, 0.2]), 0.9) == 1.0  # too few: every label
    fit = ConformalFit(0.9, 0.55, 3, 2, 1.0, 1.5)
    assert label_set(p[0], fit, ("a", "b", "c")) == ["a", "c"]
    np.testing.assert_array_equal(label_set(p, fit.to_dict()), p >= 0.55)


@pytest.mark.parametrize("target", [0.8, 0.9])
def test_held_out_coverage_is_within_a_binomial_margin_of_the_target(target: float) -> None:
    p, y = calibrated_multilabel(3000, 2.0, seed=1)
    fit = fit_conformal(p, y, target=target, folds=5, seed=0)
    margin = 3 * math.sqrt(target * (1 - target) / 3000)
    assert target - margin <= fit.coverage_held_out <= target + margin + 0.01
    # and on fresh tracks from the same source
    q, z = calibrated_multilabel(4000, 2.0, seed=2)
    sets = label_set(q, fit)
    coverage = np.all(sets | (z == 0), axis=1).mean()
    assert coverage >= target - 3 * math.sqrt(target * (1 - target) / 4000)


def test_sets_shrink_as_the_model_gets_sharper() -> None:
    sizes = [
        fit_conformal(*calibrated_multilabel(2000, k, seed=3), target=0.9).mean_set_size
        for k in (1.0, 2.5, 6.0)
    ]
    assert sizes[0] > sizes[1] > sizes[2]


def test_higher_coverage_lowers_the_threshold() -> None:
    p, y = calibrated_multilabel(1000, 2.0, seed=4)
    assert threshold_for(p, y, 0.95) < threshold_for(p, y, 0.8)


def test_refuses_bad_targets_and_folds() -> None:
    p, y = calibrated_multilabel(20, 2.0, seed=0)
    with pytest.raises(CalibrationError, match="between 0 and 1"):
        fit_conformal(p, y, target=1.0)
    with pytest.raises(CalibrationError, match="folds"):
        fit_conformal(p, y, folds=1)
