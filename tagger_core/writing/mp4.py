"""iTunes-style MP4 metadata (M4A, ALAC, AAC in MP4).

``©gen`` may hold several data atoms ("multi", what mutagen, Picard and most
players read) or one joined string ("joined", for players that show only the
first value). Custom fields are freeform ``----:com.apple.iTunes:NAME`` atoms.
"""

from __future__ import annotations

from mutagen.mp4 import MP4, AtomDataType, MP4Cover, MP4FreeForm

from tagger_core.writing.options import ExportOptions
from tagger_core.writing.system import Changes, Fields, joined, split_joined

FREEFORM = "----:com.apple.iTunes:"


def _text(value: object) -> str:
    if isinstance(value, MP4Cover):
        return f"<cover {len(value)} bytes>"
    if isinstance(value, MP4FreeForm | bytes):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, tuple):
        return "/".join(str(v) for v in value)
    return str(value)


class MP4System:
    name = "mp4"

    def native_key(self, logical: str, options: ExportOptions) -> str:
        if logical == "genre":
            return "©gen"
        if logical == "instruments":
            return FREEFORM + options.instruments_field
        return FREEFORM + options.provenance_field

    def encode(self, logical: str, values: list[str], options: ExportOptions) -> list[str]:
        if logical != "provenance" and options.mp4_genre_style == "joined":
            return joined(values, options.mp4_separator)
        return list(values)

    def decode(self, logical: str, values: list[str], options: ExportOptions) -> list[str]:
        if logical != "provenance" and options.mp4_genre_style == "joined":
            return split_joined(values, options.mp4_separator)
        return list(values)

    def fold(self, key: str) -> str:
        return key

    def read_all(self, path: str) -> Fields:
        audio = MP4(path)
        out: Fields = {}
        for key, values in (audio.tags or {}).items():
            items = values if isinstance(values, list) else [values]
            out[key] = [_text(v) for v in items]
        return out

    def write(self, path: str, changes: Changes, options: ExportOptions) -> None:
        audio = MP4(path)
        if audio.tags is None:
            audio.add_tags()
        for key, values in changes.items():
            if key in audio.tags:
                del audio.tags[key]
            if not values:
                continue
            if key.startswith("----:"):
                audio.tags[key] = [
                    MP4FreeForm(v.encode("utf-8"), dataformat=AtomDataType.UTF8) for v in values
                ]
            else:
                audio.tags[key] = list(values)
        audio.save()
