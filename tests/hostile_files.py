"""Seeded mutations of real tagged files: what a damaged archive holds.

Each mutation starts from one of the project's own generated files (one per
format, tagged with mutagen) and damages it the way disks, copies and careless
tools do: flipped bits, a cut-off end, a zeroed block, another format's header
spliced over the start, or an extension that lies about the content.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

KINDS = ("bitflip", "truncate", "zeroed", "splice", "extension")


@dataclass(frozen=True)
class Mutation:
    """One damaged file: which template it came from and what was done to it."""

    index: int
    kind: str
    source: str
    path: Path


def _bitflip(data: bytearray, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(1, 33))):
        bit = int(rng.integers(0, len(data) * 8))
        data[bit // 8] ^= 1 << (bit % 8)


def _zeroed(data: bytearray, rng: np.random.Generator) -> None:
    length = int(rng.integers(1, max(2, len(data) // 4)))
    start = int(rng.integers(0, len(data) - length + 1))
    data[start : start + length] = bytes(length)


def mutate(
    templates: dict[str, bytes], index: int, rng: np.random.Generator, folder: Path
) -> Mutation:
    """Write the ``index``-th damaged file into ``folder``; ``rng`` decides everything."""
    exts = sorted(templates)
    kind = KINDS[int(rng.integers(0, len(KINDS)))]
    source = exts[int(rng.integers(0, len(exts)))]
    data = bytearray(templates[source])
    ext = source
    if kind == "bitflip":
        _bitflip(data, rng)
    elif kind == "truncate":
        data = data[: int(rng.integers(0, len(data)))]
    elif kind == "zeroed":
        _zeroed(data, rng)
    elif kind == "splice":
        other = templates[exts[int(rng.integers(0, len(exts)))]]
        head = int(rng.integers(4, min(len(other), 4096)))
        data[:head] = other[:head]
    else:
        ext = exts[int(rng.integers(0, len(exts)))]
        if rng.random() < 0.5:
            _bitflip(data, rng)
    path = folder / f"{index:04d}-{kind}-{source.lstrip('.')}{ext}"
    path.write_bytes(bytes(data))
    return Mutation(index, kind, source, path)


def mutate_many(templates: dict[str, bytes], count: int, seed: int, folder: Path) -> list[Mutation]:
    """``count`` damaged files, the same ones for the same ``seed``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    return [mutate(templates, i, rng, folder) for i in range(count)]
