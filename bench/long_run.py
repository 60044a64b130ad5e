"""Memory over a long analysis with the GUI open: resident memory sampled over time, as JSON.

Generates a library of ``--tracks`` short tracks (``--seconds`` each, 3 s by
default: the per-track work — decode, patches, forward passes, one committed row
per bundle, a progress message — is what repeats in a long run, and short
tracks make 2,000 of them affordable; mixed FLAC/MP3/Ogg/WAV, tagged), scans
it, opens the main window (offscreen) and starts "Analyse all" as a user does:
the job runs in a child process (``app.process_job``) while the window relays
its progress and refreshes the table. Every ``--every`` seconds it records the
resident set size (``VmRSS``, Linux ``/proc``) of the GUI process and of all its
descendants, and the tracks done so far.

The report: every sample; the peak of each; the slope of each (MB per 1,000
tracks analysed, least squares over the samples after the first 10 % of the
tracks, so model loading and warm-up do not count as growth); and the mean and
maximum of the first and the last quarter of the analysis (by tracks done).
Flat memory means a slope near zero and last-quarter figures equal to the
first-quarter ones. The load average at start and end says how busy the
machine was. Usage::

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/long_run.py [--tracks 2000] \\
        [--seconds 3] [--models genre,instruments,instrument-family] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from tagger_core.db import open_library  # noqa: E402
from tagger_core.library.demo import synthesise, tag_file, write_audio  # noqa: E402
from tagger_core.library.scan import scan  # noqa: E402

STYLES = (
    ("rock", "Rock"),
    ("electronic", "Electronic"),
    ("piano", "Classical"),
    ("strings", "Classical"),
    ("jazz", "Jazz"),
    ("ambient", "Ambient"),
)
FORMATS = (".flac", ".mp3", ".ogg", ".wav")


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (0 once it has gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children of all its threads, recursively)."""
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{parent}/task/{tid}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            found.extend(kids)
            stack.extend(kids)
    return found


def make_library(folder: Path, tracks: int, seconds: float) -> None:
    """``tracks`` short tagged clips in several formats, different audio in each."""
    for i in range(tracks):
        style, genre = STYLES[i % len(STYLES)]
        path = folder / f"{i // 100:02d}" / f"{i:05d}{FORMATS[i % len(FORMATS)]}"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(path, synthesise(style, seconds, seed=i))
        tag_file(
            path,
            title=f"Track {i}",
            artist=f"Artist {i % 37}",
            album=f"Album {i // 12}",
            year="2001",
            track=str(i % 12 + 1),
            genres=[genre],
        )


def slope_per_1000(done: np.ndarray, mb: np.ndarray) -> float | None:
    """Least-squares growth in MB per 1,000 tracks (None with too few distinct points)."""
    if len(np.unique(done)) < 3:
        return None
    return round(float(np.polyfit(done, mb, 1)[0]) * 1000, 2)


def summarise(samples: list[dict[str, Any]], tracks: int) -> dict[str, Any]:
    """Peaks, slopes and first-vs-last-quarter figures of the analysis samples."""
    running = [s for s in samples if s["children_mb"] > 0 and s["done"] > tracks * 0.1]
    out: dict[str, Any] = {
        "peak_mb": {k: round(max(s[k] for s in samples), 1) for k in ("gui_mb", "children_mb")},
        "peak_total_mb": round(max(s["gui_mb"] + s["children_mb"] for s in samples), 1),
    }
    if not running:
        return out
    done = np.array([s["done"] for s in running], dtype=float)
    out["slope_mb_per_1000_tracks"] = {
        k: slope_per_1000(done, np.array([s[k] for s in running]))
        for k in ("gui_mb", "children_mb")
    }
    quarters = {}
    for name, low, high in (("first_quarter", 0.0, 0.25), ("last_quarter", 0.75, 1.01)):
        part = [
            s
            for s in samples
            if 0 < s["done"] and low * tracks <= s["done"] < high * tracks and s["children_mb"]
        ]
        quarters[name] = {
            k: {
                "mean": round(float(np.mean([s[k] for s in part])), 1) if part else None,
                "max": round(float(np.max([s[k] for s in part])), 1) if part else None,
            }
            for k in ("gui_mb", "children_mb")
        }
        quarters[name]["samples"] = len(part)
    out["quarters"] = quarters
    return out


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    music = tmp / "music"
    t0 = time.perf_counter()
    make_library(music, args.tracks, args.seconds)
    generate_s = time.perf_counter() - t0
    library = open_library(tmp / "library.db")
    t0 = time.perf_counter()
    scanned = scan(library, [music])
    scan_s = time.perf_counter() - t0
    app = QApplication.instance() or QApplication([])
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(library, settings)
    window.show()
    window.analysis_options = {"bundles": args.models.split(",")}
    progress = {"done": 0}
    load_start = os.getloadavg()
    job = window.analyse_all()
    if job is None:
        raise SystemExit(f"analysis did not start: {window.analysis_unavailable()}")
    job.progress.connect(lambda done, _total, _text: progress.update(done=max(done, 0)))
    samples: list[dict[str, Any]] = []
    started = time.perf_counter()
    next_sample = started
    me = os.getpid()
    while window.job is not None:
        app.processEvents()
        now = time.perf_counter()
        if now >= next_sample:
            kids = descendants(me)
            samples.append(
                {
                    "t_s": round(now - started, 1),
                    "done": progress["done"],
                    "gui_mb": round(rss_mb(me), 1),
                    "children_mb": round(sum(rss_mb(k) for k in kids), 1),
                    "children": len(kids),
                }
            )
            next_sample = now + args.every
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    report = window.last_report
    window.close()
    library.close()
    return {
        "tracks": args.tracks,
        "seconds_per_track": args.seconds,
        "models": args.models.split(","),
        "generate_s": round(generate_s, 1),
        "scan_s": round(scan_s, 1),
        "scanned_ok": scanned.new - scanned.unreadable,
        "analysis_s": round(seconds, 1),
        "tracks_done": getattr(report, "tracks_done", None),
        "errors": len(getattr(report, "errors", []) or []),
        "cancelled": getattr(report, "cancelled", None),
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        **summarise(samples, args.tracks),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each track")
    parser.add_argument("--models", default="genre,instruments,instrument-family")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args, Path(tmp))
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
