"""Real audio files of every format, generated and tagged for tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from tagger_core.library import demo
from tagger_core.library.demo import synthesise, write_audio

HAVE_FFMPEG = shutil.which("ffmpeg") is not None
FFMPEG_EXTS = {".m4a", ".wma", ".wv"}
ALL_EXTS = [".mp3", ".flac", ".ogg", ".opus", ".wav", ".aiff", ".m4a", ".wma", ".wv"]


def make_audio(path: Path, seconds: float = 1.0, seed: int = 0, style: str = "piano") -> Path:
    """Write a short synthesised clip in the format named by the extension."""
    write_audio(path, synthesise(style, seconds, seed=seed))
    return path


def tag_file(
    path: Path,
    *,
    title: str = "A Title",
    artist: str = "An Artist",
    album: str = "An Album",
    year: str = "1999",
    track: str = "3",
    genres: list[str] | None = None,
) -> None:
    """Tag ``path`` the way its format's usual players do; multi-genre as separate values."""
    demo.tag_file(path, title=title, artist=artist, album=album, year=year, track=track,
                  genres=genres or ["Rock"])  # fmt: skip


def noise_bytes(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
