"""Which stretches of a track the models hear: all patches, or an even sample.

Why sample: analysis time grows with track length, but a file-level genre or
instrument verdict saturates long before the end of a long track (the measured
effect is in ``docs/analysis.md``). Up to ``max_patches`` patches a track is
analysed completely; beyond it, ``max_patches`` windows of one patch each are
spread evenly from the first to the last possible start, so every part of the
track (intro, middle, outro) is represented.
"""

from __future__ import annotations

import numpy as np

from tagger_core.labels.frontend_config import FrontendConfig


def window_samples(config: FrontendConfig, patch_frames: int) -> int:
    """Samples of audio whose frontend output is exactly ``patch_frames`` frames."""
    if config.center:
        return (patch_frames - 1) * config.hop_length
    return (patch_frames - 1) * config.hop_length + config.n_fft


def full_patch_count(n_samples: int, config: FrontendConfig, patch_frames: int, hop: int) -> int:
    """Patches :func:`~tagger_core.listening.frontend.make_patches` cuts from ``n_samples``."""
    frames = config.n_frames(n_samples)
    if n_samples <= 0 or frames <= 0:
        return 0
    if frames < patch_frames:
        return 1
    return 1 + (frames - patch_frames) // hop


def even_indices(total: int, count: int) -> np.ndarray:
    """``min(total, count)`` indices spread evenly over ``range(total)``, ends included."""
    if total <= count:
        return np.arange(total)
    if count <= 1:
        return np.array([total // 2])[:count]
    return np.unique(np.round(np.linspace(0, total - 1, count)).astype(np.int64))


def window_offsets(duration_s: float, window_s: float, count: int) -> list[float]:
    """Start times (s) of ``count`` windows of ``window_s`` spread evenly over the track."""
    last = max(0.0, duration_s - window_s)
    if count <= 1:
        return [last / 2]
    return [float(x) for x in np.linspace(0.0, last, count)]
