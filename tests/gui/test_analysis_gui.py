"""Analysis through the GUI's actions with small real models: results, cancel, UI ticks."""

from __future__ import annotations

import threading

import pytest
from audio_files import make_audio
from event_loop_ticks import TickGaps
from sqlalchemy import func, select

from app import process_job
from tagger_core.db.models import Analysis

pytest.importorskip("tagger_core.listening.engine")


def scanned(qtbot, window, folder, n: int, seconds: float) -> None:
    folder.mkdir()
    for i in range(n):
        make_audio(folder / f"{i:02d}.wav", seconds=seconds, seed=i)
    window.scan_folders([str(folder)])
    qtbot.waitUntil(lambda: window.job is None, timeout=60000)


def stored(library) -> int:
    with library.session() as s:
        return int(s.scalar(select(func.count(Analysis.id))) or 0)


def test_analyse_selection_and_all_with_ticks_measured(
    qtbot, window, library, tmp_path, tiny, monkeypatch
):
    monkeypatch.setattr(process_job, "ISOLATE", False)  # the measured run below is isolated
    scanned(qtbot, window, tmp_path / "music", 6, 3.0)
    window.analysis_options = {"bundles": [tiny], "batch_size": 4, "workers": 1}
    assert window.act_analyse_all.isEnabled()
    assert window.sidebar.item(3).text() == "Not analysed (6)"

    window.table.selectRow(0)
    assert window.analyse_selection() is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=120000)
    assert window.last_error is None, window.last_error
    assert stored(library) == 1
    assert window.last_report.tracks_done == 1
    assert window.model.data(window.model.index(0, 4)), "predicted genres shown in the table"
    assert window.model.data(window.model.index(1, 4)) == ""

    monkeypatch.setattr(process_job, "ISOLATE", True)
    with TickGaps() as ticks:
        window.act_analyse_all.trigger()
        qtbot.waitUntil(lambda: window.job is None, timeout=120000)
    gaps = ticks.gaps
    assert window.last_error is None, window.last_error
    assert stored(library) == 6
    assert window.last_report.tracks_done == 5 and window.last_report.tracks_skipped == 1
    assert "Analysed 5 tracks" in window.status_text.text()
    assert window.sidebar.item(3).text() == "Not analysed (0)"
    assert len(gaps) > 5
    print(
        f"\nevent-loop gaps during a GUI analysis: longest {max(gaps)} ms, "
        f"99th percentile {ticks.p99} ms, over {len(gaps)} ticks"
    )


def test_cancel_mid_analysis(qtbot, window, library, tmp_path, tiny, monkeypatch):
    monkeypatch.setattr(process_job, "ISOLATE", False)  # in the worker thread: faster start
    scanned(qtbot, window, tmp_path / "many", 10, 3.0)
    window.analysis_options = {"bundles": [tiny], "batch_size": 2, "workers": 1}
    job = window.analyse_all()
    assert job is not None
    job.progress.connect(lambda done, _total, _text: window.cancel_job() if done >= 1 else None)
    qtbot.waitUntil(lambda: window.job is None, timeout=120000)
    report = window.last_report
    assert report.cancelled
    assert 1 <= stored(library) < 10
    assert "cancelled" in window.status_text.text().lower()
    assert window.act_analyse_all.isEnabled()
    # The next run resumes with the rest.
    window.analyse_all()
    qtbot.waitUntil(lambda: window.job is None, timeout=120000)
    assert stored(library) == 10


def test_startup_job_scans_then_analyses(qtbot, window, library, tmp_path, tiny, monkeypatch):
    monkeypatch.setattr(process_job, "ISOLATE", False)
    folder = tmp_path / "start"
    folder.mkdir()
    for i in range(3):
        make_audio(folder / f"{i}.wav", seconds=2.0, seed=i)
    window.analysis_options = {"bundles": [tiny], "batch_size": 4, "workers": 1}
    window.scan_then_analyse([str(folder)])
    qtbot.waitUntil(lambda: stored(library) == 3 and window.job is None, timeout=120000)
    assert window.last_error is None and window.last_report.tracks_done == 3


def test_predictions_appear_while_the_analysis_runs(library, tmp_path, tiny, monkeypatch):
    from app import analysis
    from tagger_core.db.models import Prediction
    from tagger_core.library.scan import scan

    folder = tmp_path / "progressive"
    folder.mkdir()
    for i in range(6):
        make_audio(folder / f"{i}.wav", seconds=3.0, seed=i)
    scan(library, [folder])
    monkeypatch.setattr(analysis, "PARTIAL_REFRESH_S", 0.0)
    seen: list[tuple[int, int]] = []

    def report(done: int, total: int, _text: str) -> None:
        with library.session() as s:
            seen.append((done, int(s.scalar(select(func.count(Prediction.id))) or 0)))

    result = analysis.run_analysis(
        str(library.path),
        None,
        {"bundles": [tiny], "batch_size": 2, "workers": 1},
        report,
        threading.Event(),
    )
    assert result.tracks_done == 6 and result.predictions_note == ""
    during = [n for done, n in seen if 0 < done < 6]
    assert during and max(during) > 0, seen
    with library.session() as s:
        preds = list(s.scalars(select(Prediction)))
    assert len(preds) == 6 and all(p.confidences for p in preds)


def test_quick_pass_analyses_with_the_fast_profile(qtbot, window, library, tmp_path, monkeypatch):
    """Analysis ▸ Quick pass runs the fast profile's bundles, whatever the preferences say."""
    from tagger_core.listening.report import PROFILES

    monkeypatch.setattr(process_job, "ISOLATE", False)
    scanned(qtbot, window, tmp_path / "music", 2, 4.0)
    window.analysis_options = {"batch_size": 8, "workers": 1}
    assert window.act_quick_pass.isEnabled()
    window.act_quick_pass.trigger()
    qtbot.waitUntil(lambda: window.job is None, timeout=180000)
    assert window.last_error is None, window.last_error
    with library.session() as s:
        bundles = set(s.scalars(select(Analysis.bundle_id).where(Analysis.status == "ok")))
    assert bundles == set(PROFILES["fast"])
    assert window.last_report.tracks_done == 2
