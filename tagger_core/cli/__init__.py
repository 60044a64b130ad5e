"""The ``music-tagger`` command: a thin argparse layer over tagger_core.

Each area registers its subcommands from its own module (listed with the commands it
registers in ``COMMAND_MODULES``); every module exposes ``register(subparsers)`` and sets
``func`` on its parsers. User errors (``TaggerError``) print one line and exit 2.

Starting fast: a command line that names a command imports only the module that owns
it, and no command module imports torch (or scipy's optimisers, or matplotlib) before
a command that needs them runs; ``--help`` imports every module, still without torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tagger_core import __version__
from tagger_core.errors import TaggerError, one_line

COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "tagger_core.cli.library": ("scan", "status", "tracks", "show", "remove", "run"),
    "tagger_core.cli.tag": ("tag",),
    "tagger_core.cli.export": ("export",),
    "tagger_core.cli.calibration": ("calibrate-file", "genre-map"),
    "tagger_core.cli.calibrate": ("calibrate", "report"),
    "tagger_core.cli.review": ("review",),
    "tagger_core.cli.train": ("train", "experiment"),
    "tagger_core.cli.analyze": ("analyze",),
    "tagger_core.cli.db": ("db",),
    "tagger_core.cli.albums": ("albums", "calibrate-albums"),
}


def _named_command(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (after the global ``--db``), or None (help, no command)."""
    args = iter(argv)
    for arg in args:
        if arg == "--db":
            next(args, None)
        elif not arg.startswith("--db="):
            return None if arg.startswith("-") else arg
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser: with ``command``, only the module that owns it registers.

    Without one (or with an unknown one, so argparse can name the choices), every
    area's subcommands are registered.
    """
    parser = argparse.ArgumentParser(
        prog="music-tagger",
        description="Calibrated genre and instrument-family tagging for music archives.",
    )
    parser.add_argument("--version", action="version", version=f"music-tagger {__version__}")
    parser.add_argument(
        "--db",
        help="library database: an SQLite file or a postgresql+psycopg://user@host/db URL "
        "(default: $MUSIC_TAGGER_DB or the user data dir)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    owners = [name for name, commands in COMMAND_MODULES.items() if command in commands]
    for name in owners or COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words == ["--version"]:
        # Answered before any command module is imported.
        print(f"music-tagger {__version__}")
        return 0
    parser = build_parser(_named_command(words))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except TaggerError as err:
        print(f"music-tagger: error: {one_line(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("music-tagger: interrupted; work committed so far is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
