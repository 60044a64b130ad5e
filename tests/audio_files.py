"""Real audio files of every format, generated and tagged for tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import mutagen
import numpy as np
from mutagen.apev2 import APEv2
from mutagen.asf import ASF
from mutagen.id3 import ID3, TALB, TCON, TDRC, TIT2, TPE1, TRCK
from mutagen.mp4 import MP4

from tagger_core.demo import synthesise, write_audio

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
    genres = genres or ["Rock"]
    ext = path.suffix.lower()
    if ext in (".mp3", ".wav", ".aiff", ".aif"):
        audio = mutagen.File(path)
        if audio.tags is None:
            audio.add_tags()
        tags: ID3 = audio.tags
        for frame in (
            TIT2(encoding=3, text=title),
            TPE1(encoding=3, text=artist),
            TALB(encoding=3, text=album),
            TDRC(encoding=3, text=year),
            TRCK(encoding=3, text=track),
            TCON(encoding=3, text=genres),
        ):
            tags.add(frame)
        audio.save()
    elif ext == ".m4a":
        audio = MP4(path)
        audio["©nam"], audio["©ART"], audio["©alb"], audio["©day"] = title, artist, album, year
        audio["trkn"] = [(int(track.split("/")[0]), 10)]
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


def noise_bytes(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
