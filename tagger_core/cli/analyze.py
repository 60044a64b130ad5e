"""``music-tagger analyze [PATH…|--all]``: run the model ensembles over library tracks.

Folders given as PATH are scanned first (incrementally), then every track
under them is analysed; a file given as PATH must already be in the library.
Tracks whose stored analysis is up to date are skipped, so running the command
again after an interruption resumes where it stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any

from sqlalchemy import select

from tagger_core.cli.common import library_from_args, print_json, progress_bar
from tagger_core.db import Library
from tagger_core.db.models import Track
from tagger_core.errors import ConfigError, TaggerError
from tagger_core.listening.engine import (
    DEFAULT_BATCH,
    DEFAULT_BUNDLES,
    DEFAULT_MAX_PATCHES,
    POOLS,
    AnalysisReport,
    analyze,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "analyze",
        help="analyse library tracks with the model ensembles (stores raw outputs)",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders or files to analyse")
    p.add_argument("--all", action="store_true", help="analyse every track in the library")
    p.add_argument(
        "--models",
        default=",".join(DEFAULT_BUNDLES),
        help="comma-separated model bundle ids (default: genre,instruments,instrument-family)",
    )
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument("--workers", type=int, help="decoding workers (default: up to 4)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: all cores)")
    p.add_argument("--pool", choices=POOLS, default="thread", help="decode in threads or processes")
    p.add_argument(
        "--max-patches",
        type=int,
        default=DEFAULT_MAX_PATCHES,
        help=f"patches per track before sampling evenly (default {DEFAULT_MAX_PATCHES}; 0 = all)",
    )
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="patches per batch")
    p.add_argument("--force", action="store_true", help="re-analyse tracks already analysed")
    p.add_argument("--retry-errors", action="store_true", help="re-try files that failed before")
    p.add_argument(
        "--no-optimize", action="store_true", help="run members as loaded (no TorchScript fusion)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_analyze)


def _select_tracks(library: Library, args: Any) -> list[int] | None:
    """Track ids named by PATH arguments (folders are scanned first); None for --all."""
    if args.all:
        if args.paths:
            raise ConfigError("give PATHs or --all, not both")
        return None
    if not args.paths:
        raise ConfigError("give folders or files to analyse, or --all")
    folders = [p for p in args.paths if os.path.isdir(p)]
    files = [p for p in args.paths if not os.path.isdir(p)]
    for f in files:
        if not os.path.exists(f):
            raise ConfigError(f"not found: {f}")
    if folders:
        from tagger_core.cli.library import print_scan_report
        from tagger_core.library.scan import scan

        with progress_bar("Scanning") as update:
            report = scan(
                library,
                folders,
                progress=lambda p: update(p.done, p.total, p.path) if p.total else None,
            )
        if not args.json:
            print_scan_report(report)
    prefixes = [os.fsencode(os.path.abspath(f)).rstrip(b"/") + b"/" for f in folders]
    exact = {os.fsencode(os.path.abspath(f)) for f in files}
    with library.session() as session:
        rows = session.execute(select(Track.id, Track.path)).all()
    ids = [tid for tid, path in rows if path in exact or path.startswith(tuple(prefixes))]
    found = {path for _tid, path in rows if path in exact}
    missing = exact - found
    if missing:
        name = os.fsdecode(sorted(missing)[0])
        raise ConfigError(f"{name} is not in the library; scan its folder first")
    return ids


def print_analysis_report(report: AnalysisReport) -> None:
    if report.tracks_total == 0 and not report.cancelled:
        print(f"Nothing to analyse: {report.tracks_skipped} tracks already up to date")
        return
    hours = report.audio_seconds / 3600
    print(
        f"Analysed {report.tracks_done} tracks ({hours:.2f} h of audio) in "
        f"{report.seconds:.1f} s: {report.realtime_factor:.1f}× realtime on {report.device}; "
        f"{len(report.errors)} errors, {report.tracks_skipped} already up to date"
    )
    if report.tracks_sampled:
        print(f"  {report.tracks_sampled} long tracks were sampled evenly")
    for line in report.errors[:20]:
        print(f"  ! {line}")
    if len(report.errors) > 20:
        print(f"  … and {len(report.errors) - 20} more errors")
    if report.cancelled:
        print("Analysis stopped; finished tracks are stored and the next run resumes.")


def _refresh_predictions(library: Library, report: AnalysisReport, quiet: bool) -> Any:
    """Recompute calibrated predictions for the analysed tracks, if that module exists."""
    try:
        from tagger_core.trust.predictions import refresh_predictions
    except ImportError:
        return None
    if not report.analysed_track_ids:
        return 0
    count = refresh_predictions(library, report.analysed_track_ids)
    if not quiet:
        print(f"Updated calibrated predictions: {count}")
    return count


def cmd_analyze(args: Any) -> int:
    library = library_from_args(args)
    track_ids = _select_tracks(library, args)
    bundles = [m.strip() for m in args.models.split(",") if m.strip()]
    if not bundles:
        raise ConfigError("--models names no model bundle")
    cancel = threading.Event()
    with progress_bar("Analysing") as update:
        try:
            report = analyze(
                library,
                track_ids,
                bundles,
                device=args.device,
                workers=args.workers,
                threads=args.threads,
                batch_size=args.batch_size,
                max_patches=args.max_patches or None,
                pool=args.pool,
                force=args.force,
                retry_errors=args.retry_errors,
                optimize=not args.no_optimize,
                progress=lambda p: update(p.done, p.total, p.path),
                cancel=cancel,
            )
        except KeyboardInterrupt:
            cancel.set()
            raise
    if not args.json:
        print_analysis_report(report)
    try:
        refreshed = _refresh_predictions(library, report, args.json)
    except TaggerError as err:
        print(f"music-tagger: predictions not refreshed: {err}", file=sys.stderr)
        refreshed = None
    if args.json:
        data = report.to_dict()
        data["predictions_refreshed"] = refreshed
        print_json(data)
    if report.cancelled:
        return 1
    return 1 if report.errors else 0
