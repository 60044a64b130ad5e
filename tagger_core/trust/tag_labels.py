"""Labels the files' own tags give a track: genres from genre tags, families from credits.

Tags as labels follow one rule: a track that carries any tag of a task (a genre
string that maps onto the app's genres; an instrument credit or INSTRUMENTS
value that maps onto a family) is taken as completely labelled for that task —
its mapped labels positive, every other label negative. A track with no such
tag gives no labels at all, so an untagged track is never read as "none of
these". The negatives of tagged tracks are noisy (a tagger who wrote "Rock"
rarely also wrote "Blues"; credits list players, not every sound), which
docs/calibration.md discusses.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from tagger_core.db.models import Track
from tagger_core.labels.genre_normalizer import load_genre_normalizer
from tagger_core.labels.instrument_names import credited_instruments, load_instrument_normalizer

TAG_TASKS = ("genre", "instruments")
"""Tasks whose labels existing tags can give."""


def tag_label_matrix(
    session: Session, task: str, labels: tuple[str, ...], track_ids: np.ndarray
) -> np.ndarray | None:
    """Tracks x labels, True where the track's own tags give the label; None for other tasks."""
    if task not in TAG_TASKS or len(track_ids) == 0:
        return None
    index = {name: i for i, name in enumerate(labels)}
    out = np.zeros((len(track_ids), len(labels)), dtype=bool)
    ids = [int(t) for t in track_ids.tolist()]
    if task == "genre":
        normalizer = load_genre_normalizer()
        rows = session.execute(select(Track.id, Track.genres).where(Track.id.in_(ids)))
        found = {tid: normalizer.match(values or []).labels for tid, values in rows}
    else:
        names = load_instrument_normalizer()
        rows = session.execute(select(Track.id, Track.raw_tags).where(Track.id.in_(ids)))
        found = {
            tid: names.match(credited_instruments(raw or {})).families for tid, raw in rows
        }
    for row, tid in enumerate(ids):
        for name in found.get(tid, ()):
            if name in index:
                out[row, index[name]] = True
    return out
