"""Accepting an album's labels for all its tracks in one step (review mode's album key).

Why per-track decisions: calibration, export and the review queue all read decisions
per track, so accepting an album writes, for every track, an accept of each album
label and a "reviewed" mark; overriding one track afterwards is an ordinary decision
on that track, and undo takes back exactly the decisions written here.
"""

from __future__ import annotations

from tagger_core.db import Library
from tagger_core.trust.review import decide, mark_reviewed, reviews


def accept_album_labels(
    library: Library,
    task: str,
    track_ids: list[int],
    labels: list[str],
    user: str | None = None,
) -> dict[int, int]:
    """Accept ``labels`` on every track and mark it reviewed (by ``user``); per-track counts."""
    with library.session() as s:
        state = reviews(s, task, track_ids)
    written: dict[int, int] = {}
    for tid in track_ids:
        have = state.get(tid)
        n = 0
        for label in labels:
            if have is None or label not in have.accepted:
                decide(library, tid, task, label, "accept", user=user)
                n += 1
        mark_reviewed(library, tid, task, user)
        written[tid] = n + 1
    return written
