"""Export speed: dry run, real (safe, verified) export and undo of 2,000 files.

The safe export runs with each kind of undo backup, each run followed by an
undo that gives the files back: whole copies (files up to the size limit: the
default), tag regions only (``--backup-max-mb 0``) and none (``--no-backup``:
undo then restores tag values only); ``--rounds`` times, in rotating order so
load from other jobs hits each kind alike. Prints JSON.
Files are short generated clips of every format the machine can make (copies
of one tagged template per format), scanned into a fresh library, with two
genres and one instrument family accepted on every track. Baseline in
the output: the same tag changes written by plain in-place mutagen saves
(no copy, no verification, no bookkeeping) on another copy of the files.
Usage: python bench/export.py [--files N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from audio_files import FFMPEG_EXTS, HAVE_FFMPEG, make_audio, tag_file  # noqa: E402
from sqlalchemy import select  # noqa: E402

from tagger_core.db import open_library  # noqa: E402
from tagger_core.db.models import ReviewDecision, Track  # noqa: E402
from tagger_core.library.scan import scan  # noqa: E402
from tagger_core.writing import (  # noqa: E402
    BackupSettings,
    ExportOptions,
    run_export,
    undo_batch,
)
from tagger_core.writing.batch import _fields_changes  # noqa: E402
from tagger_core.writing.plan import plan_exports  # noqa: E402
from tagger_core.writing.registry import system_for  # noqa: E402

EXTS = [".mp3", ".flac", ".ogg", ".opus", ".wav", ".aiff", ".m4a", ".wma", ".wv"]


def build(root: Path, n: int, seconds: float) -> list[str]:
    seeds = []
    exts = [e for e in EXTS if HAVE_FFMPEG or e not in FFMPEG_EXTS]
    seed_dir = root.parent / "seeds"
    seed_dir.mkdir(parents=True)
    for i, ext in enumerate(exts):
        path = make_audio(seed_dir / f"seed{i}{ext}", seconds=seconds, seed=i)
        tag_file(path, title=f"Seed {i}", genres=["Rock", "Duo Cello/Klavier"])
        seeds.append(path)
    for i in range(n):
        folder = root / f"album{i // 25:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        src = seeds[i % len(seeds)]
        shutil.copyfile(src, folder / f"{i:05d}{src.suffix}")
    return exts


def accept_everywhere(library) -> None:
    with library.session() as s:
        for tid in s.scalars(select(Track.id)):
            for task, label in (("genre", "Jazz"), ("genre", "Blues"), ("instruments", "bass")):
                s.add(ReviewDecision(track_id=tid, task=task, label=label, action="accept"))


def unsafe_baseline(library, options: ExportOptions, root: Path, copy: Path) -> float:
    """Seconds for plain in-place mutagen writes of the same changes on a copy."""
    shutil.copytree(root, copy)
    with library.session() as s:
        plans = plan_exports(s, options)
        tracks = {t.id: (t.path_text, t.format) for t in s.scalars(select(Track))}
    t = time.perf_counter()
    for plan in plans:
        path, fmt = tracks[plan.track_id]
        path = str(copy / Path(path).relative_to(root))
        system = system_for(fmt, options)
        _old, new = _fields_changes(system, system.read_all(path), plan, options)
        system.write(path, new, options)
    return time.perf_counter() - t


def folder_mb(folder: Path) -> float:
    """Size of every file under ``folder`` (the backups kept so far), in MB."""
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 2)


def spread(values: list[float]) -> dict[str, float]:
    """Median and range of a few measurements on a machine that others share."""
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=2.0, help="clip length")
    parser.add_argument(
        "--rounds", type=int, default=3, help="export + undo rounds per backup kind"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "library"
        exts = build(root, args.files, args.seconds)
        library = open_library(Path(tmp) / "lib.db")
        scan(library, [root])
        accept_everywhere(library)
        options = ExportOptions()

        dry = run_export(library, options, dry_run=True)
        baseline = unsafe_baseline(library, options, root, Path(tmp) / "baseline")
        backups = Path(tmp) / "backups"
        kinds = {
            "whole_copies": BackupSettings(root=backups),
            "tag_regions_only": BackupSettings(root=backups, max_copy_bytes=0),
            "no_backups": BackupSettings(root=backups, keep=False),
        }
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in kinds}
        again = None
        for turn in range(args.rounds):
            names = list(kinds)[turn % 3 :] + list(kinds)[: turn % 3]  # load drifts hit all alike
            for name in names:
                export = run_export(library, options, backups=kinds[name])
                kept = folder_mb(backups)
                if again is None:
                    again = run_export(library, options, backups=kinds[name])
                undo = undo_batch(library, export.batch_id)
                assert export.written == args.files and undo.restored == args.files
                runs[name].append(
                    {
                        "export": args.files / export.seconds,
                        "undo": args.files / undo.seconds,
                        "backup_mb": kept,
                        "byte_exact": undo.restored - undo.inexact,
                    }
                )
        safe = {
            name: {
                "export_files_per_s": spread([r["export"] for r in rows]),
                "undo_files_per_s": spread([r["undo"] for r in rows]),
                "backup_mb": rows[0]["backup_mb"],
                "undo_byte_exact_files": rows[0]["byte_exact"],
            }
            for name, rows in runs.items()
        }
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        print(
            json.dumps(
                {
                    "benchmark": "export",
                    "files": args.files,
                    "formats": [e.lstrip(".") for e in exts],
                    "clip_seconds": args.seconds,
                    "library_mb": round(size / 1e6, 1),
                    "dry_run": {
                        "seconds": round(dry.seconds, 2),
                        "files_per_s": round(args.files / dry.seconds, 1),
                        "would_change": dry.written,
                    },
                    "rounds": args.rounds,
                    "safe_export_and_undo_by_backup_kind": safe,
                    "rerun_up_to_date": {
                        "seconds": round(again.seconds, 2),
                        "files_per_s": round(args.files / again.seconds, 1),
                        "unchanged": again.unchanged,
                    },
                    "baseline_unsafe_in_place_mutagen": {
                        "seconds": round(baseline, 2),
                        "files_per_s": round(args.files / baseline, 1),
                    },
                    "python": platform.python_version(),
                    "cpus": __import__("os").cpu_count(),
                },
                indent=2,
            )
        )
        library.close()


if __name__ == "__main__":
    main()
