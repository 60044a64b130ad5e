"""Metrics: hand-computed cases, independent implementations, properties."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from torchmetrics.functional.classification import binary_calibration_error

from tagger_core.errors import CalibrationError, TaggerError
from tagger_core.trust import metrics as m


def calibrated_softmax_source(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from the very probabilities we report: calibrated by construction."""
    rng = np.random.default_rng(seed)
    z = 3.0 * rng.standard_normal((n, c))
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    cls = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    cls = np.minimum(cls, c - 1)
    return p, np.eye(c)[cls]


def random_multilabel(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random((n, c))
    y = (rng.random((n, c)) < p**2).astype(float)  # overconfident on purpose
    return p, y


# hand-computed case: 2 tracks x 2 classes
P_HAND = np.array([[0.95, 0.05], [0.62, 0.38]])
Y_HAND = np.array([[1, 0], [0, 1]])


def test_reliability_diagram_hand_case() -> None:
    d = m.reliability_diagram(P_HAND, Y_HAND)
    assert d.count == (1, 0, 0, 1, 0, 0, 1, 0, 0, 1)
    assert d.winning_count == (0, 0, 0, 0, 0, 0, 1, 0, 0, 1)
    assert d.mean_confidence[0] == pytest.approx(0.05)
    assert d.mean_confidence[3] == pytest.approx(0.38)
    assert d.frequency[0] == 0 and d.frequency[3] == 1 and d.frequency[6] == 0
    assert d.frequency[9] == 1
    assert np.isnan(d.frequency[1])


def test_am23_mae_and_weighted_mae_hand_case() -> None:
    d = m.reliability_diagram(P_HAND, Y_HAND)
    # non-empty buckets 0, 3, 6, 9: |0-.05| + |1-.35| + |0-.65| + |1-.95| over 4
    assert m.am23_mae(d) == pytest.approx((0.05 + 0.65 + 0.65 + 0.05) / 4)
    # winning decisions fall in buckets 6 and 9, one each
    assert m.am23_weighted_mae(d) == pytest.approx((0.65 + 0.05) / 2)
    assert m.am23_weighted_mae(d, "all") == pytest.approx(m.am23_mae(d))


def test_ece_mce_brier_nll_hand_case() -> None:
    # gaps per pair |y - p|: .05 .05 .62 .62, every pair in its own bucket
    assert m.expected_calibration_error(P_HAND, Y_HAND) == pytest.approx(0.335)
    assert m.maximum_calibration_error(P_HAND, Y_HAND) == pytest.approx(0.62)
    assert m.brier_score(P_HAND, Y_HAND) == pytest.approx((0.05**2 * 2 + 0.62**2 * 2) / 4)
    want = -(np.log(0.95) + np.log(0.95) + np.log(0.38) + np.log(0.38)) / 4
    assert m.negative_log_likelihood(P_HAND, Y_HAND) == pytest.approx(want)
    assert m.negative_log_likelihood(P_HAND, Y_HAND, "categorical") == pytest.approx(
        -(np.log(0.95) + np.log(0.38)) / 2
    )


def test_adaptive_ece_hand_case() -> None:
    p = np.array([0.1, 0.2, 0.3, 0.9])
    y = np.array([0, 1, 0, 1])
    # two equal-mass groups: {.1,.2} gap |1-.3|, {.3,.9} gap |1-1.2|
    assert m.adaptive_calibration_error(p, y, n_buckets=2) == pytest.approx((0.7 + 0.2) / 4)


def test_bucket_edges() -> None:
    idx = m.bucket_index(np.array([0.0, 0.0999, 0.1, 0.95, 1.0]))
    assert idx.tolist() == [0, 0, 1, 9, 9]


def test_classification_report_hand_case() -> None:
    p = np.array([[0.9], [0.6], [0.4], [0.2], [0.7]])
    y = np.array([[1], [0], [1], [0], [1]])
    r = m.classification_report(p, y)
    # TP=2 (0.9, 0.7), FP=1 (0.6), FN=1 (0.4), TN=1 (0.2)
    assert r.accuracy[0] == pytest.approx(3 / 5)
    assert r.precision[0] == pytest.approx(2 / 3)
    assert r.recall[0] == pytest.approx(2 / 3)
    assert r.f1[0] == pytest.approx(2 / 3)
    assert r.balanced_accuracy[0] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert r.positives == (3,) and r.negatives == (2,)


def test_against_torchmetrics_ece_and_mce() -> None:
    p, y = random_multilabel(3000, 6, seed=1)
    preds, target = torch.tensor(p.ravel()), torch.tensor(y.ravel()).long()
    want_ece = float(binary_calibration_error(preds, target, n_bins=10, norm="l1"))
    want_mce = float(binary_calibration_error(preds, target, n_bins=10, norm="max"))
    assert m.expected_calibration_error(p, y) == pytest.approx(want_ece, abs=1e-6)
    assert m.maximum_calibration_error(p, y) == pytest.approx(want_mce, abs=1e-6)


def test_against_sklearn_curve_brier_nll() -> None:
    p, y = random_multilabel(3000, 5, seed=2)
    d = m.reliability_diagram(p, y)
    prob_true, prob_pred = calibration_curve(y.ravel(), p.ravel(), n_bins=10, strategy="uniform")
    nonempty = np.asarray(d.count) > 0
    np.testing.assert_allclose(np.asarray(d.frequency)[nonempty], prob_true, atol=1e-12)
    np.testing.assert_allclose(np.asarray(d.mean_confidence)[nonempty], prob_pred, atol=1e-12)
    assert m.brier_score(p, y) == pytest.approx(skm.brier_score_loss(y.ravel(), p.ravel()))
    assert m.negative_log_likelihood(p, y) == pytest.approx(skm.log_loss(y.ravel(), p.ravel()))


def test_against_sklearn_classification() -> None:
    p, y = random_multilabel(500, 4, seed=3)
    r = m.classification_report(p, y, threshold=0.5)
    pred = (p >= 0.5).astype(int)
    for c in range(4):
        assert r.accuracy[c] == pytest.approx(skm.accuracy_score(y[:, c], pred[:, c]))
        assert r.precision[c] == pytest.approx(skm.precision_score(y[:, c], pred[:, c]))
        assert r.recall[c] == pytest.approx(skm.recall_score(y[:, c], pred[:, c]))
        assert r.f1[c] == pytest.approx(skm.f1_score(y[:, c], pred[:, c]))
        assert r.balanced_accuracy[c] == pytest.approx(
            skm.balanced_accuracy_score(y[:, c], pred[:, c])
        )
    assert r.macro()["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))


def test_per_class_reliability_matches_single_column() -> None:
    p, y = random_multilabel(400, 3, seed=4)
    diagrams = m.per_class_reliability(p, y)
    for c in range(3):
        single = m.reliability_diagram(p[:, c], y[:, c])
        assert diagrams[c].count == single.count
        np.testing.assert_allclose(diagrams[c].frequency, single.frequency)
        # winning counts are about the full matrix, so they only bound the column count
        assert sum(diagrams[c].winning_count) <= sum(single.count)
    assert sum(sum(d.winning_count) for d in diagrams) == 400


def test_calibrated_source_mae_at_floor_and_ece_near_zero() -> None:
    p, y = calibrated_softmax_source(5000, 8, seed=0)
    s = m.calibration_summary(p, y)
    assert s.ece < 0.006
    assert s.mae < 0.02  # the documented floor, about 0.013
    assert s.weighted_mae < 0.02
    sharp = p**2 / np.sum(p**2, axis=1, keepdims=True)  # the same source at T = 0.5
    overconfident = m.calibration_summary(sharp, y)
    assert overconfident.ece > 0.02 and overconfident.mae > s.mae


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_calibrated_synthetic_source_property(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.random((4000, 3))
    y = (rng.random((4000, 3)) < p).astype(float)  # P(y=1 | p) = p exactly
    d = m.reliability_diagram(p, y)
    assert m.diagram_ece(d) < 0.025  # sampling noise alone: mean 0.008, max 0.019 in 1,500 seeds
    # uniform confidences spread evenly in each bucket: the MAE floor is sampling noise only
    assert m.am23_mae(d) < 0.03


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_metrics_invariant_to_sample_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.round(rng.random((60, 4)), 1)  # rounding makes ties, the hard case for adaptive ECE
    y = (rng.random((60, 4)) < 0.4).astype(float)
    perm = rng.permutation(60)
    a, b = m.calibration_summary(p, y), m.calibration_summary(p[perm], y[perm])
    for key, value in a.to_dict().items():
        assert b.to_dict()[key] == pytest.approx(value, abs=1e-12, nan_ok=True)
    ra, rb = m.classification_report(p, y), m.classification_report(p[perm], y[perm])
    assert ra == rb


def test_round_trips_through_json() -> None:
    p, y = random_multilabel(200, 3, seed=5)
    d = m.reliability_diagram(p, y)
    d2 = m.ReliabilityDiagram.from_dict(json.loads(json.dumps(d.to_dict())))
    assert d2.count == d.count
    np.testing.assert_allclose(d2.frequency, d.frequency)
    s = m.calibration_summary(p, y)
    assert m.CalibrationSummary.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    r = m.classification_report(p, y)
    assert m.ClassificationReport.from_dict(json.loads(json.dumps(r.to_dict()))) == r


def test_empty_buckets_serialise_as_null() -> None:
    d = m.reliability_diagram(P_HAND, Y_HAND)
    assert d.to_dict()["frequency"][1] is None


@pytest.mark.parametrize(
    ("probs", "labels", "message"),
    [
        (np.ones((3, 2)) * 0.5, np.ones((3, 3)), "same shape"),
        (np.ones((3, 2)) * 1.5, np.ones((3, 2)), "between 0 and 1"),
        (np.ones((3, 2)) * 0.5, np.ones((3, 2)) * 2, "0 or 1"),
        (np.full((3, 2), np.nan), np.ones((3, 2)), "finite"),
    ],
)
def test_bad_input_raises_tagger_error(probs: np.ndarray, labels: np.ndarray, message: str) -> None:
    with pytest.raises(TaggerError, match=message):
        m.calibration_summary(probs, labels)


def test_categorical_nll_needs_one_hot() -> None:
    with pytest.raises(CalibrationError, match="exactly one positive"):
        m.negative_log_likelihood(np.full((2, 2), 0.5), np.ones((2, 2)), "categorical")


def test_per_class_summary_matches_column_metrics() -> None:
    p, y = random_multilabel(500, 3, seed=6)
    summaries = m.per_class_summary(p, y)
    assert len(summaries) == 3
    for c, summary in enumerate(summaries):
        column = m.calibration_summary(p[:, c], y[:, c])
        assert summary.ece == pytest.approx(column.ece)
        assert summary.mae == pytest.approx(column.mae)
        assert summary.brier == pytest.approx(column.brier)
        assert summary.nll == pytest.approx(column.nll)
    # a class that never wins has no winning-weighted MAE
    p2 = np.column_stack([np.full(10, 0.9), np.full(10, 0.2)])
    y2 = np.column_stack([np.ones(10), np.zeros(10)])
    assert np.isnan(m.per_class_summary(p2, y2)[1].weighted_mae)
    assert m.CalibrationSummary.from_dict(m.per_class_summary(p2, y2)[1].to_dict()).n_classes == 1
