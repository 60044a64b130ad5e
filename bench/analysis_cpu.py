"""Benchmark: CPU and wall time of one analysis in a fresh process (JSON), outputs saved.

Usage: ``.venv/bin/python bench/analysis_cpu.py FILE… [--bundles genre,instruments]
[--max-patches 0] [--workers 2] [--threads 2] [--save OUT.npz]``.

Why apart from ``bench/analyze.py``: to compare two revisions of our own code on
the same files (run it with ``PYTHONPATH=`` an older checkout), counting what one
process spends — CPU time of every thread (``getrusage``: user and system, as
page faults show up as system time), peak resident memory — and saving the
stored logits so the two revisions' outputs can be compared bit for bit.
The files are copied into a temporary library, scanned (not counted in
``cpu_analyze_s``) and analysed.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from tagger_core.db import open_library  # noqa: E402
from tagger_core.db.analysis_store import load_outputs  # noqa: E402
from tagger_core.library.scan import scan  # noqa: E402
from tagger_core.listening.engine import analyze  # noqa: E402


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--bundles", default="genre,instruments")
    parser.add_argument("--max-patches", type=int, default=0, help="0 = every patch")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save", type=Path, help="stored logits per bundle (.npz)")
    args = parser.parse_args()
    bundles = args.bundles.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        music = Path(tmp) / "music"
        music.mkdir()
        for i, path in enumerate(args.files):
            shutil.copy(path, music / f"{i:03d}_{path.name}")
        library = open_library(Path(tmp) / "library.db")
        scan(library, [music])
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        report = analyze(
            library,
            bundles=bundles,
            max_patches=args.max_patches or None,
            workers=args.workers,
            threads=args.threads,
        )
        after, end = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        if args.save:
            with library.session() as session:
                logits = {b: np.asarray(load_outputs(session, b).logits) for b in bundles}
            np.savez(args.save, **logits)
        library.close()
    print(
        json.dumps(
            {
                "files": [str(p) for p in args.files],
                "bundles": bundles,
                "tracks_done": report.tracks_done,
                "cpu_process_s": round(_cpu(after), 2),
                "cpu_analyze_s": round(_cpu(after) - _cpu(before), 2),
                "system_cpu_analyze_s": round(after.ru_stime - before.ru_stime, 2),
                "wall_analyze_s": round(end - start, 2),
                "wall_process_s": round(end - STARTED, 2),
                "max_rss_mb": after.ru_maxrss // 1024,
                "runtimes": report.runtimes,
            }
        )
    )


if __name__ == "__main__":
    main()
