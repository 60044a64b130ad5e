"""The shared shape of a tag system (ID3, Vorbis comments, MP4, APEv2, ASF).

Each system maps the three things an export manages (``genre``,
``instruments``, ``provenance``) to its own native keys, turns a list of
values into what it stores, reads every tag of a file as text (so unmanaged
fields can be compared before and after a write), and writes changes to the
managed keys only. Values are plain lists of strings; ``None`` means "absent".
"""

from __future__ import annotations

from typing import Protocol

from tagger_core.errors import TaggerError
from tagger_core.writing.options import ExportOptions

Fields = dict[str, list[str]]
Changes = dict[str, list[str] | None]
LOGICAL = ("genre", "instruments", "provenance")


class TagSystem(Protocol):
    """What every per-format writer module provides."""

    name: str

    def native_key(self, logical: str, options: ExportOptions) -> str:
        """The key that holds ``logical`` (``genre``, ``instruments``, ``provenance``)."""
        ...

    def encode(self, logical: str, values: list[str], options: ExportOptions) -> list[str]:
        """How a list of values is stored (joined with a separator in compatibility modes)."""
        ...

    def decode(self, logical: str, values: list[str], options: ExportOptions) -> list[str]:
        """Inverse of :meth:`encode`: the separate values a stored list means."""
        ...

    def fold(self, key: str) -> str:
        """Canonical form of a key (Vorbis and APE keys are case-insensitive)."""
        ...

    def read_all(self, path: str) -> Fields:
        """Every tag of the file as text, keyed by folded native key."""
        ...

    def write(self, path: str, changes: Changes, options: ExportOptions) -> None:
        """Write ``changes`` (native key → values, None deletes) into ``path`` in place."""
        ...


class MultiValueSystem:
    """Base of the systems that repeat a field natively (Vorbis, APEv2, ASF): nothing is joined."""

    name = ""
    genre_key = ""

    def native_key(self, logical: str, options: ExportOptions) -> str:
        if logical == "genre":
            return self.genre_key
        field = options.instruments_field if logical == "instruments" else options.provenance_field
        return self.custom_key(field)

    def custom_key(self, field: str) -> str:
        """How a user-named field is spelled in this system."""
        return field

    def encode(self, logical: str, values: list[str], options: ExportOptions) -> list[str]:
        return list(values)

    def decode(self, logical: str, values: list[str], options: ExportOptions) -> list[str]:
        return list(values)

    def fold(self, key: str) -> str:
        return key


def joined(values: list[str], separator: str) -> list[str]:
    """One value with all of ``values`` joined (empty list when there are none).

    A value that contains the separator could not be split back: refused.
    """
    for value in values:
        if separator in value or separator.strip() and separator.strip() in value:
            raise TaggerError(
                f"value {value!r} contains the separator {separator!r}; choose another separator"
            )
    return [separator.join(values)] if values else []


def split_joined(values: list[str], separator: str) -> list[str]:
    """Split values written by :func:`joined` on the exact separator; parts trimmed."""
    out: list[str] = []
    for value in values:
        out.extend(p.strip() for p in value.split(separator) if p.strip())
    return out


def pick(fields: Fields, system: TagSystem, key: str) -> list[str] | None:
    """The values of native ``key`` in ``fields`` (None when absent)."""
    values = fields.get(system.fold(key))
    return list(values) if values else None
