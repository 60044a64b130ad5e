"""The torch log-mel frontend matches librosa and cuts patches as documented."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from tagger_core.errors import ConfigError
from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.listening.frontend import LogMelFrontend, make_patches


def _audio(seconds: float, seed: int = 0, sr: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    tone = 0.5 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 2 * t))
    return (tone + 0.2 * rng.standard_normal(t.size)).astype(np.float32)


def _librosa_logmel(y: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    mel = librosa.feature.melspectrogram(
        y=y, sr=cfg.sr, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels
    ).T
    return np.log10(cfg.log_c * mel + 1.0)


@pytest.mark.parametrize(
    "cfg", [FrontendConfig.musicnn(), FrontendConfig.am23_resnet(), FrontendConfig.fma()]
)
def test_matches_librosa_melspectrogram_with_logc(cfg: FrontendConfig) -> None:
    y = _audio(3.3)
    expected = _librosa_logmel(y, cfg)
    got = LogMelFrontend(cfg)(torch.from_numpy(y)).numpy()
    assert got.shape == expected.shape == (cfg.n_frames(y.size), cfg.n_mels)
    np.testing.assert_allclose(got, expected, atol=2e-5, rtol=0)


def test_batched_equals_one_by_one() -> None:
    front = LogMelFrontend()
    batch = torch.from_numpy(np.stack([_audio(2.0, seed=s) for s in range(3)]))
    together = front(batch)
    assert together.shape == (3, 126, 96)
    for i in range(3):
        torch.testing.assert_close(together[i], front(batch[i]), atol=1e-5, rtol=0)


def test_log_modes() -> None:
    y = torch.from_numpy(_audio(1.0))
    power = LogMelFrontend(FrontendConfig(log_mode="none"))(y)
    db = LogMelFrontend(FrontendConfig(log_mode="db"))(y)
    ln = LogMelFrontend(FrontendConfig(log_mode="log", log_eps=1e-6))(y)
    torch.testing.assert_close(db, 10 * torch.log10(power.clamp(min=1e-10)))
    torch.testing.assert_close(ln, torch.log(power + 1e-6))
    with pytest.raises(ConfigError):
        FrontendConfig(log_mode="cubic")
    with pytest.raises(ConfigError):
        FrontendConfig.from_dict({"sr": 16000, "colour": "red"})
    assert FrontendConfig.from_dict(FrontendConfig.fma().to_dict()) == FrontendConfig.fma()


def test_musicnn_patch_length_is_three_seconds() -> None:
    assert FrontendConfig.musicnn().frames_for_seconds(3) == 187


def test_make_patches_hop_and_tail() -> None:
    logmel = torch.arange(500 * 4, dtype=torch.float32).reshape(500, 4)
    patches = make_patches(logmel, 187)
    assert patches.shape == (2, 187, 4)  # the 126-frame tail is dropped
    torch.testing.assert_close(patches[1], logmel[187:374])
    overlapped = make_patches(logmel, 187, 100)
    assert overlapped.shape == (4, 187, 4)  # starts 0, 100, 200, 300
    torch.testing.assert_close(overlapped[3], logmel[300:487])


def test_make_patches_short_clip_is_repeat_padded() -> None:
    logmel = np.arange(50 * 3, dtype=np.float32).reshape(50, 3)
    patches = make_patches(logmel, 187)
    assert patches.shape == (1, 187, 3)
    torch.testing.assert_close(patches[0, 50:100], torch.from_numpy(logmel))
    torch.testing.assert_close(patches[0, 150:187], torch.from_numpy(logmel[:37]))
    assert make_patches(np.zeros((0, 3), np.float32), 187).shape == (0, 187, 3)


@pytest.mark.filterwarnings("ignore:n_fft=512 is too large:UserWarning")
def test_clips_shorter_than_a_window_match_librosa() -> None:
    cfg = FrontendConfig.musicnn()
    for n in (1, 100, 300):
        y = _audio(1.0)[:n]
        got = LogMelFrontend(cfg)(torch.from_numpy(y)).numpy()
        np.testing.assert_allclose(got, _librosa_logmel(y, cfg), atol=2e-5, rtol=0)
