"""Library commands: ``scan``, ``tracks``, ``show``, ``remove`` and ``run``.

``tracks`` and ``show`` run no model, so this module imports the scanner and the main
job only inside the commands that use them: those two start without torch. The
predictions (``trust``: SciPy) are imported by the commands that print them.
``status`` lives in ``cli.status``, which imports less still.

``tracks`` and ``show`` print what the models heard (stored predictions, flags, the
calibration state) next to the tags; the records they print come from
``library.track_fields`` and ``trust.track_predictions``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from tagger_core.cli.common import library_from_args, print_json, progress_bar
from tagger_core.cli.reports import (
    print_analysis_report,
    print_auto_calibration,
    print_prediction_summary,
    print_predictions_error,
    print_scan_report,
    print_track_predictions,
)
from tagger_core.cli.status import cmd_status
from tagger_core.db.models import Prediction
from tagger_core.errors import one_line
from tagger_core.labels.instrument_names import credited_instruments
from tagger_core.labels.tasks import task_bundles
from tagger_core.library.default_root import default_library_path
from tagger_core.library.formats import DEFAULT_EXTENSIONS, parse_extensions
from tagger_core.library.queries import find_track, track_dict
from tagger_core.library.selection import track_ids_under, tracks_matching
from tagger_core.library.track_fields import (
    DEFAULT_FORMAT,
    FIELDS,
    check_template,
    fields_template,
    render,
    track_records,
)

if TYPE_CHECKING:
    from tagger_core.library.scan import ScanReport


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("scan", help="scan folders into the library (incremental)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--workers", type=int, default=None, help="tag-reading processes")
    p.add_argument("--extensions", help="comma-separated extensions to accept")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser(
        "tracks",
        help="list tracks with predicted genres, instrument families and flags",
        epilog="fields for --fields/--format: "
        + "; ".join(f"{k} ({v})" for k, v in FIELDS.items()),
    )
    p.add_argument("--query", help="text to look for in title, artist, album, genre, path")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--fields", help="comma-separated fields, printed tab-separated")
    p.add_argument(
        "--format",
        dest="template",
        metavar="FORMAT",
        help="a line per track, e.g. '{artist} - {title}: {genres}'",
    )
    p.add_argument("--json", action="store_true", help="tags, stream facts and predictions")
    p.set_defaults(func=cmd_tracks)

    p = sub.add_parser("show", help="everything known about one track")
    p.add_argument("track", metavar="TRACK", help="track id or path")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("remove", help="remove folders or tracks from the library (not from disk)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a library folder, a file or a folder")
    p.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("run", help="the main job on the default library: scan, analyse, summary")
    p.add_argument("library", nargs="?", help="library folder (default: $LIBRARY, ~/Music, demo)")
    p.add_argument("--no-analyze", action="store_true", help="scan only")
    p.set_defaults(func=cmd_run)


def _scan_with_progress(args: Any, paths: list[str]) -> ScanReport:
    from tagger_core.library.scan import scan  # mutagen: only for the commands that scan

    library = library_from_args(args)
    exts = (
        parse_extensions(args.extensions)
        if getattr(args, "extensions", None)
        else DEFAULT_EXTENSIONS
    )
    with progress_bar("Reading tags") as update:
        return scan(
            library,
            paths,
            extensions=exts,
            workers=getattr(args, "workers", None),
            progress=lambda p: update(p.done, p.total, p.path) if p.total else None,
        )


def cmd_scan(args: Any) -> int:
    report = _scan_with_progress(args, args.paths)
    if args.json:
        print_json(report.to_dict())
    else:
        print_scan_report(report)
    return 1 if report.cancelled else 0


def cmd_tracks(args: Any) -> int:
    template = DEFAULT_FORMAT
    if args.fields:
        template = fields_template(args.fields)
    elif args.template:
        template = args.template
        check_template(template)
    library = library_from_args(args)
    with library.session() as s:
        tracks = tracks_matching(s, args.query, args.limit)
        ids = [t.id for t in tracks]
        if args.json:
            from tagger_core.trust.track_predictions import track_predictions

            predictions = track_predictions(s, ids)
            print_json(
                [
                    {
                        **track_dict(t),
                        "predictions": [p.to_dict() for p in predictions.get(t.id, [])],
                    }
                    for t in tracks
                ]
            )
            return 0
        records = track_records(s, ids, task_bundles(s))
    for record in records:
        shown = {k: one_line(v) if isinstance(v, str) else v for k, v in record.items()}
        line = render(shown, template)
        print(line if args.fields or args.template else line.rstrip())
    if not (args.fields or args.template):
        print(f"{len(records)} tracks")
    return 0


def cmd_remove(args: Any) -> int:
    from tagger_core.library.removal import removal_impact, remove_from_library, resolve_paths

    library = library_from_args(args)
    with library.session() as s:
        tracks, roots = resolve_paths(s, args.paths)
        impact = removal_impact(s, tracks, roots)
    if not args.dry_run:
        impact = remove_from_library(library, tracks, roots)
    print(f"{'Would remove' if args.dry_run else 'Removed'} {impact.sentence()}; no file touched.")
    return 0


def cmd_show(args: Any) -> int:
    library = library_from_args(args)
    with library.session() as s:
        track = find_track(s, args.track)
        data = track_dict(track)
        data["credited_instruments"] = credited_instruments(track.raw_tags or {})
        data["summaries"] = {
            p.bundle_id: p.summary
            for p in s.scalars(
                select(Prediction).where(Prediction.track_id == track.id).order_by(
                    Prediction.bundle_id
                )
            )
        }
        data["raw_tags"] = track.raw_tags
        from tagger_core.trust.track_predictions import track_predictions

        predictions = track_predictions(s, [track.id]).get(track.id, [])
    if args.json:
        print_json({**data, "predictions": [p.to_dict() for p in predictions]})
        return 0
    for key, value in data.items():
        if key == "raw_tags":
            print("raw tags:")
            for tag, values in sorted(value.items()):
                print(one_line(f"  {tag}: {' | '.join(values)}"))
        elif key == "summaries":
            notes = {p.bundle_id: f" ({p.note})" for p in predictions if p.note}
            for bundle_id, summary in value.items():  # "[uncalibrated]" ends raw scores
                print(f"predicted by {bundle_id}: {summary}{notes.get(bundle_id, '')}")
        elif value not in (None, [], ""):
            print(one_line(f"{key}: {value}"))
    print_track_predictions(predictions)
    return 0


def cmd_run(args: Any) -> int:
    path = default_library_path(args.library)
    print(f"Library: {path}")
    report = _scan_with_progress(args, [str(path)])
    print_scan_report(report)
    if not args.no_analyze and not report.cancelled:
        _analyze_root(args, path)
    args.json = False
    return cmd_status(args)


def _analyze_root(args: Any, root: Path) -> None:
    """The main job on the library's tracks under ``root``, then a summary of predictions."""
    from tagger_core.listening import analyze_and_predict  # torch, when the job runs
    from tagger_core.trust.summary import summarize_predictions

    library = library_from_args(args)
    with library.session() as s:
        ids = track_ids_under(s, root)
    with progress_bar("Analysing") as update:
        report = analyze_and_predict(
            library,
            ids,
            refresh_selected=True,
            progress=lambda p: update(p.done, p.total, p.path),
        )
    print_analysis_report(report)
    print_predictions_error(report)
    print_auto_calibration(report)
    with library.session() as s:
        print_prediction_summary(summarize_predictions(s, ids))
