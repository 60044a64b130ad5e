"""Vorbis comments of FLAC, Ogg Vorbis, Ogg FLAC, Speex and Opus files.

Vorbis comments allow a field to repeat, so each genre is its own ``GENRE=``
entry; nothing is joined. Keys are case-insensitive: they are compared upper-case.
"""

from __future__ import annotations

from typing import Any

import mutagen
from mutagen.flac import FLAC
from mutagen.oggopus import OggOpus

from tagger_core.writing.options import ExportOptions
from tagger_core.writing.system import Changes, Fields, MultiValueSystem


def _open(path: str, fmt: str) -> Any:
    if fmt == "flac":
        return FLAC(path)
    if fmt == "opus":
        return OggOpus(path)
    audio = mutagen.File(path)
    if audio is None:
        raise ValueError("not an Ogg file mutagen understands")
    return audio


class VorbisSystem(MultiValueSystem):
    name = "vorbis"
    genre_key = "GENRE"

    def __init__(self, fmt: str = "flac") -> None:
        self.fmt = fmt

    def custom_key(self, field: str) -> str:
        return field.upper()

    def fold(self, key: str) -> str:
        return key.upper()

    def read_all(self, path: str) -> Fields:
        audio = _open(path, self.fmt)
        out: Fields = {}
        for key, value in audio.tags or []:
            out.setdefault(key.upper(), []).append(str(value))
        return out

    def write(self, path: str, changes: Changes, options: ExportOptions) -> None:
        audio = _open(path, self.fmt)
        if audio.tags is None:
            audio.add_tags()
        for key, values in changes.items():
            if key in audio.tags:
                del audio.tags[key]
            if values:
                audio.tags[key] = list(values)
        audio.save()
