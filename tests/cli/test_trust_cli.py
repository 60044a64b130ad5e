"""The CLI contract of issue 16 (item 7): calibrate --json, --conformal, --check-shift, analyze."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from audio_files import make_audio
from sqlalchemy import select
from stored_outputs import add_genre_outputs, review_truth
from tiny_bundle import make_tiny_bundle

from tagger_core.cli import main
from tagger_core.cli.reports import print_analysis_report
from tagger_core.db.blob_codec import pack
from tagger_core.db.models import Analysis
from tagger_core.listening.report import AnalysisReport
from tagger_core.trust.archive_calibration import fit_calibration
from tagger_core.trust.shift import check_shift

FIGURES = ("mae", "weighted_mae", "ece", "brier", "nll")
FIGURE_KEYS = set(FIGURES) | {f"{name}_ci95" for name in FIGURES}


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def reviewed(library, tmp_path: Path) -> str:
    """240 genre tracks, too confident by T = 2.5, all reviewed; one in three tagged Rock."""
    bundle, truth = add_genre_outputs(
        library, 240, 2.5, genres=lambda i: ["Rock"] if i % 3 == 0 else []
    )
    review_truth(library, bundle, truth, upto=240)
    return str(library.path)


def test_calibrate_json_contract(reviewed: str, tmp_path: Path, capsys) -> None:
    args = ("--db", reviewed, "calibrate", "--method", "temperature", "--folds", "3")
    code, out, err = run(capsys, *args, "--json", "--out", str(tmp_path))
    assert code == 0, err
    data = json.loads(out)
    assert data["source"] == "reviews" and data["activated"] is True
    assert "conformal" not in data
    for which in ("before", "after"):
        assert set(data[which]) == FIGURE_KEYS
        for name in FIGURES:
            lo, hi = data[which][f"{name}_ci95"]
            assert isinstance(lo, float) and lo < hi
    assert data["after"]["ece"] < data["before"]["ece"]
    assert data["after"]["ece"] == pytest.approx(data["report"]["after"]["ece"])
    assert data["change_ci95"]["nll"][1] < 0  # better beyond its interval


def test_calibrate_conformal_and_source_both(library, tmp_path: Path, capsys) -> None:
    bundle, truth = add_genre_outputs(
        library, 240, 2.5, genres=lambda i: ["Rock"] if i % 3 == 0 else []
    )
    review_truth(library, bundle, truth, upto=200)  # the 13 tagged tracks after 200: from tags
    code, out, err = run(
        capsys, "--db", str(library.path), "calibrate", "--method", "temperature", "--folds",
        "3", "--use-tags", "--conformal", "0.9", "--json", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["source"] == "both"
    conformal = data["conformal"]
    assert {"target", "coverage_held_out", "mean_set_size"} <= set(conformal)
    assert conformal["target"] == 0.9
    assert 0.8 < conformal["coverage_held_out"] <= 1.0 and conformal["mean_set_size"] > 0
    page_path = tmp_path / "report.html"
    assert main(["--db", str(library.path), "report", "-o", str(page_path)]) == 0
    assert "Conformal label sets (target 90%)" in page_path.read_text(encoding="utf-8")


def test_calibrate_text_shows_intervals_and_the_ece_estimate(reviewed, tmp_path, capsys) -> None:
    code, out, _ = run(
        capsys, "--db", reviewed, "calibrate", "--method", "temperature", "--folds", "3",
        "--conformal", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0
    assert "95 % intervals" in out and "ece" in out and "±0.01" in out
    assert "Conformal label sets" in out and "target 90%" in out


def test_worse_calibration_needs_force(library, tmp_path: Path, capsys) -> None:
    bundle, truth = add_genre_outputs(library, 120, 1.0)
    review_truth(library, bundle, truth, upto=120)
    db = str(library.path)
    common = (
        "--db",
        db,
        "calibrate",
        "--method",
        "isotonic",
        "--folds",
        "3",
        "--out",
        str(tmp_path),
    )
    code, out, _ = run(capsys, *common, "--json")
    data = json.loads(out)
    assert code == 0 and data["activated"] is False
    assert "NLL got worse" in data["not_activated_because"]
    code, out, _ = run(capsys, *common)
    assert "stored, not active" in out and "--force" in out
    code, _, err = run(capsys, "--db", db, "calibrate", "--activate", str(data["calibration_id"]))
    assert code == 2 and "--force" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run(
        capsys, "--db", db, "calibrate", "--activate", str(data["calibration_id"]), "--force"
    )
    assert code == 0 and "is active" in out
    code, out, _ = run(capsys, *common, "--force", "--json")
    assert json.loads(out)["activated"] is True


def set_embeddings(library, shifted_after: int) -> None:
    rng = np.random.default_rng(0)
    with library.session() as s:
        for row in s.scalars(select(Analysis)):
            emb = rng.normal(size=(2, 6)).astype(np.float16)
            emb[:, :3] += 2.0 if row.track_id > shifted_after else 0.0
            row.embedding = pack(emb)


def test_check_shift_json(library, tmp_path: Path, capsys) -> None:
    bundle, truth = add_genre_outputs(library, 240, 2.5)
    set_embeddings(library, shifted_after=120)
    db = str(library.path)
    # no calibration of the librarian's: the shipped reference is musicnn-sized, these are not
    code, out, _ = run(capsys, "--db", db, "calibrate", "--check-shift")
    assert code == 0 and "genre: not checked: the reference was made with another version" in out
    review_truth(library, bundle, truth, upto=120)  # the calibration's tracks: 1..120
    code, _, err = run(
        capsys, "--db", db, "calibrate", "--method", "temperature", "--folds", "3",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    code, out, _ = run(capsys, "--db", db, "calibrate", "--check-shift", "--json")
    rows = json.loads(out)
    assert [r["bundle"] for r in rows] == ["genre"]
    assert {"bundle", "statistic", "p_value", "shifted"} <= set(rows[0])
    assert rows[0]["shifted"] is True and rows[0]["p_value"] < 0.01
    code, out, _ = run(capsys, "--db", db, "calibrate", "--check-shift", "--model", "genre")
    assert code == 0 and "review ~40 tracks of this collection" in out
    page_path = tmp_path / "report.html"
    assert main(["--db", db, "report", "-o", str(page_path)]) == 0
    page = page_path.read_text(encoding="utf-8")
    assert "<h2>Shift</h2>" in page and "review ~40 tracks of this collection" in page
    assert "(all) 95 % interval" in page and "±0.01" in page


def test_analyze_json_reports_auto_calibration_and_shift_per_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    bundles = tmp_path / "bundles"
    make_tiny_bundle(bundles, "tiny-a", seed=1)
    monkeypatch.setenv("MUSIC_TAGGER_BUNDLES", str(bundles))
    music = tmp_path / "music"
    music.mkdir()
    make_audio(music / "one.flac", seconds=2.5, seed=1, style="rock")
    db = str(tmp_path / "lib.db")
    code, out, err = run(
        capsys, "--db", db, "analyze", str(music), "--models", "tiny-a", "--no-optimize",
        "--workers", "1", "--json",
    )  # fmt: skip
    assert code == 0, err
    per_bundle = json.loads(out)["per_bundle"]
    assert set(per_bundle) == {"tiny-a"}
    assert set(per_bundle["tiny-a"]) == {"auto_calibration", "shift"}
    assert per_bundle["tiny-a"]["auto_calibration"] is None
    shift = per_bundle["tiny-a"]["shift"]
    assert shift["bundle"] == "tiny-a" and shift["shifted"] is None
    assert shift["reason"] == "the bundle ships no shift reference"


def test_analysis_summary_warns_with_the_action(library, capsys) -> None:
    """The summary `analyze` and `run` print names the shifted bundle, p-value and action."""
    bundle, truth = add_genre_outputs(library, 240, 2.5)
    set_embeddings(library, shifted_after=120)
    review_truth(library, bundle, truth, upto=120)
    fit_calibration(library, "genre", method="temperature", folds=3)
    report = AnalysisReport(bundles=["genre@1"], tracks_total=1, tracks_done=1)
    report.shift["genre"] = check_shift(library, "genre").to_dict()
    print_analysis_report(report)
    out = capsys.readouterr().out
    assert "⚠ genre: this collection is unlike the data its calibration was fitted on" in out
    assert "p = " in out and "review ~40 tracks of this collection or use its tags" in out
    assert report.to_dict()["per_bundle"]["genre"]["shift"]["shifted"] is True
