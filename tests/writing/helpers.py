"""Independent readers of written tags, and a library with decisions to export."""

from __future__ import annotations

import struct
from pathlib import Path

from audio_files import FFMPEG_EXTS, HAVE_FFMPEG
from sqlalchemy import select
from tinytag import TinyTag

from tagger_core.db.models import Track
from tagger_core.library.scan import scan
from tagger_core.trust.review import decide

EXTS = [".mp3", ".flac", ".ogg", ".opus", ".wav", ".aiff", ".m4a", ".wma", ".wv"]
AVAILABLE = [e for e in EXTS if HAVE_FFMPEG or e not in FFMPEG_EXTS]


def tinytag_genres(path: Path) -> list[str]:
    """Genres as tinytag (a reader independent of mutagen) sees them."""
    tag = TinyTag.get(path)
    values = [tag.genre] if tag.genre else []
    return values + list(tag.other.get("genre", []))


def ape_items(path: Path) -> dict[str, list[str]]:
    """A minimal APEv2 reader written from the format description (not mutagen)."""
    data = path.read_bytes()
    end = len(data)
    if data[end - 128 : end - 125] == b"TAG":
        end -= 128
    footer = data[end - 32 : end]
    assert footer[:8] == b"APETAGEX", "no APEv2 footer"
    size, count = struct.unpack("<II", footer[12:20])
    pos = end - size
    items: dict[str, list[str]] = {}
    for _ in range(count):
        length, _flags = struct.unpack("<II", data[pos : pos + 8])
        key_end = data.index(b"\x00", pos + 8)
        key = data[pos + 8 : key_end].decode("ascii")
        value = data[key_end + 1 : key_end + 1 + length].decode("utf-8")
        items[key.casefold()] = value.split("\x00")
        pos = key_end + 1 + length
    return items


def scan_and_decide(library, folder: Path, genres=("Jazz", "Blues"), instruments=("bass",)):
    """Scan ``folder`` and accept the same labels on every track; returns the tracks."""
    scan(library, [folder])
    with library.session() as s:
        tracks = list(s.scalars(select(Track).order_by(Track.path)))
        ids = [(t.id, t.path) for t in tracks]
    for tid, _ in ids:
        for g in genres:
            decide(library, tid, "genre", g, "accept", 0.8)
        for i in instruments:
            decide(library, tid, "instruments", i, "accept", 0.7)
    return ids
