from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from tagger_core.errors import TaggerError
from tagger_core.labels.bundles import load_bundle_dir
from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.listening.weights import load_members
from tagger_core.training.datasets import read_dataset
from tagger_core.training.resnet_training import (
    SETTINGS,
    PatchSetting,
    ResNetConfig,
    extract_patches,
    file_member_logits,
    run_resnet_training,
    save_resnet_bundle,
)
from tagger_core.trust import metrics

from .audio_datasets import folder_dataset

TINY = PatchSetting("tiny", FrontendConfig(n_fft=512, hop_length=256, n_mels=32), 0.5)
CONFIG = ResNetConfig(n_members=2, epochs=8, patience=3, batch_size=16, channels=(8, 16, 16),
                      threads=1)  # fmt: skip


def test_am23_settings_patch_sizes():
    assert SETTINGS["nsynth"].patch_frames == 63  # 4 s, hop 1024: one patch per note
    assert SETTINGS["nsynth"].frontend.n_mels == 64
    assert SETTINGS["fma"].patch_frames == 68  # 3 s at hop 710
    assert SETTINGS["fma"].frontend.n_mels == 96 and SETTINGS["fma"].frontend.n_fft == 2048


def test_patches_per_file(tmp_path):
    folder_dataset(tmp_path, per_class=1, seconds=1.2)
    data = read_dataset(tmp_path)
    ps = extract_patches([i.path for i in data.items], TINY)
    # 1.2 s = 76 frames at hop 256: two whole 32-frame patches per file
    assert ps.patches.shape == (6, TINY.patch_frames, 32)
    assert ps.file_index.tolist() == [0, 0, 1, 1, 2, 2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = folder_dataset(tmp_path_factory.mktemp("ds"), per_class=12, seconds=2.0, splits=True)
    data = read_dataset(root)
    ckpt = tmp_path_factory.mktemp("ckpt")
    return data, run_resnet_training(data, TINY, CONFIG, checkpoint_dir=ckpt), ckpt


def test_resnet_ensemble_learns_and_report_is_computed(trained):
    data, run, _ = trained
    assert run.activation == "softmax"
    assert run.report.after.top1_accuracy >= 0.8  # chance: 1/3
    y = data.label_matrix()[run.split.test]
    test_paths = [data.items[i].path for i in run.split.test]
    logits = file_member_logits(run.models, extract_patches(test_paths, TINY), "softmax")
    probs = run.scaler.transform(logits).mean
    assert run.report.after.top1_accuracy == pytest.approx(
        float(np.mean(y[np.arange(len(y)), probs.argmax(1)]))
    )
    assert run.report.after.calibration.weighted_mae == pytest.approx(
        metrics.am23_weighted_mae(metrics.reliability_diagram(probs, y))
    )
    assert run.report.members.top1_accuracy[1] >= 0.0
    assert len(run.report.extra["best_epochs"]) == 2


def test_deterministic_and_resumes_from_checkpoints(trained):
    data, run, ckpt = trained
    # a second run with the same checkpoints resumes finished members: same weights
    again = run_resnet_training(data, TINY, CONFIG, checkpoint_dir=ckpt)
    for a, b in zip(run.models, again.models, strict=True):
        for (ka, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            assert torch.equal(va, vb), ka
    # and training from scratch with the same seed gives the same weights too
    one = ResNetConfig(**{**CONFIG.__dict__, "n_members": 1, "epochs": 2})
    first = run_resnet_training(data, TINY, one)
    second = run_resnet_training(data, TINY, one)
    w1 = first.models[0].classifier.weight
    assert torch.equal(w1, second.models[0].classifier.weight)


def test_cancel_stops_training(trained):
    data, _, _ = trained
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TaggerError, match="cancelled"):
        run_resnet_training(data, TINY, CONFIG, cancel=cancel)


def test_bundle_loads_with_the_generic_loader(trained, tmp_path):
    data, run, _ = trained
    folder = save_resnet_bundle(run, tmp_path / "b", bundle_id="toy", task="instruments")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["patch_frames"] == TINY.patch_frames
    assert manifest["output"]["activation"] == "softmax"
    bundle = load_bundle_dir(folder)
    members = load_members(bundle)
    test_paths = [data.items[i].path for i in run.split.test]
    ps = extract_patches(test_paths, TINY)
    np.testing.assert_allclose(
        file_member_logits(members, ps, "softmax"), file_member_logits(run.models, ps, "softmax"),
        rtol=1e-5, atol=1e-5,
    )  # fmt: skip
