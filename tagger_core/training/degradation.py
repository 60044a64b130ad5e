"""What happens to music between the instrument and the archive: rooms, levels, lossy codecs.

Why: a model trained on dry, well-levelled synthesiser output meets reverberant,
quiet, clipped and MP3-encoded recordings in a real archive. The instrument-family
v2 recipe draws one :class:`Degradation` per clip from the clip's random
generator (so a seed gives the same audio) and applies it to the rendered clip:
a room (an impulse response we generate: early reflections plus exponentially
decaying, frequency-damped noise with a drawn RT60), then the level (peak
normalised, then a gain from quiet to past full scale, hard or soft clipped),
then an optional lossy round trip through MP3 or Ogg Vorbis (libsndfile).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve, lfilter


@dataclass(frozen=True)
class Degradation:
    """One clip's room, level and codec. ``rt60 == 0`` means no room, ``codec == ""`` none."""

    rt60: float = 0.0
    wet: float = 0.0
    gain_db: float = -6.0
    clip: str = "hard"  # "hard": clipped at full scale; "soft": tanh saturation
    codec: str = ""  # "", "mp3" or "vorbis"
    quality: float = 0.0  # libsndfile compression level: 0 best … 0.95 smallest used
    ir_seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def draw_degradation(
    rng: np.random.Generator,
    room_prob: float = 0.5,
    rt60_range: tuple[float, float] = (0.15, 1.8),
    gain_range: tuple[float, float] = (-30.0, 6.0),
    codec_prob: float = 0.3,
) -> Degradation:
    """Draw a clip's degradation; quiet to clipped levels, half the clips in a room."""
    room = rng.random() < room_prob
    rt60 = float(rng.uniform(*rt60_range)) if room else 0.0
    wet = float(rng.uniform(0.15, 0.8)) if room else 0.0
    gain_db = float(rng.uniform(*gain_range))
    clip = "soft" if rng.random() < 0.5 else "hard"
    codec = str(rng.choice(["mp3", "vorbis"])) if rng.random() < codec_prob else ""
    quality = float(rng.uniform(0.5, 0.95)) if codec else 0.0
    return Degradation(rt60, wet, gain_db, clip, codec, quality, int(rng.integers(2**31)))


def room_impulse_response(rt60: float, sr: int, seed: int) -> np.ndarray:
    """A synthetic room: direct sound, 4–12 early reflections, then a damped noise tail.

    The tail's energy falls by 60 dB in ``rt60`` seconds; a one-pole low-pass whose
    cutoff falls over time makes high frequencies die first, as in real rooms.
    """
    rng = np.random.default_rng(seed)
    n = max(int(rt60 * sr * 1.2), 32)
    t = np.arange(n) / sr
    tail = rng.normal(0.0, 1.0, n) * np.exp(-6.908 * t / max(rt60, 1e-3))
    # Damping: filter the tail in 8 segments, each darker than the last.
    damped = np.zeros(n)
    edges = np.linspace(0, n, 9).astype(int)
    for k in range(8):
        a = 0.2 + 0.1 * k  # one-pole coefficient: higher = darker
        seg = slice(edges[k], edges[k + 1])
        damped[seg] = lfilter([1 - a], [1, -a], tail[seg])
    pre_delay = int(rng.uniform(0.005, 0.03) * sr)
    ir = np.zeros(n + pre_delay)
    ir[pre_delay:] = damped * 0.3
    for _ in range(int(rng.integers(4, 13))):
        at = int(rng.uniform(0.002, 0.06) * sr)
        ir[at] += float(rng.uniform(-0.6, 0.6))
    ir[0] = 1.0
    return (ir / np.sqrt(np.sum(ir**2))).astype(np.float32)


def apply_room(audio: np.ndarray, sr: int, rt60: float, wet: float, seed: int) -> np.ndarray:
    """Mix the dry clip with its convolution by a generated room, keeping the length."""
    if rt60 <= 0.0 or wet <= 0.0:
        return audio
    ir = room_impulse_response(rt60, sr, seed)
    reverberant = fftconvolve(audio, ir)[: len(audio)]
    dry_rms = float(np.sqrt(np.mean(audio**2))) or 1.0
    wet_rms = float(np.sqrt(np.mean(reverberant**2))) or 1.0
    return ((1.0 - wet) * audio + wet * reverberant * dry_rms / wet_rms).astype(np.float32)


def apply_level(audio: np.ndarray, gain_db: float, clip: str) -> np.ndarray:
    """Peak-normalise, apply ``gain_db``, then limit: ``hard`` clips at full scale, ``soft``
    is tanh saturation (nearly linear when quiet: a peak at -6 dB comes out 0.5 dB lower)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 0.0:
        return audio
    out = audio * (10.0 ** (gain_db / 20.0) / peak)
    if clip == "soft":
        return np.tanh(out).astype(np.float32)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def lossy_round_trip(audio: np.ndarray, sr: int, codec: str, quality: float) -> np.ndarray:
    """Encode to MP3 or Ogg Vorbis in memory and decode again, at the same length."""
    if not codec:
        return audio
    fmt, subtype = {"mp3": ("MP3", "MPEG_LAYER_III"), "vorbis": ("OGG", "VORBIS")}[codec]
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0), sr, format=fmt, subtype=subtype,
             compression_level=quality)  # fmt: skip
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32")
    out = np.zeros_like(audio)
    out[: min(len(decoded), len(out))] = decoded[: len(out)]
    return out


def degrade(audio: np.ndarray, sr: int, d: Degradation) -> np.ndarray:
    """Room, then level, then codec: the order in which a recording meets them."""
    out = apply_room(audio, sr, d.rt60, d.wet, d.ir_seed)
    out = apply_level(out, d.gain_db, d.clip)
    return lossy_round_trip(out, sr, d.codec, d.quality)
