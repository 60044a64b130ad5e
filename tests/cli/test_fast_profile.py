"""``--profile fast``: the distilled students stand in for the musicnn ensembles end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import select

from tagger_core.cli import main
from tagger_core.db import open_library
from tagger_core.db.models import Analysis, Prediction
from tagger_core.labels.bundles import load_bundle
from tagger_core.labels.taxonomy import GENRE_LABELS
from tagger_core.library.demo import synthesise
from tagger_core.listening.report import PROFILES
from tagger_core.listening.single_file import BundleRunner, tag_file

FAST = set(PROFILES["fast"])


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthesised clips with seeds the students' generated training audio never used.

    (The demo's piano and strings styles do not depend on the seed: not used here.)
    """
    folder = tmp_path_factory.mktemp("music")
    for i, style in enumerate(("rock", "electronic", "jazz", "ambient")):  # seeded styles
        audio = synthesise(style, 15.0, sr=16000, seed=990_000 + i)
        sf.write(folder / f"{style}.flac", audio, 16000)
    return folder


def test_profile_and_models_together_are_refused(tmp_path: Path, music: Path, capsys) -> None:
    code = main(
        [
            "--db",
            str(tmp_path / "l.db"),
            "analyze",
            str(music),
            "--profile",
            "fast",
            "--models",
            "genre",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "give --profile or --models, not both" in err and err.count("\n") == 1


def test_tag_refuses_a_profile_with_bundles(music: Path, capsys) -> None:
    code = main(["tag", "--profile", "fast", "--bundle", "genre", str(music / "rock.flac")])
    err = capsys.readouterr().err
    assert code == 2 and "give --profile or --bundle, not both" in err


def test_analyze_fast_profile_stores_the_students_analyses(
    tmp_path: Path, music: Path, capsys
) -> None:
    db = tmp_path / "l.db"
    code = main(["--db", str(db), "analyze", str(music), "--profile", "fast", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["tracks_done"] == 4
    # each student is checked for shift against its own shipped reference
    for student in ("genre-fast", "instruments-fast"):
        assert report["per_bundle"][student]["shift"]["n_reference"] == 200
    library = open_library(db)
    with library.session() as s:
        analysed = set(s.scalars(select(Analysis.bundle_id).where(Analysis.status == "ok")))
        predicted = set(s.scalars(select(Prediction.bundle_id)))
    library.close()
    assert analysed == FAST  # and not the full ensembles
    assert {"genre-fast", "instruments-fast"} <= predicted


def test_tag_with_the_fast_profile(music: Path, capsys) -> None:
    args = ["tag", "--profile", "fast", "--json", "--top", "15", str(music / "rock.flac")]
    assert main(args) == 0
    record = json.loads(capsys.readouterr().out)
    assert set(record["raw_tags"]) == FAST
    assert set(record["genres"]) == set(GENRE_LABELS)


@pytest.mark.parametrize("teacher", ["genre", "instruments"])
def test_shipped_student_follows_its_teacher_on_unseen_generated_audio(
    music: Path, teacher: str
) -> None:
    """File-level raw-tag probabilities of student and ensemble on four clips it never saw.

    The bound is the validation figure's order (docs/models/fast-profile.md) with room
    for four synthetic clips; a student that learnt nothing (or the wrong labels) fails.
    """
    runners = [BundleRunner(load_bundle(teacher)), BundleRunner(load_bundle(f"{teacher}-fast"))]
    diffs, tops = [], []
    for path in sorted(music.iterdir()):
        ensemble, student = (out.probabilities for out in tag_file(path, runners, None))
        diffs.append(np.abs(ensemble - student))
        tops.append(len(set(np.argsort(-ensemble)[:5]) & set(np.argsort(-student)[:5])))
    assert float(np.mean(diffs)) < 0.02
    assert min(tops) >= 4  # the ensemble's five top tags are (nearly) the student's
