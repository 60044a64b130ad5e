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

from dataclasses import asdict, dataclass

import librosa
import numpy as np
import torch
from torch import nn

from tagger_core.errors import ConfigError

LOG_MODES = ("logC", "log", "db", "none")


@dataclass(frozen=True)
class FrontendConfig:
    """Every parameter of the log-mel computation.

    ``log_mode``: ``"logC"`` = ``log10(log_c · mel + 1)``; ``"log"`` =
    ``ln(mel + log_eps)``; ``"db"`` = ``10 · log10(max(mel, log_eps))``;
    ``"none"`` = mel power.
    """

    sr: int = 16000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    fmin: float = 0.0
    fmax: float | None = None
    log_mode: str = "logC"
    log_c: float = 10000.0
    log_eps: float = 1e-10
    center: bool = True

    def __post_init__(self) -> None:
        if self.log_mode not in LOG_MODES:
            raise ConfigError(f"unknown log mode {self.log_mode!r} (choose from {LOG_MODES})")
        if min(self.sr, self.n_fft, self.hop_length, self.n_mels) <= 0:
            raise ConfigError("sr, n_fft, hop_length and n_mels must be positive")

    @classmethod
    def musicnn(cls) -> FrontendConfig:
        """musicnn's input: 16 kHz, STFT 512, hop 256, 96 mels, logC."""
        return cls()

    @classmethod
    def am23_resnet(cls) -> FrontendConfig:
        """AM'23 ResNet input: 16 kHz, window 2048, hop 1024, 64 mels (log compression
        not given in the paper; ``log_mode`` defaults to logC, override as needed)."""
        return cls(n_fft=2048, hop_length=1024, n_mels=64)

    @classmethod
    def fma(cls) -> FrontendConfig:
        """The FMA setting: 16 kHz, window 2048, hop 710, 96 mels."""
        return cls(n_fft=2048, hop_length=710, n_mels=96)

    @classmethod
    def from_dict(cls, data: dict) -> FrontendConfig:
        """Build from a manifest's ``preprocessing`` mapping (unknown keys are errors)."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown frontend parameters: {', '.join(sorted(unknown))}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    def n_frames(self, n_samples: int) -> int:
        """Number of frames the frontend gives for ``n_samples`` samples."""
        if self.center:
            return 1 + n_samples // self.hop_length
        return max(0, 1 + (n_samples - self.n_fft) // self.hop_length)

    def frames_for_seconds(self, seconds: float) -> int:
        """Patch length for ``seconds`` of audio, as musicnn computes it (3 s -> 187)."""
        frames = librosa.time_to_frames(
            seconds, sr=self.sr, hop_length=self.hop_length, n_fft=self.n_fft
        )
        return int(frames) + 1


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
