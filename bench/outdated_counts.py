"""What counting outdated analyses costs ``status`` and the window on a large library.

Builds a SQLite library of ``--tracks`` tracks, each analysed by three bundles with
realistically sized rows (member logits and float16 embeddings as the shipped
bundles store them), then times ``status_counts`` (what ``status`` always did) and
``outdated_counts`` (what it adds), once with every analysis current and once after
an upgrade left half of the tracks analysed only by the earlier version of one
bundle. Prints one JSON object (medians of ``--runs``, milliseconds).
Usage: python bench/outdated_counts.py [--tracks N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tagger_core.db import open_library
from tagger_core.db.analysis_versions import outdated_counts
from tagger_core.library.queries import status_counts

INSTALLED = {"genre": "1", "instruments": "1", "instrument-family": "2.0.0"}
LOGITS_BYTES = {"genre": 400, "instruments": 400, "instrument-family": 220}
EMBEDDING_BYTES = 1600


def build(path: Path, n: int, outdated_share: float) -> None:
    """``n`` ok tracks; ``instrument-family`` 1.0.0 only on the first ``outdated_share``."""
    open_library(path).close()
    import sqlite3

    con = sqlite3.connect(path)
    day = "2026-01-01 00:00:00"
    con.executemany(
        "INSERT INTO tracks (id, path, path_text, size, mtime_ns, status, first_seen,"
        " last_seen, genres, raw_tags) VALUES (?, ?, ?, 1, 1, 'ok', ?, ?, '[]', '{}')",
        ((i, f"/m/{i}".encode(), f"/m/{i}", day, day) for i in range(1, n + 1)),
    )
    old = int(n * outdated_share)
    rows = [
        (i, bundle, "1.0.0" if bundle == "instrument-family" and i <= old else version,
         b"x" * LOGITS_BYTES[bundle], b"e" * EMBEDDING_BYTES, day)
        for i in range(1, n + 1)
        for bundle, version in INSTALLED.items()
    ]  # fmt: skip
    con.executemany(
        "INSERT INTO analyses (track_id, bundle_id, bundle_version, status, member_logits,"
        " embedding, members, n_patches, seconds_analysed, created_at)"
        " VALUES (?, ?, ?, 'ok', ?, ?, '[]', 1, 1.0, ?)",
        rows,
    )
    con.commit()
    con.close()


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 1)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    out: dict[str, object] = {"tracks": args.tracks, "analyses": 3 * args.tracks}
    with tempfile.TemporaryDirectory() as tmp:
        for case, share in (("all_current", 0.0), ("half_outdated", 0.5)):
            path = Path(tmp) / f"{case}.db"
            build(path, args.tracks, share)
            library = open_library(path)
            with library.session() as s:
                out[case] = {
                    "status_counts_ms": median_ms(lambda s=s: status_counts(s), args.runs),
                    "outdated_counts_ms": median_ms(
                        lambda s=s: outdated_counts(s, INSTALLED), args.runs
                    ),
                    "outdated": outdated_counts(s, INSTALLED),
                }
            library.close()
            path.unlink()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
