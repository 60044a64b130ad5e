"""Report which soundfonts share samples, by the sample data (issue 17, item 1).

Usage::

    .venv/bin/python tools/soundfont_samples.py /usr/share/sounds/sf2/FluidR3_GM.sf2 \\
        /usr/share/sounds/sf3/MuseScore_General_Lite.sf3 /usr/share/midi/freepats

Each argument is an SF2/SF3 file or a folder of GUS ``.pat`` patches. Prints a
Markdown table: for every ordered pair, how many of A's samples B also holds by
data (exact sha256 of the PCM, or for lossy samples a correlation >= 0.99 at the
same rate and length), and by name for contrast; then the groups that share no
sample data with each other. ``--json FILE`` also writes the rows.
``--programs`` adds, for the first source, how many of the samples each GM
program (bank 0) plays are held by any other source.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from tagger_core.errors import TaggerError
from tagger_core.training import soundfont_samples as ss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, help="also write the table as JSON")
    parser.add_argument("--programs", action="store_true", help="per program of the first")
    args = parser.parse_args(argv)
    try:
        sets = [ss.read_sample_set(p) for p in args.sources]
    except TaggerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    table = ss.overlap_table(sets)
    print("| A | samples in A | also in B | by data (exact) | by name |")
    print("|---|---:|---|---:|---:|")
    for row in table:
        print(f"| {row.a} | {row.total} | {row.b} | {row.by_data} ({row.exact}) | {row.by_name} |")
    groups = ss.disjoint_groups(table, [s.name for s in sets])
    print()
    print("Sample-disjoint groups: " + "; ".join(" + ".join(g) for g in groups))
    if args.programs:
        shared = set().union(*(ss.shared_samples(sets[0], other) for other in sets[1:]))
        print()
        print(f"| {sets[0].name} program | samples played | held by the others |")
        print("|---:|---:|---:|")
        for program, (n_shared, n) in ss.preset_sharing(sets[0], shared).items():
            print(f"| {program} | {n} | {n_shared} |")
    if args.json:
        args.json.write_text(
            json.dumps({"rows": [asdict(r) for r in table], "groups": groups}, indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
