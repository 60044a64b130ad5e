"""Album commands: ``albums`` (albums with their album-level labels) and ``calibrate-albums``."""

from __future__ import annotations

import argparse
from typing import Any

from tagger_core.cli.common import library_from_args, print_json
from tagger_core.labels.tasks import task_bundles
from tagger_core.library.album_views import album_page
from tagger_core.trust.albums import album_task_predictions, load_album_calibration, state_text
from tagger_core.trust.predictions import load_policy


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("albums", help="list albums with their album-level labels")
    p.add_argument("--query", help="text to look for in album, album artist or artist")
    p.add_argument(
        "--sort", default="artist", choices=("artist", "album", "year", "tracks")
    )
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print albums and predictions as JSON")
    p.set_defaults(func=cmd_albums)

    p = sub.add_parser(
        "calibrate-albums",
        help="calibrate album-level confidences on albums with known album-wide labels",
    )
    p.add_argument("bundle", nargs="?", default="genre", help="model bundle (default: genre)")
    p.add_argument(
        "--method", default="per-class", help="temperature, per-class (default), platt, isotonic"
    )
    p.add_argument("--folds", type=int, default=5)
    p.add_argument(
        "--use-tags", action="store_true", help="albums whose tracks share a genre tag count"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calibrate_albums)


def cmd_albums(args: Any) -> int:
    library = library_from_args(args)
    with library.session() as s:
        albums = album_page(s, args.query, sort=args.sort, limit=args.limit)
        predictions = album_task_predictions(s, [a.key for a in albums])
        threshold = load_policy(s).accept_threshold
        shown = task_bundles(s)
        states = {b: load_album_calibration(s, b) for b in (shown.genre, shown.instruments)}
    if args.json:
        print_json(
            [
                {
                    **a.to_dict(),
                    "predictions": {
                        task: p.to_dict(threshold) for task, p in predictions[a.key].items()
                    },
                }
                for a in albums
            ]
        )
        return 0
    for a in albums:
        year = f"{a.year}, " if a.year else ""
        print(f"{a.artist} – {a.album}  ({year}{a.tracks} tracks)  [{a.key}]")
        for task, p in predictions[a.key].items():
            mark = "calibrated" if p.calibrated else "uncalibrated"
            print(f"    {task}: {p.summary(threshold) or '-'}  ({mark})")
            for reason in p.reasons:
                print(f"    ⚑ {reason}")
    print(f"{len(albums)} albums")
    for bundle, state in states.items():
        if state is not None:
            print(f"{bundle}: {state_text(state)}")
    return 0


def cmd_calibrate_albums(args: Any) -> int:
    # The fitting code (scipy's optimisers) only for the command that fits.
    from tagger_core.trust.album_calibration import fit_album_calibration

    state = fit_album_calibration(
        library_from_args(args),
        args.bundle,
        method=args.method,
        folds=args.folds,
        use_tags=args.use_tags,
    )
    if args.json:
        print_json(state)
        return 0
    for pooling, c in state["comparison"].items():
        chosen = "  ← kept" if pooling == state["pooling"] else ""
        print(
            f"{pooling:>10}: held-out NLL {c['before']['nll']:.4f} → {c['after']['nll']:.4f}, "
            f"ECE {c['before']['ece']:.4f} → {c['after']['ece']:.4f}{chosen}"
        )
    for name, reason in state["skipped"].items():
        print(f"  {name}: not calibrated, {reason}")
    print(f"{args.bundle}: {state_text(state)}")
    return 0
