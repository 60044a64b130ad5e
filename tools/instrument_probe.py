"""A head on pretrained musicnn/VGG embeddings for the instrument families, scored like the ResNet.

    .venv/bin/python tools/instrument_probe.py --train E/train.npz --val E/val.npz \\
        --exclude-source TimGM6mb --out probe.json

Why: to learn whether features learned from real recordings transfer to a
sample source no model heard better than the instrument-family ResNet does
(``tools/instrument_learning_curve.py`` measures the ResNet the same way).
Embeddings come from ``tools/pretrained_embeddings.py``. With
``--exclude-source`` that source's training clips are left out, early stopping,
the choice of head and the temperature use only the other sources' validation
clips, and the left-out source's validation clips are scored apart
(``held_out_map``). Heads tried: logistic regression and a one-hidden-layer
MLP, each at a few weight decays; the one with the lowest validation loss is
reported; its validation logits go beside ``--out``. No test clip is read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.special import expit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from evaluate_instrument_model import fit_temperature, nll  # noqa: E402

from tagger_core.training.ranking import average_precision  # noqa: E402

HEADS = {"linear": 0, "mlp256": 256}
WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2)


def head(kind: str, dims: int, classes: int) -> torch.nn.Module:
    hidden = HEADS[kind]
    if not hidden:
        return torch.nn.Linear(dims, classes)
    return torch.nn.Sequential(
        torch.nn.Linear(dims, hidden), torch.nn.ReLU(), torch.nn.Dropout(0.3),
        torch.nn.Linear(hidden, classes),
    )  # fmt: skip


def fit(x, y, x_val, y_val, kind: str, decay: float, seed: int = 0, epochs: int = 300):
    """Full-batch-ish Adam with early stopping on the validation loss; best weights kept."""
    torch.manual_seed(seed)
    model = head(kind, x.shape[1], y.shape[1])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=decay)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))
    xv, yv = torch.from_numpy(x_val), torch.from_numpy(y_val.astype(np.float32))
    loss_fn = torch.nn.functional.binary_cross_entropy_with_logits
    best, best_state, since = np.inf, None, 0
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        model.train()
        for idx in np.array_split(rng.permutation(len(x)), max(1, len(x) // 128)):
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            val = float(loss_fn(model(xv), yv))
        if val < best - 1e-5:
            best, since = val, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            since += 1
            if since >= 15:
                break
    model.load_state_dict(best_state)
    return model.eval(), best


def map_at(z: np.ndarray, y: np.ndarray, t: float) -> float:
    return round(float(np.nanmean(average_precision(expit(z / t), y))), 4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--val", type=Path, required=True)
    parser.add_argument("--exclude-source", help="leave this source out of training")
    parser.add_argument("--clips", type=int, help="random subset of the training clips")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    tr, va = np.load(args.train), np.load(args.val)
    x, y, src = tr["embeddings"], tr["labels"], tr["source"].astype(str)
    keep = src != args.exclude_source
    x, y = x[keep], y[keep]
    if args.clips:
        pick = np.sort(np.random.default_rng(0).permutation(len(x))[: args.clips])
        x, y = x[pick], y[pick]
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    x = ((x - mean) / std).astype(np.float32)
    xv = ((va["embeddings"] - mean) / std).astype(np.float32)
    yv, vsrc = va["labels"], va["source"].astype(str)
    held = vsrc == args.exclude_source
    trials = []
    for kind in HEADS:
        for decay in WEIGHT_DECAYS:
            model, loss = fit(x, y, xv[~held], yv[~held], kind, decay)
            trials.append((loss, kind, decay, model))
            print(f"{kind} wd {decay}: validation loss {loss:.4f}", flush=True)
    loss, kind, decay, model = min(trials, key=lambda t: t[0])
    with torch.no_grad():
        z = model(torch.from_numpy(xv)).numpy().astype(np.float64)
    t = fit_temperature(z[~held], yv[~held])
    result = {
        "train": str(args.train), "val": str(args.val), "training_clips": int(len(x)),
        "excluded_source": args.exclude_source, "head": kind, "weight_decay": decay,
        "trials": [{"head": k, "weight_decay": d, "val_loss": round(v, 4)}
                   for v, k, d, _ in trials],
        "temperature": round(t, 4), "val_map": map_at(z[~held], yv[~held], t),
        "val_nll_at_t": round(nll(expit(z[~held] / t), yv[~held]), 4),
        "map_by_source": {s: map_at(z[vsrc == s], yv[vsrc == s], t)
                          for s in dict.fromkeys(vsrc)},
    }  # fmt: skip
    if args.exclude_source:
        result["held_out_map"] = map_at(z[held], yv[held], t)
    print(json.dumps(result))
    np.save(args.out.with_name(f"{args.out.stem}_val_logits.npy"), z)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
