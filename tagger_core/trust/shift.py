"""Does this collection look like the data a bundle's calibration was fitted on?

A calibration is a promise about data like its own; on other data (another
sound source, other mixes, other genres) it may no longer hold, and nothing in
the confidences themselves says so. This module compares each analysed track's
*features* — the bundle's pooled embeddings and its raw per-tag confidences —
with a *reference* by the kernel two-sample test of
:mod:`tagger_core.trust.shift_test` (MMD, permutation p-value).

The reference of a bundle is, in order:

1. the active calibration of the librarian's own: a sample of the tracks it was
   fitted on (their ids are stored with the calibration; their features are read
   from their stored analyses, so nothing large is copied into the row);
2. the ``shift_reference.npz`` shipped in the bundle folder (built by
   ``tools/make_shift_reference.py``; see ``docs/calibration.md`` for what each
   shipped reference is made of).

Features: each block is z-scored with the reference's mean and spread, then
divided by √(its width), so the embedding block (hundreds of numbers) and the
confidence block (one per raw tag) weigh the same in the kernel's distance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from tagger_core.db import Library
from tagger_core.db.blob_codec import unpack
from tagger_core.db.models import Analysis, Calibration, Track
from tagger_core.errors import CalibrationError
from tagger_core.labels.bundles import BundleError, load_bundle
from tagger_core.trust.shift_test import MAX_PER_SIDE, MIN_PER_SIDE, N_PERMUTATIONS, mmd_test

REFERENCE_FILE = "shift_reference.npz"
ALPHA = 0.01
"""p-values below this mark a bundle "shifted"."""
REFERENCE_TRACKS = 2000
"""At most this many of a calibration's tracks are kept as its shift reference."""
ACTION = "review ~40 tracks of this collection or use its tags to recalibrate"


def track_features(
    member_logits: np.ndarray, embedding: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Embedding and confidence features of one stored analysis.

    ``member_logits``: members × raw tags; ``embedding``: members × D (NaN
    padded). Embedding block: every member's embedding, concatenated (padding
    dropped). Confidence block: the ensemble's raw per-tag probabilities (mean
    over members of the sigmoid), then the mean member spread — independent of
    any calibration, so a new calibration does not move the reference.
    """
    emb = np.asarray(embedding, dtype=np.float32)
    parts = [row[~np.isnan(row)] for row in emb]
    probs = 1.0 / (1.0 + np.exp(-np.asarray(member_logits, dtype=np.float64)))
    conf = np.concatenate([probs.mean(axis=0), [probs.std(axis=0).mean()]])
    return np.concatenate(parts).astype(np.float32), conf.astype(np.float32)


@dataclass
class FeatureSet:
    """Features of many tracks: ``embedding`` (tracks × De) and ``confidence`` (tracks × Dc)."""

    track_ids: np.ndarray
    embedding: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.track_ids)


def load_features(
    session: Any, bundle_id: str, version: str, track_ids: Iterable[int] | None, cap: int, seed: int
) -> FeatureSet:
    """Features of up to ``cap`` analysed tracks (a seeded sample when there are more)."""
    stmt = (
        select(Analysis.track_id)
        .join(Track, Track.id == Analysis.track_id)
        .where(
            Analysis.bundle_id == bundle_id,
            Analysis.bundle_version == version,
            Analysis.status == "ok",
            Analysis.embedding.is_not(None),
            Track.status == "ok",
        )
    )
    ids = np.array(sorted(session.scalars(stmt)), dtype=np.int64)
    if track_ids is not None:
        ids = np.intersect1d(ids, np.fromiter(track_ids, dtype=np.int64))
    if len(ids) > cap:
        ids = np.sort(np.random.default_rng(seed).choice(ids, cap, replace=False))
    rows = session.execute(
        select(Analysis.track_id, Analysis.member_logits, Analysis.embedding)
        .where(
            Analysis.bundle_id == bundle_id,
            Analysis.bundle_version == version,
            Analysis.track_id.in_(ids.tolist()),
        )
        .order_by(Analysis.track_id)
    ).all()
    feats = [track_features(unpack(z), unpack(e)) for _, z, e in rows]
    widths = {(f[0].size, f[1].size) for f in feats}
    if len(widths) > 1:
        raise CalibrationError(f"{bundle_id}: stored analyses have differing feature widths")
    return FeatureSet(
        track_ids=np.array([r[0] for r in rows], dtype=np.int64),
        embedding=np.stack([f[0] for f in feats]) if feats else np.zeros((0, 0), np.float32),
        confidence=np.stack([f[1] for f in feats]) if feats else np.zeros((0, 0), np.float32),
    )


def save_reference(path: Path, features: FeatureSet, source: str, bundle_version: str) -> None:
    """Write a shipped reference (float16 features, what they are, which bundle version)."""
    np.savez_compressed(
        path,
        embedding=features.embedding.astype(np.float16),
        confidence=features.confidence.astype(np.float16),
        source=np.array(source),
        bundle_version=np.array(bundle_version),
    )


def load_reference(path: Path) -> tuple[FeatureSet, str]:
    """A shipped reference and the sentence saying what it was made from."""
    with np.load(path, allow_pickle=False) as data:
        emb = data["embedding"].astype(np.float32)
        conf = data["confidence"].astype(np.float32)
        source = str(data["source"])
    return FeatureSet(np.full(len(emb), -1, dtype=np.int64), emb, conf), source


def standardise(reference: FeatureSet, other: FeatureSet) -> tuple[np.ndarray, np.ndarray]:
    """Both samples as one matrix each, blocks scaled as the module docstring says."""
    out_ref, out_other = [], []
    for block in ("embedding", "confidence"):
        r, o = (
            getattr(reference, block).astype(np.float64),
            getattr(other, block).astype(np.float64),
        )
        mean, std = r.mean(axis=0), r.std(axis=0)
        std = np.where(std > 1e-8, std, 1.0)
        width = np.sqrt(max(r.shape[1], 1))
        out_ref.append((r - mean) / std / width)
        out_other.append((o - mean) / std / width)
    return np.concatenate(out_ref, axis=1), np.concatenate(out_other, axis=1)


@dataclass(frozen=True)
class ShiftResult:
    """The shift check of one bundle; ``statistic``/``p_value``/``shifted`` are None when
    no test could be made (``reason`` says why)."""

    bundle: str
    reference: str
    statistic: float | None
    p_value: float | None
    shifted: bool | None
    n_library: int = 0
    n_reference: int = 0
    reason: str = ""

    @property
    def warning(self) -> str | None:
        """The sentence to show when the bundle's data shifted (None otherwise)."""
        if not self.shifted:
            return None
        return (
            f"{self.bundle}: this collection is unlike the data its calibration was fitted on "
            f"({self.reference}; MMD² {self.statistic:.3g}, p = {self.p_value:.3g}): {ACTION}."
        )

    def to_dict(self) -> dict[str, Any]:
        """The CLI's ``{"bundle", "statistic", "p_value", "shifted"}`` and the details."""
        return {
            "bundle": self.bundle,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "shifted": self.shifted,
            "reference": self.reference,
            "n_library": self.n_library,
            "n_reference": self.n_reference,
            "reason": self.reason,
            "warning": self.warning,
        }


def calibration_reference_ids(track_ids: Iterable[int], seed: int = 0) -> list[int]:
    """The tracks a calibration keeps as its shift reference (a seeded sample)."""
    ids = np.array(sorted(set(track_ids)), dtype=np.int64)
    if len(ids) > REFERENCE_TRACKS:
        ids = np.sort(np.random.default_rng(seed).choice(ids, REFERENCE_TRACKS, replace=False))
    return ids.tolist()


def _active(session: Any, bundle_id: str, version: str) -> Calibration | None:
    return session.scalar(
        select(Calibration).where(
            Calibration.bundle_id == bundle_id,
            Calibration.bundle_version == version,
            Calibration.active.is_(True),
        )
    )


def check_shift(
    library: Library,
    bundle_id: str,
    track_ids: Iterable[int] | None = None,
    *,
    seed: int = 0,
    alpha: float = ALPHA,
    n_permutations: int = N_PERMUTATIONS,
    max_per_side: int = MAX_PER_SIDE,
) -> ShiftResult:
    """Compare the library's tracks (or ``track_ids``) of ``bundle_id`` with its reference."""
    try:
        bundle = load_bundle(bundle_id)
    except BundleError as err:
        return ShiftResult(bundle_id, "", None, None, None, reason=str(err))
    with library.session() as s:
        calibration = _active(s, bundle_id, bundle.version)
        own: set[int] = set()
        if calibration is not None:
            shift_ref = (calibration.metrics_after or {}).get("shift_reference", {})
            own = set(shift_ref.get("track_ids") or calibration.fitted_on or [])
            reference = load_features(s, bundle_id, bundle.version, own, max_per_side, seed)
            what = f"calibration {calibration.id}'s tracks"
        else:
            path = bundle.path / REFERENCE_FILE
            if not path.is_file():
                return ShiftResult(
                    bundle_id, "", None, None, None, reason="the bundle ships no shift reference"
                )
            reference, what = load_reference(path)
        ids = None if track_ids is None else set(track_ids)
        pool = load_features(s, bundle_id, bundle.version, ids, max_per_side + len(own), seed + 1)
    # The calibration's own tracks are its reference; the library side is everything else.
    keep = ~np.isin(pool.track_ids, list(own))
    library_set = FeatureSet(pool.track_ids[keep], pool.embedding[keep], pool.confidence[keep])
    n_lib, n_ref = len(library_set), len(reference)
    if min(n_lib, n_ref) < MIN_PER_SIDE:
        return ShiftResult(
            bundle_id, what, None, None, None, n_lib, n_ref,
            reason=f"too few tracks to compare ({n_lib} here, {n_ref} in the reference; "
            f"{MIN_PER_SIDE} each needed)",
        )  # fmt: skip
    if reference.embedding.shape[1] != library_set.embedding.shape[1] or (
        reference.confidence.shape[1] != library_set.confidence.shape[1]
    ):
        return ShiftResult(
            bundle_id, what, None, None, None, n_lib, n_ref,
            reason="the reference was made with another version of the bundle",
        )  # fmt: skip
    ref, lib = standardise(reference, library_set)
    result = mmd_test(ref, lib, n_permutations=n_permutations, seed=seed, max_per_side=max_per_side)
    return ShiftResult(
        bundle=bundle_id,
        reference=what,
        statistic=result.statistic,
        p_value=result.p_value,
        shifted=result.p_value < alpha,
        n_library=result.n_y,
        n_reference=result.n_x,
    )


def check_shifts(
    library: Library,
    bundle_ids: Iterable[str] | None = None,
    track_ids: Iterable[int] | None = None,
) -> list[ShiftResult]:
    """:func:`check_shift` for each bundle given (default: every analysed one)."""
    if bundle_ids is None:
        with library.session() as s:
            bundle_ids = sorted(
                s.scalars(select(Analysis.bundle_id).where(Analysis.status == "ok").distinct())
            )
    ids = None if track_ids is None else list(track_ids)
    return [check_shift(library, b, ids) for b in bundle_ids]
