"""Stratified train / validation / test split of a multi-label set.

Why iterative stratification (Sechidis et al., 2011): with many labels per
track a random split can leave a rare class with no positives in validation
or test, and then neither early stopping nor calibration nor the report can
say anything about it. The rarest label is distributed first, each track
going to the part that still wants most of that label, so every part gets its
share of every class as far as multi-label data allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tagger_core.errors import TaggerError

PARTS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)


@dataclass(frozen=True)
class Split:
    """Row indices of each part (sorted, disjoint, together all rows)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def part(self, name: str) -> np.ndarray:
        """Indices of ``"train"``, ``"val"`` or ``"test"``."""
        return getattr(self, name)

    def to_dict(self) -> dict[str, list[int]]:
        return {name: self.part(name).tolist() for name in PARTS}


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


def stratified_split(
    labels: Any, fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0
) -> Split:
    """Split rows into train / val / test by :func:`iterative_stratification`."""
    if len(fractions) != 3:
        raise TaggerError("a train/val/test split needs exactly three fractions")
    part = iterative_stratification(labels, fractions, seed)
    return Split(*(np.flatnonzero(part == k) for k in range(3)))


def check_split_counts(
    labels: Any, split: Split, class_names: Sequence[str], minimum: int = 1
) -> None:
    """Refuse, in one line, when a part lacks ``minimum`` positives or negatives of a class."""
    y = np.asarray(labels).astype(bool)
    short = []
    for name in PARTS:
        rows = y[split.part(name)]
        pos = rows.sum(axis=0)
        neg = rows.shape[0] - pos
        for c, cls in enumerate(class_names):
            if pos[c] < minimum:
                short.append(f"{cls} has {int(pos[c])} positives in {name}")
            elif neg[c] < minimum:
                short.append(f"{cls} has {int(neg[c])} negatives in {name}")
    if short:
        raise TaggerError(
            f"too few examples to split (need {minimum} positive and negative per part): "
            + ", ".join(short)
        )
