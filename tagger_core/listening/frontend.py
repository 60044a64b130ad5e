"""The log-mel frontend as a torch module, for training and tools on any device.

Analysis and ``tag`` use the numpy frontend (:mod:`tagger_core.listening.logmel`), which
needs no torch; this module computes the same numbers with a batched ``torch.stft`` and
the same Slaney filterbank matrix, where batches already live on a GPU (training,
distillation). The tests hold the two together.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.listening.logmel import cut_patches, mel_filterbank


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
    """:func:`tagger_core.listening.logmel.cut_patches` for callers holding torch tensors
    (returns a CPU tensor)."""
    if isinstance(logmel, torch.Tensor):
        logmel = logmel.detach().cpu().numpy()
    return torch.from_numpy(cut_patches(logmel, patch_frames, hop_frames))
