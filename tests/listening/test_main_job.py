"""The main job: analyse, then refresh predictions, in one call with one report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audio_files import make_audio
from sqlalchemy import delete, func, select
from tiny_bundle import make_tiny_bundle

from tagger_core.db.models import Prediction, Setting
from tagger_core.library.scan import scan
from tagger_core.listening import analyze_and_predict
from tagger_core.listening.report import AnalysisProgress
from tagger_core.trust.predictions import POLICY_KEY

OPTIONS = {"bundles": ["tiny-main"], "optimize": False, "workers": 1, "batch_size": 4}


@pytest.fixture
def scanned(library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    bundles = tmp_path / "bundles"
    make_tiny_bundle(bundles, "tiny-main", seed=3)
    # raw tags the default genre taxonomy knows, so predictions get genre labels
    manifest = bundles / "tiny-main" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["raw_labels"] = ["rock", "jazz", "pop", "electronic", "blues", "folk"]
    manifest.write_text(json.dumps(data))
    monkeypatch.setenv("MUSIC_TAGGER_BUNDLES", str(bundles))
    folder = tmp_path / "music"
    folder.mkdir()
    for i in range(3):
        make_audio(folder / f"{i}.wav", seconds=2.0, seed=i)
    scan(library, [folder])
    return library


def _predictions(library) -> int:
    with library.session() as s:
        return int(s.scalar(select(func.count(Prediction.id))) or 0)


def test_analyses_then_refreshes_and_reports_both(scanned) -> None:
    phases: list[str] = []
    report = analyze_and_predict(scanned, progress=lambda p: phases.append(p.phase), **OPTIONS)
    assert report.tracks_done == 3 and len(report.analyzed_track_ids) == 3
    assert report.predictions_refreshed == 3 and report.predictions_error == ""
    assert _predictions(scanned) == 3
    # the last progress report announces the refresh
    assert phases[-1] == "predictions" and "analysis" in phases


def test_refresh_selected_heals_tracks_analysed_before(scanned) -> None:
    analyze_and_predict(scanned, **OPTIONS)
    with scanned.session() as s:
        ids = sorted(s.scalars(select(Prediction.track_id)))
        s.execute(delete(Prediction))
    again = analyze_and_predict(scanned, ids, **OPTIONS)
    assert again.tracks_done == 0 and again.predictions_refreshed == 0
    assert _predictions(scanned) == 0
    healed = analyze_and_predict(scanned, ids, refresh_selected=True, **OPTIONS)
    assert healed.predictions_refreshed == 3 and _predictions(scanned) == 3


def test_a_failed_refresh_is_reported_and_the_outputs_kept(scanned) -> None:
    with scanned.session() as s:
        s.add(Setting(key=POLICY_KEY, value={"no_such_setting": 1}))
    seen: list[AnalysisProgress] = []
    report = analyze_and_predict(scanned, progress=seen.append, **OPTIONS)
    assert report.tracks_done == 3 and report.predictions_refreshed is None
    assert "no_such_setting" in report.predictions_error
    assert _predictions(scanned) == 0


def test_reports_no_auto_calibration_when_too_few_tracks_are_tagged(scanned) -> None:
    report = analyze_and_predict(scanned, **OPTIONS)
    assert report.auto_calibration == {"tiny-main": None}
    assert report.auto_calibration_lines() == [] and report.auto_calibration_error == ""


def test_calibrates_from_tags_after_an_analysis_even_with_nothing_new(library) -> None:
    from stored_outputs import add_genre_outputs

    from tagger_core.db.models import Calibration, Track

    bundle, truth = add_genre_outputs(library, 240, 3.0, seed=5)
    labels = bundle.taxonomy.labels
    with library.session() as s:
        for i, row in enumerate(truth):
            s.get(Track, i + 1).genres = [labels[c] for c in row.nonzero()[0]]
    report = analyze_and_predict(library, [], bundles=["genre"], optimize=False)
    fit = report.auto_calibration["genre"]
    assert fit is not None and fit["source"] == "tags" and fit["activated"]
    assert report.auto_calibration_lines()[0] == fit["summary"]
    assert fit["summary"].startswith("genre calibrated on ")
    with library.session() as s:
        assert s.get(Calibration, fit["calibration_id"]).active
    off = analyze_and_predict(library, [], bundles=["genre"], calibrate_from_tags=False)
    assert off.auto_calibration == {}


def test_progress_never_goes_back_when_a_track_fails(scanned, tmp_path: Path) -> None:
    """The refresh phase counts failed tracks as done, as the analysis phase did."""
    folder = tmp_path / "music"
    make_audio(folder / "gone.wav", seconds=2.0, seed=9)
    scan(scanned, [folder])
    (folder / "gone.wav").unlink()  # scanned, then gone: its analysis fails
    seen: list[tuple[int, int, str]] = []
    report = analyze_and_predict(
        scanned, progress=lambda p: seen.append((p.done, p.total, p.phase)), **OPTIONS
    )
    assert len(report.errors) == 1 and report.tracks_done == 3
    done = [d for d, _t, _p in seen]
    assert done == sorted(done), seen
    assert seen[-1] == (4, 4, "predictions")
