"""The parameters of the log-mel frontend, as a bundle manifest states them.

Why in ``labels``: every stage that reads a manifest (calibration, export, the GUI)
needs this record, but only ``listening`` computes spectrograms; keeping the record
here lets those stages read manifests without importing torch or librosa.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

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
        # librosa.time_to_frames (samples truncated, centred on n_fft // 2), plus one
        return (int(seconds * self.sr) - self.n_fft // 2) // self.hop_length + 1
