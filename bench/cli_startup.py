"""Start-up time of ``music-tagger status`` on a generated 100,000-track library.

Prints JSON. ``status`` runs no model, so it should start without torch, scipy's
optimisers or matplotlib (issue 15: target ≤ 0.5 s on the 2-core build machine).
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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from library_rows import fill_library  # noqa: E402

PRE_REGROUP = "fff2a59"
NOTES_FIGURE_S = 2.3
TARGET_S = 0.5


def _median_seconds(argv: list[str], runs: int, cwd: Path, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
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
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "library.db"
        fill_library(db, args.tracks).close()
        cli = [sys.executable, "-m", "tagger_core.cli"]
        result: dict[str, object] = {
            "tracks": args.tracks,
            "runs": args.runs,
            "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "python_pass_s": _median_seconds([sys.executable, "-c", "pass"], args.runs, ROOT, env),
            "version_s": _median_seconds([*cli, "--version"], args.runs, ROOT, env),
            "status_s": _median_seconds([*cli, "--db", str(db), "status"], args.runs, ROOT, env),
            "target_s": TARGET_S,
            "pre_regroup_recorded_s": NOTES_FIGURE_S,
        }
        old = Path(tmp) / "pre-regroup"
        if args.pre_regroup != "none" and _export_revision(args.pre_regroup, old):
            old_env = {**os.environ, "PYTHONPATH": str(old)}
            try:
                result["pre_regroup_status_s"] = _median_seconds(
                    [*cli, "--db", str(db), "status"], args.runs, old, old_env
                )
                result["pre_regroup_rev"] = args.pre_regroup
            except subprocess.CalledProcessError as err:
                result["pre_regroup_error"] = err.stderr.decode(errors="replace")[-300:]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
