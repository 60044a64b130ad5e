"""``review``: the flagged queue, decisions from the terminal, claims, conflicts, the flag policy.

Every decision records who made it: ``--user`` (default: the OS login). Several
librarians share the queue through claims: ``review claim`` hands out tracks
nobody else holds, ``review claims`` says who holds what, ``review release``
gives tracks back, and ``review conflicts`` lists labels two people decided
differently (the later decision counts).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from tagger_core.cli.common import library_from_args, print_json
from tagger_core.errors import ConfigError
from tagger_core.labels.bundles import bundle_tasks
from tagger_core.library.queries import find_track
from tagger_core.library.selection import tracks_by_id
from tagger_core.trust.claims import CLAIM_BATCH, CLAIM_HOURS, claim_tracks, live_claims, release
from tagger_core.trust.librarians import check_user, default_user
from tagger_core.trust.policy import SETTING_HELP, ReviewPolicy
from tagger_core.trust.predictions import (
    UNCALIBRATED_MARK,
    load_policy,
    refresh_predictions,
    save_policy,
)
from tagger_core.trust.review import decide, mark_reviewed, review_counts, review_queue, undo_last
from tagger_core.trust.review_conflicts import review_conflicts

USER_HELP = "who decides (default: the OS login, here %(default)s)"


def _user_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", metavar="NAME", default=default_user(), help=USER_HELP)


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
        _user_option(a)
        a.set_defaults(func=cmd_decide)
    a = actions.add_parser(
        "done", help="mark a track reviewed (unaccepted labels are negatives); releases your claim"
    )
    a.add_argument("track", help="track id or path")
    a.add_argument("--task", choices=("genre", "instruments"), default="genre")
    _user_option(a)
    a.set_defaults(func=cmd_done)
    a = actions.add_parser("undo", help="undo your newest decision")
    _user_option(a)
    a.add_argument("--any-user", action="store_true",
                   help="undo the newest decision whoever made it")  # fmt: skip
    a.set_defaults(func=cmd_undo)
    a = actions.add_parser("claim", help="hold N waiting tracks nobody else holds, to review them")
    a.add_argument("n", nargs="?", type=int, default=CLAIM_BATCH, metavar="N",
                   help="how many tracks (default %(default)s)")  # fmt: skip
    a.add_argument("--hours", type=float, default=CLAIM_HOURS,
                   help="the claim expires after this long (default %(default)s h); "
                   "expired claims are free to take")  # fmt: skip
    a.add_argument("--task", choices=("genre", "instruments"),
                   help="only tracks waiting in this task's queue (default: either)")  # fmt: skip
    a.add_argument("--json", action="store_true")
    _user_option(a)
    a.set_defaults(func=cmd_claim)
    a = actions.add_parser("release", help="give back claimed tracks")
    a.add_argument("tracks", nargs="*", metavar="TRACK", help="track ids or paths")
    a.add_argument("--all", action="store_true", help="every track you hold")
    _user_option(a)
    a.set_defaults(func=cmd_release)
    a = actions.add_parser("claims", help="who holds which tracks, until when")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_claims)
    a = actions.add_parser(
        "conflicts", help="labels two librarians decided differently (the later one counts)"
    )
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_conflicts)
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
        held = {c.track_id: c for c in live_claims(s)}
    if args.json:
        summary = {k: v for k, v in counts.items() if k != "tasks"}
        summary["tasks"] = {t: asdict(c) for t, c in counts["tasks"].items()}
        print_json({"counts": summary, "queue": [
            {"track_id": p.track_id, "path": tracks[p.track_id].path_text, "summary": p.summary,
             "uncertainty": p.uncertainty, "reasons": p.flag_reasons,
             "held_by": held[p.track_id].user if p.track_id in held else None}
            for p in queue]})  # fmt: skip
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
        claim = held.get(p.track_id)
        holder = f"   (held by {claim.user} until {_local(claim.expires_at)})" if claim else ""
        print(f"{p.track_id:>6}  {t.artist or '?'} – {t.display_name}   [{p.summary}]{holder}")
        for reason in p.flag_reasons:
            print(f"          · {reason['message']}")
    if not queue:
        print("Nothing to review.")
    return 0


def _track_id(library: Any, ref: str) -> int:
    with library.session() as s:
        return find_track(s, ref).id


def _local(when: Any) -> str:
    """A claim's expiry in the terminal's local time."""
    return f"{when.astimezone():%H:%M}"


def cmd_decide(args: Any) -> int:
    library = library_from_args(args)
    user = check_user(args.user)
    tid = _track_id(library, args.track)
    for label in args.labels:
        decide(library, tid, args.task, label, args.action, user=user)
        print(f"{args.action}: {label} on track {tid} by {user}")
    return 0


def cmd_done(args: Any) -> int:
    library = library_from_args(args)
    user = check_user(args.user)
    tid = _track_id(library, args.track)
    mark_reviewed(library, tid, args.task, user)
    print(f"track {tid} marked reviewed for {args.task} by {user} (your claim of it released)")
    return 0


def cmd_undo(args: Any) -> int:
    user = None if args.any_user else check_user(args.user)
    undone = undo_last(library_from_args(args), user=user)
    if undone is None:
        print("Nothing to undo." if user is None else f"Nothing of {user}'s to undo.")
    else:
        what = undone.label or "reviewed mark"
        by = undone.decided_by or "an unrecorded user"
        print(f"undid {undone.action} {what} on track {undone.track_id} (by {by})")
    return 0


def cmd_claim(args: Any) -> int:
    library = library_from_args(args)
    user = check_user(args.user)
    got = claim_tracks(library, user, args.n, hours=args.hours, task=args.task)
    with library.session() as s:
        tracks = tracks_by_id(s, got)
        mine = live_claims(s, user=user)
    if args.json:
        print_json({"user": user, "claimed": got, "holding": [c.track_id for c in mine]})
        return 0
    if not got:
        print(f"Nothing to claim: every waiting track is reviewed or held. {user} holds "
              f"{len(mine)}.")  # fmt: skip
        return 0
    until = _local(mine[0].expires_at) if mine else "?"
    print(f"{user} now holds {len(got)} more tracks (until {until}); {len(mine)} in all:")
    for tid in got:
        t = tracks[tid]
        print(f"{tid:>6}  {t.artist or '?'} – {t.display_name}")
    return 0


def cmd_release(args: Any) -> int:
    if not args.all and not args.tracks:
        raise ConfigError("name the tracks to release, or --all")
    library = library_from_args(args)
    user = check_user(args.user)
    ids = None if args.all else [_track_id(library, ref) for ref in args.tracks]
    n = release(library, user, ids)
    print(f"released {n} track{'s' if n != 1 else ''} held by {user}")
    return 0


def cmd_claims(args: Any) -> int:
    library = library_from_args(args)
    with library.session() as s:
        claims = live_claims(s)
        tracks = tracks_by_id(s, [c.track_id for c in claims])
    if args.json:
        print_json([{"track_id": c.track_id, "path": tracks[c.track_id].path_text,
                     "user": c.user, "claimed_at": c.claimed_at.isoformat(),
                     "expires_at": c.expires_at.isoformat()} for c in claims])  # fmt: skip
        return 0
    if not claims:
        print("Nobody holds any track.")
        return 0
    per_user: dict[str, int] = {}
    for c in claims:
        per_user[c.user] = per_user.get(c.user, 0) + 1
    print("; ".join(f"{u} holds {n}" for u, n in per_user.items()))
    for c in claims:
        t = tracks[c.track_id]
        print(f"{c.track_id:>6}  {c.user:<16} until {_local(c.expires_at)}  {t.display_name}")
    return 0


def cmd_conflicts(args: Any) -> int:
    library = library_from_args(args)
    with library.session() as s:
        conflicts = review_conflicts(s)
    if args.json:
        print_json([asdict(c) for c in conflicts])
        return 0
    if not conflicts:
        print("No conflicts: no label was decided differently by two librarians.")
        return 0
    print(f"{len(conflicts)} labels decided differently by two librarians (the later counts):")
    for c in conflicts:
        print(f"  {c.text()}")
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
        library.write(lambda s: save_policy(s, policy), "saving the review policy")
        refresh_predictions(library)
    values = policy.to_dict()
    width = max(len(f"{k} = {v}") for k, v in values.items())
    for key in SETTING_HELP:
        print(f"{f'{key} = {values[key]}':<{width}}  # {SETTING_HELP[key]}")
    return 0
