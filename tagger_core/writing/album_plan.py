"""Album-wide genres: one genre set written to every track of an album (beets' default).

Why a vote: per-track plans (``writing.plan``) come from review decisions and, with a
minimum confidence, from each track's calibrated prediction. An album's genres are
the labels a majority of its tracks would get, plus, with a minimum confidence, the
labels whose *album-level* confidence (``trust.albums``, calibrated when an album
calibration is active) reaches it, minus labels a majority of its tracks rejected.
Every track of the album then gets exactly that set; tracks in no album keep their
own plan. Instrument families stay per track: one track's guitar solo is not the
album's.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy.orm import Session

from tagger_core.labels.tasks import task_bundles
from tagger_core.library.album_views import album_keys_of, album_track_ids
from tagger_core.trust.albums import album_predictions
from tagger_core.writing.options import ExportOptions
from tagger_core.writing.plan import TrackPlan, export_track_ids, order_labels, plan_exports

TASK = "genre"


def album_genre_plans(
    session: Session, plans: list[TrackPlan], options: ExportOptions, wanted: list[int]
) -> list[TrackPlan]:
    """``plans`` with the genre task of every album track set to the album's genres.

    ``wanted`` are the tracks the export covers (a track of an album with no plan of its
    own still gets the album's genres).
    """
    if TASK not in options.tasks:
        return plans
    by_id = {p.track_id: p for p in plans}
    keys = album_keys_of(session, wanted)
    albums: dict[str, list[int]] = {}
    for tid in wanted:
        if tid in keys:
            albums.setdefault(keys[tid], []).append(tid)
    confident: dict[str, list[str]] = {}
    if options.min_confidence is not None and albums:
        found = album_predictions(session, task_bundles(session).genre, sorted(albums))
        confident = {
            k: [name for name, p in a.probs.items() if p >= options.min_confidence]
            for k, a in found.items()
        }
    for key in albums:
        members = album_track_ids(session, key)
        planned = [by_id[t] for t in members if t in by_id]
        votes = Counter(label for p in planned for label in p.accept.get(TASK, []))
        vetoes = Counter(label for p in planned for label in p.reject.get(TASK, []))
        half = len(members) / 2
        chosen = {label for label, n in votes.items() if n > half}
        chosen |= {label for label in confident.get(key, []) if vetoes[label] <= half}
        dropped = {label for label, n in vetoes.items() if n > half} - chosen
        for tid in albums[key]:
            plan = by_id.get(tid) or TrackPlan(track_id=tid)
            plan.accept.pop(TASK, None)
            plan.reject.pop(TASK, None)
            if chosen:
                plan.accept[TASK] = order_labels(TASK, chosen)
            if dropped and options.policy == "merge":
                plan.reject[TASK] = order_labels(TASK, dropped)
            by_id[tid] = plan
    return [by_id[t] for t in wanted if t in by_id and (by_id[t].accept or by_id[t].reject)]


def plan_with_albums(
    session: Session,
    options: ExportOptions,
    paths: list[str] | None = None,
    track_ids: list[int] | None = None,
) -> list[TrackPlan]:
    """The export's plans: per track, or with album-wide genres when the options ask."""
    plans = plan_exports(session, options, paths, track_ids)
    if not options.album_genres:
        return plans
    wanted = export_track_ids(session, paths, track_ids)
    return album_genre_plans(session, plans, options, wanted)
