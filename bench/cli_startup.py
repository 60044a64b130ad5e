"""Start-up time of ``music-tagger status`` on a generated 100,000-track library.

Prints JSON. ``status`` runs no model, so it should start without torch, scipy's
optimisers or matplotlib (issues 15 and 20: target ≤ 0.5 s on the 2-core build machine).
Two figures: ``status_s`` on a library unchanged since its last quick check passed (the
usual case: the check is skipped, ``tagger_core.db.integrity_stamp``; one unmeasured run
first stamps it), and ``status_checked_s`` with the stamp removed before every run (the
first open after the library changed). The stamps go to a temporary cache folder, and
the generated file is left to settle (its times 2 s old) before ``status`` runs.
``compiled_each_run`` says whether ``PYTHONDONTWRITEBYTECODE`` was set: then our own
modules are compiled from source on every run, as they were for the recorded figures.
Baselines, measured in the same run, like for like (a fresh interpreter per run, the
median of ``--runs``): ``python -c pass`` (the floor: an interpreter starting), and
``music-tagger --version`` (the CLI answering before any command module loads). With
``--pre-regroup REV`` (default: the last commit before the regroup, when this is a git
checkout that has it) the same ``status`` is timed on that revision's code, against the
same database; the figure recorded before the regroup (2.3 s, NOTES.md) is quoted too.
Usage: python bench/cli_startup.py [--tracks N] [--runs N] [--pre-regroup REV|none]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from library_rows import fill_library  # noqa: E402

from tagger_core.db.integrity_stamp import CACHE_ENV, SETTLE_S  # noqa: E402

PRE_REGROUP = "fff2a59"
NOTES_FIGURE_S = 2.3
TARGET_S = 0.5


def _median_seconds(
    argv: list[str], runs: int, cwd: Path, env: dict[str, str], before_each: Path | None = None
) -> float:
    """Median wall time of ``argv``; ``before_each``: a folder removed before every run."""
    times = []
    for _ in range(runs):
        if before_each is not None:
            shutil.rmtree(before_each, ignore_errors=True)
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 3)


def _export_revision(rev: str, into: Path) -> bool:
    """``rev``'s tagger_core and resources under ``into``; False if git or the rev is missing."""
    try:
        archive = subprocess.run(
            ["git", "archive", rev, "tagger_core", "resources"],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return False
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pre-regroup", default=PRE_REGROUP, help="git revision, or 'none'")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        env = {**os.environ, "PYTHONPATH": str(ROOT), CACHE_ENV: str(cache)}
        db = Path(tmp) / "library.db"
        fill_library(db, args.tracks).close()
        time.sleep(SETTLE_S + 0.5)
        cli = [sys.executable, "-m", "tagger_core.cli"]
        status = [*cli, "--db", str(db), "status"]
        subprocess.run(status, cwd=ROOT, env=env, check=True, capture_output=True)
        stamped = any((cache / "integrity").glob("*.json"))
        result: dict[str, object] = {
            "tracks": args.tracks,
            "runs": args.runs,
            "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "python_pass_s": _median_seconds([sys.executable, "-c", "pass"], args.runs, ROOT, env),
            "version_s": _median_seconds([*cli, "--version"], args.runs, ROOT, env),
            "status_s": _median_seconds(status, args.runs, ROOT, env),
            "status_check_skipped": stamped,
            "status_checked_s": _median_seconds(status, args.runs, ROOT, env, cache / "integrity"),
            "compiled_each_run": bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
            "target_s": TARGET_S,
            "pre_regroup_recorded_s": NOTES_FIGURE_S,
        }
        old = Path(tmp) / "pre-regroup"
        if args.pre_regroup != "none" and _export_revision(args.pre_regroup, old):
            old_env = {**env, "PYTHONPATH": str(old)}
            try:
                result["pre_regroup_status_s"] = _median_seconds(status, args.runs, old, old_env)
                result["pre_regroup_rev"] = args.pre_regroup
            except subprocess.CalledProcessError as err:
                result["pre_regroup_error"] = err.stderr.decode(errors="replace")[-300:]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
