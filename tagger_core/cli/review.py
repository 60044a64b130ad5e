"""``review``: the flagged queue with reasons, decisions from the terminal, the flag policy."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from tagger_core.cli.common import library_from_args, print_json
from tagger_core.errors import ConfigError
from tagger_core.labels.bundles import bundle_tasks
from tagger_core.library.queries import find_track
from tagger_core.library.selection import tracks_by_id
from tagger_core.trust.policy import SETTING_HELP, ReviewPolicy
from tagger_core.trust.predictions import (
    UNCALIBRATED_MARK,
    load_policy,
    refresh_predictions,
    save_policy,
)
from tagger_core.trust.review import decide, mark_reviewed, review_counts, review_queue, undo_last


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("review", help="flagged tracks and review decisions")
    p.add_argument("--model", default="genre", help="model bundle whose flags to list")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    for name, text in (("accept", "accept a label"), ("reject", "reject a label"),
                       ("add", "add a label the model missed")):  # fmt: skip
        a = actions.add_parser(name, help=text)
        a.add_argument("track", help="track id or path")
        a.add_argument("labels", nargs="+", metavar="LABEL")
        a.add_argument("--task", choices=("genre", "instruments"), default="genre")
        a.set_defaults(func=cmd_decide)
    a = actions.add_parser("done", help="mark a track reviewed (unaccepted labels are negatives)")
    a.add_argument("track", help="track id or path")
    a.add_argument("--task", choices=("genre", "instruments"), default="genre")
    a.set_defaults(func=cmd_done)
    a = actions.add_parser("undo", help="undo the newest decision")
    a.set_defaults(func=cmd_undo)
    a = actions.add_parser("policy", help="show or change the review-flag thresholds")
    a.add_argument("settings", nargs="*", metavar="KEY=VALUE",
                   help="e.g. uncertain_low=0.3 accept_threshold=0.6")  # fmt: skip
    a.set_defaults(func=cmd_policy)


def cmd_list(args: Any) -> int:
    library = library_from_args(args)
    with library.session() as s:
        task = bundle_tasks().get(args.model, "genre")
        queue = review_queue(s, args.model, task, args.limit)
        counts = review_counts(s)
        ids = [p.track_id for p in queue]
        tracks = tracks_by_id(s, ids)
    if args.json:
        summary = {k: v for k, v in counts.items() if k != "tasks"}
        summary["tasks"] = {t: asdict(c) for t, c in counts["tasks"].items()}
        print_json({"counts": summary, "queue": [
            {"track_id": p.track_id, "path": tracks[p.track_id].path_text, "summary": p.summary,
             "uncertainty": p.uncertainty, "reasons": p.flag_reasons} for p in queue]})  # fmt: skip
        return 0
    print(f"{counts['waiting']} tracks waiting for review ({counts['flagged']} flagged, "
          f"{counts['reviewed']} reviewed).")  # fmt: skip
    for per_task in counts["tasks"].values():
        print(f"  {per_task.rate_text}, {per_task.waiting} waiting ({per_task.bundle_id})")
    if queue and (queue[0].summary or "").endswith(UNCALIBRATED_MARK):
        print(f"Queue of {args.model} ({task}), uncalibrated: the reviews that teach a "
              "calibration most come first:")  # fmt: skip
    else:
        print(f"Queue of {args.model} ({task}), most uncertain first:")
    for p in queue:
        t = tracks[p.track_id]
        print(f"{p.track_id:>6}  {t.artist or '?'} – {t.display_name}   [{p.summary}]")
        for reason in p.flag_reasons:
            print(f"          · {reason['message']}")
    if not queue:
        print("Nothing to review.")
    return 0


def _track_id(library: Any, ref: str) -> int:
    with library.session() as s:
        return find_track(s, ref).id


def cmd_decide(args: Any) -> int:
    library = library_from_args(args)
    tid = _track_id(library, args.track)
    for label in args.labels:
        decide(library, tid, args.task, label, args.action)
        print(f"{args.action}: {label} on track {tid}")
    return 0


def cmd_done(args: Any) -> int:
    library = library_from_args(args)
    tid = _track_id(library, args.track)
    mark_reviewed(library, tid, args.task)
    print(f"track {tid} marked reviewed for {args.task}")
    return 0


def cmd_undo(args: Any) -> int:
    undone = undo_last(library_from_args(args))
    if undone is None:
        print("Nothing to undo.")
    else:
        what = undone.label or "reviewed mark"
        print(f"undid {undone.action} {what} on track {undone.track_id}")
    return 0


def _parse_value(key: str, text: str) -> Any:
    if isinstance(getattr(ReviewPolicy(), key, None), bool):
        if text.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            raise ConfigError(f"{key} must be true or false, not {text!r}")
        return text.lower() in ("true", "1", "yes", "on")
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{key} must be a number, not {text!r}") from None


def cmd_policy(args: Any) -> int:
    library = library_from_args(args)
    with library.session() as s:
        data = load_policy(s).to_dict()
        for item in args.settings:
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"expected KEY=VALUE, got {item!r}")
            data[key.strip()] = _parse_value(key.strip(), value.strip())
        policy = ReviewPolicy.from_dict(data)
        if args.settings:
            save_policy(s, policy)
    if args.settings:
        refresh_predictions(library)
    values = policy.to_dict()
    width = max(len(f"{k} = {v}") for k, v in values.items())
    for key in SETTING_HELP:
        print(f"{f'{key} = {values[key]}':<{width}}  # {SETTING_HELP[key]}")
    return 0
