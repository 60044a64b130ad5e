"""The log-mel spectrogram the models hear, in numpy, and cutting it into patches.

Why numpy: analysis and ``tag`` on a CPU run their members in ONNX Runtime, so with
this frontend they never import torch (1.2 CPU s at every start-up, more than a
4-minute track's patches cost to hear). The numbers are librosa's
``melspectrogram`` (centered frames, zero padding, periodic Hann window, power 2,
Slaney mel scale and normalisation) in float32; ``frontend.LogMelFrontend`` is the
same computation in torch for training on a device, and the tests hold the two,
and librosa, together. The filterbank is computed in the same float64 steps as
``librosa.filters.mel`` without importing librosa (scipy.signal and numba: 1.5 s).

The musicnn models expect ``log10(10000 · mel + 1)`` ("logC"). Note: the
original musicnn extractor casts the mel power to float16 before that
compression, which overflows to ``inf`` where ``mel > 6.55``; this frontend
stays in float32 (the models' reference fixtures are checked on float32 input).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

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


def hann_window(n: int) -> np.ndarray:
    """The periodic Hann window of length ``n`` (float32), as ``torch.hann_window``."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)


@lru_cache(maxsize=8)
def _tables(config: FrontendConfig) -> tuple[np.ndarray, np.ndarray]:
    """Window and transposed filterbank per configuration (read-only: threads share them)."""
    window, bank = hann_window(config.n_fft), np.ascontiguousarray(mel_filterbank(config).T)
    window.flags.writeable = bank.flags.writeable = False
    return window, bank


def compress(mel: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Apply the configured log compression to mel power (float32)."""
    if config.log_mode == "logC":
        return np.log10(np.float32(config.log_c) * mel + np.float32(1.0))
    if config.log_mode == "log":
        return np.log(mel + np.float32(config.log_eps))
    if config.log_mode == "db":
        return np.float32(10.0) * np.log10(np.maximum(mel, np.float32(config.log_eps)))
    return mel


#: frames per FFT block: the block's spectrum stays in cache (2.2x less CPU than all
#: frames at once on the build machine, the same numbers)
_BLOCK_FRAMES = 512


def logmel(waveforms: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Waveforms ``[B, samples]`` (or ``[samples]``) → log-mel ``[B, frames, n_mels]`` (float32)."""
    x = np.asarray(waveforms, dtype=np.float32)
    squeeze = x.ndim == 1
    if squeeze:
        x = x[None]
    window, bank = _tables(config)
    n_fft, hop = config.n_fft, config.hop_length
    if config.center:
        x = np.pad(x, ((0, 0), (n_fft // 2, n_fft // 2)))
    if x.shape[1] < n_fft:
        raise ValueError(f"audio shorter than one {n_fft}-sample frame")
    n_frames = 1 + (x.shape[1] - n_fft) // hop
    mel = np.empty((x.shape[0], n_frames, bank.shape[1]), np.float32)
    block = np.empty((min(_BLOCK_FRAMES, n_frames), n_fft), np.float32)
    for signal, out in zip(x, mel, strict=True):
        frames = np.lib.stride_tricks.sliding_window_view(signal, n_fft)[::hop]
        for start in range(0, n_frames, _BLOCK_FRAMES):
            windowed = block[: len(frames[start : start + _BLOCK_FRAMES])]
            np.multiply(frames[start : start + _BLOCK_FRAMES], window, out=windowed)
            spectrum = np.fft.rfft(windowed, axis=-1)  # complex64 for float32 frames
            power = np.square(spectrum.real)
            power += np.square(spectrum.imag)
            np.matmul(power, bank, out=out[start : start + len(windowed)])
    out = compress(mel, config)
    return out[0] if squeeze else out


def cut_patches(logmel: np.ndarray, patch_frames: int, hop_frames: int | None = None) -> np.ndarray:
    """Cut ``[frames, mels]`` into patches ``[P, patch_frames, mels]`` (a new array).

    Patches start at ``0, hop, 2·hop, …`` and only whole patches are kept (the
    original musicnn extractor drops the tail the same way); ``hop_frames``
    defaults to ``patch_frames`` (no overlap). A clip shorter than one patch is
    *repeat-padded* (tiled) to one full patch, the ``pad_short: repeat-pad``
    rule the musicnn models were trained with, rather than zero-padded, which
    would look like silence to the model. An empty clip gives zero patches.
    """
    x = np.asarray(logmel)
    if x.ndim != 2:
        raise ValueError("patches are cut from a [frames, mels] array")
    hop = patch_frames if hop_frames is None else hop_frames
    if patch_frames <= 0 or hop <= 0:
        raise ValueError("patch_frames and hop_frames must be positive")
    frames = x.shape[0]
    if frames == 0:
        return np.zeros((0, patch_frames, x.shape[1]), x.dtype)
    if frames < patch_frames:
        repeats = -(-patch_frames // frames)
        return np.tile(x, (repeats, 1))[None, :patch_frames].copy()
    windows = np.lib.stride_tricks.sliding_window_view(x, patch_frames, axis=0)[::hop]
    return windows.transpose(0, 2, 1).copy()  # C order; never a view of the input
