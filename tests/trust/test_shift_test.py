"""The MMD two-sample test: calibrated p-values under the null, power under a shift."""

from __future__ import annotations

import numpy as np
import pytest

from tagger_core.errors import CalibrationError
from tagger_core.trust.shift_test import _mmd2_unbiased, mmd_test, rbf_kernel


def test_unbiased_mmd_matches_the_direct_formula() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(1.0, 1.0, size=(5, 3))
    k, _ = rbf_kernel(np.concatenate([x, y]))
    kxx, kyy, kxy = k[:7, :7], k[7:, 7:], k[:7, 7:]
    want = (
        (kxx.sum() - np.trace(kxx)) / (7 * 6)
        + (kyy.sum() - np.trace(kyy)) / (5 * 4)
        - 2 * kxy.mean()
    )
    g = np.zeros((12, 1))
    g[:7] = 1
    assert _mmd2_unbiased(k, g, 7)[0] == pytest.approx(want)


def test_same_distribution_gives_large_p_values() -> None:
    """At level 0.05, a valid test rejects about 5 % of the time: ≥ 90 % of trials pass."""
    passed = 0
    trials = 40
    for seed in range(trials):
        rng = np.random.default_rng(100 + seed)
        x, y = rng.normal(size=(80, 6)), rng.normal(size=(90, 6))
        passed += mmd_test(x, y, n_permutations=200, seed=seed).p_value > 0.05
    assert passed >= 0.9 * trials


def test_a_shifted_sample_gives_a_small_p_value() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(150, 20))
    y = rng.normal(size=(150, 20))
    y[:, :3] += 0.8  # a shift in a few of the dimensions only
    result = mmd_test(x, y, n_permutations=300, seed=0)
    assert result.p_value < 0.01 and result.statistic > 0


def test_caps_and_seeds() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3000, 4)), rng.normal(size=(50, 4))
    a = mmd_test(x, y, n_permutations=50, seed=3, max_per_side=400)
    assert (a.n_x, a.n_y) == (400, 50)
    assert a == mmd_test(x, y, n_permutations=50, seed=3, max_per_side=400)
    with pytest.raises(CalibrationError, match="at least 10"):
        mmd_test(x[:5], y)
    with pytest.raises(CalibrationError, match="equal width"):
        mmd_test(x, y[:, :2])
