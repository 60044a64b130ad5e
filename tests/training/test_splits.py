from __future__ import annotations

import numpy as np
import pytest

from tagger_core.errors import TaggerError
from tagger_core.training.splits import (
    check_split_counts,
    iterative_stratification,
    stratified_split,
)


def test_split_is_a_partition_with_the_asked_sizes():
    rng = np.random.default_rng(1)
    y = (rng.random((200, 5)) < 0.2).astype(int)
    split = stratified_split(y, (0.6, 0.2, 0.2), seed=3)
    all_rows = np.concatenate([split.train, split.val, split.test])
    assert sorted(all_rows.tolist()) == list(range(200))
    assert abs(len(split.train) - 120) <= 3
    assert abs(len(split.val) - 40) <= 3


def test_rare_class_reaches_every_part():
    y = np.zeros((100, 2), dtype=int)
    y[:6, 0] = 1  # only six positives of class 0
    y[50:, 1] = 1
    part = iterative_stratification(y, (0.6, 0.2, 0.2), seed=0)
    counts = [int(y[part == k, 0].sum()) for k in range(3)]
    assert all(c >= 1 for c in counts), counts
    assert sum(counts) == 6
    # the frequent class is spread close to the fractions
    assert abs(int(y[part == 0, 1].sum()) - 30) <= 2


def test_same_seed_same_split_and_other_seed_differs():
    y = (np.random.default_rng(0).random((80, 3)) < 0.3).astype(int)
    a = stratified_split(y, seed=5)
    b = stratified_split(y, seed=5)
    c = stratified_split(y, seed=6)
    assert np.array_equal(a.test, b.test)
    assert not np.array_equal(a.test, c.test)


def test_check_split_counts_names_the_thin_class():
    y = np.zeros((30, 2), dtype=int)
    y[:2, 0] = 1
    y[::2, 1] = 1
    split = stratified_split(y, seed=0)
    with pytest.raises(TaggerError, match="Jazz has 0 positives"):
        check_split_counts(y, split, ["Jazz", "Rock"])
