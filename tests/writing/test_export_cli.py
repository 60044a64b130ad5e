"""The ``export`` command: dry-run diff, real export, undo, batches, and the database dump."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import mutagen
from sqlalchemy import select

from tagger_core.cli import main
from tagger_core.db import open_library
from tagger_core.db.models import Prediction, Track

from .helpers import scan_and_decide


def _setup(tmp_path: Path, make_files) -> tuple[Path, list[Path]]:
    db = tmp_path / "lib.db"
    music = tmp_path / "music"
    paths = make_files(music, [".mp3", ".flac"])
    library = open_library(db)
    ids = scan_and_decide(library, music)
    with library.session() as s:
        s.add(
            Prediction(
                track_id=ids[0][0],
                bundle_id="genre",
                confidences={"Jazz": 0.8, "Rock": 0.1},
                flagged=True,
                flag_reasons=["near threshold"],
            )
        )
    library.close()
    return db, paths


def test_dry_run_prints_diff_and_writes_nothing(tmp_path, make_files, capsys) -> None:
    db, paths = _setup(tmp_path, make_files)
    before = [p.read_bytes() for p in paths]
    assert main(["--db", str(db), "export", "--dry-run", str(tmp_path / "music")]) == 0
    out = capsys.readouterr().out
    assert (
        'TCON: ["Duo Cello/Klavier", "Rock"] → ["Duo Cello/Klavier", "Rock", "Jazz", "Blues"]'
        in out
    )
    assert 'INSTRUMENTS: (none) → ["bass"]' in out
    assert "2 files would change" in out
    assert [p.read_bytes() for p in paths] == before


def test_export_then_undo(tmp_path, make_files, capsys) -> None:
    db, paths = _setup(tmp_path, make_files)
    flac = next(p for p in paths if p.suffix == ".flac")
    assert main(["--db", str(db), "export", "--genres", "--policy", "replace"]) == 0
    out = capsys.readouterr().out
    assert "Exported 2 files (batch 1" in out
    assert mutagen.File(flac)["genre"] == ["Jazz", "Blues"]
    assert "instruments" not in {k.lower() for k in mutagen.File(flac).keys()}

    assert main(["--db", str(db), "export", "batches", "--json"]) == 0
    batches = json.loads(capsys.readouterr().out)
    assert batches[0]["items"] == {"written": 2}

    assert main(["--db", str(db), "export", "undo", "1"]) == 0
    assert "Restored 2 of 2" in capsys.readouterr().out
    assert mutagen.File(flac)["genre"] == ["Duo Cello/Klavier", "Rock"]


def test_id3v23_option(tmp_path, make_files, capsys) -> None:
    db, paths = _setup(tmp_path, make_files)
    mp3 = next(p for p in paths if p.suffix == ".mp3")
    before = mp3.read_bytes()
    # "/" would make "Duo Cello/Klavier" two genres for every reader: refused.
    assert main(["--db", str(db), "export", "--id3v23", "--separator", " / ", str(mp3)]) == 1
    assert "contains the separator" in capsys.readouterr().out
    assert mp3.read_bytes() == before
    assert main(["--db", str(db), "export", "--id3v23", "--separator", ";", str(mp3)]) == 0
    tags = mutagen.File(mp3).tags
    assert tags.version[:2] == (2, 3)
    assert tags["TCON"].text == ["Duo Cello/Klavier;Rock;Jazz;Blues"]


def test_user_errors_exit_2(tmp_path, make_files, capsys) -> None:
    db, _ = _setup(tmp_path, make_files)
    assert main(["--db", str(db), "export", "undo", "99"]) == 2
    assert "no export batch 99" in capsys.readouterr().err
    assert main(["--db", str(db), "export", "--min-confidence", "1.5"]) == 2
    assert main(["--db", str(db), "export", str(tmp_path / "elsewhere")]) == 2
    assert "no tracks of the library" in capsys.readouterr().err


def test_db_dump_json_and_csv(tmp_path, make_files, capsys) -> None:
    db, _ = _setup(tmp_path, make_files)
    assert main(["--db", str(db), "export", "db", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 2
    first = records[0]
    assert first["genres"]  # existing tags
    assert first["decisions"]["genre"]["accepted"] == ["Blues", "Jazz"]
    with_pred = [r for r in records if r["predictions"]]
    assert with_pred[0]["predictions"]["genre"]["confidences"]["Jazz"] == 0.8
    assert with_pred[0]["predictions"]["genre"]["flagged"] is True

    out_file = tmp_path / "dump.csv"
    assert main(["--db", str(db), "export", "db", "--format", "csv", "-o", str(out_file)]) == 0
    rows = list(csv.DictReader(io.StringIO(out_file.read_text(encoding="utf-8"))))
    assert len(rows) == 2
    library = open_library(db)
    with library.session() as s:
        flagged_path = s.scalar(
            select(Track.path_text).join(Prediction, Prediction.track_id == Track.id)
        )
    library.close()
    row = next(r for r in rows if r["path"] == flagged_path)
    assert float(row["conf:genre:Jazz"]) == 0.8
    assert row["flagged:genre"] == "1"
    assert json.loads(row["accepted:instruments"]) == ["bass"]
    assert "Rock" in json.loads(row["genres"])


def test_db_dump_refuses_the_database_and_its_sqlite_files(tmp_path, make_files, capsys) -> None:
    db, _ = _setup(tmp_path, make_files)
    before = db.read_bytes()
    for target in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal")):
        assert main(["--db", str(db), "export", "db", "-o", str(target)]) == 2
        assert "it is the library database" in capsys.readouterr().err
    assert db.read_bytes() == before
    library = open_library(db)
    with library.session() as s:
        assert len(list(s.scalars(select(Track)))) == 2
    library.close()
