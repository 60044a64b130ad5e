"""Export commands: tags into files, ``export undo``, ``export batches``, ``export db``.

``export`` takes PATHs as positionals and also has sub-actions, which plain
argparse cannot mix; the top-level parser hands everything after ``export``
to the parsers here.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tagger_core.cli.common import library_from_args, print_json, progress_bar
from tagger_core.errors import TaggerError, one_line
from tagger_core.writing import (
    BackupSettings,
    ExportOptions,
    ExportReport,
    dump,
    list_batches,
    run_export,
    undo_batch,
)
from tagger_core.writing.backups import (
    DEFAULT_KEEP_DAYS,
    DEFAULT_MAX_MB,
    ENV_DIR,
    ENV_KEEP_DAYS,
    ENV_MAX_MB,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "export",
        help="write accepted labels into files (see `export -h`); also undo, batches, db",
        add_help=False,
        prefix_chars="\0",
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_export)


def _files_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="music-tagger export",
        description="Write accepted genres/instrument families into files, safely. "
        "Other forms: `export undo BATCH`, `export batches`, `export db --format csv|json`.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="only tracks at or under these paths")
    p.add_argument("--dry-run", action="store_true", help="print old → new values; write nothing")
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--only-reviewed", action="store_true", help="only tracks a person marked reviewed"
    )
    source.add_argument(
        "--min-confidence",
        type=float,
        metavar="P",
        help="also write labels whose calibrated confidence is at least P",
    )
    source.add_argument(
        "--conformal-sets",
        action="store_true",
        help="also write each track's conformal label set (calibrate --conformal first)",
    )
    p.add_argument("--genres", action="store_true", help="write genres (default: both)")
    p.add_argument("--instruments", action="store_true", help="write instrument families")
    p.add_argument(
        "--policy",
        choices=("merge", "replace"),
        default="merge",
        help="merge with a file's existing genres (default) or replace them",
    )
    p.add_argument("--id3v23", action="store_true", help="write ID3v2.3 (joined values)")
    p.add_argument("--separator", default="; ", help="ID3v2.3 value separator (default '; ')")
    p.add_argument(
        "--mp4-style",
        choices=("multi", "joined"),
        default="multi",
        help="MP4 ©gen as several values (default) or one joined string",
    )
    p.add_argument("--mp4-separator", default="; ", help="separator for --mp4-style joined")
    p.add_argument("--instruments-field", default="INSTRUMENTS", help="custom field name")
    p.add_argument(
        "--provenance", action="store_true", help="also write model/calibration/confidences JSON"
    )
    p.add_argument("--provenance-field", default="MUSIC_TAGGER_PROVENANCE")
    p.add_argument("--apev2-mp3", action="store_true", help="tag MP3 files with APEv2, not ID3")
    p.add_argument(
        "--album-genres",
        action="store_true",
        help="write one album-wide genre set to every track of an album (default: per track)",
    )
    p.add_argument(
        "--backup-dir",
        metavar="DIR",
        help=f"where undo backups go (default: ${ENV_DIR}, else beside the library)",
    )
    p.add_argument(
        "--backup-max-mb",
        type=float,
        metavar="MB",
        help=f"copy files up to this size whole; keep only tag regions of larger ones "
        f"(default: ${ENV_MAX_MB}, else {DEFAULT_MAX_MB:g})",
    )
    p.add_argument(
        "--backup-keep-days",
        type=float,
        metavar="DAYS",
        help=f"delete backups older than this (default: ${ENV_KEEP_DAYS}, "
        f"else {DEFAULT_KEEP_DAYS:g})",
    )
    p.add_argument(
        "--no-backup",
        action="store_true",
        help="keep no undo backups (undo then restores tag values only, not bytes)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def _undo_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="music-tagger export undo", description="Restore the tags an export batch replaced."
    )
    p.add_argument("batch", type=int, metavar="BATCH")
    p.add_argument("--json", action="store_true")
    return p


def _batches_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="music-tagger export batches", description="List batches.")
    p.add_argument("--json", action="store_true")
    return p


def _db_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="music-tagger export db",
        description="Dump tracks, existing tags, calibrated confidences, flags and decisions.",
    )
    p.add_argument("--format", choices=("csv", "json"), default="json")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    return p


def options_from_args(args: Any) -> ExportOptions:
    """Build ``ExportOptions`` from parsed ``export`` arguments."""
    tasks = tuple(
        t for t in ("genre", "instruments") if getattr(args, t + "s" if t == "genre" else t)
    )
    return ExportOptions(
        tasks=tasks or ("genre", "instruments"),
        policy=args.policy,
        min_confidence=args.min_confidence,
        conformal_sets=args.conformal_sets,
        only_reviewed=args.only_reviewed,
        id3_version=3 if args.id3v23 else 4,
        id3v23_separator=args.separator,
        mp4_genre_style=args.mp4_style,
        mp4_separator=args.mp4_separator,
        instruments_field=args.instruments_field,
        provenance=args.provenance,
        provenance_field=args.provenance_field,
        apev2_for_mp3=args.apev2_mp3,
        album_genres=args.album_genres,
    )


def _values(values: list[str] | None) -> str:
    return "(none)" if values is None else json.dumps(values, ensure_ascii=False)


def print_report(report: ExportReport, verb: str = "Exported") -> None:
    album: str | None = None
    for n, diff in enumerate(report.diffs):
        if diff.album != album or n == 0:
            album = diff.album
            print(f"== {album or 'not in an album'} ==")
        print(one_line(diff.path))
        for key, (old, new) in diff.changes.items():
            print(f"  {key}: {_values(old)} → {_values(new)}")
    for batch_id in report.resumed:
        print(f"Completed interrupted batch {batch_id}.")
    if report.dry_run:
        print(
            f"Dry run: {report.written} files would change, {report.unchanged} already up to "
            f"date, {report.skipped} would be skipped, {report.failed} would fail."
        )
    elif report.restored or verb == "Restored":
        print(
            f"Restored {report.restored} of {report.total} files of batch {report.batch_id} "
            f"({report.restored - report.inexact} byte for byte, {report.inexact} tag values "
            f"only); {report.skipped} skipped, {report.failed} failed."
        )
    else:
        batch = (
            f" (batch {report.batch_id}; undo with `music-tagger export undo {report.batch_id}`)"
            if report.batch_id
            else ""
        )
        print(
            f"{verb} {report.written} files{batch}: {report.unchanged} already up to date, "
            f"{report.skipped} skipped, {report.failed} failed, {report.seconds:.1f} s."
        )
    for line in report.problems[:50]:
        print(f"  ! {one_line(line)}")
    if len(report.problems) > 50:
        print(f"  … and {len(report.problems) - 50} more")
    if report.cancelled:
        print("Cancelled; run the export again to complete the batch.")


def cmd_export(args: Any) -> int:
    rest = list(args.rest)
    action = rest[0] if rest else None
    if action == "db":
        return _cmd_db(args, _db_parser().parse_args(rest[1:]))
    if action == "undo":
        return _cmd_undo(args, _undo_parser().parse_args(rest[1:]))
    if action == "batches":
        return _cmd_batches(args, _batches_parser().parse_args(rest[1:]))
    opts = _files_parser().parse_args(rest)
    options = options_from_args(opts)
    library = library_from_args(args)
    label = "Checking" if opts.dry_run else "Exporting"
    with progress_bar(label) as update:
        report = run_export(
            library,
            options,
            opts.paths or None,
            dry_run=opts.dry_run,
            progress=update,
            backups=BackupSettings.from_env(
                opts.backup_dir, opts.backup_max_mb, opts.backup_keep_days, not opts.no_backup
            ),
        )
    notes = uncalibrated_notes(library, options)
    if opts.json:
        print_json({**report.to_dict(), "uncalibrated": notes})
    else:
        print_report(report)
        for note in notes:
            print(f"Note: {note}")
    return 1 if report.failed else 0


def uncalibrated_notes(library: Any, options: ExportOptions) -> list[str]:
    """What ``--min-confidence`` compares against for models with no calibration."""
    if options.min_confidence is None:
        return []
    from tagger_core.labels.bundles import BundleError
    from tagger_core.labels.tasks import task_bundles
    from tagger_core.trust.predictions import calibration_state

    notes: list[str] = []
    with library.session() as s:
        shown = task_bundles(s)
        for task in options.tasks:
            bundle = shown.genre if task == "genre" else shown.instruments
            try:
                state = calibration_state(s, bundle)
            except BundleError:
                continue
            if state == "uncalibrated":
                notes.append(
                    f"{task} scores of model {bundle!r} are uncalibrated: --min-confidence "
                    f"{options.min_confidence:g} compares raw scores, not probabilities"
                )
    return notes


def _cmd_undo(args: Any, opts: argparse.Namespace) -> int:
    library = library_from_args(args)
    with progress_bar("Restoring") as update:
        report = undo_batch(library, opts.batch, progress=update)
    if opts.json:
        print_json(report.to_dict())
    else:
        print_report(report, verb="Restored")
    return 1 if report.failed else 0


def _cmd_batches(args: Any, opts: argparse.Namespace) -> int:
    batches = list_batches(library_from_args(args))
    if opts.json:
        print_json(batches)
        return 0
    for b in batches:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(b["items"].items())) or "no files"
        print(f"{b['id']:>5}  {b['status']:<8} {b['created_at']:%Y-%m-%d %H:%M}  {counts}")
    return 0


def _cmd_db(args: Any, opts: argparse.Namespace) -> int:
    library = library_from_args(args)
    if opts.output:
        library.refuse_as_target(opts.output)
        try:
            with open(opts.output, "w", encoding="utf-8", newline="") as out:
                n = dump(library, opts.format, out)
        except OSError as err:
            raise TaggerError(f"cannot write {opts.output}: {err.strerror}") from err
        print(f"Wrote {n} tracks to {opts.output}", file=sys.stderr)
    else:
        dump(library, opts.format, sys.stdout)
    return 0
