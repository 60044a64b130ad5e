"""Small generated multi-label embedding sets for training tests."""

from __future__ import annotations

import numpy as np


def embedding_set(
    n: int = 240, dim: int = 16, n_classes: int = 3, seed: int = 0, rate: float = 0.35
) -> tuple[np.ndarray, np.ndarray]:
    """X = sum of the class centres of a track's labels + noise; Y multi-label, every
    class with positives and negatives."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)) * 1.5
    y = (rng.random((n, n_classes)) < rate).astype(np.float32)
    x = y @ centres + rng.normal(size=(n, dim))
    return x.astype(np.float32), y
