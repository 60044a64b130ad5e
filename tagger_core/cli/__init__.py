"""The ``music-tagger`` command: a thin argparse layer over tagger_core.

Each area registers its subcommands from its own module (listed with the commands it
registers in ``COMMAND_MODULES``); every module exposes ``register(subparsers)`` and sets
``func`` on its parsers. User errors (``TaggerError``) print one line and exit 2.

Starting fast: a command line that names a command imports only the module that owns
it, and no command module imports torch (or scipy's optimisers, or matplotlib) before
a command that needs them runs. The command listing (``--help``, no command, an unknown
one) imports no command module: it is built from ``COMMAND_HELP``, which a test holds
equal to what the modules register (importing them all took 0.6 s: SQLAlchemy, SciPy).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tagger_core import __version__
from tagger_core.errors import TaggerError, one_line

COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "tagger_core.cli.status": ("status",),
    "tagger_core.cli.library": ("scan", "tracks", "show", "remove", "run"),
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

#: every command's one-line help, in the order the modules above register them
COMMAND_HELP: dict[str, str] = {
    "status": "counts of tracks by status and format, and of outdated analyses",
    "scan": "scan folders into the library (incremental)",
    "tracks": "list tracks with predicted genres, instrument families and flags",
    "show": "everything known about one track",
    "remove": "remove folders or tracks from the library (not from disk)",
    "run": "the main job on the default library: scan, analyse, summary",
    "tag": "print the pretrained models' top genres, instruments and raw tags for files",
    "export": "write accepted labels into files (see `export -h`); also undo, batches, db",
    "calibrate-file": "fit and cross-validate a calibration on logits saved as .npz",
    "genre-map": "map genre tag strings onto the app's genre labels",
    "calibrate": "fit a calibration on reviewed tracks (k-fold checked)",
    "report": "one HTML page: calibration state, diagrams, flags",
    "review": "flagged tracks and review decisions",
    "train": "train models on your archive or a dataset",
    "experiment": "the papers' experiments on a dataset",
    "analyze": "analyse library tracks with the model ensembles (stores raw outputs)",
    "db": "check, back up or restore the library database",
    "albums": "list albums with their album-level labels",
    "calibrate-albums": "calibrate album-level confidences on albums with known album-wide labels",
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
    command is listed from ``COMMAND_HELP`` and none can run.
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
    for name in owners:
        importlib.import_module(name).register(sub)
    if not owners:
        for name, text in COMMAND_HELP.items():
            sub.add_parser(name, help=text)
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
