"""A library whose tracks carry genre tags and stored embeddings that encode them."""

from __future__ import annotations

import numpy as np

from tagger_core.db.analysis_store import save_analysis
from tagger_core.db.models import Track

GENRES = ("Rock", "Jazz", "Folk")
TAG_OF = {"Rock": "Hard Rock", "Jazz": "jazz", "Folk": "Folk"}


def fill_library(library, base, n: int = 150, seed: int = 0) -> np.ndarray:
    """Tracks whose stored two-member embedding encodes their genres; returns Y."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 20)) * 1.5
    y = np.zeros((n, 3), dtype=np.float32)
    y[np.arange(n), rng.integers(0, 3, n)] = 1
    y[rng.random(n) < 0.25, 0] = 1  # some tracks are also Rock
    emb = y @ centres + rng.normal(size=(n, 20))
    with library.session() as s:
        for i in range(n):
            genres = [TAG_OF[g] for g, on in zip(GENRES, y[i], strict=True) if on]
            track = Track(path=f"/m/{i}.flac".encode(), path_text=f"/m/{i}.flac", size=1,
                          mtime_ns=1, fingerprint=f"fp{i}", genres=genres)  # fmt: skip
            s.add(track)
            s.flush()
            save_analysis(
                s, track_id=track.id, bundle_id=base.id, version=base.version, key=f"fp{i}",
                members=list(base.member_names), member_logits=np.zeros((2, 6), np.float32),
                embeddings=[emb[i, :12], emb[i, 12:]], n_patches=3, seconds=9.0,
            )  # fmt: skip
    return y
