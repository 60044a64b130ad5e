"""Item 4 of issue 16: a calibration that did worse held out is stored, not activated."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from stored_outputs import add_genre_outputs, review_truth

from tagger_core.db.models import Calibration, Prediction
from tagger_core.errors import CalibrationError
from tagger_core.trust.archive_calibration import activate_calibration, fit_calibration


@pytest.fixture
def calibrated_already(library):
    """Outputs that are already calibrated (true T = 1): isotonic on 120 tracks overfits."""
    bundle, truth = add_genre_outputs(library, 120, 1.0)
    review_truth(library, bundle, truth, upto=120)
    return library


def active_ids(library) -> list[int]:
    with library.session() as s:
        return list(s.scalars(select(Calibration.id).where(Calibration.active.is_(True))))


def test_worse_fit_is_stored_but_not_activated(calibrated_already) -> None:
    library = calibrated_already
    result = fit_calibration(library, "genre", method="isotonic", folds=3)
    assert [name for name, _, _ in result.worse] == ["NLL", "ECE"]
    assert not result.activated
    assert "held-out NLL got worse" in result.not_activated_because
    assert active_ids(library) == []
    with library.session() as s:
        row = s.get(Calibration, result.calibration_id)
        assert row is not None and row.metrics_after["worse"][0][0] == "NLL"
        assert {p.calibration_id for p in s.scalars(select(Prediction))} <= {None}


def test_activating_a_worse_calibration_needs_force(calibrated_already) -> None:
    library = calibrated_already
    result = fit_calibration(library, "genre", method="isotonic", folds=3)
    with pytest.raises(CalibrationError, match="--force"):
        activate_calibration(library, result.calibration_id)
    activate_calibration(library, result.calibration_id, force=True)
    assert active_ids(library) == [result.calibration_id]


def test_force_activates_at_fit_time(calibrated_already) -> None:
    result = fit_calibration(calibrated_already, "genre", method="isotonic", folds=3, force=True)
    assert result.worse and result.activated
    assert active_ids(calibrated_already) == [result.calibration_id]


def test_a_better_fit_activates_and_carries_intervals(library) -> None:
    bundle, truth = add_genre_outputs(library, 240, 2.5)
    review_truth(library, bundle, truth, upto=240)
    result = fit_calibration(library, "genre", method="temperature", folds=4)
    assert result.activated and not result.worse
    assert result.intervals is not None
    assert result.intervals.improved_beyond_interval()
    with library.session() as s:
        row = s.get(Calibration, result.calibration_id)
        assert row is not None
        lo, hi = row.metrics_after["ci95"]["ece_ci95"]
        assert lo <= row.metrics_after["pooled"]["ece"] <= hi
        assert row.metrics_before["ci95"]["nll"] == pytest.approx(
            row.metrics_before["pooled"]["nll"]
        )
        assert row.metrics_after["shift_reference"]["track_ids"] == list(range(1, 241))
        assert row.params["source"] == "reviews"
