"""Scoring the instrument-family bundle on real audio whose file name names its family.

Why: rendered test clips say nothing certain about real instruments. The
labels live in ``docs/models/instrument-family/real_samples.toml`` (files from
Debian packages, named unambiguously by their authors); every file is heard
as ``music-tagger tag`` hears it, and a file that is missing or cannot be
decoded is reported and left out while the rest is scored.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagger_core.errors import DecodeError, TaggerError
from tagger_core.labels.taxonomy import INSTRUMENT_FAMILIES
from tagger_core.listening.single_file import BundleRunner, tag_file

KINDS = ("recorded", "synth")


@dataclass(frozen=True)
class LabelledFile:
    path: Path
    family: str
    kind: str  # "recorded": an instrument was played; "synth": a synthesiser named by its role


def labelled_samples(labels: Path, root: Path) -> list[LabelledFile]:
    """Every listed sample under ``root``, in the listed order; bad entries raise TaggerError."""
    try:
        spec = tomllib.loads(labels.read_text(encoding="utf-8"))
        out = []
        for package in spec.values():
            for path, family, kind in package["samples"]:
                if family not in INSTRUMENT_FAMILIES or kind not in KINDS:
                    raise TaggerError(
                        f"{labels}: {path}: unknown family or kind {family!r}/{kind!r}"
                    )
                out.append(LabelledFile(root / package["prefix"] / path, family, kind))
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as err:
        raise TaggerError(f"{labels}: not a readable label file ({err})") from None
    return out


def rank_of(probabilities: np.ndarray, family: str) -> int:
    """1-based rank of ``family`` among the outputs (ties keep the label order)."""
    order = np.argsort(-np.asarray(probabilities), kind="stable")
    return int(np.flatnonzero(order == INSTRUMENT_FAMILIES.index(family))[0]) + 1


def score_files(runner: BundleRunner, files: list[LabelledFile], root: Path) -> tuple[list, list]:
    """``(rows, skipped)``: per scored file its rank, true-family probability and top 3."""
    if tuple(runner.bundle.raw_labels) != tuple(INSTRUMENT_FAMILIES):
        raise TaggerError(f"bundle {runner.bundle.id!r} does not output the instrument families")
    rows, skipped = [], []
    for item in files:
        name = (
            str(item.path.relative_to(root)) if item.path.is_relative_to(root) else str(item.path)
        )
        try:
            (outputs,) = tag_file(item.path, [runner], max_patches=None)
        except (DecodeError, OSError) as err:
            reason = str(err).strip().splitlines()[0].replace(f"{root}/", "")
            skipped.append({"file": name, "reason": reason})
            continue
        p = outputs.probabilities
        top = np.argsort(-p, kind="stable")[:3]
        rows.append({
            "file": name, "family": item.family, "kind": item.kind,
            "rank": rank_of(p, item.family),
            "p_true": round(float(p[INSTRUMENT_FAMILIES.index(item.family)]), 3),
            "top3": [[INSTRUMENT_FAMILIES[i], round(float(p[i]), 3)] for i in top],
            "seconds": round(outputs.seconds_analysed, 2),
        })  # fmt: skip
    return rows, skipped


def summary(rows: list[dict]) -> dict[str, dict[str, int]]:
    """Files, top-1 and top-3 counts per ``family (kind)`` and for ``all <kind>``."""
    groups: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        groups[f"{row['family']} ({row['kind']})"].append(row["rank"])
        groups[f"all {row['kind']}"].append(row["rank"])
    return {
        key: {"files": len(r), "top1": sum(x == 1 for x in r), "top3": sum(x <= 3 for x in r)}
        for key, r in sorted(groups.items(), key=lambda kv: (kv[0].startswith("all"), kv[0]))
    }
