"""ASF attributes of WMA files: each genre is its own ``WM/Genre`` attribute."""

from __future__ import annotations

from mutagen.asf import ASF

from tagger_core.writing.options import ExportOptions
from tagger_core.writing.system import Changes, Fields, MultiValueSystem


def _text(value: object) -> str:
    inner = getattr(value, "value", value)
    if isinstance(inner, bytes):
        return f"<binary {len(inner)} bytes>"
    return str(inner)


class ASFSystem(MultiValueSystem):
    name = "asf"
    genre_key = "WM/Genre"

    def read_all(self, path: str) -> Fields:
        audio = ASF(path)
        out: Fields = {}
        for key, values in (audio.tags.as_dict() if audio.tags else {}).items():
            out[key] = [_text(v) for v in values]
        return out

    def write(self, path: str, changes: Changes, options: ExportOptions) -> None:
        audio = ASF(path)
        for key, values in changes.items():
            if key in audio.tags:
                del audio.tags[key]
            if values:
                audio.tags[key] = list(values)
        audio.save()
