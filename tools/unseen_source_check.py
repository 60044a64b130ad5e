"""How well the instrument-family bundle names single instruments from a given source.

Renders one-instrument clips (generated phrases, no drums) with a soundfont or a
TiMidity++ configuration and reports, per family, how often the true family is
ranked first and in the top 3 by the shipped bundle. Meant for sources that share
no sample data with the training soundfonts (``tools/soundfont_samples.py``); the
default is freepats without the programs TimGM6mb shares samples with.

Usage::

    .venv/bin/python tools/unseen_source_check.py [--source /etc/timidity/freepats.cfg]
        [--per-program 2] [--seed 17]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from tagger_core.labels.bundles import load_bundle
from tagger_core.labels.taxonomy import INSTRUMENT_FAMILIES
from tagger_core.listening.single_file import BundleRunner
from tagger_core.training import instrument_data as recipe

SECONDS = 4.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=recipe.FREEPATS_CONFIG)
    parser.add_argument("--programs", help="comma-separated GM programs (default: freepats')")
    parser.add_argument("--per-program", type=int, default=2)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args(argv)
    programs = (
        [int(p) for p in args.programs.split(",")]
        if args.programs
        else list(recipe.FREEPATS_DISJOINT_PROGRAMS)
    )
    clips = recipe.solo_clips(args.seed, programs, SECONDS, args.per_program)
    audio = recipe.render_clips(clips, args.source, SECONDS)
    runner = BundleRunner(load_bundle("instrument-family"))
    ranks: dict[str, list[int]] = defaultdict(list)
    for clip, wave in zip(clips, audio, strict=True):
        family = clip.families[0]
        probs = runner.run_chunks([wave]).probabilities
        order = [INSTRUMENT_FAMILIES[i] for i in np.argsort(-probs)]
        ranks[family].append(order.index(family) + 1)
    rows = {f: {"clips": len(r), "top1": sum(x == 1 for x in r), "top3": sum(x <= 3 for x in r)}
            for f, r in sorted(ranks.items())}  # fmt: skip
    every = [x for r in ranks.values() for x in r]
    print(f"source {args.source.name}: {len(every)} single-instrument clips")
    print("| family | clips | top 1 | top 3 |")
    print("|---|---:|---:|---:|")
    for family, row in rows.items():
        print(f"| {family} | {row['clips']} | {row['top1']} | {row['top3']} |")
    top1 = sum(x == 1 for x in every) / len(every)
    top3 = sum(x <= 3 for x in every) / len(every)
    print(f"| all | {len(every)} | {100 * top1:.0f} % | {100 * top3:.0f} % |")
    print(json.dumps({"source": str(args.source), "top1": top1, "top3": top3, "families": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
