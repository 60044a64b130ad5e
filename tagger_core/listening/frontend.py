"""Log-mel spectrogram frontend in torch, and cutting it into model patches.

Why torch: the models consume batches of log-mel patches; computing the
spectrogram with a batched ``torch.stft`` and a Slaney mel filterbank matrix
gives the same numbers as ``librosa.feature.melspectrogram`` (centered frames,
zero padding, periodic Hann window, power 2, Slaney mel scale and normalisation)
while running several times faster and on any torch device. The filterbank is
computed here in numpy, in the same float64 steps as ``librosa.filters.mel``
(the tests hold it to librosa's): importing librosa for it pulled in scipy.signal
and numba, 1.5 s of CPU at every start-up.

The musicnn models expect ``log10(10000 · mel + 1)`` ("logC"). Note: the
original musicnn extractor casts the mel power to float16 before that
compression, which overflows to ``inf`` where ``mel > 6.55``; this frontend
stays in float32 (the models' reference fixtures are checked on float32 input).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tagger_core.labels.frontend_config import FrontendConfig

# Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above it
_SLANEY_HZ_PER_MEL = 200.0 / 3.0
_SLANEY_BREAK_HZ = 1000.0
_SLANEY_BREAK_MEL = _SLANEY_BREAK_HZ / _SLANEY_HZ_PER_MEL
_SLANEY_LOG_STEP = np.log(6.4) / 27.0


def hz_to_slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Frequencies in Hz on Slaney's mel scale (float64)."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _SLANEY_HZ_PER_MEL
    with np.errstate(divide="ignore"):
        log = _SLANEY_BREAK_MEL + np.log(hz / _SLANEY_BREAK_HZ) / _SLANEY_LOG_STEP
    return np.where(hz >= _SLANEY_BREAK_HZ, log, linear)


def slaney_mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_slaney_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    linear = _SLANEY_HZ_PER_MEL * mel
    log = _SLANEY_BREAK_HZ * np.exp(_SLANEY_LOG_STEP * (mel - _SLANEY_BREAK_MEL))
    return np.where(mel >= _SLANEY_BREAK_MEL, log, linear)


def mel_filterbank(config: FrontendConfig) -> np.ndarray:
    """Slaney-scale, Slaney-normalised triangular filters ``[n_mels, 1 + n_fft // 2]`` (float32).

    ``n_mels + 2`` band edges evenly spaced in mel from ``fmin`` to ``fmax``
    (default ``sr / 2``); filter ``i`` rises from edge ``i`` to ``i + 1`` and falls
    to ``i + 2`` over the FFT bin frequencies, and is scaled by
    ``2 / (edge[i + 2] - edge[i])`` in Hz so each has unit area. The float32
    rounding happens where librosa's does (triangles, then normalisation), so
    the matrix equals ``librosa.filters.mel(..., htk=False, norm="slaney")``.
    """
    fmax = float(config.sr) / 2 if config.fmax is None else config.fmax
    bins_hz = np.fft.rfftfreq(config.n_fft, d=1.0 / config.sr)
    low, high = hz_to_slaney_mel(np.array([config.fmin, fmax]))
    edges = slaney_mel_to_hz(np.linspace(low, high, config.n_mels + 2))
    width = np.diff(edges)
    distance = edges[:, None] - bins_hz[None, :]  # edge minus bin frequency
    rising = -distance[:-2] / width[:-1, None]
    falling = distance[2:] / width[1:, None]
    weights = np.maximum(0, np.minimum(rising, falling)).astype(np.float32)
    weights *= 2.0 / (edges[2:] - edges[:-2])[:, None]
    return weights


def compress(mel: torch.Tensor, config: FrontendConfig) -> torch.Tensor:
    """Apply the configured log compression to mel power."""
    if config.log_mode == "logC":
        return torch.log10(config.log_c * mel + 1.0)
    if config.log_mode == "log":
        return torch.log(mel + config.log_eps)
    if config.log_mode == "db":
        return 10.0 * torch.log10(torch.clamp(mel, min=config.log_eps))
    return mel


class LogMelFrontend(nn.Module):
    """Waveforms ``[B, samples]`` (or ``[samples]``) → log-mel ``[B, frames, n_mels]``."""

    def __init__(self, config: FrontendConfig | None = None) -> None:
        super().__init__()
        self.config = config or FrontendConfig.musicnn()
        self.register_buffer(
            "window", torch.hann_window(self.config.n_fft, periodic=True), persistent=False
        )
        self.register_buffer(
            "mel_basis", torch.from_numpy(mel_filterbank(self.config)), persistent=False
        )

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        squeeze = waveforms.dim() == 1
        if squeeze:
            waveforms = waveforms.unsqueeze(0)
        cfg = self.config
        spec = torch.stft(
            waveforms.to(self.window.dtype),
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            window=self.window,
            center=cfg.center,
            pad_mode="constant",
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()  # [B, freq, frames]
        mel = torch.matmul(self.mel_basis, power).transpose(1, 2)
        out = compress(mel, cfg)
        return out[0] if squeeze else out


def make_patches(
    logmel: torch.Tensor | np.ndarray, patch_frames: int, hop_frames: int | None = None
) -> torch.Tensor:
    """Cut ``[frames, mels]`` into patches ``[P, patch_frames, mels]``.

    Patches start at ``0, hop, 2·hop, …`` and only whole patches are kept (the
    original musicnn extractor drops the tail the same way); ``hop_frames``
    defaults to ``patch_frames`` (no overlap). A clip shorter than one patch is
    *repeat-padded* (tiled) to one full patch, the ``pad_short: repeat-pad``
    rule the musicnn models were trained with, rather than zero-padded, which
    would look like silence to the model. An empty clip gives zero patches.
    """
    x = torch.as_tensor(logmel)
    if x.dim() != 2:
        raise ValueError("make_patches expects a [frames, mels] array")
    hop = patch_frames if hop_frames is None else hop_frames
    if patch_frames <= 0 or hop <= 0:
        raise ValueError("patch_frames and hop_frames must be positive")
    frames = x.shape[0]
    if frames == 0:
        return x.new_zeros((0, patch_frames, x.shape[1]))
    if frames < patch_frames:
        repeats = -(-patch_frames // frames)
        return x.repeat(repeats, 1)[:patch_frames].unsqueeze(0)
    return x.unfold(0, patch_frames, hop).transpose(1, 2).contiguous()
