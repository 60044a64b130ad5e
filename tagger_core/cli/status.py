"""The ``status`` command: counts of tracks by status and format, and of outdated analyses.

It has a module of its own so that it starts fast (issue 20): a command line that
names ``status`` imports this module only, not the listing and scanning code of
``cli.library`` (whose ``tracks`` help lists the record fields, importing the track
views, the dialect helpers and NumPy through the taxonomies).
"""

from __future__ import annotations

import argparse
from typing import Any

from tagger_core.cli.common import library_from_args, print_json
from tagger_core.cli.reports import print_outdated
from tagger_core.db.analysis_versions import outdated_counts
from tagger_core.labels.bundles import installed_versions
from tagger_core.library.queries import status_counts


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "status", help="counts of tracks by status and format, and of outdated analyses"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)


def cmd_status(args: Any) -> int:
    library = library_from_args(args)
    installed = installed_versions()
    try:
        with library.session() as s:
            counts = status_counts(s)
            counts["outdated"] = outdated_counts(s, installed)
    finally:
        library.close()
    counts["database"] = library.location.display  # type: ignore[assignment]
    if args.json:
        print_json(counts)
        return 0
    print(f"Library database: {library.location.display}")  # a server password masked
    total = sum(counts["status"].values())
    print(f"{total} tracks")
    for name, n in sorted(counts["status"].items()):
        print(f"  {name:<12} {n}")
    print("By format:")
    for name, n in sorted(counts["format"].items(), key=lambda kv: -kv[1]):
        print(f"  {name:<12} {n}")
    print_outdated(counts["outdated"], installed)
    return 0
