"""One program of the concurrency test: hammers a shared library until a deadline.

Run as ``python concurrent_work.py ROLE DB SECONDS OUT [ARGS…]``. Each role is
what a real user runs against the library while the others run too:

- ``decide``: a long-lived process (like the GUI) recording review decisions
  through the core API as fast as it can; ARGS = worker number;
- ``review-cli``: a colleague running ``music-tagger review accept`` again and again;
- ``analyze``: ``music-tagger analyze --all --force`` with the tiny bundle, again and again;
- ``rescan``: touches every file (so all are read again) and runs ``music-tagger scan``;
- ``export``: ``music-tagger export --genres`` (accepted genres into the files), again and again;
- ``gui``: the window (offscreen), a person adding genres in its label editor, track by track,
  while the window shows what the others commit.

Every decision a role believes committed is appended to OUT (one JSON line), so
the test can read each one back. Output of the real CLI is passed through, so
the test sees every message and traceback. Exit status 1 if any command failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

CLI = [sys.executable, "-m", "tagger_core.cli"]


CHANGED_WHILE_WRITING = "file changed while its tags were being written"


def _cli(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*CLI, "--db", db, *args], capture_output=True, text=True)
    sys.stdout.write(done.stdout)
    sys.stdout.write(done.stderr)
    sys.stdout.flush()
    return done


def _track_ids(db: str) -> list[int]:
    from sqlalchemy import select

    from tagger_core.db import open_library
    from tagger_core.db.models import Track

    library = open_library(db, migrate=False)
    try:
        with library.session() as s:
            return list(s.scalars(select(Track.id).order_by(Track.id)))
    finally:
        library.close()


def decide_loop(db: str, deadline: float, out: Path, worker: int) -> int:
    """Record decisions through the core API, one transaction each, until the deadline."""
    from tagger_core.db import open_library
    from tagger_core.trust.review import decide, mark_reviewed

    tracks = _track_ids(db)
    library = open_library(db, migrate=False)
    n = 0
    with out.open("a", encoding="utf-8") as log:
        while time.monotonic() < deadline:
            track = tracks[n % len(tracks)]
            if n % 7 == 6:
                row_id = mark_reviewed(library, track, "genre")
                record = {"id": row_id, "track": track, "label": None, "action": "reviewed"}
            else:
                # genres export knows, so the export running meanwhile writes them
                label = ("Rock", "Jazz", "Folk", "Blues", "Pop")[(n + worker) % 5]
                action = ("accept", "reject", "add")[n % 3]
                row_id = decide(library, track, "genre", label, action)
                record = {"id": row_id, "track": track, "label": label, "action": action}
            log.write(json.dumps(record) + "\n")
            log.flush()
            n += 1
    library.close()
    print(f"decide worker {worker}: {n} decisions")
    return 0


def review_cli_loop(db: str, deadline: float, out: Path) -> int:
    """``music-tagger review accept`` in a fresh process each time."""
    tracks = _track_ids(db)
    failed = n = 0
    with out.open("a", encoding="utf-8") as log:
        while time.monotonic() < deadline:
            track, label = tracks[n % len(tracks)], f"cli-{n}"
            done = _cli(db, "review", "accept", str(track), label)
            if done.returncode == 0:
                log.write(
                    json.dumps({"id": None, "track": track, "label": label, "action": "accept"})
                    + "\n"
                )
                log.flush()
            failed += done.returncode != 0
            n += 1
    return int(failed > 0)


def analyze_loop(db: str, deadline: float, bundle: str) -> int:
    """Analyse every track again and again (``--force``) until the deadline (at least once)."""
    failed = 0
    while True:
        done = _cli(db, "analyze", "--all", "--force", "--models", bundle,
                    "--no-optimize", "--workers", "1")  # fmt: skip
        failed += done.returncode != 0
        if time.monotonic() >= deadline:
            return int(failed > 0)


def rescan_loop(db: str, deadline: float, music: str) -> int:
    """Make every file look changed, then rescan, until the deadline (at least once)."""
    failed = 0
    while True:
        for path in Path(music).iterdir():
            os.utime(path, ns=(time.time_ns(), time.time_ns()))
        failed += _cli(db, "scan", music, "--workers", "1").returncode != 0
        if time.monotonic() >= deadline:
            return int(failed > 0)


def export_loop(db: str, deadline: float) -> int:
    """Write accepted genres into the files until the deadline (at least once).

    Files the rescan touched between plan and write are skipped, and files it touched
    while their tags were being written are refused ("not written: file changed while
    …", exit status 1), as they should be: only other failures count.
    """
    failed = 0
    while True:
        done = _cli(db, "export", "--genres")
        output = done.stdout + done.stderr
        refused = [line for line in output.splitlines() if "not written:" in line]
        expected = all(CHANGED_WHILE_WRITING in line for line in refused)
        failed += not (done.returncode == 0 or (done.returncode == 1 and refused and expected))
        if time.monotonic() >= deadline:
            return int(failed > 0)


def gui_loop(db: str, deadline: float, out: Path) -> int:
    """The window open on the library; a person adds a genre to one track after another."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from tagger_core.db import open_library

    app = QApplication([])
    settings = QSettings(str(out.with_suffix(".ini")), QSettings.Format.IniFormat)
    window = MainWindow(open_library(db, migrate=False), settings)
    window.show()
    edits = seen = 0
    editor = window.detail.label_editor
    try:
        with out.open("a", encoding="utf-8") as log:
            while time.monotonic() < deadline:
                app.processEvents()
                seen += window.show_outside_changes()
                window.table.selectRow(edits % max(1, window.model.rowCount()))
                track, label = window.detail.track_id, ("Metal", "Punk", "Country")[edits % 3]
                editor.entry.setText(label)
                editor.add_from_entry()
                if editor.entry.text():  # not cleared: the edit was refused
                    print(f"gui edit refused: {editor.message.text()}")
                    return 1
                log.write(json.dumps({"id": None, "track": track, "label": label,
                                      "action": "accept|add"}) + "\n")  # fmt: skip
                log.flush()
                edits += 1
                time.sleep(0.5)
    finally:
        # A spectrogram job's thread ends only once this loop hands back its result.
        settle = time.monotonic() + 60
        while window.detail._jobs and time.monotonic() < settle:
            app.processEvents()
            time.sleep(0.05)
        window.close()
    print(f"gui: {edits} edits, saw {seen} changes of other programs")
    return 0


def main(argv: list[str]) -> int:
    role, db, seconds, out, *rest = argv
    deadline = time.monotonic() + float(seconds)
    if role == "decide":
        return decide_loop(db, deadline, Path(out), int(rest[0]))
    if role == "review-cli":
        return review_cli_loop(db, deadline, Path(out))
    if role == "analyze":
        return analyze_loop(db, deadline, rest[0])
    if role == "rescan":
        return rescan_loop(db, deadline, rest[0])
    if role == "export":
        return export_loop(db, deadline)
    if role == "gui":
        return gui_loop(db, deadline, Path(out))
    raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
