"""Linear- or mel-frequency log spectrograms for training, from one frontend code path.

Why: MGR'25 compares models trained on plain (linear-frequency) spectrograms
with models trained on mel spectrograms. To make the frequency *scale* the
only difference, the linear variant here reuses :class:`LogMelFrontend`
(same STFT, window, hop, compression) and swaps its mel filterbank for
triangular bands spaced evenly in Hz, by default as many as the mel bands,
so both inputs have the same size and the models the same cost. With
``n_bands=0`` the linear variant keeps every STFT bin (``1 + n_fft // 2``)
instead, as a plain spectrogram image would.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from tagger_core.errors import ConfigError
from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.listening.frontend import LogMelFrontend

SCALES = ("mel", "linear")


def linear_filterbank(sr: int, n_fft: int, n_bands: int, fmin: float = 0.0,
                      fmax: float | None = None) -> np.ndarray:  # fmt: skip
    """Triangular filters with centres evenly spaced in Hz, ``[n_bands, 1 + n_fft // 2]``.

    Band b rises from centre b-1 to centre b and falls to centre b+1 (centres
    include fmin and fmax as the outer edges), peak 1, so the bands tile the
    spectrum like a mel filterbank does, only without the warping.
    ``n_bands = 0`` gives the identity (every STFT bin its own band).
    """
    n_bins = 1 + n_fft // 2
    if n_bands == 0:
        return np.eye(n_bins, dtype=np.float32)
    top = fmax if fmax is not None else sr / 2
    freqs = np.linspace(0.0, sr / 2, n_bins)
    edges = np.linspace(fmin, top, n_bands + 2)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rise = (freqs[None] - lower) / (centre - lower)
    fall = (upper - freqs[None]) / (upper - centre)
    return np.clip(np.minimum(rise, fall), 0.0, None).astype(np.float32)


class LinearFrontend(LogMelFrontend):
    """:class:`LogMelFrontend` with a linear-frequency filterbank (``n_mels`` = band count)."""

    def __init__(self, config: FrontendConfig) -> None:
        super().__init__(config)
        n_bins = 1 + config.n_fft // 2
        n_bands = 0 if config.n_mels == n_bins else config.n_mels
        bank = linear_filterbank(config.sr, config.n_fft, n_bands, config.fmin, config.fmax)
        self.mel_basis = torch.from_numpy(bank)


def make_frontend(config: FrontendConfig, scale: str = "mel") -> LogMelFrontend:
    """Frontend of ``scale`` (``"mel"`` or ``"linear"``)."""
    if scale == "mel":
        return LogMelFrontend(config)
    if scale == "linear":
        return LinearFrontend(config)
    raise ConfigError(f"unknown spectrogram scale {scale!r} (choose mel or linear)")


def linear_config(config: FrontendConfig, n_bands: int | None = None) -> FrontendConfig:
    """``config`` with ``n_mels`` set to the linear band count (``0``: every STFT bin)."""
    if n_bands is None:
        return config
    return replace(config, n_mels=n_bands if n_bands > 0 else 1 + config.n_fft // 2)
