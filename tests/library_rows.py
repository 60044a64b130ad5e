"""Big generated libraries for GUI tests and benchmarks: rows inserted in bulk, no files."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import insert

from tagger_core.db import Library, open_library
from tagger_core.db.models import Prediction

N = 100_000


def fill_library(path: Path, n: int = N) -> Library:
    """A library of ``n`` tracks inserted in bulk (one executemany), plus a few predictions."""
    library = open_library(path)
    now = "2026-01-01 00:00:00.000000"
    rows = [
        (
            os.fsencode(f"/archive/{i // 1000:03d}/{i:06d}.flac"),
            f"/archive/{i // 1000:03d}/{i:06d}.flac",
            1000,
            i,
            "ok" if i % 97 else "unreadable",
            f"Title {i:06d}",
            f"Artist {i % 500:03d}",
            f"Album {i % 2000:04d}",
            ("Rock", "Jazz", "Folk", None)[i % 4],
            now,
            f"tag:album{i % 2000:04d}",
        )
        for i in range(n)
    ]
    raw = library.engine.raw_connection()
    try:
        raw.cursor().executemany(
            "INSERT INTO tracks (path, path_text, size, mtime_ns, status, title, artist, album,"
            " genre_text, first_seen, last_seen, album_key, genres, raw_tags)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?10, ?, '[]', '{}')",
            rows,
        )
        raw.commit()
    finally:
        raw.close()
    with library.session() as s:
        s.execute(
            insert(Prediction),
            [
                {
                    "track_id": t,
                    "bundle_id": "genre",
                    "confidences": {"Rock": 0.7},
                    "spread": {},
                    "flag_reasons": [],
                    "flagged": t % 2 == 0,
                    "uncertainty": 0.4,
                }
                for t in range(1, min(n, 100) + 1)
            ],
        )
    return library
