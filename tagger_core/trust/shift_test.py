"""A kernel two-sample test (MMD with an RBF kernel) with a permutation p-value.

Why this test: a calibration holds for data like the data it was fitted on;
whether the library's tracks are "like" that reference is a two-sample
question on embeddings and confidences. The maximum mean discrepancy (Gretton
et al., "A Kernel Two-Sample Test", JMLR 13, 2012) compares the two samples'
mean embeddings in the kernel's feature space; with a characteristic kernel
such as the Gaussian RBF it is zero only for equal distributions. A classifier
two-sample test (train a classifier to tell the samples apart, test its
held-out accuracy) would need a model, a training split and tuning per check,
and its power depends on that classifier; MMD needs one kernel matrix, no
fitting, and is exact under permutation. Bandwidth: the median heuristic (the
median pairwise distance of the pooled sample), Gretton et al.'s default.

Speed: both samples are subsampled to ``max_per_side`` (a seeded draw), and
all permutations are scored with one matrix product ``K @ G`` (G: n ×
permutations, 1 where a point is assigned to the first sample).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tagger_core.errors import CalibrationError

N_PERMUTATIONS = 500
MAX_PER_SIDE = 1000
MIN_PER_SIDE = 10


@dataclass(frozen=True)
class MMDResult:
    """Unbiased MMD² of the two samples, its permutation p-value and what was compared."""

    statistic: float
    p_value: float
    bandwidth: float
    n_x: int
    n_y: int
    n_permutations: int


def _subsample(a: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    if len(a) <= cap:
        return a
    return a[np.sort(rng.choice(len(a), cap, replace=False))]


def rbf_kernel(z: np.ndarray) -> tuple[np.ndarray, float]:
    """Gaussian kernel matrix of the rows of ``z`` with the median-heuristic bandwidth σ.

    ``k(a, b) = exp(−‖a − b‖² / (2σ²))``, σ the median of the pairwise distances.
    """
    sq = np.einsum("ij,ij->i", z, z)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0)
    upper = d2[np.triu_indices(len(z), k=1)]
    sigma2 = float(np.median(upper)) if upper.size else 1.0
    if sigma2 <= 0.0:
        sigma2 = float(upper[upper > 0].mean()) if np.any(upper > 0) else 1.0
    return np.exp(-d2 / (2.0 * sigma2)), float(np.sqrt(sigma2))


def _mmd2_unbiased(k: np.ndarray, groups: np.ndarray, m: int) -> np.ndarray:
    """Unbiased MMD² for each column of ``groups`` (n × P, 1 = first sample of size m)."""
    n = k.shape[0]
    q = n - m
    total = k.sum()
    rows = k.sum(axis=1)
    diag = np.diag(k)
    s_xx = np.einsum("np,np->p", groups, k @ groups)
    s_x = rows @ groups
    s_yy = total - 2.0 * s_x + s_xx
    s_xy = s_x - s_xx
    d_x = diag @ groups
    d_y = diag.sum() - d_x
    return (s_xx - d_x) / (m * (m - 1)) + (s_yy - d_y) / (q * (q - 1)) - 2.0 * s_xy / (m * q)


def mmd_test(
    x: Any,
    y: Any,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
    max_per_side: int = MAX_PER_SIDE,
) -> MMDResult:
    """Test whether samples ``x`` (m × d) and ``y`` (n × d) come from one distribution.

    The p-value is ``(1 + #{permuted MMD² ≥ observed}) / (1 + permutations)``,
    valid at any sample size. Features should be on comparable scales (see
    :func:`tagger_core.trust.shift.standardise`).
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise CalibrationError(f"two samples of equal width needed, got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < MIN_PER_SIDE:
        raise CalibrationError(
            f"a two-sample test needs at least {MIN_PER_SIDE} tracks per side, "
            f"got {len(a)} and {len(b)}"
        )
    rng = np.random.default_rng(seed)
    a, b = _subsample(a, max_per_side, rng), _subsample(b, max_per_side, rng)
    m = len(a)
    k, sigma = rbf_kernel(np.concatenate([a, b]))
    n = len(k)
    observed = np.zeros((n, 1))
    observed[:m] = 1.0
    keys = rng.random((n, n_permutations))
    # argsort of uniform keys is a uniform permutation; the positions it sends below m
    # are a uniform m-subset: each column one random "first sample".
    perm = np.argsort(keys, axis=0) < m
    stats = _mmd2_unbiased(k, np.concatenate([observed, perm.astype(np.float64)], axis=1), m)
    exceed = int(np.sum(stats[1:] >= stats[0]))
    return MMDResult(
        statistic=float(stats[0]),
        p_value=(1 + exceed) / (1 + n_permutations),
        bandwidth=sigma,
        n_x=m,
        n_y=len(b),
        n_permutations=n_permutations,
    )
