"""How the instrument-family ResNet's validation figures grow with the amount of training audio.

    .venv/bin/python tools/instrument_data.py --out DATA                      # the v2 recipe
    .venv/bin/python tools/instrument_data.py --out MORE --splits train --seed 1
    .venv/bin/python tools/instrument_learning_curve.py --data DATA --extra MORE \\
        --sizes 1500,3000,6000,12000 --out curve.json

Why: the v2 report says more data is the lever that would move the model
most; this measures it instead of assuming it. One member (seed 0, the v2
configuration: Adam 1e-3, batch 32, early stopping on the validation loss) is
trained per size on a random subset of the pooled training clips (``--extra``
adds clips rendered with another recipe seed: other notes, programs, mixes and
degradations of the same sources), and scored on the v2 validation clips
only: macro mAP and the NLL at the member's own validation temperature. No
test clip is read.

``--exclude-source NAME`` measures transfer to a source no member heard
without touching the test clips (leave one sample-disjoint group out): the
training clips of NAME are left out, early stopping and the temperature use
only the other sources' validation clips, and NAME's validation clips are
scored apart (``held_out_map``). Every point also reports mAP per source.

``--add FILE`` puts the first ``--add-clips`` clips of another training split
(e.g. ``synth_train.npz`` of the project's own synthesiser) into every point,
on top of the subset: does a new source help more than as many clips of the
old ones? ``--eq-db`` turns on the random-equaliser augmentation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from evaluate_instrument_model import fit_temperature, member_file_logits, nll  # noqa: E402
from train_instrument_model import (  # noqa: E402
    CHANNELS,
    PATCH_SECONDS,
    STRIDES,
    load_added_split,
    load_split,
    member_params,
    training_pool,
)

from tagger_core.labels.frontend_config import FrontendConfig  # noqa: E402
from tagger_core.listening.models.resnet import AM23ResNet  # noqa: E402
from tagger_core.training.patch_dataset import PatchDataset  # noqa: E402
from tagger_core.training.ranking import average_precision  # noqa: E402
from tagger_core.training.trainer import TrainConfig, Trainer  # noqa: E402


def sources_of(dirs: list[Path], split: str) -> np.ndarray:
    """The source (soundfont) of every clip of ``split`` in the data directories, in order."""
    out = []
    for data in dirs:
        with np.load(data / f"{split}.npz") as z:
            out.append(z["source"].astype(str))
    return np.concatenate(out)


def map_of(z: np.ndarray, y: np.ndarray, t: float) -> float:
    return round(float(np.nanmean(average_precision(1.0 / (1.0 + np.exp(-z / t)), y))), 4)


def train_one(x, y, x_val, y_val, args, patch_frames: int) -> tuple[AM23ResNet, dict]:
    torch.manual_seed(args.seed)
    model = AM23ResNet(**member_params(CHANNELS, STRIDES))
    cfg = TrainConfig(
        epochs=args.epochs, batch_size=32, lr=1e-3, seed=args.seed, patience=args.patience,
        threads=args.threads, device=args.device,
    )  # fmt: skip
    trainer = Trainer(model, torch.nn.functional.binary_cross_entropy_with_logits, cfg)
    result = trainer.fit(
        PatchDataset(
            x, y, patch_frames, augment=True, seed=args.seed, eq_db=args.eq_db,
            eq_prob=args.eq_prob,
        ),  # fmt: skip
        PatchDataset(x_val, y_val, patch_frames),
        progress=lambda rec, total: print(
            f"  {len(x)} clips: epoch {rec.epoch}/{total} train {rec.train_loss:.4f} "
            f"val {rec.val_loss:.4f} ({rec.seconds:.0f}s)", flush=True),
    )  # fmt: skip
    return model, result.to_dict()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="v2 recipe output (train, val)")
    parser.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        help="more training clips (instrument_data.py --splits train --seed K)",
    )
    parser.add_argument("--sizes", default="1500,3000,6000", help="training clips per point")
    parser.add_argument("--seed", type=int, default=0, help="member seed and subset draw")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--exclude-source", help="leave this source out of training; score apart")
    parser.add_argument(
        "--eq-db", type=float, default=0.0, help="random equaliser augmentation, ±dB (0: off)"
    )
    parser.add_argument("--eq-prob", type=float, default=0.5, help="share of patches equalised")
    parser.add_argument("--add", type=Path, help="a training split added to every point (npz)")
    parser.add_argument("--add-clips", type=int, help="how many of its clips (default: all)")
    parser.add_argument(
        "--save-logits", action="store_true", help="also write each point's validation logits"
    )
    parser.add_argument("--out", type=Path, required=True, help="JSON of the curve")
    args = parser.parse_args(argv)  # fmt: skip
    torch.set_num_threads(args.threads)
    patch_frames = FrontendConfig.am23_resnet().frames_for_seconds(PATCH_SECONDS)
    x_all, y_all = training_pool([args.data, *args.extra])
    x_val, y_val = load_split(args.data, "val")
    val_sources = sources_of([args.data], "val")
    held = val_sources == args.exclude_source
    if args.exclude_source:
        if not held.any():
            parser.error(f"no validation clip comes from {args.exclude_source!r}")
        keep = sources_of([args.data, *args.extra], "train") != args.exclude_source
        x_all, y_all = x_all[keep], y_all[keep]
    if args.add:
        x_add, y_add = load_added_split(args.add)
        x_add, y_add = x_add[: args.add_clips], y_add[: args.add_clips]
    sizes = [int(s) for s in args.sizes.split(",")]
    if max(sizes) > len(x_all):
        parser.error(f"only {len(x_all)} training clips; sizes go up to {max(sizes)}")
    order = np.random.default_rng(args.seed).permutation(len(x_all))
    points = json.loads(args.out.read_text())["points"] if args.out.is_file() else []
    done = {p["clips"] for p in points}
    for n in sizes:
        if n in done:
            continue
        subset = np.sort(order[:n])
        x, y = x_all[subset], y_all[subset]
        if args.add:
            x, y = np.concatenate([x, x_add]), np.concatenate([y, y_add])
        t0 = time.time()
        model, record = train_one(x, y, x_val[~held], y_val[~held], args, patch_frames)
        z = member_file_logits([model.eval()], x_val, patch_frames, patch_frames)[0]
        t = fit_temperature(z[~held], y_val[~held])
        if args.save_logits:
            np.save(args.out.with_name(f"{args.out.stem}_{n}_val_logits.npy"), z)
        probs = 1.0 / (1.0 + np.exp(-z[~held] / t))
        point = {
            "clips": n, "val_map": map_of(z[~held], y_val[~held], t),
            "val_nll_at_t": round(nll(probs, y_val[~held]), 4), "temperature": round(t, 4),
            "best_epoch": record["best_epoch"], "seconds": round(time.time() - t0, 1),
            "map_by_source": {
                s: map_of(z[val_sources == s], y_val[val_sources == s], t)
                for s in dict.fromkeys(val_sources)
            },
        }  # fmt: skip
        if args.exclude_source:
            point["held_out_map"] = map_of(z[held], y_val[held], t)
        points.append(point)
        print(json.dumps(point), flush=True)
        args.out.write_text(json.dumps({
            "data": [str(args.data), *map(str, args.extra)], "split": "validation (v2, 900 clips)",
            "member_seed": args.seed, "excluded_source": args.exclude_source,
            "random_eq": {"db": args.eq_db, "prob": args.eq_prob} if args.eq_db else None,
            "added": {"file": str(args.add), "clips": len(x_add)} if args.add else None,
            "points": sorted(points, key=lambda p: p["clips"]),
        }, indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
