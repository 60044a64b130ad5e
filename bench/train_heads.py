"""Benchmark: joint vs one-vs-all heads on a generated archive, printed as JSON.

Usage: ``.venv/bin/python bench/train_heads.py [--tracks 3000] [--members 5] [--epochs 100]``.

The archive is synthetic but shaped like a real one: ``--classes`` genres
with Zipf-like frequencies (the commonest on about 40 % of tracks, the rarest
on about 3 %), one or two genres per track, and 456-value embeddings
(the genre bundle's width) in which each genre adds a direction and every
track gets noise. Both designs are trained on the same stratified split;
for each, the test figures after temperature and after Platt calibration
(both fitted on validation), the raw figures, and the training time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tagger_core.training.evaluation import evaluate_ensemble  # noqa: E402
from tagger_core.training.heads import HeadConfig, train_head_ensemble  # noqa: E402
from tagger_core.training.splits import stratified_split  # noqa: E402


def archive(n: int, dim: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    freq = 0.4 / (1 + np.arange(n_classes)) ** 0.95
    y = np.zeros((n, n_classes), dtype=np.float32)
    first = rng.choice(n_classes, size=n, p=freq / freq.sum())
    y[np.arange(n), first] = 1
    second = rng.random(n) < 0.3
    y[
        np.flatnonzero(second), rng.choice(n_classes, size=int(second.sum()), p=freq / freq.sum())
    ] = 1
    centres = rng.normal(size=(n_classes, dim)) * 0.12
    x = y @ centres + rng.normal(size=(n, dim))
    return x.astype(np.float32), y


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=3000)
    parser.add_argument("--classes", type=int, default=15)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    x, y = archive(args.tracks, 456, args.classes, args.seed)
    split = stratified_split(y, seed=args.seed)
    names = [f"g{c}" for c in range(args.classes)]
    out: dict[str, object] = {"tracks": args.tracks, "classes": args.classes,
                              "positives_per_class": y.sum(0).astype(int).tolist()}  # fmt: skip
    for design in ("joint", "ova"):
        cfg = HeadConfig(design=design, n_members=args.members, max_epochs=args.epochs,
                         seed=args.seed)  # fmt: skip
        t0 = time.perf_counter()
        ens = train_head_ensemble(x[split.train], y[split.train], x[split.val], y[split.val],
                                  names, cfg)  # fmt: skip
        seconds = time.perf_counter() - t0
        zv, zt = ens.member_logits(x[split.val]), ens.member_logits(x[split.test])
        row: dict[str, object] = {"train_seconds": round(seconds, 1),
                                  "best_epochs": [h.best_epoch for h in ens.histories]}  # fmt: skip
        for method in ("temperature", "platt"):
            rep, _ = evaluate_ensemble(zv, y[split.val], zt, y[split.test], names, method)
            macro = rep.after.classification.macro()
            row[method] = {
                "macro_f1": round(macro["f1"], 4),
                "macro_balanced_accuracy": round(macro["balanced_accuracy"], 4),
                "mae": round(rep.after.calibration.mae, 4),
                "weighted_mae": round(rep.after.calibration.weighted_mae, 4),
                "ece": round(rep.after.calibration.ece, 4),
            }
        raw = rep.before
        row["raw"] = {
            "macro_f1": round(raw.classification.macro()["f1"], 4),
            "macro_balanced_accuracy": round(raw.classification.macro()["balanced_accuracy"], 4),
            "mae": round(raw.calibration.mae, 4),
            "weighted_mae": round(raw.calibration.weighted_mae, 4),
            "ece": round(raw.calibration.ece, 4),
        }
        out[design] = row
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
