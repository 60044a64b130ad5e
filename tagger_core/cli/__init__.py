"""The ``music-tagger`` command: a thin argparse layer over tagger_core.

Each area registers its subcommands from its own module (listed in
``COMMAND_MODULES``); every module exposes ``register(subparsers)`` and sets
``func`` on its parsers. User errors (``TaggerError``) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tagger_core import __version__
from tagger_core.errors import TaggerError

COMMAND_MODULES: tuple[str, ...] = (
    "tagger_core.cli.library",
    "tagger_core.cli.tag",
    "tagger_core.cli.export",
    "tagger_core.cli.calibration",
    "tagger_core.cli.calibrate",
    "tagger_core.cli.review",
    "tagger_core.cli.train",
    "tagger_core.cli.analyze",
    "tagger_core.cli.albums",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every area's subcommands."""
    parser = argparse.ArgumentParser(
        prog="music-tagger",
        description="Calibrated genre and instrument-family tagging for music archives.",
    )
    parser.add_argument("--version", action="version", version=f"music-tagger {__version__}")
    parser.add_argument(
        "--db", help="library database file (default: $MUSIC_TAGGER_DB or the user data dir)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    if list(sys.argv[1:] if argv is None else argv) == ["--version"]:
        # Answered before the command modules (and torch) are imported.
        print(f"music-tagger {__version__}")
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except TaggerError as err:
        print(f"music-tagger: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("music-tagger: interrupted; work committed so far is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
