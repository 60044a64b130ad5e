"""Scan speed: first scan and unchanged rescan of a 20,000-file library.

Prints JSON. The library is hard links to a few generated, tagged files in a
temp dir (so it costs little disk). Baseline named in the output: a plain
``os.walk`` + ``os.stat`` of the same tree, the floor any scanner pays.
Usage: python bench/scan.py [--files N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from audio_files import make_audio, tag_file  # noqa: E402

from tagger_core.db import open_library  # noqa: E402
from tagger_core.library.scan import scan  # noqa: E402


def build(root: Path, n: int) -> None:
    root.mkdir(parents=True)
    seeds = []
    for i, ext in enumerate([".mp3", ".flac", ".ogg", ".wav"]):
        path = make_audio(root / f"seed{i}{ext}", seconds=1.0, seed=i)
        tag_file(path, title=f"Seed {i}", genres=["Rock", "Pop"])
        seeds.append(path)
    for i in range(n):
        folder = root / f"artist{i // 500:03d}" / f"album{i // 25:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        src = seeds[i % len(seeds)]
        os.link(src, folder / f"{i:05d}{src.suffix}")
    for s in seeds:
        s.unlink()


def walk_stat(root: Path) -> int:
    n = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            os.stat(os.path.join(folder, name))
            n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "library"
        build(root, args.files)
        t = time.perf_counter()
        walk_stat(root)
        walk_s = time.perf_counter() - t
        lib = open_library(Path(tmp) / "bench.db")
        first = scan(lib, [root])
        rescan = scan(lib, [root])
        lib.close()
    assert first.new == args.files and rescan.unchanged == args.files
    print(json.dumps({
        "files": args.files,
        "cpu_count": os.cpu_count(),
        "first_scan_files_per_s": round(args.files / first.seconds, 1),
        "rescan_files_per_s": round(args.files / rescan.seconds, 1),
        "baseline": "os.walk + os.stat of the same tree",
        "baseline_files_per_s": round(args.files / walk_s, 1),
        "targets": {"first_scan_files_per_s": 300, "rescan_files_per_s": 5000},
    }, indent=2))


if __name__ == "__main__":
    main()
