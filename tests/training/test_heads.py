from __future__ import annotations

import threading

import numpy as np
import pytest

from tagger_core.errors import TaggerError
from tagger_core.training.head_training import compare_designs, train_heads_on_arrays
from tagger_core.training.heads import (
    HeadConfig,
    balanced_negative_subsample,
    train_head_ensemble,
)
from tagger_core.training.splits import stratified_split
from tagger_core.trust import metrics

from .synthetic import embedding_set

CLASSES = ["Rock", "Jazz", "Folk"]


def test_balanced_negative_subsample_takes_equal_negatives_stratified():
    rng = np.random.default_rng(0)
    y = np.zeros((300, 3), dtype=int)
    y[:30, 0] = 1
    y[30:180, 1] = 1
    y[180:300, 2] = 1
    mask = balanced_negative_subsample(y, seed=1)
    pos = y[:, 0] == 1
    assert mask[pos, 0].all()
    assert mask[~pos, 0].sum() == 30
    # negatives of class 0 come from classes 1 and 2 in proportion (150 : 120 -> 17 : 13)
    assert mask[30:180, 0].sum() == 17 and mask[180:, 0].sum() == 13
    # fewer negatives than positives: all of them are used
    assert mask[:, 1].sum() == 300
    assert not np.array_equal(mask, balanced_negative_subsample(y, seed=2))
    del rng


@pytest.mark.parametrize("design", ["joint", "ova"])
def test_heads_learn_well_above_chance_and_report_is_computed(design):
    x, y = embedding_set(n=300, seed=1)
    config = HeadConfig(design=design, n_members=2, max_epochs=25, patience=5, seed=0)
    run = train_heads_on_arrays(x, y, CLASSES, config)
    te = run.split.test
    logits = run.ensemble.member_logits(x[te])
    assert logits.shape == (2, len(te), 3)
    probs = run.scaler.transform(logits).mean
    # recompute the report's figures independently from the test probabilities
    pred = probs >= 0.5
    truth = y[te].astype(bool)
    tp = (pred & truth).sum(0)
    f1 = 2 * tp / (2 * tp + (pred & ~truth).sum(0) + (~pred & truth).sum(0))
    assert run.report.after.classification.f1 == pytest.approx(tuple(f1))
    assert run.report.after.calibration.mae == pytest.approx(
        metrics.am23_mae(metrics.reliability_diagram(probs, y[te]))
    )
    raw = (1 / (1 + np.exp(-logits))).mean(0)
    assert run.report.before.calibration.ece == pytest.approx(
        metrics.expected_calibration_error(raw, y[te])
    )
    macro = run.report.after.classification.macro()
    assert macro["balanced_accuracy"] > 0.8  # chance is 0.5
    assert macro["f1"] > 0.7
    assert run.report.counts["test"]["positives"] == y[te].sum(0).astype(int).tolist()


def test_ova_raw_confidences_are_biased_up_and_calibration_lowers_them():
    x, y = embedding_set(n=400, seed=2, rate=0.15)
    config = HeadConfig(design="ova", n_members=2, max_epochs=25, patience=5)
    run = train_heads_on_arrays(x, y, CLASSES, config, calibration="platt")
    te = run.split.test
    raw = (1 / (1 + np.exp(-run.ensemble.member_logits(x[te])))).mean(0)
    calibrated = run.scaler.transform(run.ensemble.member_logits(x[te])).mean
    # trained on 50 % positives, the raw heads over-predict a 15 % class
    assert raw.mean() > y[te].mean()
    assert abs(calibrated.mean() - y[te].mean()) < abs(raw.mean() - y[te].mean())


def test_deterministic_for_a_seed_and_different_across_seeds():
    x, y = embedding_set(n=120, seed=3)
    sp = stratified_split(y, seed=0)
    args = (x[sp.train], y[sp.train], x[sp.val], y[sp.val], CLASSES)
    cfg = HeadConfig(n_members=2, max_epochs=5, seed=7)
    a = train_head_ensemble(*args, cfg).member_logits(x[sp.test])
    b = train_head_ensemble(*args, cfg).member_logits(x[sp.test])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], a[1])  # members differ (different seeds)


def test_cancel_then_resume_from_checkpoint_gives_the_same_ensemble(tmp_path):
    x, y = embedding_set(n=120, seed=4)
    sp = stratified_split(y, seed=0)
    args = (x[sp.train], y[sp.train], x[sp.val], y[sp.val], CLASSES)
    cfg = HeadConfig(n_members=3, max_epochs=4, patience=10, seed=1)
    cancel = threading.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int, text: str) -> None:
        seen.append((done, total))
        if done >= 6:  # during the second member
            cancel.set()

    with pytest.raises(TaggerError, match="cancelled"):
        train_head_ensemble(*args, cfg, progress=progress, cancel=cancel, checkpoint_dir=tmp_path)
    # member 1 finished, member 2 stopped after its second epoch: both checkpointed
    assert [p.name[-11:] for p in sorted(tmp_path.glob("heads_*.pt"))] == [
        "member_0.pt",
        "member_1.pt",
    ]
    assert seen[0] == (1, 12) and seen[-1] == (6, 12)
    resumed_progress: list[tuple[int, int]] = []
    resumed = train_head_ensemble(
        *args, cfg, checkpoint_dir=tmp_path, progress=lambda d, t, s: resumed_progress.append(d)
    )
    assert resumed_progress[:2] == [4, 7]  # member 1 done already; member 2 goes on at epoch 3
    fresh = train_head_ensemble(*args, cfg)
    np.testing.assert_allclose(
        resumed.member_logits(x[sp.test]), fresh.member_logits(x[sp.test]), rtol=0, atol=1e-6
    )


def test_early_stopping_stops_before_max_epochs_on_noise():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(150, 8)).astype(np.float32)
    y = (rng.random((150, 2)) < 0.5).astype(np.float32)  # labels unrelated to x
    sp = stratified_split(y, seed=0)
    cfg = HeadConfig(n_members=1, max_epochs=60, patience=3, hidden=64)
    ens = train_head_ensemble(x[sp.train], y[sp.train], x[sp.val], y[sp.val], ["a", "b"], cfg)
    h = ens.histories[0]
    assert h.epochs_run < 60
    assert h.epochs_run == h.best_epoch + 3


def test_bad_shapes_and_missing_validation_are_refused():
    x, y = embedding_set(n=60)
    with pytest.raises(TaggerError, match="validation"):
        train_head_ensemble(x, y, x[:0], y[:0], CLASSES, HeadConfig(n_members=1, max_epochs=1))
    with pytest.raises(TaggerError, match="labels N x classes"):
        train_head_ensemble(x, y, x, y, ["a"], HeadConfig(n_members=1, max_epochs=1))
    with pytest.raises(TaggerError, match="design"):
        HeadConfig(design="tree")


def test_compare_designs_prints_one_row_per_design():
    x, y = embedding_set(n=200, seed=6)
    sp = stratified_split(y, seed=0)
    runs = {
        d: train_heads_on_arrays(
            x, y, CLASSES, HeadConfig(design=d, n_members=1, max_epochs=10), split=sp
        )
        for d in ("joint", "ova")
    }
    table = compare_designs(runs).splitlines()
    assert table[1].startswith("joint") and table[2].startswith("ova")
    f1 = runs["ova"].report.after.classification.macro()["f1"]
    assert f"{f1:.3f}" in table[2]


def test_text_report_prints_the_computed_figures():
    from tagger_core.training.evaluation import evaluate_ensemble, format_report

    rng = np.random.default_rng(8)
    y_val = (rng.random((60, 2)) < 0.4).astype(float)
    y_test = (rng.random((50, 2)) < 0.4).astype(float)
    z_val = (y_val * 4 - 2)[None] + rng.normal(size=(3, 60, 2)) * 2
    z_test = (y_test * 4 - 2)[None] + rng.normal(size=(3, 50, 2)) * 2
    report, scaler = evaluate_ensemble(z_val, y_val, z_test, y_test, ["Rock", "Jazz"], "platt")
    probs = scaler.transform(z_test).mean
    text = format_report(report).splitlines()
    rock = next(line for line in text if line.startswith("Rock"))
    jazz_recall = metrics.classification_report(probs, y_test).recall[1]
    assert f"{metrics.classification_report(probs, y_test).f1[0]:6.3f}" in rock
    assert f"{jazz_recall:6.3f}" in next(line for line in text if line.startswith("Jazz"))
    ece_line = next(line for line in text if line.startswith("ece"))
    raw = (1 / (1 + np.exp(-z_test))).mean(0)
    assert ece_line.split()[1:] == [
        f"{metrics.expected_calibration_error(raw, y_test):.3f}",
        f"{metrics.expected_calibration_error(probs, y_test):.3f}",
    ]
