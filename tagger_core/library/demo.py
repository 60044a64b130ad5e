"""A small demo library made on the spot: synthesised clips in several formats, tagged.

Used when the librarian has no library yet (``make run`` on a fresh machine) and
by tests. Nothing is downloaded: the audio is synthesised with NumPy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from platformdirs import user_data_path

SR = 22050


@dataclass(frozen=True)
class DemoClip:
    filename: str
    style: str
    title: str
    artist: str
    album: str
    genres: tuple[str, ...]
    year: int


CLIPS: tuple[DemoClip, ...] = (
    DemoClip(
        "01 Power Chords.mp3",
        "rock",
        "Power Chords",
        "The Synthetics",
        "Demo Rock",
        ("Rock",),
        1994,
    ),
    DemoClip(
        "02 Four on the Floor.flac",
        "electronic",
        "Four on the Floor",
        "Oscillator",
        "Demo Club",
        ("Electronic", "Dance"),
        2008,
    ),
    DemoClip(
        "03 Nocturne in Sine.ogg",
        "piano",
        "Nocturne in Sine",
        "A. Pianist",
        "Demo Classics",
        ("Classical",),
        1850,
    ),
    DemoClip(
        "04 Slow Strings.wav",
        "strings",
        "Slow Strings",
        "Bowed Ensemble",
        "Demo Classics",
        ("Classical",),
        1790,
    ),
    DemoClip(
        "05 Walking Bass.opus",
        "jazz",
        "Walking Bass",
        "Trio Numerico",
        "Demo Jazz",
        ("Jazz",),
        1959,
    ),
    DemoClip(
        "06 Drone.aiff",
        "ambient",
        "Drone",
        "Quiet Rooms",
        "Demo Ambient",
        ("Ambient", "Electronic"),
        2015,
    ),
    DemoClip(
        "07 Back Beat.flac",
        "rock",
        "Back Beat",
        "The Synthetics",
        "Demo Rock",
        ("Rock", "Pop"),
        1996,
    ),
    DemoClip(
        "08 Arpeggiator.mp3",
        "electronic",
        "Arpeggiator",
        "Oscillator",
        "Demo Club",
        ("Electronic",),
        2010,
    ),
    DemoClip(
        "09 Chorale.ogg",
        "strings",
        "Chorale",
        "Bowed Ensemble",
        "Demo Classics",
        ("Classical",),
        1724,
    ),
    DemoClip(
        "10 Swing Ride.m4a",
        "jazz",
        "Swing Ride",
        "Trio Numerico",
        "Demo Jazz",
        ("Jazz", "Blues"),
        1961,
    ),
)


def _note(freq: float, dur: float, sr: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(dur * sr)) / sr
    if kind == "saw":
        wave = 2 * ((t * freq) % 1.0) - 1
    elif kind == "square":
        wave = np.sign(np.sin(2 * np.pi * freq * t))
    elif kind == "piano":
        wave = sum(np.sin(2 * np.pi * freq * k * t) / k**1.5 for k in range(1, 7))
        return wave * np.exp(-3.0 * t)
    elif kind == "string":
        vib = 1 + 0.004 * np.sin(2 * np.pi * 5.5 * t)
        wave = sum(np.sin(2 * np.pi * freq * k * t * vib) / k for k in range(1, 9))
        env = np.minimum(1, t / 0.25) * np.minimum(1, (dur - t) / 0.2)
        return wave * env
    else:
        wave = np.sin(2 * np.pi * freq * t)
    env = np.minimum(1, t / 0.01) * np.exp(-1.5 * t)
    return wave * env


def _drums(n: int, sr: int, bpm: float, rng: np.random.Generator, four_floor: bool) -> np.ndarray:
    out = np.zeros(n)
    beat = int(60 / bpm * sr)
    kick_t = np.arange(int(0.15 * sr)) / sr
    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-30 * kick_t)) * kick_t) * np.exp(-20 * kick_t)
    snare = rng.normal(0, 1, int(0.12 * sr)) * np.exp(-25 * np.arange(int(0.12 * sr)) / sr)
    hat = rng.normal(0, 0.3, int(0.03 * sr)) * np.exp(-120 * np.arange(int(0.03 * sr)) / sr)
    for i, start in enumerate(range(0, n - len(kick), beat)):
        if four_floor or i % 2 == 0:
            out[start : start + len(kick)] += kick
        if i % 2 == 1:
            out[start : start + len(snare)] += 0.6 * snare
        half = start + beat // 2
        if half + len(hat) < n:
            out[half : half + len(hat)] += hat
    return out


def synthesise(style: str, seconds: float = 8.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A mono clip in a rough musical ``style``: rock, electronic, piano, strings, jazz, ambient."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    out = np.zeros(n)
    roots = [110.0, 146.8, 130.8, 98.0]
    if style == "rock":
        step = n // 8
        for i in range(8):
            f = roots[i % 4]
            chord = _note(f, step / sr, sr, "saw", rng) + _note(f * 1.5, step / sr, sr, "saw", rng)
            out[i * step : i * step + len(chord)] += np.tanh(4 * chord) * 0.5
        out += _drums(n, sr, 120, rng, False) * 0.6
    elif style == "electronic":
        step = int(sr * 0.125)
        for i in range(n // step):
            f = roots[(i // 16) % 4] * 2 * [1, 1.5, 2, 2.5][i % 4]
            note = _note(f, 0.12, sr, "square", rng) * 0.25
            out[i * step : i * step + len(note)] += note[: n - i * step]
        out += _drums(n, sr, 128, rng, True) * 0.8
    elif style == "piano":
        step = int(sr * 0.5)
        scale = [261.6, 293.7, 329.6, 392.0, 440.0, 392.0, 329.6, 293.7]
        for i in range(n // step):
            note = _note(scale[i % 8], 1.2, sr, "piano", rng) * 0.3
            end = min(n, i * step + len(note))
            out[i * step : end] += note[: end - i * step]
    elif style == "strings":
        step = int(sr * 2.0)
        for i in range(n // step):
            for ratio in (1, 1.25, 1.5):
                note = _note(roots[i % 4] * 2 * ratio, 2.0, sr, "string", rng) * 0.12
                out[i * step : i * step + len(note)] += note
    elif style == "jazz":
        step = int(sr * 0.4)
        walk = [98.0, 110.0, 123.5, 130.8, 146.8, 130.8, 123.5, 110.0]
        for i in range(n // step):
            note = _note(walk[i % 8], 0.38, sr, "sine", rng) * 0.6
            out[i * step : i * step + len(note)] += note
            if i % 2 == 0:
                ride = rng.normal(0, 0.15, int(0.2 * sr)) * np.exp(
                    -15 * np.arange(int(0.2 * sr)) / sr
                )
                end = min(n, i * step + len(ride))
                out[i * step : end] += ride[: end - i * step]
    else:  # ambient
        t = np.arange(n) / sr
        for f in (55.0, 82.4, 110.0, 164.8):
            out += np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) * (
                0.5 + 0.5 * np.sin(2 * np.pi * 0.1 * t)
            )
        out *= 0.1
    peak = np.max(np.abs(out)) or 1.0
    return (0.8 * out / peak).astype(np.float32)


def write_audio(path: Path, audio: np.ndarray, sr: int = SR) -> None:
    """Write ``audio`` in the format the extension names (ffmpeg for MP4/WMA/WavPack)."""
    ext = path.suffix.lower()
    soundfile_formats = {
        ".wav": ("WAV", "PCM_16"),
        ".flac": ("FLAC", "PCM_16"),
        ".ogg": ("OGG", "VORBIS"),
        ".opus": ("OGG", "OPUS"),
        ".mp3": ("MP3", "MPEG_LAYER_III"),
        ".aiff": ("AIFF", "PCM_16"),
        ".aif": ("AIFF", "PCM_16"),
    }
    if ext in soundfile_formats:
        fmt, subtype = soundfile_formats[ext]
        rate = 48000 if ext == ".opus" else sr
        data = (
            audio
            if rate == sr
            else np.interp(
                np.arange(int(len(audio) * rate / sr)) * sr / rate, np.arange(len(audio)), audio
            ).astype(np.float32)
        )
        sf.write(path, data, rate, format=fmt, subtype=subtype)
        return
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError(f"ffmpeg is needed to write {ext} files")
    codecs = {
        ".m4a": ["-c:a", "aac", "-b:a", "96k"],
        ".wma": ["-c:a", "wmav2"],
        ".wv": ["-c:a", "wavpack"],
    }
    tmp = path.with_suffix(".tmp.wav")
    sf.write(tmp, audio, sr, subtype="PCM_16")
    try:
        subprocess.run(
            [ffmpeg, "-v", "error", "-y", "-i", str(tmp), *codecs[ext], str(path)],
            check=True,
            capture_output=True,
        )
    finally:
        tmp.unlink(missing_ok=True)


def tag_file(
    path: Path,
    *,
    title: str,
    artist: str,
    album: str,
    year: str,
    track: str,
    genres: list[str],
    track_total: int = 10,
) -> None:
    """Tag ``path`` the way its format's usual players do; several genres as separate values."""
    import mutagen
    from mutagen.apev2 import APEv2
    from mutagen.asf import ASF
    from mutagen.id3 import TALB, TCON, TDRC, TIT2, TPE1, TRCK
    from mutagen.mp4 import MP4

    ext = path.suffix.lower()
    if ext in (".mp3", ".wav", ".aiff", ".aif"):
        audio = mutagen.File(path)
        if audio.tags is None:
            audio.add_tags()
        for frame in (
            TIT2(encoding=3, text=title),
            TPE1(encoding=3, text=artist),
            TALB(encoding=3, text=album),
            TDRC(encoding=3, text=year),
            TRCK(encoding=3, text=track),
            TCON(encoding=3, text=genres),
        ):
            audio.tags.add(frame)
        audio.save()
    elif ext == ".m4a":
        audio = MP4(path)
        audio["©nam"], audio["©ART"], audio["©alb"], audio["©day"] = title, artist, album, year
        audio["trkn"] = [(int(track.split("/")[0]), track_total)]
        audio["©gen"] = genres
        audio.save()
    elif ext == ".wma":
        audio = ASF(path)
        audio["Title"], audio["Author"], audio["WM/AlbumTitle"] = [title], [artist], [album]
        audio["WM/Year"], audio["WM/TrackNumber"] = [year], [track]
        audio["WM/Genre"] = genres
        audio.save()
    elif ext in (".wv", ".ape"):
        tags = APEv2()
        tags["Title"], tags["Artist"], tags["Album"] = title, artist, album
        tags["Year"], tags["Track"] = year, track
        tags["Genre"] = genres
        tags.save(path)
    else:
        audio = mutagen.File(path)
        audio["title"], audio["artist"], audio["album"] = title, artist, album
        audio["date"], audio["tracknumber"] = year, track
        audio["genre"] = genres
        audio.save()


def write_tags(path: Path, clip: DemoClip) -> None:
    """Tag a demo clip with its title, artist, album, year, track number and genres."""
    tag_file(
        path,
        title=clip.title,
        artist=clip.artist,
        album=clip.album,
        year=str(clip.year),
        track=str(int(clip.filename.split()[0])),
        genres=list(clip.genres),
        track_total=len(CLIPS),
    )


def demo_dir() -> Path:
    """Where the demo library lives (``MUSIC_TAGGER_DEMO_DIR`` overrides)."""
    env = os.environ.get("MUSIC_TAGGER_DEMO_DIR")
    if env:
        return Path(env).expanduser()
    return user_data_path("music-archive-tagger", appauthor=False) / "demo-library"


def ensure_demo_library(folder: Path | None = None, seconds: float = 12.0) -> Path:
    """Create the demo library if it is not there yet; return its folder.

    Formats that need ffmpeg are skipped (with the others still made) when it is absent.
    """
    target = folder or demo_dir()
    target.mkdir(parents=True, exist_ok=True)
    for i, clip in enumerate(CLIPS):
        path = target / clip.filename
        if path.exists():
            continue
        tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
        try:
            write_audio(tmp, synthesise(clip.style, seconds, seed=i))
            write_tags(tmp, clip)
        except RuntimeError:
            tmp.unlink(missing_ok=True)
            continue
        os.replace(tmp, path)
    return target
