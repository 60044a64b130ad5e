"""Bootstrap intervals, the MMD shift test and conformal sets on synthetic data (issue 16).

Prints JSON. All data here is synthetic, drawn from sources whose truth is known:

- ``bootstrap``: seconds for 1,000 paired track resamples of 10k tracks x 15 labels
  (vectorised: one product of a resample-count matrix with per-track sums), against
  the named baseline "loop of metrics.calibration_summary over resampled index
  arrays" timed on 50 resamples in the same run and extrapolated linearly.
- ``interval_widths``: ECE / MAE / NLL 95 % half-widths by number of tracks, for a
  perfectly calibrated source (NOTES: softmax(3 N(0,1)), 8 classes), and how well the
  1/sqrt(n) estimate of "tracks for ECE +-0.01" made at the smallest n predicts them.
- ``interval_coverage``: how often the 95 % interval (basic bootstrap, 400 resamples)
  holds the source's true figure (measured on 400,000 tracks), over seeded trials, for
  a calibrated sigmoid source (8 labels, true ECE 0) and one too confident by T = 1.3.
- ``mmd``: share of same-distribution trials with p > 0.05 (should be about 95 %),
  share of shifted trials (mean +0.5 in 5 of 50 dimensions) with p < 0.01, and the
  seconds of one test at 1,000 tracks a side, 500 dimensions, 500 permutations.
- ``conformal``: held-out coverage and mean set size by target and sharpness on
  calibrated multi-label data (10 labels, 2,000 tracks, 5 folds).

Usage: python bench/trust_science.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tagger_core.trust.conformal import fit_conformal  # noqa: E402
from tagger_core.trust.metrics import calibration_summary  # noqa: E402
from tagger_core.trust.shift_test import mmd_test  # noqa: E402
from tagger_core.trust.uncertainty import (  # noqa: E402
    figures_from_sums,
    paired_bootstrap,
    resample_weights,
    track_sums,
)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def calibrated_softmax(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = 3.0 * rng.normal(size=(n, 8))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return p, (rng.random(p.shape) < p).astype(float)


def bootstrap_speed(repeats: int) -> dict:
    rng = np.random.default_rng(0)
    z = rng.normal(-1.0, 2.0, (10_000, 15))
    y = (rng.random(z.shape) < sigmoid(z)).astype(float)
    before, after = sigmoid(2.0 * z), sigmoid(z)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        paired_bootstrap(before, after, y, n_resamples=1000, seed=0)
        best = min(best, time.perf_counter() - t0)
    t0 = time.perf_counter()
    for r in range(50):
        idx = np.random.default_rng(r).integers(0, len(y), len(y))
        calibration_summary(before[idx], y[idx])
        calibration_summary(after[idx], y[idx])
    loop = (time.perf_counter() - t0) * 1000 / 50
    return {
        "tracks": 10_000,
        "labels": 15,
        "resamples": 1000,
        "vectorised_s": round(best, 3),
        "baseline_loop_s_extrapolated": round(loop, 2),
        "speedup": round(loop / best, 1),
    }


def interval_widths() -> dict:
    rows = []
    sizes = (100, 400, 1600, 6400)
    for n in sizes:
        p, y = calibrated_softmax(n, seed=n)
        fig = paired_bootstrap(p, p, y, seed=0).after
        rows.append(
            {
                "tracks": n,
                "ece": round(fig.values["ece"], 4),
                "ece_ci95": [round(v, 4) for v in fig.ci95["ece"]],
                "ece_half_width_unclipped": round(fig.half_width("ece"), 4),
                "mae": round(fig.values["mae"], 4),
                "mae_ci95": [round(v, 4) for v in fig.ci95["mae"]],
                "nll_half_width": round(fig.half_width("nll"), 4),
            }
        )
    first = rows[0]
    predicted = [
        round(first["ece_half_width_unclipped"] * math.sqrt(first["tracks"] / r["tracks"]), 4)
        for r in rows
    ]
    return {"source": "softmax(3 N(0,1)), 8 classes", "rows": rows, "sqrt_n_prediction": predicted}


def sigmoid_source(n: int, seed: int, sharpen: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.0, 2.0, (n, 8))
    y = (rng.random(z.shape) < sigmoid(z)).astype(float)
    return sigmoid(sharpen * z), y


def interval_coverage(trials: int) -> list[dict]:
    out = []
    for sharpen in (1.0, 1.3):
        p, y = sigmoid_source(400_000, 999, sharpen)
        truth = {
            k: float(v[0]) for k, v in figures_from_sums(track_sums(p, y).sum(0)[None], 8).items()
        }
        for n in (100, 400, 1600):
            hits = dict.fromkeys(truth, 0)
            pct_hits = dict.fromkeys(truth, 0)
            for t in range(trials):
                q, z = sigmoid_source(n, t, sharpen)
                fig = paired_bootstrap(q, q, z, n_resamples=400, seed=t).after
                # the plain percentile interval of the same draws, for comparison
                draws = figures_from_sums(
                    resample_weights(n, 400, t) @ track_sums(q, z).astype(np.float32), 8
                )
                for k in truth:
                    lo, hi = fig.ci95[k]
                    hits[k] += lo <= truth[k] <= hi
                    p_lo, p_hi = np.percentile(draws[k], [2.5, 97.5])
                    pct_hits[k] += p_lo <= truth[k] <= p_hi
            out.append(
                {
                    "sharpen": sharpen,
                    "tracks": n,
                    "true": {k: round(v, 4) for k, v in truth.items()},
                    "coverage": {k: round(v / trials, 2) for k, v in hits.items()},
                    "percentile_coverage": {k: round(v / trials, 2) for k, v in pct_hits.items()},
                }
            )
    return out


def mmd(trials: int) -> dict:
    null_ok = shift_found = 0
    for t in range(trials):
        rng = np.random.default_rng(1000 + t)
        x, y = rng.normal(size=(200, 50)), rng.normal(size=(200, 50))
        null_ok += mmd_test(x, y, n_permutations=200, seed=t).p_value > 0.05
        y[:, :5] += 0.5
        shift_found += mmd_test(x, y, n_permutations=200, seed=t).p_value < 0.01
    rng = np.random.default_rng(0)
    big_x, big_y = rng.normal(size=(3000, 500)), rng.normal(size=(3000, 500))
    t0 = time.perf_counter()
    mmd_test(big_x, big_y, n_permutations=500, seed=0, max_per_side=1000)
    return {
        "trials": trials,
        "tracks_per_side": 200,
        "dims": 50,
        "same_distribution_p_above_0_05": null_ok / trials,
        "shifted_p_below_0_01": shift_found / trials,
        "seconds_1000_per_side_500_dims": round(time.perf_counter() - t0, 2),
    }


def conformal() -> list[dict]:
    out = []
    for sharpness in (1.0, 2.0, 4.0):
        rng = np.random.default_rng(7)
        z = sharpness * rng.normal(-1.0, 1.0, (2000, 10))
        p = sigmoid(z)
        y = (rng.random(p.shape) < p).astype(float)
        for target in (0.8, 0.9, 0.95):
            fit = fit_conformal(p, y, target=target, folds=5, seed=0)
            out.append(
                {
                    "sharpness": sharpness,
                    "target": target,
                    "coverage_held_out": round(fit.coverage_held_out, 4),
                    "binomial_3sd": round(3 * math.sqrt(target * (1 - target) / 2000), 4),
                    "mean_set_size": round(fit.mean_set_size, 2),
                    "threshold": round(fit.threshold, 4),
                }
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and MMD trials")
    args = parser.parse_args()
    print(
        json.dumps(
            {
                "bootstrap": bootstrap_speed(1 if args.quick else 3),
                "interval_widths": interval_widths(),
                "interval_coverage": interval_coverage(20 if args.quick else 60),
                "mmd": mmd(20 if args.quick else 100),
                "conformal": conformal(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
