"""APEv2 tags: Monkey's Audio, WavPack, and MP3 files when asked for.

An APEv2 item holds several values NUL-separated, so genres stay separate.
Keys are case-insensitive. The tag sits at the end of the file.
"""

from __future__ import annotations

from mutagen.apev2 import APENoHeaderError, APEv2

from tagger_core.writing.options import ExportOptions
from tagger_core.writing.system import Changes, Fields, MultiValueSystem


def _load(path: str) -> APEv2 | None:
    try:
        return APEv2(path)
    except APENoHeaderError:
        return None


class APEv2System(MultiValueSystem):
    name = "apev2"
    genre_key = "Genre"

    def fold(self, key: str) -> str:
        return key.casefold()

    def read_all(self, path: str) -> Fields:
        tags = _load(path)
        out: Fields = {}
        for key, value in (tags or {}).items():
            if getattr(value, "kind", None) == 0:  # text
                values = str(value).split("\x00")
            else:
                values = [f"<{type(value).__name__} {len(bytes(value))} bytes>"]
            out.setdefault(key.casefold(), []).extend(values)
        return out

    def write(self, path: str, changes: Changes, options: ExportOptions) -> None:
        tags = _load(path) or APEv2()
        for key, values in changes.items():
            if key in tags:
                del tags[key]
            if values:
                tags[key] = list(values)
        tags.save(path)
