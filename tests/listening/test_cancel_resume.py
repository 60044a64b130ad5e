"""Cancelling an analysis ten times and resuming it: nothing lost, nothing done twice.

The main job (:func:`tagger_core.listening.analyze_and_predict`, what the GUI and
``music-tagger analyze`` run) with two bundles is stopped ten times at seeded
points: before it starts, while tracks decode, between batches. Then one run
finishes the work. Every finished track is stored once per bundle version and
never analysed again; at the end every track is done, with one prediction per
bundle.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from audio_files import make_audio
from sqlalchemy import func, select
from tiny_bundle import make_tiny_bundle

from tagger_core.db.models import Analysis, Prediction, Track
from tagger_core.library.scan import scan
from tagger_core.listening import analyze_and_predict

TRACKS = 40
CANCELS = 10
BUNDLES = ("tiny-one", "tiny-two")
OPTIONS = {"optimize": False, "workers": 1, "batch_size": 1, "calibrate_from_tags": False}


@pytest.fixture
def scanned(library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "bundles"
    for seed, bundle_id in enumerate(BUNDLES):
        make_tiny_bundle(root, bundle_id, seed=seed, version=f"1.{seed}.0")
        # raw tags the default genre taxonomy knows, so predictions get labels
        manifest = root / bundle_id / "manifest.json"
        data = json.loads(manifest.read_text())
        data["raw_labels"] = ["rock", "jazz", "pop", "electronic", "blues", "folk"]
        manifest.write_text(json.dumps(data))
    monkeypatch.setenv("MUSIC_TAGGER_BUNDLES", str(root))
    folder = tmp_path / "music"
    folder.mkdir()
    for i in range(TRACKS):
        make_audio(folder / f"{i:02d}.wav", seconds=2.0 + (i % 3), seed=i)
    scan(library, [folder])
    return library


def _rows(library) -> dict[tuple[int, str, str], tuple[int, object]]:
    """(track, bundle, version) → (row id, created_at) of every stored analysis."""
    with library.session() as s:
        rows = s.execute(
            select(
                Analysis.track_id,
                Analysis.bundle_id,
                Analysis.bundle_version,
                Analysis.id,
                Analysis.created_at,
                Analysis.status,
            )
        ).all()
    assert all(r.status == "ok" for r in rows)
    keys = [(r.track_id, r.bundle_id, r.bundle_version) for r in rows]
    assert len(keys) == len(set(keys)), "an analysis was stored twice"
    return {k: (r.id, r.created_at) for k, r in zip(keys, rows, strict=True)}


def test_ten_cancels_then_a_resume_lose_and_duplicate_nothing(scanned) -> None:
    rng = np.random.default_rng(19)
    analysed_per_run: list[list[int]] = []
    kept: dict[tuple[int, str, str], tuple[int, object]] = {}
    for run in range(CANCELS):
        cancel = threading.Event()
        # 0: stopped before it starts; otherwise after that many progress reports
        stop_after = 0 if run == 0 else int(rng.integers(1, 5))
        if stop_after == 0:
            cancel.set()
        calls = [0]

        def progress(_p, calls=calls, stop_after=stop_after, cancel=cancel) -> None:
            calls[0] += 1
            if calls[0] >= stop_after:
                cancel.set()

        report = analyze_and_predict(
            scanned, bundles=list(BUNDLES), progress=progress, cancel=cancel, **OPTIONS
        )
        assert report.cancelled, f"run {run} finished before it was cancelled"
        analysed_per_run.append(list(report.analyzed_track_ids))
        rows = _rows(scanned)
        # rows stored by earlier runs are still there, untouched
        assert {k: rows[k] for k in kept} == kept
        kept = rows
        # a track is stored for both bundles or for none (a finished track is one unit)
        by_track: dict[int, int] = {}
        for track_id, _bundle, _version in rows:
            by_track[track_id] = by_track.get(track_id, 0) + 1
        assert set(by_track.values()) <= {len(BUNDLES)}
        assert sorted(by_track) == sorted(t for ids in analysed_per_run for t in ids)
    assert 0 < len(kept) < TRACKS * len(BUNDLES), "the cancels left nothing to resume"

    final = analyze_and_predict(scanned, bundles=list(BUNDLES), **OPTIONS)

    assert not final.cancelled and not final.errors
    analysed_per_run.append(list(final.analyzed_track_ids))
    everything = [t for ids in analysed_per_run for t in ids]
    assert len(everything) == len(set(everything)) == TRACKS  # each track analysed once
    rows = _rows(scanned)
    assert {k: rows[k] for k in kept} == kept
    with scanned.session() as s:
        track_ids = set(s.scalars(select(Track.id)))
        versions = dict(
            s.execute(select(Analysis.bundle_id, Analysis.bundle_version).distinct()).all()
        )
        predictions = s.execute(
            select(Prediction.bundle_id, func.count(Prediction.id)).group_by(Prediction.bundle_id)
        ).all()
    assert versions == {"tiny-one": "1.0.0", "tiny-two": "1.1.0"}
    assert set(rows) == {(t, b, versions[b]) for t in track_ids for b in BUNDLES}
    assert dict(predictions) == {b: TRACKS for b in BUNDLES}
    again = analyze_and_predict(scanned, bundles=list(BUNDLES), **OPTIONS)
    assert again.tracks_done == 0 and again.tracks_skipped == TRACKS
