"""Distilling the musicnn ensembles into fast students: targets, alignment, training, fidelity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tagger_core.labels.bundles import combined_taxonomy, load_bundle
from tagger_core.listening.logmel import cut_patches, logmel
from tagger_core.listening.torch_members import as_member
from tagger_core.listening.weights import load_members
from tagger_core.training import distillation as dist
from tagger_core.training.trainer import TrainConfig, Trainer

SR = 16000


@pytest.fixture(scope="module")
def genre_teacher():
    bundle = load_bundle("genre")
    return bundle, [as_member(m) for m in load_members(bundle)]


def test_student_inputs_are_the_teacher_patches(tmp_path: Path, genre_teacher) -> None:
    bundle, members = genre_teacher
    path = tmp_path / "x.wav"
    n = 187 * 256  # one teacher patch
    audio = np.zeros(4 * n + 1000, dtype=np.float32)
    t = np.arange(n) / SR
    audio[2 * n : 3 * n] = 0.3 * (np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 330 * t))
    sf.write(path, audio, SR, subtype="FLOAT")
    row = dist.file_targets(path, [(bundle, members)], max_patches=None)
    assert row is not None
    assert row.inputs.shape == (4, 187, 96) and row.inputs.dtype == np.float16
    energy = row.inputs.astype(np.float32).mean(axis=(1, 2))
    assert int(np.argmax(energy)) == 2  # the chord is in patch 2
    assert energy[0] < 0.01 and energy[2] > 10 * max(energy[1], energy[3])


def test_targets_are_the_mean_member_probability_of_each_patch(
    tmp_path: Path, genre_teacher
) -> None:
    bundle, members = genre_teacher
    path = tmp_path / "y.wav"
    rng = np.random.default_rng(0)
    sf.write(path, (0.1 * rng.standard_normal(SR * 10)).astype(np.float32), SR)
    row = dist.file_targets(path, [(bundle, members)], max_patches=2)
    assert row is not None and row.targets["genre"].shape == (2, 50)
    # recomputed here: the 3 whole patches of 10 s, evenly sampled to 2 -> patches 0 and 2
    audio = sf.read(path, dtype="float32")[0]
    patches = cut_patches(logmel(audio, bundle.frontend_config), 187)[[0, 2]]
    want = np.mean([1 / (1 + np.exp(-m(patches)["logits"])) for m in members], axis=0)
    np.testing.assert_allclose(row.targets["genre"], want, atol=1e-5)


def test_fidelity_figures() -> None:
    teacher = np.array([[0.9, 0.2, 0.6], [0.1, 0.7, 0.3]])
    same = dist.fidelity(teacher.copy(), teacher)
    assert same["max_abs_dp"] == 0.0 and same["top1_agreement"] == 1.0
    assert same["decision_agreement"] == 1.0 and same["mean_spearman_per_file"] == 1.0
    moved = teacher + np.array([[0.0, 0.0, -0.2], [0.0, -0.65, 0.0]])  # file 2's top changes
    fig = dist.fidelity(moved, teacher)
    assert fig["max_abs_dp"] == pytest.approx(0.65)
    assert fig["top1_agreement"] == 0.5
    assert fig["decision_agreement"] == pytest.approx(4 / 6)
    assert fig["files_with_identical_decisions"] == 0.0


def test_file_means_average_rows_per_file() -> None:
    values = np.array([[1.0], [3.0], [10.0]])
    np.testing.assert_allclose(dist.file_means(values, np.array([0, 0, 1])), [[2.0], [10.0]])


def test_a_student_learns_soft_targets(tmp_path: Path) -> None:
    """A tiny student on patches whose targets depend on their loudness gets much closer."""
    rng = np.random.default_rng(0)
    n = 256
    level = rng.uniform(0, 3, n).astype(np.float32)
    inputs = (level[:, None, None] * np.ones((n, 46, 64), np.float32)).astype(np.float16)
    targets = np.stack([level / 3, 1 - level / 3], axis=1).astype(np.float32)
    data = dist.TargetSet(inputs, targets, np.arange(n) // 4, np.array(["f"] * (n // 4)))
    model = dist.build_student(2, 64, {"channels": [8, 16], "strides": [2, 2], "dropout": 0.0})
    before = dist.soft_bce(torch.logit(torch.full((n, 2), 0.5)), torch.from_numpy(targets))
    config = TrainConfig(epochs=15, batch_size=32, lr=3e-3, patience=15, threads=1)
    result = Trainer(model, dist.soft_bce, config).fit(
        dist.PatchTargets(data, jitter=2), dist.PatchTargets(data)
    )
    # the floor is the targets' own entropy; a constant 0.5 is ~0.69
    t = targets.astype(np.float64)
    entropy = -np.mean(t * np.log(t + 1e-9) + (1 - t) * np.log(1 - t + 1e-9))
    assert result.best_val_loss < float(before) - 0.5 * (float(before) - entropy)
    probs = dist.patch_probabilities(model, inputs)
    fid = dist.fidelity(
        dist.file_means(probs, data.file_index), dist.file_means(targets, data.file_index)
    )
    assert fid["mean_abs_dp"] < 0.1


def test_saved_targets_load_back_and_join(tmp_path: Path) -> None:
    rows = [
        dist.FileTargets(
            f"f{i}",
            np.full((i + 1, 46, 64), i, np.float16),
            {"genre": np.full((i + 1, 50), 0.1 * i, np.float32)},
        )
        for i in range(3)
    ]
    out = tmp_path / "t.npz"
    assert dist.save_targets(rows, out, {"note": "x"}) == {"files": 3, "patches": 6}
    data = dist.TargetSet.load(out, "genre")
    assert list(data.file_index) == [0, 1, 1, 2, 2, 2]
    both = data.join(data)
    assert both.file_index.max() == 5 and len(both.names) == 6
    assert not list(tmp_path.glob("*.tmp*"))


def test_label_probabilities_follow_the_taxonomy() -> None:
    bundle = load_bundle("genre")
    raw = np.full((2, 50), 0.02)
    raw[1, bundle.raw_labels.index("jazz")] = 0.9
    labels = dist.label_probabilities(raw, bundle)
    names = combined_taxonomy("genre", [bundle]).labels
    assert labels.shape == (2, len(names)) and ((labels >= 0) & (labels <= 1)).all()
    jazz = names.index("Jazz")
    assert labels[1, jazz] > 0.8 > labels[0, jazz]
