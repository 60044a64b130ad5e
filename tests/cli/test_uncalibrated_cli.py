"""The CLI says when a model's scores are uncalibrated: review queue and export dry run."""

from __future__ import annotations

import json
from pathlib import Path

from audio_files import make_audio, tag_file
from stored_outputs import add_genre_outputs

from tagger_core.cli import main
from tagger_core.db import open_library
from tagger_core.db.models import Track
from tagger_core.trust.predictions import UNCALIBRATED_MARK, refresh_predictions


def run(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def test_review_queue_and_export_dry_run_say_uncalibrated(tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "lib.db")
    library = open_library(db)
    add_genre_outputs(library, 60, 2.5, seed=2)
    audio = make_audio(tmp_path / "one.flac")
    tag_file(audio, genres=["Rock"])
    with library.session() as s:  # track 1 points at a real file, so export can read it
        t = s.get(Track, 1)
        t.path, t.path_text = str(audio).encode(), str(audio)
    refresh_predictions(library)
    library.close()
    code, out = run(capsys, "--db", db, "review", "--limit", "3")
    assert code == 0
    assert "uncalibrated: the reviews that teach a calibration most come first" in out
    assert UNCALIBRATED_MARK in out and "uncertain: " in out
    code, out = run(capsys, "--db", db, "show", "1")
    assert code == 0 and "predicted by genre: " in out and UNCALIBRATED_MARK in out
    code, out = run(capsys, "--db", db, "export", "--dry-run", "--min-confidence", "0.1",
                    str(audio))  # fmt: skip
    assert "Note: genre scores of model 'genre' are uncalibrated: --min-confidence 0.1" in out
    code, out = run(capsys, "--db", db, "export", "--dry-run", "--min-confidence", "0.1",
                    "--json", str(audio))  # fmt: skip
    assert json.loads(out)["uncalibrated"][0].startswith("genre scores of model 'genre'")
