from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from tagger_core.errors import TaggerError
from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.training.datasets import read_dataset
from tagger_core.training.resnet_training import PatchSetting, ResNetConfig
from tagger_core.training.scaling_experiment import (
    format_scaling_table,
    paired_comparison,
    run_scaling_experiment,
)
from tagger_core.training.spectrograms import LinearFrontend, linear_filterbank, make_frontend

from .audio_datasets import csv_dataset

TINY = PatchSetting("tiny", FrontendConfig(n_fft=512, hop_length=256, n_mels=24), 0.5)


def test_linear_filterbank_tiles_the_spectrum_evenly():
    bank = linear_filterbank(16000, 512, 8)
    assert bank.shape == (8, 257)
    peaks = bank.argmax(axis=1) * 16000 / 512
    assert np.allclose(np.diff(peaks), np.diff(peaks)[0], atol=32)  # evenly spaced in Hz
    first, last = bank.argmax(axis=1)[[0, -1]]
    inner = bank[:, first : last + 1].sum(axis=0)
    assert np.allclose(inner, 1.0, atol=0.05)  # neighbouring triangles add to one
    assert np.array_equal(linear_filterbank(16000, 512, 0), np.eye(257, dtype=np.float32))


def test_linear_frontend_differs_from_mel_only_in_the_filterbank():
    cfg = FrontendConfig(n_fft=512, hop_length=256, n_mels=24)
    x = torch.randn(4000)
    mel, lin = make_frontend(cfg, "mel")(x), make_frontend(cfg, "linear")(x)
    assert mel.shape == lin.shape == (1 + 4000 // 256, 24)
    assert not torch.allclose(mel, lin)
    assert isinstance(make_frontend(cfg, "linear"), LinearFrontend)
    # a 6 kHz tone lands in a high linear band but an even higher share of mel bands is below it
    t = torch.arange(8000) / 16000
    tone = torch.sin(2 * torch.pi * 6000 * t)
    assert int(make_frontend(cfg, "linear")(tone).mean(0).argmax()) == round(6000 / 8000 * 25) - 1
    assert int(make_frontend(cfg, "mel")(tone).mean(0).argmax()) > 18


def test_paired_comparison_matches_scipy():
    rng = np.random.default_rng(0)
    mel = rng.uniform(0.5, 0.9, 12)
    linear = mel - 0.05 + rng.normal(0, 0.02, 12)
    cmp = paired_comparison(linear, mel)
    t = stats.ttest_rel(linear, mel)
    w = stats.shapiro(linear - mel)
    assert cmp.t_statistic == pytest.approx(t.statistic) and cmp.t_p == pytest.approx(t.pvalue)
    assert cmp.shapiro_w == pytest.approx(w.statistic) and cmp.shapiro_p == pytest.approx(w.pvalue)
    assert cmp.mean_difference == pytest.approx(float(np.mean(linear - mel)))
    assert cmp.t_statistic < 0 and cmp.t_p < 0.01
    # clearly non-normal differences: Wilcoxon is reported too
    skew = paired_comparison(np.r_[np.zeros(11) + 0.01, 5.0] + mel, mel)
    assert skew.shapiro_p < 0.05 and skew.wilcoxon_p == pytest.approx(
        stats.wilcoxon(np.r_[np.zeros(11) + 0.01, 5.0] + mel, mel).pvalue
    )
    with pytest.raises(TaggerError):
        paired_comparison([1.0], [2.0])


def test_scaling_experiment_on_a_tiny_dataset(tmp_path):
    data = read_dataset(csv_dataset(tmp_path, n=36, seconds=2.0))
    config = ResNetConfig(epochs=10, patience=4, batch_size=8, channels=(8, 8, 8), threads=1)
    result = run_scaling_experiment(data, TINY, config, repeats=1)
    assert result.classes == ("High", "Low", "Noise")
    for scale in ("linear", "mel"):
        assert result.scores[scale]["f1"].shape == (3, 1)
        assert result.scores[scale]["balanced_accuracy"].mean() > 0.6  # chance 0.5
    # the comparison is computed from the stored per-class scores
    f1_lin, f1_mel = result.scores["linear"]["f1"].ravel(), result.scores["mel"]["f1"].ravel()
    assert result.comparison.mean_difference == pytest.approx(float(np.mean(f1_lin - f1_mel)))
    table = format_scaling_table(result)
    assert "paired t-test" in table and "Shapiro-Wilk" in table
    assert f"{result.scores['mel']['f1'][1].mean():.3f}" in table.splitlines()[2]
