"""Albums with stored genre-bundle outputs whose album-level truth is known.

Each album has one latent label score; its tracks are noisy looks at it, and the
album's true labels follow ``sigmoid(album label logit / true_t)``: the pooled outputs
are too confident by ``true_t``, so album calibration has something to find. Every
track carries the album's true genres as tags (album-wide tags).
"""

from __future__ import annotations

import numpy as np

from tagger_core.db.blob_codec import pack
from tagger_core.db.models import Analysis, Track
from tagger_core.labels.bundles import Bundle, load_bundle


def add_album_outputs(
    library,
    n_albums: int,
    per_album: int,
    true_t: float,
    *,
    seed: int = 0,
    track_noise: float = 0.6,
) -> tuple[Bundle, np.ndarray, list[str]]:
    """Albums ``album-0000``… of ``per_album`` tracks; returns bundle, album truth, keys."""
    bundle = load_bundle("genre")
    labels = bundle.taxonomy.labels
    rng = np.random.default_rng(seed)
    members, n_raw = len(bundle.members), len(bundle.raw_labels)
    base = rng.normal(-2.5, 2.5, (n_albums, 1, 1, n_raw))
    noise = rng.normal(0, track_noise, (n_albums, per_album, 1, n_raw))
    raw = (base + noise + rng.normal(0, 0.3, (n_albums, per_album, members, n_raw))).astype(
        np.float32
    )
    album_z = np.asarray(bundle.taxonomy.label_logits(raw.reshape(-1, members, n_raw)))
    album_z = album_z.reshape(n_albums, per_album, members, -1).mean(axis=(1, 2))
    truth = rng.random(album_z.shape) < 1 / (1 + np.exp(-album_z / true_t))
    keys = [f"tag:album-{a:04d}" for a in range(n_albums)]
    with library.session() as s:
        for a in range(n_albums):
            genres = [labels[c] for c in np.flatnonzero(truth[a])]
            for t in range(per_album):
                path = f"/m/{a:04d}/{t:02d}.flac"
                track = Track(
                    path=path.encode(), path_text=path, size=1, mtime_ns=1, genres=genres,
                    album=f"Album {a}", album_key=keys[a], track_no=t + 1, title=f"T{a}.{t}",
                )  # fmt: skip
                s.add(track)
                s.flush()
                s.add(
                    Analysis(
                        track_id=track.id,
                        bundle_id="genre",
                        bundle_version=bundle.version,
                        members=list(bundle.member_names),
                        member_logits=pack(raw[a, t]),
                    )
                )
    return bundle, truth, keys


def store_outputs(library, track_id: int, bundle_id: str, peaks: dict[str, float]) -> None:
    """Stored member logits of one track: -4 everywhere, ``peaks`` on the named raw tags."""
    bundle = load_bundle(bundle_id)
    raw = np.full((len(bundle.members), len(bundle.raw_labels)), -4.0, np.float32)
    for name, value in peaks.items():
        raw[:, bundle.raw_labels.index(name)] = value
    raw[0] += 0.2  # members differ a little: a spread to show
    with library.session() as s:
        s.add(
            Analysis(
                track_id=track_id,
                bundle_id=bundle_id,
                bundle_version=bundle.version,
                members=list(bundle.member_names),
                member_logits=pack(raw),
            )
        )


def analyse_scanned_albums(library) -> dict[str, int]:
    """Outputs for the tracks of ``album_files.make_albums``: jazz with a saxophone…

    …except "Blue 4", which sounds like rock with a guitar. Returns track ids by title.
    """
    from tagger_core.trust.predictions import refresh_predictions

    with library.session() as s:
        ids = {t.title: t.id for t in s.query(Track) if t.title}
    for title, tid in ids.items():
        rock = title == "Blue 4"
        store_outputs(library, tid, "genre", {"rock": 3.0} if rock else {"jazz": 3.0})
        store_outputs(
            library, tid, "instrument-family", {"guitar": 3.0} if rock else {"reed": 3.0}
        )
    refresh_predictions(library)
    return ids
