"""A bundle upgrade seen from the command line: outdated marks, counts, ``analyze --outdated``.

Real audio is analysed by a tiny bundle at 1.0.0; the bundle is then re-released as
2.0.0 (its manifest's version bumped), as an app update would do.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audio_files import make_audio
from tiny_bundle import make_tiny_bundle

from tagger_core.cli import main
from tagger_core.db import open_library
from tagger_core.db.models import Analysis

NOTE = "tiny-a 1.0.0 — outdated, re-analyse to update"
ANALYSE = ("--models", "tiny-a", "--no-optimize", "--workers", "1")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def upgraded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> tuple[str, Path]:
    """Two tracks analysed by tiny-a 1.0.0, one scanned but never analysed; tiny-a now 2.0.0."""
    bundles = tmp_path / "bundles"
    make_tiny_bundle(bundles, "tiny-a", seed=1, version="1.0.0")
    manifest_path = bundles / "tiny-a" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    # raw tags the default genre taxonomy knows, so predictions get genre labels
    manifest["raw_labels"] = ["rock", "jazz", "pop", "electronic", "blues", "folk"]
    manifest_path.write_text(json.dumps(manifest))
    monkeypatch.setenv("MUSIC_TAGGER_BUNDLES", str(bundles))
    music = tmp_path / "music"
    music.mkdir()
    make_audio(music / "one.flac", seconds=2.5, seed=1, style="rock")
    make_audio(music / "two.wav", seconds=2.5, seed=2, style="ambient")
    db = str(tmp_path / "lib.db")
    code, out, err = run(capsys, "--db", db, "analyze", str(music), *ANALYSE)
    assert code == 0 and "Analysed 2 tracks" in out, out + err
    make_audio(music / "three.flac", seconds=2.5, seed=3, style="piano")
    assert run(capsys, "--db", db, "scan", str(music))[0] == 0
    manifest["version"] = "2.0.0"
    manifest_path.write_text(json.dumps(manifest))
    return db, music


def _versions(db: str) -> dict[int, list[str]]:
    library = open_library(db)
    with library.session() as s:
        rows = s.query(Analysis.track_id, Analysis.bundle_version).filter_by(status="ok").all()
    library.close()
    out: dict[int, list[str]] = {}
    for track_id, version in sorted(rows):
        out.setdefault(track_id, []).append(version)
    return out


def test_outdated_predictions_are_shown_counted_and_reanalysed_on_request(
    upgraded: tuple[str, Path], capsys
) -> None:
    db, music = upgraded
    code, out, _ = run(capsys, "--db", db, "status")
    assert code == 0
    assert "tiny-a             2 tracks (installed version 2.0.0)" in out
    assert "music-tagger analyze --outdated" in out
    code, out, _ = run(capsys, "--db", db, "status", "--json")
    assert json.loads(out)["outdated"] == {"tiny-a": 2}

    code, out, _ = run(capsys, "--db", db, "show", str(music / "one.flac"))
    assert code == 0 and f"({NOTE})" in out and f"    {NOTE}" in out
    code, out, _ = run(capsys, "--db", db, "tracks", "--json")
    by_path = {Path(t["path"]).name: t["predictions"] for t in json.loads(out)}
    (old,) = by_path["one.flac"]
    assert old["outdated"] is True and old["bundle_version"] == "1.0.0" and old["note"] == NOTE
    assert old["labels"]  # the 1.0.0 predictions are still there
    assert by_path["three.flac"] == []

    code, out, err = run(capsys, "--db", db, "analyze", "--outdated", *ANALYSE)
    assert code == 0, out + err
    assert "Analysed 2 tracks" in out  # the two outdated ones, not the never-analysed one
    assert _versions(db) == {1: ["1.0.0", "2.0.0"], 2: ["1.0.0", "2.0.0"]}  # history kept

    code, out, _ = run(capsys, "--db", db, "status", "--json")
    assert json.loads(out)["outdated"] == {}
    code, out, _ = run(capsys, "--db", db, "show", str(music / "one.flac"), "--json")
    (now,) = json.loads(out)["predictions"]
    assert now["outdated"] is False and now["bundle_version"] == "2.0.0"
    code, out, _ = run(capsys, "--db", db, "analyze", "--outdated", *ANALYSE)
    assert code == 0 and "No outdated analyses" in out


def test_outdated_with_paths_only_takes_the_outdated_tracks_under_them(
    upgraded: tuple[str, Path], capsys
) -> None:
    db, music = upgraded
    code, out, err = run(capsys, "--db", db, "analyze", str(music / "two.wav"),
                         str(music / "three.flac"), "--outdated", *ANALYSE)  # fmt: skip
    assert code == 0 and "Analysed 1 tracks" in out, out + err
    assert _versions(db) == {1: ["1.0.0"], 2: ["1.0.0", "2.0.0"]}
    code, _, err = run(capsys, "--db", db, "analyze", "--outdated", "--force", *ANALYSE)
    assert code == 2 and "--outdated or --force" in err


def test_outdated_json_when_nothing_is_outdated_is_the_usual_report(
    upgraded: tuple[str, Path], capsys
) -> None:
    db, _ = upgraded
    assert run(capsys, "--db", db, "analyze", "--outdated", *ANALYSE)[0] == 0
    code, out, err = run(capsys, "--db", db, "analyze", "--outdated", "--json", *ANALYSE)
    report = json.loads(out)
    assert code == 0 and report["tracks_done"] == 0 and report["tracks_total"] == 0, err
