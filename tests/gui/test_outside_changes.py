"""The window shows what other programs commit to its library, keeping the user's selection."""

from __future__ import annotations

import subprocess
import sys

from audio_files import make_audio, tag_file

from tagger_core.library.scan import scan

COL = {"title": 0, "predicted": 4, "flag": 6}


def cli(db: str, *args: str) -> None:
    """``music-tagger`` in another process, as a colleague or a scheduled job would run it."""
    done = subprocess.run(
        [sys.executable, "-m", "tagger_core.cli", "--db", db, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def add_file(folder, name: str, title: str, seed: int) -> None:
    path = folder / name
    make_audio(path, seconds=2.5, seed=seed, style="rock")
    tag_file(path, title=title)


def cell(window, row: int, key: str) -> str:
    return str(window.model.data(window.model.index(row, COL[key])))


def test_decisions_rescans_and_analyses_of_other_processes_appear(
    qtbot, window, library, tmp_path, tiny
) -> None:
    db = str(library.path)
    music = tmp_path / "music"
    music.mkdir()
    for i, title in enumerate(("B song", "C song", "D song")):
        add_file(music, f"{i}.flac", title, i)
    scan(library, [music])
    assert window.show_outside_changes()  # the poll's work, without waiting for its timer
    assert window.model.rowCount() == 3 and not window.show_outside_changes()
    window.table.selectRow(1)
    chosen = window.selected_track_ids()
    assert cell(window, 1, "title") == "C song" and window.detail.track_id == chosen[0]

    # A colleague accepts a genre and marks the track reviewed: flag and label editor show it.
    cli(db, "review", "accept", str(chosen[0]), "Jazz")
    cli(db, "review", "done", str(chosen[0]))
    qtbot.waitUntil(lambda: cell(window, 1, "flag") == "✓ reviewed", timeout=15000)
    qtbot.waitUntil(lambda: "Jazz" in window.detail.label_editor.labels(), timeout=15000)
    assert window.selected_track_ids() == chosen

    # A rescan elsewhere adds a track sorted before it: the selection follows the track.
    add_file(music, "3.flac", "A song", 3)
    cli(db, "scan", str(music))
    qtbot.waitUntil(lambda: window.model.rowCount() == 4, timeout=15000)
    assert cell(window, 0, "title") == "A song" and cell(window, 2, "title") == "C song"
    assert window.selected_track_ids() == chosen
    assert window.table.currentIndex().row() == 2 and window.detail.track_id == chosen[0]

    # A scheduled analysis: predictions fill the table and the detail panel.
    assert window.detail.detail is not None and window.detail.detail.genre is None
    cli(db, "analyze", "--all", "--models", tiny, "--no-optimize", "--workers", "1")
    qtbot.waitUntil(lambda: cell(window, 2, "predicted") != "", timeout=15000)
    qtbot.waitUntil(lambda: window.detail.detail.genre is not None, timeout=15000)
    assert window.selected_track_ids() == chosen and window.detail.track_id == chosen[0]
