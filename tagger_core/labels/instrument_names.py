"""Map the instrument names files already carry onto the app's instrument families.

Files name instruments in two places: performer credits (what MusicBrainz
Picard writes: ID3v2.4 ``TMCL``, Vorbis ``PERFORMER=Name (violin)``, MP4
freeform ``PERFORMER``) and the ``INSTRUMENTS`` field this app's export
writes. Both are free text ("alto saxophone", "Hammond organ", "guest
violin"), while calibration and training need families. The name table is
data (``resources/taxonomies/instrument_names.toml``), extendable by a user
TOML file; a name not in the table is retried without its leading words
("fretless electric bass" -> "electric bass" -> "bass"), and what still
matches nothing is returned as unknown, never guessed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tagger_core.errors import ConfigError
from tagger_core.labels.genre_normalizer import genre_key, read_toml
from tagger_core.labels.taxonomy import INSTRUMENT_FAMILIES
from tagger_core.resources import resource_path

USER_TABLE_ENV = "MUSIC_TAGGER_INSTRUMENT_NAMES"
"""Environment variable naming the user's extra instrument-name TOML file."""

INSTRUMENTS_FIELD = "INSTRUMENTS"
_CREDIT = re.compile(r"\(([^()]+)\)\s*$")
_LIST_SPLIT = re.compile(r"\s*(?:;|,|/|\||\x00)\s*")
_FREEFORM = "----:com.apple.itunes:"

NAME_FILE = "instrument name file"


@dataclass(frozen=True)
class InstrumentMatch:
    """Families found (in ``INSTRUMENT_FAMILIES`` order) and the names that matched nothing."""

    families: tuple[str, ...]
    unknown: tuple[str, ...]


class InstrumentNormalizer:
    """Instrument name table; :meth:`match` maps names to families."""

    def __init__(self, families: Mapping[str, Iterable[str]]) -> None:
        table: dict[str, set[str]] = {}
        for family, names in families.items():
            if family not in INSTRUMENT_FAMILIES:
                raise ConfigError(
                    f"unknown instrument family {family!r}: families are "
                    + ", ".join(INSTRUMENT_FAMILIES)
                )
            for name in names:
                key = genre_key(name)
                if key:
                    table.setdefault(key, set()).add(family)
        self._table = table
        self._order = {f: i for i, f in enumerate(INSTRUMENT_FAMILIES)}

    def families_of(self, name: str) -> tuple[str, ...]:
        """Families of one instrument name, trying shorter tails of it when the whole fails."""
        words = name.split()
        for start in range(len(words)):
            found = self._table.get(genre_key(" ".join(words[start:])))
            if found:
                return tuple(sorted(found, key=self._order.__getitem__))
        return ()

    def match(self, names: Iterable[str]) -> InstrumentMatch:
        """Families of several names (each may be a packed list such as "violin; cello")."""
        found: set[str] = set()
        unknown: list[str] = []
        for value in names:
            for part in _LIST_SPLIT.split(str(value)):
                part = part.strip()
                if not part:
                    continue
                families = self.families_of(part)
                if families:
                    found.update(families)
                else:
                    unknown.append(part)
        return InstrumentMatch(
            families=tuple(sorted(found, key=self._order.__getitem__)),
            unknown=tuple(dict.fromkeys(unknown)),
        )


def credited_instruments(
    raw: Mapping[str, list[Any]], field: str = INSTRUMENTS_FIELD
) -> list[str]:
    """Instrument names in a file's raw tag dump (see ``library.file_tags``), in order.

    Credits are ``"Name (instrument)"`` strings (``TMCL`` as the raw dump renders
    it, Vorbis/APE ``PERFORMER``, MP4 freeform ``PERFORMER``); a credit without
    an instrument in parentheses names none. The ``field`` values (ID3
    ``TXXX:field``, Vorbis/APE/ASF ``field``, MP4 freeform ``field``) are names as
    they stand.
    """
    wanted = field.casefold()
    out: list[str] = []
    for key, values in raw.items():
        folded = str(key).casefold()
        bare = folded.removeprefix(_FREEFORM).removeprefix("txxx:")
        if folded == "tmcl" or bare == "performer":
            for value in values:
                credit = _CREDIT.search(str(value))
                if credit:
                    out.append(credit.group(1).strip())
        elif bare == wanted and folded in (wanted, f"txxx:{wanted}", _FREEFORM + wanted):
            out.extend(str(v) for v in values)
    return list(dict.fromkeys(out))


def _families(data: dict[str, Any], path: Path) -> dict[str, list[str]]:
    families = data.get("families", {})
    if not isinstance(families, dict) or not all(
        isinstance(v, list) and all(isinstance(w, str) for w in v) for v in families.values()
    ):
        raise ConfigError(f"{path}: [families] must map each family to a list of names")
    return {str(k): list(v) for k, v in families.items()}


def load_instrument_normalizer(extra: str | Path | None = None) -> InstrumentNormalizer:
    """The shipped table with the user's file merged on top.

    The user's file is ``extra`` or, when that is None, the file named by
    ``$MUSIC_TAGGER_INSTRUMENT_NAMES``. Its ``[families]`` lists are added to the
    shipped ones; its top-level ``unmap`` list removes shipped names first.
    """
    extra = extra if extra is not None else os.environ.get(USER_TABLE_ENV) or None
    if extra is None:
        return _default_normalizer()
    base_path = resource_path("taxonomies", "instrument_names.toml")
    merged = _families(read_toml(base_path, NAME_FILE), base_path)
    extra_path = Path(extra)
    data = read_toml(extra_path, NAME_FILE)
    unmap = data.get("unmap", [])
    if not isinstance(unmap, list):
        raise ConfigError(f"{extra_path}: unmap must be a list of strings")
    removed = {genre_key(str(w)) for w in unmap}
    merged = {f: [w for w in names if genre_key(w) not in removed] for f, names in merged.items()}
    for family, names in _families(data, extra_path).items():
        merged.setdefault(family, []).extend(names)
    return InstrumentNormalizer(merged)


@lru_cache(maxsize=1)
def _default_normalizer() -> InstrumentNormalizer:
    path = resource_path("taxonomies", "instrument_names.toml")
    return InstrumentNormalizer(_families(read_toml(path, NAME_FILE), path))
