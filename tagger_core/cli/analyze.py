"""``music-tagger analyze [PATH…|--all]``: run the model ensembles over library tracks.

Folders given as PATH are scanned first (incrementally), then every track
under them is analysed and its calibrated predictions refreshed; a file given
as PATH must already be in the library.
Tracks whose stored analysis is up to date are skipped, so running the command
again after an interruption resumes where it stopped. A track analysed only by an
earlier version of a bundle is analysed again (its old analysis is kept);
``--outdated`` analyses only those tracks.
"""

from __future__ import annotations

import argparse
import os
import threading
from typing import Any

from tagger_core.cli.common import library_from_args, print_json, progress_bar
from tagger_core.cli.reports import (
    analysis_json,
    print_analysis_report,
    print_auto_calibration,
    print_predictions_error,
    print_scan_report,
)
from tagger_core.db import Library
from tagger_core.db.analysis_versions import outdated_track_ids
from tagger_core.errors import ConfigError
from tagger_core.labels.bundles import load_bundle
from tagger_core.library.selection import track_ids_for_paths
from tagger_core.listening.report import (
    DEFAULT_BATCH,
    DEFAULT_MAX_PATCHES,
    ENGINES,
    POOLS,
    PROFILES,
    profile_bundles,
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
        help="comma-separated model bundle ids (default: genre,instruments,instrument-family)",
    )
    p.add_argument(
        "--profile",
        choices=tuple(PROFILES),
        help="default: the full ensembles; fast: distilled students, for a quick first pass",
    )
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument("--workers", type=int, help="decoding workers (default: up to 4)")
    p.add_argument("--threads", type=int, help="CPU threads for the models (default: all cores)")
    p.add_argument("--pool", choices=POOLS, default="thread", help="decode in threads or processes")
    p.add_argument(
        "--max-patches",
        type=int,
        default=DEFAULT_MAX_PATCHES,
        help=f"patches per track before sampling evenly (default {DEFAULT_MAX_PATCHES}; 0 = all)",
    )
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="patches per batch")
    p.add_argument("--force", action="store_true", help="re-analyse tracks already analysed")
    p.add_argument(
        "--outdated",
        action="store_true",
        help="only tracks analysed by an earlier version of a selected bundle (no PATH: all)",
    )
    p.add_argument("--retry-errors", action="store_true", help="re-try files that failed before")
    p.add_argument(
        "--no-optimize", action="store_true", help="run members as loaded (no TorchScript fusion)"
    )
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="run the models on this machine (default) or on a Ray cluster (docs/scale.md)",
    )
    p.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="HOST:PORT of a running Ray cluster, or auto (default: a private Ray here)",
    )
    p.add_argument(
        "--float32",
        action="store_true",
        help="every member in float32, even where a cheaper form was accepted (fast_forms.json)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_analyze)


def _outdated_tracks(library: Library, bundles: list[str], among: list[int] | None) -> list[int]:
    """Tracks (of ``among``; None: all) whose analysis by one of ``bundles`` is outdated."""
    installed = {b: load_bundle(b).version for b in bundles}
    with library.session() as session:
        ids = outdated_track_ids(session, installed)
    return ids if among is None else sorted(set(ids) & set(among))


def _select_tracks(library: Library, args: Any) -> list[int] | None:
    """Track ids named by PATH arguments (folders are scanned first); None for --all."""
    if args.all:
        if args.paths:
            raise ConfigError("give PATHs or --all, not both")
        return None
    if not args.paths:
        if args.outdated:
            return None
        raise ConfigError("give folders or files to analyse, or --all")
    folders = [p for p in args.paths if os.path.isdir(p)]
    files = [p for p in args.paths if not os.path.isdir(p)]
    for f in files:
        if not os.path.exists(f):
            raise ConfigError(f"not found: {f}")
    if folders:
        from tagger_core.library.scan import scan

        with progress_bar("Scanning") as update:
            report = scan(
                library,
                folders,
                progress=lambda p: update(p.done, p.total, p.path) if p.total else None,
            )
        if not args.json:
            print_scan_report(report)
    with library.session() as session:
        return track_ids_for_paths(session, folders, files)


def cmd_analyze(args: Any) -> int:
    from tagger_core.listening import analyze_and_predict  # torch: only when analysing

    if args.ray_address and args.engine != "ray":
        raise ConfigError("--ray-address needs --engine ray")
    if args.engine == "ray":  # before a scan that may take long
        from tagger_core.listening.ray_engine import check_cluster

        check_cluster(args.ray_address)
    bundles = profile_bundles(args.profile, args.models)  # before a scan that may take long
    library = library_from_args(args)
    track_ids = _select_tracks(library, args)
    if args.outdated:
        if args.force:
            raise ConfigError("give --outdated or --force, not both")
        track_ids = _outdated_tracks(library, bundles, track_ids)
        if not track_ids and not args.json:
            print("No outdated analyses: every analysed track is up to date.")
            return 0
    engine_options = {"address": args.ray_address} if args.engine == "ray" else {}
    cancel = threading.Event()
    with progress_bar("Analysing") as update:
        try:
            report = analyze_and_predict(
                library,
                track_ids,
                bundles=bundles,
                device=args.device,
                workers=args.workers,
                threads=args.threads,
                batch_size=args.batch_size,
                max_patches=args.max_patches or None,
                pool=args.pool,
                force=args.force,
                retry_errors=args.retry_errors,
                optimize=not args.no_optimize,
                fast_forms=not args.float32,
                progress=lambda p: update(p.done, p.total, p.path),
                cancel=cancel,
                engine=args.engine,
                **engine_options,
            )
        except KeyboardInterrupt:
            cancel.set()
            raise
    if not args.json:
        print_analysis_report(report)
    print_predictions_error(report)
    refreshed = None if report.predictions_error else report.predictions_refreshed
    if args.json:
        print_json(analysis_json(report))
        return 1 if report.cancelled or report.errors else 0
    if report.analyzed_track_ids and refreshed is not None:
        print(f"Updated calibrated predictions: {refreshed}")
    print_auto_calibration(report)
    if report.cancelled:
        return 1
    return 1 if report.errors else 0
