"""Both log-mel frontends (numpy for analysis, torch for training) match librosa and each
other, and patches are cut as documented."""

from __future__ import annotations

import json
import subprocess
import sys

import librosa
import numpy as np
import pytest
import torch

from tagger_core.errors import ConfigError
from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.listening.frontend import LogMelFrontend, make_patches
from tagger_core.listening.logmel import cut_patches, logmel, mel_filterbank
from tagger_core.resources import resource_path


def _torch_logmel(y: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    return LogMelFrontend(cfg)(torch.from_numpy(y)).numpy()


FRONTENDS = {"numpy": lambda y, cfg: logmel(y, cfg), "torch": _torch_logmel}


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


@pytest.mark.parametrize("frontend", FRONTENDS)
@pytest.mark.parametrize(
    "cfg", [FrontendConfig.musicnn(), FrontendConfig.am23_resnet(), FrontendConfig.fma()]
)
def test_matches_librosa_melspectrogram_with_logc(cfg: FrontendConfig, frontend: str) -> None:
    y = _audio(3.3)
    expected = _librosa_logmel(y, cfg)
    got = FRONTENDS[frontend](y, cfg)
    assert got.dtype == np.float32
    assert got.shape == expected.shape == (cfg.n_frames(y.size), cfg.n_mels)
    np.testing.assert_allclose(got, expected, atol=2e-5, rtol=0)


@pytest.mark.parametrize("mode", ["logC", "log", "db", "none"])
def test_numpy_and_torch_frontends_agree(mode: str) -> None:
    cfg = FrontendConfig(log_mode=mode)
    y = _audio(4.0, seed=3) * 4.0  # loud: clipping-level peaks
    torch_out, numpy_out = _torch_logmel(y, cfg), logmel(y, cfg)
    scale = max(1.0, float(np.abs(torch_out).max()))
    assert np.abs(torch_out - numpy_out).max() <= 2e-5 * scale


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_batched_equals_one_by_one(frontend: str) -> None:
    cfg = FrontendConfig.musicnn()
    batch = np.stack([_audio(2.0, seed=s) for s in range(3)])
    together = FRONTENDS[frontend](batch, cfg)
    assert together.shape == (3, 126, 96)
    for i in range(3):
        np.testing.assert_allclose(together[i], FRONTENDS[frontend](batch[i], cfg), atol=1e-5)


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


def test_cut_patches_copies_and_keeps_the_layout() -> None:
    spectrum = np.random.default_rng(0).random((600, 5), dtype=np.float32)
    patches = cut_patches(spectrum, 187, 100)
    assert patches.shape == (5, 187, 5) and patches.flags.c_contiguous
    np.testing.assert_array_equal(patches[4], spectrum[400:587])
    for cut in (patches, cut_patches(spectrum, 187)):  # overlapping, and back to back
        cut[0, 0, 0] = -1.0  # a new, writable array: the spectrum is untouched
        assert spectrum[0, 0] != -1.0
    with pytest.raises(ValueError):
        cut_patches(spectrum[None], 187)


@pytest.mark.parametrize("frontend", FRONTENDS)
@pytest.mark.filterwarnings("ignore:n_fft=512 is too large:UserWarning")
def test_clips_shorter_than_a_window_match_librosa(frontend: str) -> None:
    cfg = FrontendConfig.musicnn()
    for n in (1, 100, 300):
        y = _audio(1.0)[:n]
        got = FRONTENDS[frontend](y, cfg)
        np.testing.assert_allclose(got, _librosa_logmel(y, cfg), atol=2e-5, rtol=0)


def _shipped_configs() -> list[FrontendConfig]:
    manifests = sorted(resource_path("models").glob("*/manifest.json"))
    configs = (json.loads(m.read_text())["preprocessing"] for m in manifests)
    return list(dict.fromkeys(FrontendConfig.from_dict(c) for c in configs))


_OTHER_CONFIGS = [
    FrontendConfig(fmin=30.0, fmax=7000.0),
    FrontendConfig(n_fft=2048, hop_length=1024, n_mels=64, fmin=50.0),
    FrontendConfig(sr=22050, n_fft=2048, n_mels=128, fmin=20.0, fmax=9000.0),
    FrontendConfig(sr=44100, n_fft=1024, n_mels=40, fmax=11025.0),
    FrontendConfig(sr=8000, n_fft=1024, n_mels=24, fmin=600.0, fmax=1800.0),  # both mel scales
]


def test_shipped_bundles_use_the_configs_checked_below() -> None:
    shipped = _shipped_configs()
    assert FrontendConfig.musicnn() in shipped
    assert len(shipped) >= 2  # musicnn's and the instrument-family ResNets'


@pytest.mark.parametrize("cfg", _shipped_configs() + _OTHER_CONFIGS, ids=repr)
def test_mel_filterbank_equals_librosa_slaney(cfg: FrontendConfig) -> None:
    want = librosa.filters.mel(
        sr=cfg.sr, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax,
        htk=False, norm="slaney",
    )  # fmt: skip
    got = mel_filterbank(cfg)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-6
    assert np.count_nonzero(got) == np.count_nonzero(want)


def test_analysis_imports_no_librosa_scipy_or_torch() -> None:
    """Start-up cost: librosa's filterbank pulled in scipy.signal and numba (1.5 s CPU),
    torch is 1.2 s more; analysing on a CPU from the ONNX cache needs none of them."""
    code = (
        "import sys\n"
        "from tagger_core.listening.single_file import BundleRunner, tag_file\n"
        "from tagger_core.listening.engine import analyze\n"
        "from tagger_core.listening.logmel import logmel\n"
        "from tagger_core.listening.decode import decode\n"
        "import numpy as np\n"
        "logmel(np.zeros(16000, np.float32), FrontendConfig.musicnn())\n"
        "print(sorted(m for m in ('librosa', 'scipy', 'numba', 'torch') if m in sys.modules))\n"
    )
    code = "from tagger_core.labels.frontend_config import FrontendConfig\n" + code
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip() == "[]"


def test_blockwise_spectra_equal_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """The frontend computes its FFTs in cache-sized blocks of frames; the numbers are those
    of one pass over all frames, across block edges and for a last partial block."""
    from tagger_core.listening import logmel as module

    y = np.stack([_audio(7.3, seed=s) for s in range(2)])
    cfg = FrontendConfig.musicnn()
    blockwise = module.logmel(y, cfg)
    monkeypatch.setattr(module, "_BLOCK_FRAMES", 10**9)
    np.testing.assert_array_equal(blockwise, module.logmel(y, cfg))
    monkeypatch.setattr(module, "_BLOCK_FRAMES", 7)
    np.testing.assert_array_equal(blockwise, module.logmel(y, cfg))
