"""Cross-validation: stratified folds, refusal on too few labels, before/after report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit, softmax

from tagger_core.errors import CalibrationError, TaggerError
from tagger_core.trust import crossval as cv
from tagger_core.trust.scaling import TemperatureScaler


def imbalanced_labels(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rates = np.array([0.5, 0.2, 0.05, 0.02, 0.3])
    return (rng.random((n, rates.size)) < rates).astype(float)


def test_folds_cover_every_track_once_with_even_sizes() -> None:
    y = imbalanced_labels(1003, seed=0)
    fold = cv.stratified_folds(y, k=5, seed=1)
    assert fold.shape == (1003,)
    assert set(fold.tolist()) == {0, 1, 2, 3, 4}
    sizes = np.bincount(fold)
    assert sizes.max() - sizes.min() <= 2


def test_folds_spread_each_class_evenly() -> None:
    y = imbalanced_labels(1000, seed=2)
    fold = cv.stratified_folds(y, k=5, seed=3)
    for c in range(y.shape[1]):
        per_fold = np.bincount(fold, weights=y[:, c], minlength=5)
        assert per_fold.max() - per_fold.min() <= 2, (c, per_fold)


def test_folds_are_reproducible_by_seed() -> None:
    y = imbalanced_labels(300, seed=4)
    a = cv.stratified_folds(y, 4, seed=9)
    assert np.array_equal(a, cv.stratified_folds(y, 4, seed=9))
    assert not np.array_equal(a, cv.stratified_folds(y, 4, seed=10))


def test_refuses_with_counts_and_names_when_a_class_is_rare() -> None:
    y = np.zeros((100, 3))
    y[:50, 0] = 1
    y[:7, 1] = 1  # 7 Jazz positives, 5 folds need 15
    y[:97, 2] = 1  # 3 Blues negatives
    with pytest.raises(TaggerError) as err:
        cv.check_label_counts(y, 5, ["Rock", "Jazz", "Blues"])
    message = str(err.value)
    assert "\n" not in message
    assert "at least 15 positive and 15 negative" in message
    assert "Jazz has 7 positives" in message and "Blues has 3 negatives" in message
    assert "Rock" not in message
    cv.check_label_counts(y[:, :1], 5, ["Rock"])  # enough: no error


def test_refuses_bad_fold_counts() -> None:
    with pytest.raises(CalibrationError, match="folds"):
        cv.stratified_folds(np.ones((3, 1)), k=1)


def overconfident_members(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, (n, 3))
    y = (rng.random(z.shape) < expit(z)).astype(float)
    members = np.stack([z * 2.5 + rng.normal(0, 0.5, z.shape) for _ in range(2)])
    return members, y


def test_cross_validation_reports_improvement_per_class_and_fold() -> None:
    members, y = overconfident_members(1500, seed=5)
    names = ["Rock", "Jazz", "Folk"]
    scaler = TemperatureScaler(per_class=True)
    report = cv.cross_validate(members, y, scaler, k=5, class_names=names)
    assert report.improved
    assert report.after.ece < report.before.ece / 2
    assert [c.name for c in report.per_class] == names
    for c, result in enumerate(report.per_class):
        assert result.positives == int(y[:, c].sum())
        assert result.positives + result.negatives == 1500
        assert result.after.nll < result.before.nll
    assert sum(f.n_test for f in report.folds) == 1500
    assert all(f.n_train + f.n_test == 1500 for f in report.folds)
    temps = [f.params["temperature"] for f in report.folds]
    assert all(2.0 < t < 3.2 for fold_t in temps for t in fold_t)
    again = cv.CrossValReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report


def test_cross_validation_of_softmax_scaler() -> None:
    rng = np.random.default_rng(6)
    z = rng.normal(0.0, 3.0, (800, 4))
    cls = (rng.random(800)[:, None] > np.cumsum(softmax(z, axis=1), axis=1)).sum(axis=1)
    y = np.eye(4)[np.minimum(cls, 3)]
    scaler = TemperatureScaler(activation="softmax", per_class=False)
    report = cv.cross_validate(z * 2.0, y, scaler, k=4)
    assert report.after.nll < report.before.nll
    assert report.per_class[0].name == "class 0"


def test_cross_validation_refuses_rare_class_before_fitting() -> None:
    members, y = overconfident_members(200, seed=7)
    y[:, 1] = 0
    y[:4, 1] = 1
    with pytest.raises(CalibrationError, match="Jazz has 4 positives"):
        cv.cross_validate(members, y, TemperatureScaler(), class_names=["Rock", "Jazz", "Folk"])


def test_report_names_the_held_out_figures_that_got_worse() -> None:
    """Isotonic steps fitted on few, already calibrated tracks do worse on held-out ones."""
    from tagger_core.trust.scaling import IsotonicScaler

    rng = np.random.default_rng(8)
    z = rng.normal(0.0, 2.0, (120, 2))
    y = (rng.random(z.shape) < expit(z)).astype(float)
    report = cv.cross_validate(np.stack([z, z]), y, IsotonicScaler(), k=2)
    worse = report.worse()
    assert not report.improved and worse
    for name, before, after in worse:
        assert name in ("NLL", "ECE") and after >= before
        key = name.lower()
        assert before == getattr(report.before, key) and after == getattr(report.after, key)
    members, y = overconfident_members(600, seed=5)
    assert cv.cross_validate(members, y, TemperatureScaler(), k=3).worse() == []
