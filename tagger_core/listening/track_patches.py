"""One track → log-mel patches for every patch layout the selected models need.

This is the work done in the decode pool (threads or processes): decoding,
resampling and the frontend all release the GIL, so they overlap with the model
forward passes in the main thread. The frontend runs once per track per
distinct :class:`FrontendConfig`; several bundles with the same preprocessing
(the genre and instrument ensembles both use musicnn's) share its output.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from tagger_core.errors import TaggerError, one_line, reason_of
from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.listening.decode import decode, decode_regions
from tagger_core.listening.logmel import cut_patches, logmel
from tagger_core.listening.patch_sampling import (
    even_indices,
    full_patch_count,
    window_offsets,
    window_samples,
)

# (frontend config, patch frames, patch hop frames): what a model's input depends on
PatchLayout = tuple[FrontendConfig, int, int]


@dataclass(frozen=True)
class PatchJob:
    """What a worker needs to prepare one track (picklable for process pools)."""

    track_id: int
    path: str
    duration: float | None
    layouts: tuple[PatchLayout, ...]
    max_patches: int | None


@dataclass
class PreparedTrack:
    """Patches per layout (``float32 [P, frames, mels]``) or the reason there are none."""

    track_id: int
    path: str
    patches: dict[PatchLayout, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0
    sampled: bool = False
    decode_s: float = 0.0
    frontend_s: float = 0.0
    error: str | None = None


def _group(layouts: tuple[PatchLayout, ...]) -> dict[FrontendConfig, list[tuple[int, int]]]:
    groups: dict[FrontendConfig, list[tuple[int, int]]] = {}
    for config, frames, hop in layouts:
        groups.setdefault(config, []).append((frames, hop))
    return groups


def _sampled_patches(
    job: PatchJob, config: FrontendConfig, shapes: list[tuple[int, int]], out: PreparedTrack
) -> None:
    """Decode ``max_patches`` evenly spread windows and cut one patch of each layout from each."""
    assert job.duration is not None and job.max_patches is not None
    win = max(window_samples(config, frames) for frames, _ in shapes)
    offsets = window_offsets(job.duration, win / config.sr, job.max_patches)
    t0 = time.perf_counter()
    regions = decode_regions(job.path, [(off, win / config.sr) for off in offsets], config.sr)
    batch = np.zeros((len(regions), win), dtype=np.float32)
    for i, region in enumerate(regions):
        n = min(win, region.size)
        batch[i, :n] = region[:n]
    keep = [i for i, region in enumerate(regions) if region.size > 0]
    t1 = time.perf_counter()
    spectra = logmel(batch[keep], config)
    for frames, hop in shapes:
        out.patches[(config, frames, hop)] = np.ascontiguousarray(spectra[:, :frames])
    out.decode_s += t1 - t0
    out.frontend_s += time.perf_counter() - t1
    out.seconds = max(out.seconds, float(job.duration))
    out.sampled = True


def _full_patches(
    job: PatchJob,
    config: FrontendConfig,
    shapes: list[tuple[int, int]],
    audio: np.ndarray,
    out: PreparedTrack,
) -> None:
    t0 = time.perf_counter()
    spectrum = logmel(audio, config)
    for frames, hop in shapes:
        patches = cut_patches(spectrum, frames, hop)
        if job.max_patches is not None and patches.shape[0] > job.max_patches:
            patches = patches[even_indices(patches.shape[0], job.max_patches)]
            out.sampled = True
        out.patches[(config, frames, hop)] = patches
    out.frontend_s += time.perf_counter() - t0
    out.seconds = max(out.seconds, audio.size / config.sr)


def prepare_track(job: PatchJob) -> PreparedTrack:
    """Decode ``job.path`` and cut its patches; a user-level failure becomes ``.error``."""
    out = PreparedTrack(job.track_id, job.path)
    decoded: dict[int, np.ndarray] = {}
    try:
        for config, shapes in _group(job.layouts).items():
            if job.duration and job.max_patches is not None:
                n_samples = int(job.duration * config.sr)
                counts = [full_patch_count(n_samples, config, f, h) for f, h in shapes]
                if max(counts) > job.max_patches:
                    _sampled_patches(job, config, shapes, out)
                    continue
            if config.sr not in decoded:
                t0 = time.perf_counter()
                decoded[config.sr] = decode(job.path, config.sr)
                out.decode_s += time.perf_counter() - t0
            _full_patches(job, config, shapes, decoded[config.sr], out)
    except TaggerError as err:
        out.error = one_line(str(err)) if str(err) else type(err).__name__
        out.patches.clear()
    except (OSError, ValueError, RuntimeError, MemoryError) as err:
        out.error = f"{one_line(job.path)}: {type(err).__name__}: {reason_of(err)}"
        out.patches.clear()
    return out
