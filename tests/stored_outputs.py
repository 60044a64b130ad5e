"""Library fixtures with stored genre-bundle outputs whose truth is known.

The outputs are made too confident by a known temperature: the true labels
follow ``sigmoid(label logit / true_t)``, so calibration has something to find.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tagger_core.db.blob_codec import pack
from tagger_core.db.models import Analysis, Track
from tagger_core.labels.bundles import Bundle, load_bundle
from tagger_core.trust.review import decide, mark_reviewed


def add_genre_outputs(
    library,
    n: int,
    true_t: float,
    *,
    seed: int = 0,
    base_mean: float = -2.5,
    genres: Callable[[int], list[str]] = lambda i: [],
    title: Callable[[int], str | None] = lambda i: None,
) -> tuple[Bundle, np.ndarray]:
    """``n`` tracks (ids 1..n) with stored `genre` outputs; returns the bundle and the truth."""
    bundle = load_bundle("genre")
    rng = np.random.default_rng(seed)
    members = len(bundle.members)
    base = rng.normal(base_mean, 2.5, (n, 1, len(bundle.raw_labels)))
    raw = (base + rng.normal(0, 0.3, (n, members, base.shape[2]))).astype(np.float32)
    label_z = np.asarray(bundle.taxonomy.label_logits(raw)).mean(axis=1)
    truth = rng.random(label_z.shape) < 1 / (1 + np.exp(-label_z / true_t))
    with library.session() as s:
        for i in range(n):
            path = f"/m/{i}.flac"
            t = Track(
                path=path.encode(),
                path_text=path,
                size=1,
                mtime_ns=1,
                genres=genres(i),
                title=title(i),
            )
            s.add(t)
            s.flush()
            s.add(
                Analysis(
                    track_id=t.id,
                    bundle_id="genre",
                    bundle_version=bundle.version,
                    members=list(bundle.member_names),
                    member_logits=pack(raw[i]),
                )
            )
    return bundle, truth


def review_truth(library, bundle: Bundle, truth: np.ndarray, upto: int) -> None:
    """A person accepts the true genres of tracks 1..upto and marks each reviewed."""
    labels = bundle.taxonomy.labels
    for tid in range(1, upto + 1):
        for c in np.flatnonzero(truth[tid - 1]):
            decide(library, tid, "genre", labels[c], "accept")
        mark_reviewed(library, tid, "genre")
