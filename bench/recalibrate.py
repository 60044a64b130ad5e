"""Recalibration speed on stored member logits, and what calibration buys on a synthetic source.

Prints JSON. Speed: applying a fitted per-class temperature calibration to the
stored logits of 100k tracks (2 members x 15 classes, float32, as the database
keeps them), vectorised, against the named baseline "naive per-track Python
loop" (math.exp per member and class) run on a 2k-track subset in the same run
and extrapolated linearly; plus the review policy's flags and live counts on the
result. Quality: a synthetic multi-label source made overconfident by a known
temperature (and a single-label softmax one, as in AM'23), calibrated on one
half and scored on the other: MAE / weighted MAE / ECE / NLL before and after.

Usage: python bench/recalibrate.py [--tracks 100000] [--baseline-tracks 2000]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import expit, softmax

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tagger_core.trust import metrics  # noqa: E402
from tagger_core.trust.policy import ReviewPolicy, count_flags, evaluate_policy  # noqa: E402
from tagger_core.trust.scaling import IdentityScaler, TemperatureScaler  # noqa: E402


def best_of(repeats: int, fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, result = math.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def naive_transform(logits: np.ndarray, temperature: list[float]) -> list[list[float]]:
    """Baseline: the obvious per-track, per-member, per-class Python loop."""
    members, tracks, classes = logits.shape
    rows = logits.tolist()
    out = []
    for n in range(tracks):
        row = []
        for c in range(classes):
            total = 0.0
            for m in range(members):
                total += 1.0 / (1.0 + math.exp(-rows[m][n][c] / temperature[c]))
            row.append(total / members)
        out.append(row)
    return out


def speed(tracks: int, baseline_tracks: int, members: int, classes: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    true = rng.normal(0.0, 2.0, (tracks, classes)).astype(np.float32)
    labels = (rng.random(true.shape) < expit(true)).astype(np.float32)
    logits = np.stack(
        [true * 2.0 + rng.normal(0, 0.7, true.shape).astype(np.float32) for _ in range(members)]
    )
    t0 = time.perf_counter()
    scaler = TemperatureScaler(per_class=True).fit(logits[:, :5000], labels[:5000])
    fit_s = time.perf_counter() - t0
    vec_s, out = best_of(repeats, lambda: scaler.transform(logits))
    temps = [float(t) for t in scaler.temperature]  # type: ignore[union-attr]
    sub = logits[:, :baseline_tracks]
    naive_s, naive = best_of(1, lambda: naive_transform(sub, temps))
    naive_full_s = naive_s * tracks / baseline_tracks
    agree = float(np.max(np.abs(np.asarray(naive) - out.mean[:baseline_tracks])))  # type: ignore[union-attr]
    mean, std = out.mean.astype(np.float32), out.std.astype(np.float32)  # type: ignore[union-attr]
    existing = (rng.random(mean.shape) < 0.05).astype(np.uint8)
    policy = ReviewPolicy()
    count_s, counts = best_of(repeats, lambda: count_flags(mean, policy, std, existing))
    flags_s, _ = best_of(repeats, lambda: evaluate_policy(mean, policy, std, existing).queue())
    return {
        "tracks": tracks,
        "members": members,
        "classes": classes,
        "fit_seconds_5k_tracks": round(fit_s, 4),
        "transform_seconds": round(vec_s, 4),
        "baseline": "naive per-track Python loop (math.exp), "
        f"{baseline_tracks} tracks timed, extrapolated linearly",
        "baseline_seconds_measured": round(naive_s, 4),
        "baseline_seconds_extrapolated": round(naive_full_s, 2),
        "speedup": round(naive_full_s / vec_s, 1),
        "max_abs_difference_vs_baseline": agree,
        "target_seconds": 2.0,
        "meets_target": vec_s < 2.0,
        "policy_count_flags_seconds": round(count_s, 4),
        "policy_flags_and_queue_seconds": round(flags_s, 4),
        "flag_counts": counts.to_dict(),  # type: ignore[union-attr]
    }


def _scores(probs: np.ndarray, labels: np.ndarray, kind: str) -> dict:
    s = metrics.calibration_summary(probs, labels, nll_kind=kind)  # type: ignore[arg-type]
    return {k: round(getattr(s, k), 4) for k in ("mae", "weighted_mae", "ece", "nll")}


def quality() -> dict:
    rng = np.random.default_rng(1)
    out: dict = {}
    # multi-label sigmoid ensemble, 2 members, overconfident by T = 2.5
    n, c = 10_000, 15
    true = rng.normal(0.0, 2.0, (n, c))
    y = (rng.random(true.shape) < expit(true)).astype(float)
    members = np.stack([true * 2.5 + rng.normal(0, 0.5, true.shape) for _ in range(2)])
    train, test = slice(0, n // 2), slice(n // 2, None)
    before = IdentityScaler().transform(members[:, test]).mean
    entry = {"source": f"{n} tracks x {c} classes, 2 members, logits x2.5 + noise",
             "before": _scores(before, y[test], "binary")}
    for method in ("nll", "mae_grid"):
        scaler = TemperatureScaler(per_class=True, fit_method=method)
        scaler.fit(members[:, train], y[train])
        after = scaler.transform(members[:, test]).mean
        entry[f"after_per_class_T_{method}"] = _scores(after, y[test], "binary")
        entry[f"median_T_{method}"] = round(float(np.median(scaler.temperature)), 3)  # type: ignore[arg-type]
    out["multilabel_sigmoid"] = entry
    # single-label softmax, 8 classes, as AM'23 (T = 2 overconfidence)
    n, c = 5000, 8
    z = rng.normal(0.0, 3.0, (n, c))
    cls = np.minimum((rng.random(n)[:, None] > np.cumsum(softmax(z, axis=1), axis=1)).sum(1), c - 1)
    y = np.eye(c)[cls]
    half = n // 2
    calibrated = _scores(softmax(z[half:], axis=1), y[half:], "categorical")
    over = z * 2.0
    before = softmax(over[half:], axis=1)
    entry = {"source": f"{n} tracks x {c} classes, labels from softmax(3 N(0,1)), logits x2",
             "perfectly_calibrated_reference": calibrated,
             "before": _scores(before, y[half:], "categorical")}
    for method in ("nll", "mae_grid"):
        scaler = TemperatureScaler(activation="softmax", per_class=False, fit_method=method)
        scaler.fit(over[:half], y[:half])
        after = scaler.transform(over[half:]).mean
        entry[f"after_T_{method}"] = _scores(after, y[half:], "categorical")
        entry[f"T_{method}"] = round(float(scaler.temperature[0]), 3)  # type: ignore[index]
    out["singlelabel_softmax"] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--baseline-tracks", type=int, default=2_000)
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--classes", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    result = {
        "benchmark": "recalibrate",
        "speed": speed(args.tracks, args.baseline_tracks, args.members, args.classes, args.repeats),
    }
    if not args.skip_quality:
        result["quality"] = quality()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
