"""Patch counts agree with the frontend; sampled patches cover the whole track evenly."""

from __future__ import annotations

import numpy as np
import torch

from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.listening.frontend import LogMelFrontend, make_patches
from tagger_core.listening.patch_sampling import (
    even_indices,
    full_patch_count,
    window_offsets,
    window_samples,
)


def test_counts_and_windows_match_the_frontend() -> None:
    config = FrontendConfig.musicnn()
    frontend = LogMelFrontend(config)
    for seconds in (0.5, 2.99, 3.0, 7.3):
        n = int(seconds * config.sr)
        logmel = frontend(torch.zeros(n))
        assert full_patch_count(n, config, 187, 187) == make_patches(logmel, 187).shape[0]
    assert frontend(torch.zeros(window_samples(config, 187))).shape[0] == 187
    assert full_patch_count(0, config, 187, 187) == 0


def test_even_indices_span_the_range() -> None:
    idx = even_indices(100, 5)
    assert idx[0] == 0 and idx[-1] == 99 and len(idx) == 5
    assert np.all(np.diff(idx) > 20)
    np.testing.assert_array_equal(even_indices(3, 5), [0, 1, 2])


def test_window_offsets_reach_the_end() -> None:
    offsets = window_offsets(600.0, 3.0, 4)
    assert offsets[0] == 0.0 and offsets[-1] == 597.0
    assert window_offsets(2.0, 3.0, 1) == [0.0]
