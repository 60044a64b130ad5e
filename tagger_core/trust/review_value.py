"""Which tracks of an uncalibrated bundle a person should review first: value, not thresholds.

Without a calibration the confidences are not probabilities, so thresholds on
them ("uncertain band", "no label found") flag most of a library and say
nothing. What the librarian's first reviews should do is teach a calibration
as much as possible, which takes two things (the usual recipe of batch active
learning, e.g. Sener & Savarese 2018, "core-set" selection; Ash et al. 2020,
BADGE):

- **uncertainty** of the ensemble on the track: the largest binary entropy
  (in bits, 0..1) of the mean member probability over the labels, plus the
  largest members' disagreement (mutual information between a label and the
  member, the "BALD" term of Houlsby et al. 2011), so a track the ensemble
  is unsure or split about is worth more;
- **diversity** in embedding space: among the ``pool`` most uncertain tracks, a
  greedy farthest-point (k-centre) pass picks, each time, the track with the
  highest ``uncertainty x d / (d + scale)``, where ``d`` is its distance to the
  nearest track already reviewed or picked and ``scale`` the median distance of
  the pool to its centre. The first picks therefore spread over the collection
  instead of piling up on one confusing album.

Embeddings are centred and scaled as a whole and, when wide, projected to ``PROJECT_DIMS``
dimensions by a seeded Gaussian random projection (distances are kept within a
small factor, Johnson–Lindenstrauss), so 100k tracks stay cheap. NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROJECT_DIMS = 32
POOL_FACTOR = 3
"""The greedy pass looks at this many times the share's most uncertain tracks."""
GREEDY_PICKS = 500
"""Picks made one by one; the rest of a large share is ranked once by the same criterion
against them (the first reviews are what must cover the collection, and a pick-by-pick
pass over 10,000 picks would take minutes)."""
DISAGREE_NOTE = 0.05
"""Member disagreement (bits) from which a reason mentions it."""


def _entropy_bits(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-12, 1 - 1e-12)
    return -(q * np.log2(q) + (1 - q) * np.log2(1 - q))


def uncertainty(member_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per track (entropy of the mean, members' disagreement), each the max over labels, bits.

    ``member_probs`` is (members, tracks, labels) of sigmoid outputs.
    """
    m = np.asarray(member_probs, dtype=np.float64)
    if m.ndim != 3 or m.shape[1] == 0 or m.shape[2] == 0:
        raise ValueError(f"member probabilities must be members x tracks x labels, got {m.shape}")
    mean = m.mean(axis=0)
    h_mean = _entropy_bits(mean)
    disagreement = np.maximum(h_mean - _entropy_bits(m).mean(axis=0), 0.0)
    return h_mean.max(axis=1), disagreement.max(axis=1)


def _space(embeddings: np.ndarray, seed: int) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float64).reshape(len(embeddings), -1)
    x = x - x.mean(axis=0)
    x = x / (float(x.std()) + 1e-12)  # one scale for all dimensions: per-dimension
    # scaling would shrink exactly the dimensions that separate the collection's parts
    if x.shape[1] > PROJECT_DIMS:
        rng = np.random.default_rng(seed)
        x = x @ (rng.normal(size=(x.shape[1], PROJECT_DIMS)) / np.sqrt(PROJECT_DIMS))
    return x


def _nearest(a: np.ndarray, b: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Distance from each row of ``a`` to its nearest row of ``b`` (inf when ``b`` is empty)."""
    out = np.full(len(a), np.inf)
    a2 = (a * a).sum(axis=1)
    for start in range(0, len(b), chunk):
        part = b[start : start + chunk]
        d2 = a2[:, None] + (part * part).sum(axis=1)[None, :] - 2.0 * a @ part.T
        out = np.minimum(out, np.sqrt(np.maximum(d2, 0.0)).min(axis=1))
    return out


@dataclass(frozen=True)
class ReviewSelection:
    """Tracks picked for review, most valuable first, with what made each worth it."""

    order: np.ndarray  # indices into the tracks, in pick order
    value: np.ndarray  # (picked,) the greedy criterion at pick time, non-increasing
    uncertainty: np.ndarray  # (picked,) entropy of the ensemble mean, bits
    disagreement: np.ndarray  # (picked,) members' disagreement, bits
    distance: np.ndarray  # (picked,) distance to the nearest reviewed/picked track / scale

    def reason(self, k: int) -> str:
        """``"uncertain: 0.48, far from reviewed tracks"``: why the k-th pick is in the queue."""
        parts = [f"uncertain: {self.uncertainty[k]:.2f}"]
        if self.disagreement[k] >= DISAGREE_NOTE:
            parts.append(f"members disagree: {self.disagreement[k]:.2f}")
        d = self.distance[k]
        if np.isinf(d):
            parts.append("nothing like it reviewed yet")
        elif d >= 1.0:
            parts.append("far from reviewed tracks")
        else:
            parts.append("among the most uncertain")
        return ", ".join(parts)


def select_for_review(
    member_probs: np.ndarray,
    embeddings: np.ndarray,
    share: float,
    reviewed: np.ndarray | None = None,
    seed: int = 0,
) -> ReviewSelection:
    """Pick ``ceil(share x tracks)`` tracks (at least one) by uncertainty and diversity.

    ``embeddings`` is (tracks, ...) for the candidates; ``reviewed`` (tracks,) bool
    marks tracks a person already reviewed: they are never picked, and picks keep
    away from them.
    """
    h, bald = uncertainty(member_probs)
    n = len(h)
    if len(embeddings) != n:
        raise ValueError(f"{len(embeddings)} embeddings for {n} tracks")
    if not 0.0 < share <= 1.0:
        raise ValueError(f"review share must be in (0, 1], got {share}")
    done = np.zeros(n, dtype=bool) if reviewed is None else np.asarray(reviewed, dtype=bool)
    open_idx = np.flatnonzero(~done)
    k = min(len(open_idx), max(1, int(np.ceil(share * n))))
    score = h + bald
    pool = open_idx[np.argsort(-score[open_idx], kind="stable")[: POOL_FACTOR * k]]
    x = _space(embeddings, seed)
    xp = x[pool]
    scale = float(np.median(np.linalg.norm(xp - xp.mean(axis=0), axis=1))) or 1.0
    nearest = _nearest(xp, x[done])
    taken = np.zeros(len(pool), dtype=bool)
    picks: list[int] = []
    values: list[float] = []
    dists: list[float] = []

    def criterion() -> tuple[np.ndarray, np.ndarray]:
        rel = nearest / scale
        weight = np.ones_like(rel)
        finite = np.isfinite(rel)
        weight[finite] = rel[finite] / (rel[finite] + 1.0)
        return np.where(taken, -np.inf, score[pool] * weight), rel

    for _ in range(min(k, GREEDY_PICKS)):
        crit, rel = criterion()
        j = int(np.argmax(crit))
        picks.append(j)
        values.append(float(crit[j]))
        dists.append(float(rel[j]))
        taken[j] = True
        nearest = np.minimum(nearest, np.linalg.norm(xp - xp[j], axis=1))
    if k > len(picks):
        crit, rel = criterion()
        rest = np.argsort(-crit, kind="stable")[: k - len(picks)]
        picks += rest.tolist()
        values += np.minimum(crit[rest], values[-1]).tolist()  # keep the order non-increasing
        dists += rel[rest].tolist()
    order = pool[np.array(picks, dtype=np.int64)] if picks else np.zeros(0, np.int64)
    return ReviewSelection(
        order=order,
        value=np.array(values),
        uncertainty=h[order],
        disagreement=bald[order],
        distance=np.array(dists),
    )
