"""Log-mel clips as a training dataset: random 4 s crops, masking and clip mixing.

Why these augmentations: the model must generalise to a soundfont it never
heard, so it sees each clip at a different offset every epoch, with random
frequency and time stripes hidden (SpecAugment-style), and sometimes mixed with
another clip. Mixing adds the two clips' mel *power* (the inverse of the logC
compression), which is what playing them together sounds like to the
frontend, and the labels are the union: more multi-instrument examples for free.
An optional random equaliser (``eq_db``) multiplies the mel power by a smooth
random curve (a tilt and three bumps): each soundfont colours its instruments
in its own way, and a model that must name the family of a sample set it
never heard should not lean on one source's colouring.
Randomness derives from ``(seed, epoch, index)`` so that epochs are reproducible.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


def logc_to_power(x: np.ndarray, log_c: float = 10000.0) -> np.ndarray:
    """Inverse of ``log10(log_c · mel + 1)``."""
    return (np.power(10.0, x) - 1.0) / log_c


def power_to_logc(mel: np.ndarray, log_c: float = 10000.0) -> np.ndarray:
    """``log10(log_c · mel + 1)``, the frontend's compression."""
    return np.log10(log_c * np.maximum(mel, 0.0) + 1.0)


def random_eq_curve(rng: np.random.Generator, n_bands: int, max_db: float) -> np.ndarray:
    """A smooth gain curve over ``n_bands`` mel bands in dB, within about ±``max_db``.

    A tilt across the bands plus three bell-shaped boosts or cuts (centre
    anywhere, width 2–12 bands), the kind of colouring a sample set, a
    microphone or a room gives a whole instrument.
    """
    bands = np.arange(n_bands, dtype=np.float64)
    curve = rng.uniform(-max_db, max_db) * (bands / max(n_bands - 1, 1) - 0.5)
    for _ in range(3):
        centre, width = rng.uniform(0, n_bands - 1), rng.uniform(2.0, 12.0)
        curve += rng.uniform(-max_db, max_db) * np.exp(-0.5 * ((bands - centre) / width) ** 2)
    return np.clip(curve, -max_db, max_db)


class PatchDataset(Dataset):
    """``features [N, frames, mels]`` (logC) and ``labels [N, C]`` → ``(patch, target)``.

    With ``augment=False`` every item is the first ``patch_frames`` frames of its
    clip, unchanged: what inference sees for a clip of that length.
    """

    def __init__(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        patch_frames: int,
        augment: bool = False,
        seed: int = 0,
        mix_prob: float = 0.3,
        mask_prob: float = 0.5,
        log_c: float = 10000.0,
        eq_db: float = 0.0,
        eq_prob: float = 0.5,
    ) -> None:
        if len(features) != len(labels):
            raise ValueError("features and labels must have the same length")
        if features.shape[1] < patch_frames:
            raise ValueError("clips are shorter than one patch")
        self.features = features
        self.labels = np.asarray(labels, dtype=np.float32)
        self.patch_frames = patch_frames
        self.augment = augment
        self.seed = seed
        self.mix_prob = mix_prob
        self.mask_prob = mask_prob
        self.log_c = log_c
        self.eq_db = eq_db
        self.eq_prob = eq_prob
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.features)

    def _crop(self, index: int, rng: np.random.Generator | None) -> np.ndarray:
        clip = np.asarray(self.features[index], dtype=np.float32)
        extra = clip.shape[0] - self.patch_frames
        start = int(rng.integers(0, extra + 1)) if rng is not None and extra > 0 else 0
        return clip[start : start + self.patch_frames]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.augment:
            return torch.from_numpy(self._crop(index, None)), torch.from_numpy(self.labels[index])
        rng = np.random.default_rng([self.seed, self.epoch, index])
        patch = self._crop(index, rng)
        target = self.labels[index].copy()
        if rng.random() < self.mix_prob:
            other = int(rng.integers(len(self)))
            gain = 10.0 ** (rng.uniform(-10.0, 0.0) / 10.0)
            power = logc_to_power(patch, self.log_c) + gain * logc_to_power(
                self._crop(other, rng), self.log_c
            )
            patch = power_to_logc(power, self.log_c).astype(np.float32)
            target = np.maximum(target, self.labels[other])
        if self.eq_db > 0 and rng.random() < self.eq_prob:
            gain = 10.0 ** (random_eq_curve(rng, patch.shape[1], self.eq_db) / 10.0)
            patch = power_to_logc(logc_to_power(patch, self.log_c) * gain, self.log_c)
            patch = patch.astype(np.float32)
        if rng.random() < self.mask_prob:
            patch = patch.copy()
            width = int(rng.integers(1, 9))
            f0 = int(rng.integers(0, patch.shape[1] - width + 1))
            patch[:, f0 : f0 + width] = 0.0
            width = int(rng.integers(1, 11))
            t0 = int(rng.integers(0, patch.shape[0] - width + 1))
            patch[t0 : t0 + width, :] = 0.0
        return torch.from_numpy(patch), torch.from_numpy(target)
