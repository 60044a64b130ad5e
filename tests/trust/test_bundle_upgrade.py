"""After a bundle upgrade, tracks analysed only by the old version keep its predictions.

The shipped ``instrument-family`` bundle is copied with version 2.0.0 and a different
shipped calibration (``upgraded_bundle``); stored outputs of 1.0.0 must still give
predictions, read with 1.0.0's calibration, and be reported as outdated.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from upgraded_bundle import upgraded_resources

from tagger_core.db import open_library
from tagger_core.db.analysis_versions import (
    outdated_counts,
    outdated_track_ids,
    outdated_versions,
)
from tagger_core.db.blob_codec import pack
from tagger_core.db.models import Analysis, Calibration, Prediction, Track, utcnow
from tagger_core.labels.bundles import installed_versions, load_bundle
from tagger_core.trust.archive_calibration import build_calibration_set
from tagger_core.trust.predictions import refresh_predictions
from tagger_core.trust.review import decide, mark_reviewed
from tagger_core.trust.track_predictions import track_predictions

BUNDLE = "instrument-family"
V1_TEMPERATURE = 0.8347  # what 1.0.0 shipped (manifest "previous_versions")
V2_TEMPERATURE = 3.0


def _temperature(t: float) -> dict:
    return {**load_bundle(BUNDLE).manifest["calibration"], "temperature": [t]}


@pytest.fixture
def upgraded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``instrument-family`` installed at 2.0.0, shipping temperature 3.0."""
    root = upgraded_resources(tmp_path / "resources", BUNDLE, "2.0.0", _temperature(V2_TEMPERATURE))
    monkeypatch.setenv("MUSIC_TAGGER_RESOURCES", str(root))
    assert load_bundle(BUNDLE).version == "2.0.0"


def _library_with_outputs(location: str, versions: list[list[str]]) -> tuple:
    """One track per entry of ``versions``, with stored 1.0.0/2.0.0 outputs as listed."""
    library = open_library(location)
    rng = np.random.default_rng(3)
    raw: dict[tuple[int, str], np.ndarray] = {}
    with library.session() as s:
        for i, track_versions in enumerate(versions):
            t = Track(path=f"/m/{i}.flac".encode(), path_text=f"/m/{i}.flac", size=1, mtime_ns=1)
            s.add(t)
            s.flush()
            for version in track_versions:
                logits = rng.normal(-0.5, 2.0, (5, 11)).astype(np.float32)
                raw[(t.id, version)] = logits
                s.add(
                    Analysis(
                        track_id=t.id,
                        bundle_id=BUNDLE,
                        bundle_version=version,
                        members=[f"resnet_seed{k}" for k in range(5)],
                        member_logits=pack(logits),
                    )
                )
    return library, raw


def _expected(logits: np.ndarray, temperature: float) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-logits.astype(np.float64) / temperature))).mean(axis=0)


def _confidences(library, track_id: int) -> np.ndarray:
    labels = load_bundle(BUNDLE).raw_labels
    with library.session() as s:
        row = s.query(Prediction).filter_by(track_id=track_id, bundle_id=BUNDLE).one()
        return np.array([row.confidences[name] for name in labels])


def test_old_analyses_keep_their_predictions_with_the_old_shipped_calibration(
    db_location: str, upgraded: None
) -> None:
    library, raw = _library_with_outputs(
        db_location, [["1.0.0", "2.0.0"], ["1.0.0"], ["1.0.0"], []]
    )
    try:
        assert refresh_predictions(library) == 3  # before: only the 2.0.0 track got one
        current, old_a, old_b, never = 1, 2, 3, 4
        np.testing.assert_allclose(
            _confidences(library, current), _expected(raw[(current, "2.0.0")], V2_TEMPERATURE),
            atol=1e-4,
        )  # fmt: skip
        for tid in (old_a, old_b):
            np.testing.assert_allclose(
                _confidences(library, tid), _expected(raw[(tid, "1.0.0")], V1_TEMPERATURE),
                atol=1e-4,
            )  # fmt: skip
        with library.session() as s:
            shown = track_predictions(s, [current, old_a, never])
            assert outdated_counts(s, installed_versions()) == {BUNDLE: 2}
            assert outdated_track_ids(s, installed_versions()) == [old_a, old_b]
            # history: the 1.0.0 row of the re-analysed track is still there
            assert s.query(Analysis).filter_by(track_id=current).count() == 2
        (now,) = shown[current]
        assert (now.version, now.outdated, now.note) == ("2.0.0", False, None)
        (before,) = shown[old_a]
        assert before.version == "1.0.0" and before.outdated
        assert before.note == "instrument-family 1.0.0 — outdated, re-analyse to update"
        assert before.calibration == "calibrated by the calibration version 1.0.0 shipped"
        assert before.to_dict()["outdated"] is True
        assert never not in shown
    finally:
        library.close()


def test_a_librarian_calibration_of_the_old_version_wins_over_its_shipped_one(
    tmp_path: Path, upgraded: None
) -> None:
    library, raw = _library_with_outputs(str(tmp_path / "lib.db"), [["2.0.0"], ["1.0.0"]])
    labels = list(load_bundle(BUNDLE).raw_labels)
    with library.session() as s:
        s.add(
            Calibration(
                bundle_id=BUNDLE,
                bundle_version="1.0.0",
                method="temperature",
                fit_criterion="nll",
                params={"labels": labels, "scaler": _temperature(1.7)},
                active=True,
            )
        )
    refresh_predictions(library)
    np.testing.assert_allclose(
        _confidences(library, 2), _expected(raw[(2, "1.0.0")], 1.7), atol=1e-4
    )
    np.testing.assert_allclose(
        _confidences(library, 1), _expected(raw[(1, "2.0.0")], V2_TEMPERATURE), atol=1e-4
    )
    with library.session() as s:
        (old,) = track_predictions(s, [2])[2]
    assert old.outdated and old.calibration.startswith("calibrated on this archive")
    library.close()


def test_the_newest_old_analysis_is_the_one_read(library) -> None:
    """0.9.0 then 1.0.0 analysed the track, 2.0.0 failed on it: 1.0.0 is what is shown."""
    stamp = utcnow()
    rows = (("0.9.0", "ok", 60), ("1.0.0", "ok", 0), ("2.0.0", "error", 0))
    with library.session() as s:
        t = Track(path=b"/m/x.flac", path_text="/m/x.flac", size=1, mtime_ns=1)
        s.add(t)
        s.flush()
        for version, status, age in rows:
            s.add(
                Analysis(
                    track_id=t.id,
                    bundle_id=BUNDLE,
                    bundle_version=version,
                    status=status,
                    member_logits=pack(np.zeros((5, 11), np.float32)) if status == "ok" else None,
                    created_at=stamp - dt.timedelta(seconds=age),
                )
            )
    with library.session() as s:
        assert outdated_versions(s, BUNDLE, "2.0.0") == {t.id: "1.0.0"}
        assert outdated_versions(s, BUNDLE, "1.0.0") == {}


def test_a_calibration_is_fitted_on_the_installed_version_only(
    tmp_path: Path, upgraded: None
) -> None:
    """Reviewed tracks analysed only by 1.0.0 outnumber the 2.0.0 ones; neither fits 2.0.0."""
    library, _ = _library_with_outputs(
        str(tmp_path / "lib.db"), [["2.0.0"], ["1.0.0"], ["1.0.0"], ["1.0.0"]]
    )
    for tid in (1, 2, 3, 4):
        decide(library, tid, "instruments", "bass", "accept")
        mark_reviewed(library, tid, "instruments")
    with library.session() as s:
        fitted_on = build_calibration_set(s, BUNDLE)
    assert fitted_on.version == "2.0.0" and fitted_on.track_ids.tolist() == [1]
    library.close()
