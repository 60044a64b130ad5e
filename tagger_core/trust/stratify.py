"""Iterative stratification of a multi-label set (Sechidis et al., 2011).

Shared by the calibration folds and the training splits: with many labels per
track a random partition can leave a rare class with no positives in a part,
and then nothing can be measured for it there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tagger_core.errors import TaggerError


def iterative_stratification(labels: Any, fractions: Sequence[float], seed: int = 0) -> np.ndarray:
    """Part number (0 .. len(fractions)-1) of each row of a binary label matrix.

    Each part ``k`` wants ``fractions[k]`` of all rows and of every label's
    positives; the label with fewest unassigned positives is handled first,
    its tracks go (in random order) to the part with the largest remaining
    demand for that label, ties broken by the largest remaining demand for
    rows, then at random. Rows without labels fill the remaining demand.
    """
    y = np.asarray(labels).astype(bool)
    if y.ndim == 1:
        y = y[:, None]
    frac = np.asarray(fractions, dtype=np.float64)
    if frac.ndim != 1 or frac.size < 1 or np.any(frac < 0) or frac.sum() <= 0:
        raise TaggerError("split fractions must be non-negative and not all zero")
    frac = frac / frac.sum()
    n = y.shape[0]
    rng = np.random.default_rng(seed)
    part = np.full(n, -1, dtype=np.int64)
    want_label = np.outer(frac, y.sum(axis=0)).astype(np.float64)  # (K, C)
    want_total = frac * n
    unassigned = np.ones(n, dtype=bool)

    def assign(i: int, candidates: np.ndarray) -> None:
        best = candidates[want_total[candidates] == want_total[candidates].max()]
        k = int(rng.choice(best))
        part[i] = k
        unassigned[i] = False
        want_total[k] -= 1
        want_label[k] -= y[i]

    while True:
        remaining = (y & unassigned[:, None]).sum(axis=0)
        if not remaining.any():
            break
        label = int(np.argmin(np.where(remaining > 0, remaining, np.iinfo(np.int64).max)))
        for i in rng.permutation(np.flatnonzero(y[:, label] & unassigned)):
            col = want_label[:, label]
            assign(int(i), np.flatnonzero(col == col.max()))
    for i in rng.permutation(np.flatnonzero(unassigned)):
        assign(int(i), np.arange(frac.size))
    return part
