"""Log-mel spectrogram frontend in torch, and cutting it into model patches.

Why torch: the models consume batches of log-mel patches; computing the
spectrogram with a batched ``torch.stft`` and librosa's own mel filterbank
matrix gives the same numbers as ``librosa.feature.melspectrogram`` (centered
frames, zero padding, periodic Hann window, power 2, Slaney mel scale and
normalisation) while running several times faster and on any torch device.

The musicnn models expect ``log10(10000 · mel + 1)`` ("logC"). Note: the
original musicnn extractor casts the mel power to float16 before that
compression, which overflows to ``inf`` where ``mel > 6.55``; this frontend
stays in float32 (the models' reference fixtures are checked on float32 input).
"""

from __future__ import annotations

import librosa
import numpy as np
import torch
from torch import nn

from tagger_core.labels.frontend_config import FrontendConfig


def mel_filterbank(config: FrontendConfig) -> np.ndarray:
    """librosa's Slaney mel filterbank ``[n_mels, 1 + n_fft // 2]`` (float32)."""
    return librosa.filters.mel(
        sr=config.sr, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax
    ).astype(np.float32)


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
