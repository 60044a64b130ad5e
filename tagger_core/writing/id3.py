"""ID3v2 tags of MP3, WAV and AIFF files.

Genres go to ``TCON``: ID3v2.4 stores several values NUL-separated, which
players split reliably. ID3v2.3 has no multi-value text, so compatibility mode
joins them with a configurable separator (never a bare "/" by default: it
breaks names like "Duo Cello/Klavier"). Custom fields are ``TXXX`` frames.
"""

from __future__ import annotations

from typing import Any

from mutagen.aiff import AIFF
from mutagen.id3 import TCON, TXXX
from mutagen.mp3 import MP3
from mutagen.wave import WAVE

from tagger_core.writing.options import ExportOptions
from tagger_core.writing.system import Changes, Fields, joined, split_joined

_CLASSES: dict[str, Any] = {"mp3": MP3, "wav": WAVE, "aiff": AIFF}


class ID3System:
    name = "id3"

    def __init__(self, fmt: str = "mp3") -> None:
        self.cls = _CLASSES.get(fmt, MP3)

    def native_key(self, logical: str, options: ExportOptions) -> str:
        if logical == "genre":
            return "TCON"
        if logical == "instruments":
            return f"TXXX:{options.instruments_field}"
        return f"TXXX:{options.provenance_field}"

    def encode(self, logical: str, values: list[str], options: ExportOptions) -> list[str]:
        if options.id3_version == 3 and logical != "provenance":
            return joined(values, options.id3v23_separator)
        return list(values)

    def decode(self, logical: str, values: list[str], options: ExportOptions) -> list[str]:
        if options.id3_version == 3 and logical != "provenance":
            return split_joined(values, options.id3v23_separator)
        return list(values)

    def fold(self, key: str) -> str:
        return key

    def read_all(self, path: str) -> Fields:
        audio = self.cls(path)
        out: Fields = {}
        for key, frame in (audio.tags or {}).items():
            if hasattr(frame, "text"):
                values = [str(t) for t in frame.text]
            else:
                values = [frame.pprint()]
            out.setdefault(key, []).extend(values)
        return out

    def write(self, path: str, changes: Changes, options: ExportOptions) -> None:
        audio = self.cls(path)
        if audio.tags is None:
            audio.add_tags()
        tags = audio.tags
        for key, values in changes.items():
            tags.delall(key)
            if not values:
                continue
            if key == "TCON":
                tags.add(TCON(encoding=3, text=list(values)))
            elif key.startswith("TXXX:"):
                tags.add(TXXX(encoding=3, desc=key[5:], text=list(values)))
            else:
                raise ValueError(f"ID3 writer does not manage {key}")
        if options.id3_version == 3:
            audio.save(v2_version=3, v23_sep=options.id3v23_separator)
        else:
            audio.save(v2_version=4)
