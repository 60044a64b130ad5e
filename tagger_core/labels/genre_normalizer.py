"""Map the genre strings files already carry onto the app's fixed genre labels.

Existing tags are free text ("Hip Hop", "hiphop", "Rap", "(17)", "Rock; Pop"),
but calibration sets, contradiction checks and exports need the app's labels.
The synonym table and the ID3v1/Winamp genre numbers are data
(``resources/taxonomies/genre_synonyms.toml``); a user TOML file with the same
layout can be merged on top. Strings that match nothing are returned
separately, never guessed, so the UI can show them.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from tagger_core.errors import ConfigError
from tagger_core.resources import resource_path

GENRE_LABELS: tuple[str, ...] = (
    "Rock",
    "Pop",
    "Electronic",
    "Dance",
    "Jazz",
    "Metal",
    "Folk",
    "Punk",
    "Blues",
    "Hip-Hop",
    "Country",
    "Soul & R&B",
    "Funk",
    "Ambient",
    "Classical",
)

_SEPARATORS = re.compile(r"\s*(?:;|/|,|\||\\|\x00)\s*")
_ID3_REFS = re.compile(r"^\((\d+|RX|CR)\)", re.IGNORECASE)
_APOSTROPHES = re.compile(r"['\u2019\u2018`\u00b4]")
_NON_WORD = re.compile(r"[\W_]+")


def genre_key(text: str) -> str:
    """Matching key: accents stripped, case folded, ``&``/``+`` read as "and", no punctuation.

    ``"Hip Hop"``, ``"hip-hop"`` and ``"HIPHOP"`` all give ``"hiphop"``;
    ``"Drum & Bass"`` gives ``"drumandbass"``; ``"Rock 'n' Roll"`` gives ``"rocknroll"``.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    stripped = stripped.replace("&", " and ").replace("+", " and ")
    stripped = _APOSTROPHES.sub("", stripped)
    return _NON_WORD.sub("", stripped)


@dataclass(frozen=True)
class GenreMatch:
    """App labels found in some tag strings (in ``GENRE_LABELS`` order) and the leftovers."""

    labels: tuple[str, ...]
    unknown: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "unknown": list(self.unknown)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenreMatch:
        return cls(labels=tuple(data["labels"]), unknown=tuple(data["unknown"]))


class GenreNormalizer:
    """Synonym table plus ID3v1 numbers; call :meth:`match` on a track's genre tag values."""

    def __init__(self, synonyms: Mapping[str, Iterable[str]], id3v1: Mapping[int, str]) -> None:
        table: dict[str, set[str]] = {}
        for label, words in synonyms.items():
            if label not in GENRE_LABELS:
                raise ConfigError(
                    f"unknown genre label {label!r}: labels are {', '.join(GENRE_LABELS)}"
                )
            for word in words:
                key = genre_key(word)
                if key:
                    table.setdefault(key, set()).add(label)
        self._table = table
        self._id3v1 = dict(id3v1)
        self._order = {label: i for i, label in enumerate(GENRE_LABELS)}

    @property
    def id3v1_names(self) -> dict[int, str]:
        """The ID3v1 + Winamp genre names by number."""
        return dict(self._id3v1)

    def labels_for(self, text: str) -> tuple[str, ...]:
        """App labels of one genre string as a whole (no splitting), in label order."""
        return self._sorted(self._table.get(genre_key(text), ()))

    def _sorted(self, labels: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted(set(labels), key=self._order.__getitem__))

    def _resolve(self, text: str, found: set[str], unknown: list[str]) -> None:
        text = text.strip()
        if not text:
            return
        refs: list[str] = []
        rest = text
        while (m := _ID3_REFS.match(rest)) is not None:
            refs.append(m.group(1))
            rest = rest[m.end() :]
        if rest.startswith("(("):  # ID3v2.3 escape for a literal "("
            rest = rest[1:]
        if refs:
            for ref in refs:
                self._resolve_number(ref, found, unknown)
            if rest.strip():
                self._resolve(rest, found, unknown)
            return
        if text.isdigit():
            self._resolve_number(text, found, unknown)
            return
        whole = self._table.get(genre_key(text))
        if whole:
            found.update(whole)
            return
        parts = [p for p in _SEPARATORS.split(text) if p]
        if len(parts) > 1:
            for part in parts:
                self._resolve(part, found, unknown)
            return
        unknown.append(text)

    def _resolve_number(self, ref: str, found: set[str], unknown: list[str]) -> None:
        if ref == "255":  # ID3v1's "no genre"
            return
        name = self._id3v1.get(int(ref)) if ref.isdigit() else None
        if name is None:
            unknown.append(f"({ref})")
            return
        labels = self._table.get(genre_key(name))
        if labels:
            found.update(labels)
        else:
            unknown.append(name)

    def match(self, values: str | Iterable[str]) -> GenreMatch:
        """Labels for a track's genre tag value(s); unmatched strings come back in ``unknown``.

        A string is matched whole first, then (if that fails) split on ``; / , | \\``
        and NUL, so "Rock; Pop" gives Rock and Pop but "Pop/Funk" is one synonym.
        """
        found: set[str] = set()
        unknown: list[str] = []
        for value in [values] if isinstance(values, str) else values:
            self._resolve(str(value), found, unknown)
        return GenreMatch(labels=self._sorted(found), unknown=tuple(dict.fromkeys(unknown)))

    def label_matrix(self, tracks: Sequence[str | Iterable[str]]) -> np.ndarray:
        """Binary (N tracks x 15) matrix of existing-tag labels, in ``GENRE_LABELS`` order."""
        out = np.zeros((len(tracks), len(GENRE_LABELS)), dtype=np.uint8)
        for i, values in enumerate(tracks):
            for label in self.match(values).labels:
                out[i, self._order[label]] = 1
        return out


def read_toml(path: Path, what: str = "genre synonym file") -> dict[str, Any]:
    """A user-editable TOML table; a missing or broken file is a one-line ``ConfigError``."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{what} {path} is not valid TOML: {err}") from None


def _parse(data: dict[str, Any], path: Path) -> tuple[dict[str, list[str]], dict[int, str]]:
    synonyms = data.get("synonyms", {})
    id3 = data.get("id3v1", {})
    if not isinstance(synonyms, dict) or not all(
        isinstance(v, list) and all(isinstance(w, str) for w in v) for v in synonyms.values()
    ):
        raise ConfigError(f"{path}: [synonyms] must map each label to a list of strings")
    try:
        numbers = {int(k): str(v) for k, v in id3.items()}
    except (ValueError, AttributeError):
        raise ConfigError(f"{path}: [id3v1] keys must be genre numbers") from None
    return {str(k): list(v) for k, v in synonyms.items()}, numbers


def load_genre_normalizer(extra: str | Path | None = None) -> GenreNormalizer:
    """The shipped table, with the user's extra TOML file (if given) merged on top.

    The extra file's ``[synonyms]`` lists are added to the shipped ones, its
    top-level ``unmap`` list removes shipped synonyms first (by matching key),
    and its ``[id3v1]`` entries replace shipped numbers. Bad files raise
    ``ConfigError`` naming the file.
    """
    if extra is None:
        return _default_normalizer()
    base_path = resource_path("taxonomies", "genre_synonyms.toml")
    synonyms, numbers = _parse(read_toml(base_path), base_path)
    extra_path = Path(extra)
    extra_data = read_toml(extra_path)
    more, more_numbers = _parse(extra_data, extra_path)
    unmap = extra_data.get("unmap", [])
    if not isinstance(unmap, list):
        raise ConfigError(f"{extra_path}: unmap must be a list of strings")
    removed = {genre_key(str(w)) for w in unmap}
    merged = {
        label: [w for w in words if genre_key(w) not in removed]
        for label, words in synonyms.items()
    }
    for label, words in more.items():
        merged.setdefault(label, []).extend(words)
    numbers.update(more_numbers)
    return GenreNormalizer(merged, numbers)


@lru_cache(maxsize=1)
def _default_normalizer() -> GenreNormalizer:
    path = resource_path("taxonomies", "genre_synonyms.toml")
    return GenreNormalizer(*_parse(read_toml(path), path))
