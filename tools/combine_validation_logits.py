"""Validation mAP of models averaged together, from their saved validation logits.

    .venv/bin/python tools/combine_validation_logits.py --data DATA \\
        --exclude-source TimGM6mb A_val_logits.npy B_val_logits.npy [...]

Why: to ask whether two kinds of model (the ResNet, a head on pretrained
embeddings, a ResNet that heard the project's synthesiser) make different
mistakes, the way a deep ensemble's members must. Every logits file holds one
row per clip of DATA's validation split (``tools/instrument_learning_curve.py
--save-logits``, ``tools/instrument_probe.py``). Each model gets its own
temperature on the validation clips of the sources it trained on; their
probabilities are averaged and the average gets one more temperature there
(v2's rule: one shared T by validation NLL); mAP and ECE are given on those
clips and, apart, on the left-out source's clips. No test clip is read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.special import expit, logit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from evaluate_instrument_model import fit_temperature  # noqa: E402

from tagger_core.training.ranking import average_precision  # noqa: E402
from tagger_core.trust.metrics import expected_calibration_error  # noqa: E402


def combined(logits: list[np.ndarray], labels: np.ndarray, fit_rows: np.ndarray) -> np.ndarray:
    """Each model's probabilities at its own temperature, averaged, then one shared temperature
    for the average (every temperature fitted on ``fit_rows`` only)."""
    mean = np.mean([expit(z / fit_temperature(z[fit_rows], labels[fit_rows])) for z in logits], 0)
    z = logit(np.clip(mean, 1e-7, 1 - 1e-7))
    return expit(z / fit_temperature(z[fit_rows], labels[fit_rows]))


def figures(probs: np.ndarray, labels: np.ndarray) -> dict:
    return {
        "map": round(float(np.nanmean(average_precision(probs, labels))), 4),
        "ece": round(expected_calibration_error(probs, labels), 4),
        "clips": int(len(labels)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="holds val.npz")
    parser.add_argument("--exclude-source", help="the source the models did not train on")
    parser.add_argument("logits", type=Path, nargs="+")
    args = parser.parse_args(argv)
    with np.load(args.data / "val.npz") as z:
        labels, sources = z["labels"], z["source"].astype(str)
    logits = [np.load(path) for path in args.logits]
    for path, z in zip(args.logits, logits, strict=True):
        if z.shape != labels.shape:
            parser.error(f"{path}: {z.shape} logits for {labels.shape} validation labels")
    held = sources == args.exclude_source
    probs = combined(logits, labels, ~held)
    out = {"models": [p.name for p in args.logits], "trained_sources": figures(probs[~held],
           labels[~held])}  # fmt: skip
    if held.any():
        out["held_out"] = {"source": args.exclude_source} | figures(probs[held], labels[held])
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
