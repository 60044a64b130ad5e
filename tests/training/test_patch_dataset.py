from __future__ import annotations

import numpy as np
import torch

from tagger_core.training.patch_dataset import PatchDataset, logc_to_power, power_to_logc


def _set(n: int = 12, frames: int = 20, mels: int = 8):
    rng = np.random.default_rng(0)
    features = rng.uniform(0, 3, size=(n, frames, mels)).astype(np.float16)
    labels = np.eye(4, dtype=np.uint8)[np.arange(n) % 4]
    return features, labels


def test_logc_round_trip():
    x = np.linspace(0, 4, 50)
    assert np.allclose(power_to_logc(logc_to_power(x)), x)


def test_plain_items_are_the_first_patch():
    features, labels = _set()
    ds = PatchDataset(features, labels, patch_frames=16)
    patch, target = ds[3]
    assert patch.dtype == torch.float32 and patch.shape == (16, 8)
    assert torch.equal(patch, torch.from_numpy(features[3, :16].astype(np.float32)))
    assert target.tolist() == labels[3].tolist()


def test_augmented_items_depend_on_epoch_reproducibly_and_mix_labels():
    features, labels = _set(n=40)
    ds = PatchDataset(features, labels, patch_frames=16, augment=True, seed=1, mix_prob=0.5)
    ds.set_epoch(1)
    first = [ds[i] for i in range(40)]
    again = [ds[i] for i in range(40)]
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    ds.set_epoch(2)
    other = [ds[i] for i in range(40)]
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(first, other, strict=True))
    mixed = [t for _, t in first if t.sum() == 2]
    assert mixed  # mixing makes two-label items from one-label clips
    for i, (_, target) in enumerate(first):
        assert target[i % 4] == 1  # the clip's own label is always kept


def test_random_eq_colours_each_band_by_one_smooth_gain_within_its_bounds():
    features, labels = _set(n=10, frames=20, mels=64)
    plain = PatchDataset(features, labels, 16, augment=True, seed=3, mix_prob=0.0, mask_prob=0.0)
    eq = PatchDataset(
        features, labels, 16, augment=True, seed=3, mix_prob=0.0, mask_prob=0.0,
        eq_db=9.0, eq_prob=1.0,
    )  # fmt: skip
    for i in range(10):
        before = logc_to_power(plain[i][0].numpy().astype(np.float64))
        after = logc_to_power(eq[i][0].numpy().astype(np.float64))
        gain_db = 10.0 * np.log10(after / before)
        assert np.abs(gain_db).max() <= 9.0 + 1e-3
        assert np.abs(gain_db).max() > 0.5  # it does colour the patch
        assert np.allclose(gain_db, gain_db[0], atol=1e-3)  # one gain per band, every frame
        assert np.abs(np.diff(gain_db[0])).max() < 9.0  # smooth across neighbouring bands
