"""Log-mel spectrogram pictures of a track for the detail panel.

Decoding and the mel transform run in a worker thread; only the finished
RGB array is turned into a QImage on the UI thread. The picture uses
librosa's mel filterbank at the preview rate, which is for looking at, not the
models' own frontend.
"""

from __future__ import annotations

import os

import numpy as np

from app.preview import PREVIEW_RATE, PREVIEW_SECONDS

N_MELS = 96
HOP = 256


def load_clip(path: str | bytes, seconds: float = PREVIEW_SECONDS) -> np.ndarray:
    """The first ``seconds`` of a track as mono float32 at ``PREVIEW_RATE``.

    Decoded by the core's decoder (soundfile, ffmpeg for the rest), as analysis does.
    """
    from tagger_core.listening.decode import decode

    name = os.fsdecode(path)
    return decode(name, PREVIEW_RATE, duration_s=seconds)


def log_mel(audio: np.ndarray, rate: int = PREVIEW_RATE, n_mels: int = N_MELS) -> np.ndarray:
    """Log-mel power in dB (mels × frames), 80 dB of range below the peak."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=audio, sr=rate, n_fft=1024, hop_length=HOP, n_mels=n_mels, power=2.0
    )
    return librosa.power_to_db(mel, ref=np.max, top_db=80.0)


def to_rgb(db: np.ndarray, colormap: str = "magma") -> np.ndarray:
    """An (height × width × 3) uint8 picture, low frequencies at the bottom."""
    from matplotlib import colormaps

    lo, hi = float(db.min()), float(db.max())
    norm = (db - lo) / (hi - lo) if hi > lo else np.zeros_like(db)
    rgba = colormaps[colormap](norm[::-1])
    return np.ascontiguousarray((rgba[..., :3] * 255).astype(np.uint8))
