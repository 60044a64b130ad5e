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
from tagger_core.trust.stratify import iterative_stratification

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
