"""``tracks``, ``show`` and ``albums`` print what the models heard, on generated albums."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from album_files import MB_BLUE, make_albums
from album_outputs import analyse_scanned_albums

from tagger_core.cli import main
from tagger_core.db import open_library
from tagger_core.library.scan import scan


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "lib.db"
    library = open_library(path)
    make_albums(tmp_path / "music")
    scan(library, [tmp_path / "music"])
    analyse_scanned_albums(library)
    library.close()
    return str(path)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_tracks_format_fields_and_columns(db: str, capsys) -> None:
    code, out, _ = run_cli(capsys, "--db", db, "tracks", "--format", "{artist} - {title}: {genres}")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 8
    assert any(line.startswith("John Coltrane - Blue 1: Jazz 0.9") for line in lines)
    assert any(line.startswith("John Coltrane - Blue 4: Rock 0.9") for line in lines)

    code, out, _ = run_cli(capsys, "--db", db, "tracks", "--fields", "title,instruments,flag")
    row = next(line for line in out.splitlines() if line.startswith("Blue 4\t"))
    title, instruments, flag = row.split("\t")
    assert instruments.startswith("guitar") and flag in ("", "flagged")

    code, out, _ = run_cli(capsys, "--db", db, "tracks", "--query", "Kind")
    assert code == 0 and "[Jazz 0.9" in out and "[reed" in out and out.endswith("3 tracks\n")


def test_unknown_format_field_is_a_one_line_error(db: str, capsys) -> None:
    code, out, err = run_cli(capsys, "--db", db, "tracks", "--format", "{artist} {mood}")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "unknown field(s) mood" in err


def test_tracks_json_and_show_carry_predictions(db: str, capsys) -> None:
    code, out, _ = run_cli(capsys, "--db", db, "tracks", "--json", "--query", "Blue 4")
    (row,) = json.loads(out)
    genre = next(p for p in row["predictions"] if p["task"] == "genre")
    assert genre["labels"][0]["label"] == "Rock" and genre["labels"][0]["confidence"] > 0.9
    assert genre["labels"][0]["calibrated"] is False  # no calibration fitted on this archive
    assert genre["labels"][0]["spread"] > 0
    inst = next(p for p in row["predictions"] if p["task"] == "instruments")
    assert inst["calibration"].startswith("calibrated by the calibration the model ships")

    code, out, _ = run_cli(capsys, "--db", db, "show", str(row["id"]))
    assert code == 0 and "predictions:" in out
    assert "genre (genre): uncalibrated" in out
    rock = next(line for line in out.splitlines() if line.strip().startswith("Rock"))
    assert "±" in rock and rock.rstrip().endswith("uncalibrated")
    code, out, _ = run_cli(capsys, "--db", db, "show", "--json", str(row["id"]))
    assert json.loads(out)["predictions"][0]["task"] == "genre"


def test_albums_list_album_labels_and_disagreement(db: str, capsys) -> None:
    code, out, _ = run_cli(capsys, "--db", db, "albums")
    assert code == 0 and "2 albums" in out.splitlines()
    assert "John Coltrane – Blue Train" in out and "Various Artists – Kind of Blue" in out
    assert "⚑ 1 of 4 tracks" in out  # the rock-sounding track of Blue Train

    code, out, _ = run_cli(capsys, "--db", db, "albums", "--json", "--query", "coltrane")
    (album,) = json.loads(out)
    assert album["key"] == f"mb:{MB_BLUE}" and album["tracks"] == 4
    genre = album["predictions"]["genre"]
    assert genre["labels"] == ["Jazz"] and genre["flagged"] and len(genre["odd_tracks"]) == 1
    assert album["predictions"]["instruments"]["labels"][0] == "reed"


def test_report_has_the_albums_section(db: str, tmp_path: Path, capsys) -> None:
    out_file = tmp_path / "report.html"
    assert main(["--db", db, "report", "-o", str(out_file)]) == 0
    page = out_file.read_text(encoding="utf-8")
    assert "<h2>Albums</h2>" in page
    assert "genre (genre): 2 albums" in page
    assert "album confidences uncalibrated" in page
    assert "1 albums whose tracks disagree" in page and "John Coltrane – Blue Train" in page


def test_calibrate_albums_needs_known_albums(db: str, capsys) -> None:
    code, _, err = run_cli(capsys, "--db", db, "calibrate-albums", "--use-tags", "--folds", "2")
    # two albums cannot fill 2 folds with 3 positives and 3 negatives per label
    assert code == 2 and "no label has enough albums" in err


def test_calibrate_albums_compares_poolings_and_albums_use_it(tmp_path: Path, capsys) -> None:
    from album_outputs import add_album_outputs

    path = tmp_path / "cal.db"
    library = open_library(path)
    add_album_outputs(library, 200, 2, 3.0, seed=1)
    library.close()
    args = ["--db", str(path), "calibrate-albums", "--use-tags", "--folds", "3"]
    code, out, _ = run_cli(capsys, *args)
    assert code == 0
    assert "logit-mean: held-out NLL" in out and "prob-mean: held-out NLL" in out
    assert out.count("← kept") == 1
    assert "genre: album confidences calibrated" in out
    code, out, _ = run_cli(capsys, "--db", str(path), "albums", "--limit", "1")
    assert "(calibrated)" in out.splitlines()[1]
