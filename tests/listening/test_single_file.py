"""Per-file aggregation helpers of tagger_core.listening.single_file."""

from __future__ import annotations

import numpy as np
import pytest

from tagger_core.errors import DecodeError
from tagger_core.labels.bundles import load_bundle
from tagger_core.listening.single_file import BundleRunner, choose_regions, probability_to_logit


def test_choose_regions() -> None:
    assert choose_regions(100.0, None) == [(0.0, None)]
    assert choose_regions(100.0, 120.0) == [(0.0, None)]
    regions = choose_regions(600.0, 120.0)
    assert len(regions) == 4 and all(d == 30.0 for _, d in regions)
    starts = [s for s, _ in regions]
    assert starts == sorted(starts) and starts[0] > 0 and starts[-1] + 30.0 < 600.0
    assert choose_regions(600.0, 10.0) == [(295.0, 10.0)]


def test_probability_to_logit_inverts_sigmoid() -> None:
    x = np.array([-5.0, 0.0, 2.5])
    np.testing.assert_allclose(probability_to_logit(1 / (1 + np.exp(-x))), x, atol=1e-9)
    assert np.isfinite(probability_to_logit(np.array([0.0, 1.0]))).all()


def test_runner_averages_patch_probabilities_over_members() -> None:
    runner = BundleRunner(load_bundle("genre"))
    rng = np.random.default_rng(0)
    out = runner.run_chunks([(0.1 * rng.standard_normal(16000 * 7)).astype(np.float32)])
    assert out.patch_logits.shape == (2, 2, 50)  # 2 members, 437 frames -> 2 patches
    expected = (1 / (1 + np.exp(-out.patch_logits))).mean(axis=(0, 1))
    np.testing.assert_allclose(out.probabilities, expected, rtol=1e-6)
    with pytest.raises(DecodeError):
        runner.run_chunks([np.zeros(0, np.float32)])
