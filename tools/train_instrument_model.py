"""Train the `instrument-family` bundle: a deep ensemble of AM'23 ResNets on rendered clips.

    .venv/bin/python tools/instrument_data.py --out /tmp/instrument-data
    .venv/bin/python tools/train_instrument_model.py --data /tmp/instrument-data

Trains ``--members`` ResNets (seeds 0, 1, …) with Adam (``--lr``, 1e-3), BCE on
sigmoid outputs, early stopping on the validation clips, then writes each
member's weights (safetensors) and the bundle manifest into ``--bundle``
(default ``resources/models/instrument-family``). Checkpoints in ``--work``
let an interrupted run resume. Evaluation: ``tools/evaluate_instrument_model.py``.

``--init-from BUNDLE`` starts member *k* from BUNDLE's ``resnet_seed{k}`` instead of
random weights: continued training on a larger pool costs a fraction of training
from scratch, which is what a 2-core CPU allows (use a lower ``--lr``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tagger_core.labels.frontend_config import FrontendConfig  # noqa: E402
from tagger_core.labels.taxonomy import INSTRUMENT_FAMILIES as FAMILIES  # noqa: E402
from tagger_core.listening.models.resnet import AM23ResNet, count_parameters  # noqa: E402
from tagger_core.training.patch_dataset import PatchDataset  # noqa: E402
from tagger_core.training.trainer import TrainConfig, Trainer  # noqa: E402

BUNDLE_ID = "instrument-family"
VERSION = "4.0.0"
CHANNELS = (32, 64, 160)
STRIDES = (2, 2, 2)  # a strided first stage: 4x less compute than (1, 2, 2) on a shared CPU
PATCH_SECONDS = 4.0


def load_split(data: Path, name: str, step: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Features as float16 (uint8 training features are multiplied back by ``step``)."""
    with np.load(data / f"{name}.npz") as z:
        features = z["features"]
        if features.dtype == np.uint8:
            features = (features.astype(np.float32) * (step or 1.0)).astype(np.float16)
        return features, z["labels"]


def training_pool(dirs: list[Path], added: list[Path] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Training features and labels of every data directory, then of every added split file,
    concatenated in order.

    Directories rendered with the same recipe seed hold the same clips, so they are refused;
    an added split (another source's own split, e.g. ``synth_train``) is pooled as it is.
    """
    xs, ys, seeds = [], [], set()
    for data in dirs:
        recipe = json.loads((data / "dataset.json").read_text())["recipe"]
        if recipe.get("seed", 0) in seeds:
            raise SystemExit(f"{data}: recipe seed {recipe.get('seed', 0)} is already pooled")
        seeds.add(recipe.get("seed", 0))
        x, y = load_split(data, "train", recipe.get("train_feature_step"))
        xs.append(x)
        ys.append(y)
    for path in added:
        x, y = load_added_split(path)
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def load_added_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A split file such as ``SYNTH/synth_train.npz``, its uint8 step read from the
    ``dataset.json`` beside it."""
    recipe = json.loads((path.parent / "dataset.json").read_text())["recipe"]
    return load_split(path.parent, path.stem, recipe.get("train_feature_step"))


def recorded_arguments(argv: list[str]) -> str:
    """The arguments that decide the weights: how the run was split into processes
    (``--seeds``, ``--work``, ``--assemble``) does not."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--seeds", "--work"):
            skip = True
            continue
        if arg != "--assemble" and not arg.startswith(("--seeds=", "--work=")):
            out.append(arg)
    return " ".join(out)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_weights(path: Path, member: dict, shown: Path | None = None) -> None:
    """Refuse weights that are not the ones a release recorded for ``member``."""
    if sha256(path) != member["sha256"]:
        raise SystemExit(f"{shown or path} does not match its recorded sha256")


def member_params(channels: tuple[int, ...], strides: tuple[int, ...]) -> dict:
    return {
        "n_classes": len(FAMILIES), "n_mels": 64, "channels": list(channels),
        "strides": list(strides), "dropout": 0.2,
    }  # fmt: skip


def previous_versions(shipped: Path) -> dict:
    """The ``previous_versions`` a new release must carry: every earlier version's calibration
    and raw labels, so analyses stored by those versions stay readable after the upgrade."""
    path = shipped / "manifest.json"
    if not path.is_file():
        return {}
    old = json.loads(path.read_text())
    carried = dict(old.get("previous_versions") or {})
    if old["version"] != VERSION:
        carried[old["version"]] = {
            "calibration": old["calibration"],
            "raw_labels": old["raw_labels"],
        }
    return carried


def copied_members(earlier: Path, bundle: Path) -> list[dict]:
    """An earlier release's members, copied into ``bundle`` as ensemble candidates.

    Deep-ensemble members need not share their training data; the validation phase of
    ``tools/evaluate_instrument_model.py`` keeps those that lower the ensemble's NLL.
    Names and files get the release's major version as a prefix (``v2_resnet_seed0``).
    """
    old = json.loads((earlier / "manifest.json").read_text())
    prefix = f"v{old['version'].split('.')[0]}_"
    copied = []
    for member in old["members"]:
        target = bundle / (prefix + member["weights"])
        shutil.copyfile(earlier / member["weights"], target)
        check_weights(target, member, shown=earlier / member["weights"])
        copied.append({**member, "name": prefix + member["name"], "weights": target.name,
                       "from_release": old["version"]})  # fmt: skip
    return copied


def initial_weights(model: AM23ResNet, bundle: Path, seed: int) -> dict:
    """Load ``bundle``'s member of this seed into ``model``; return where the weights came from."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    member = next((m for m in manifest["members"] if m["name"] == f"resnet_seed{seed}"), None)
    if member is None:
        raise SystemExit(f"{bundle} has no member resnet_seed{seed} to start from")
    path = bundle / member["weights"]
    check_weights(path, member)
    model.load_state_dict(load_file(str(path)))
    return {"release": manifest["version"], "member": member["name"], "sha256": member["sha256"]}


def int_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument(
        "--extra", type=Path, action="append", default=[],
        help="more training clips, pooled with DATA's (tools/instrument_data.py --splits train "
        "--seed K: other notes, programs, mixes and degradations of the same sources)",
    )  # fmt: skip
    parser.add_argument(
        "--add", type=Path, action="append", default=[],
        help="another training split file pooled as a whole (e.g. SYNTH/synth_train.npz: the "
        "project's own synthesiser, tools/instrument_data.py --splits synth_train)",
    )  # fmt: skip
    parser.add_argument("--bundle", type=Path, default=ROOT / "resources/models" / BUNDLE_ID)
    parser.add_argument("--work", type=Path, default=None, help="checkpoints (default: DATA/ckpt)")
    parser.add_argument(
        "--previous", type=Path, default=ROOT / "resources/models" / BUNDLE_ID,
        help="the released bundle this one replaces (its versions are carried)",
    )  # fmt: skip
    parser.add_argument(
        "--candidates-from", type=Path, action="append", default=[],
        help="an earlier release whose members are offered to the ensemble choice as well",
    )  # fmt: skip
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument(
        "--seeds", default=None,
        help="comma-separated member seeds to train in this process (default: all); run "
        "several processes on disjoint seeds, then --assemble writes the manifest",
    )  # fmt: skip
    parser.add_argument("--assemble", action="store_true", help="only write the manifest")
    parser.add_argument(
        "--init-from", type=Path, default=None,
        help="a released bundle whose resnet_seedK weights start member K (continued training)",
    )  # fmt: skip
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch threads (1 is 5x faster than 2 on this 2-core machine when others load it)",
    )  # fmt: skip
    parser.add_argument("--channels", type=int_tuple, default=CHANNELS, help="e.g. 32,64,160")
    parser.add_argument("--strides", type=int_tuple, default=STRIDES, help="e.g. 2,2,2")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps")
    parser.add_argument("--workers", type=int, default=0, help="data loader processes")
    parser.add_argument("--machine", default="2 shared CPU cores",
                        help="recorded in the manifest")  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    work = args.work or args.data / "ckpt"
    work.mkdir(parents=True, exist_ok=True)
    args.bundle.mkdir(parents=True, exist_ok=True)
    config = FrontendConfig.am23_resnet()
    patch_frames = config.frames_for_seconds(PATCH_SECONDS)
    x_train, y_train = training_pool([args.data, *args.extra], args.add)
    x_val, y_val = load_split(args.data, "val")
    seeds = range(args.members) if args.seeds is None else [int(v) for v in args.seeds.split(",")]
    for seed in [] if args.assemble else seeds:
        torch.manual_seed(seed)
        params = member_params(args.channels, args.strides)
        model = AM23ResNet(**params)
        start = initial_weights(model, args.init_from, seed) if args.init_from else None
        train_cfg = TrainConfig(
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=seed,
            patience=args.patience, threads=args.threads, checkpoint=str(work / f"member{seed}.pt"),
            device=args.device, workers=args.workers,
        )  # fmt: skip
        trainer = Trainer(model, torch.nn.functional.binary_cross_entropy_with_logits, train_cfg)
        t0 = time.time()

        def progress(rec, total, seed=seed, t0=t0):
            print(f"member {seed} epoch {rec.epoch}/{total} train {rec.train_loss:.4f} "
                  f"val {rec.val_loss:.4f} ({rec.seconds:.0f}s, {time.time() - t0:.0f}s)",
                  flush=True)  # fmt: skip

        result = trainer.fit(
            PatchDataset(x_train, y_train, patch_frames, augment=True, seed=seed),
            PatchDataset(x_val, y_val, patch_frames),
            progress=progress,
        )
        name = f"resnet_seed{seed}"
        weights = args.bundle / f"{name}.safetensors"
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(weights))
        record = {
            "name": name, "architecture": "am23_resnet", "params": params,
            "weights": weights.name, "sha256": sha256(weights), "embedding_dim": args.channels[-1],
            "seed": seed, "parameters": count_parameters(model), "training": result.to_dict(),
        }  # fmt: skip
        if start is not None:
            record["initialised_from"] = start
        (work / f"member{seed}.json").write_text(json.dumps(record, indent=2))
        print(f"member {seed}: best epoch {result.best_epoch}, {result.seconds:.0f}s", flush=True)
    records = [work / f"member{seed}.json" for seed in range(args.members)]
    if not all(path.is_file() for path in records):
        print("manifest not written: not every member is trained yet", flush=True)
        return 0
    members = [json.loads(path.read_text()) for path in records]
    for earlier in args.candidates_from:
        members += copied_members(earlier, args.bundle)
    dataset = json.loads((args.data / "dataset.json").read_text())
    manifest = {
        "format": 1,
        "id": BUNDLE_ID,
        "version": VERSION,
        "task": "instruments",
        "description": "NSynth instrument families: a deep ensemble of AM'23 ResNets trained "
        "on sample-disjoint sources (FluidR3/MuseScore, TimGM6mb, OPL-3 FM and the project's own "
        "synthesiser; each member's data in the provenance) with rooms, levels and lossy codecs "
        "(this project's own weights).",
        "raw_labels": list(FAMILIES),
        "output_activation": "sigmoid",
        "preprocessing": config.to_dict(),
        "patch_frames": patch_frames,
        "patch_hop_frames": patch_frames,
        "taxonomy": "instrument-family.toml",
        "members": members,
        "licence": {
            "name": "MIT",
            "file": "LICENSE.txt",
            "attribution": "Music Archive Tagger contributors; trained on audio rendered from "
            "music21's corpus and generated MIDI with Debian's General MIDI soundfonts "
            "(FluidR3_GM, MuseScore_General_Lite, TimGM6mb, OPL-3_FM_128M) and with the project's "
            "own additive synthesiser",
        },
        "provenance": {
            "data": dataset,
            "extra_training_data": [
                json.loads((extra / "dataset.json").read_text()) for extra in args.extra
            ],
            "added_training_splits": [
                {"file": path.name, "data": json.loads((path.parent / "dataset.json").read_text())}
                for path in args.add
            ],
            "training": {
                "command": "python tools/train_instrument_model.py "
                + recorded_arguments(sys.argv[1:] if argv is None else argv),
                "optimizer": f"Adam lr {args.lr:g}",
                "loss": "binary cross-entropy (sigmoid)",
                "batch_size": args.batch_size,
                "max_epochs": args.epochs,
                "early_stopping_patience": args.patience,
                "augmentation": "random 4 s crop of 5 s clips, clip mixing (p=0.3, mel power "
                "sum, label union), one frequency and one time mask (p=0.5)",
                "machine": f"{args.machine}, device {args.device}, "
                f"torch.set_num_threads({args.threads}), {args.workers} loader workers",
                "seconds_total": round(
                    sum(m["training"]["seconds"] for m in members if "from_release" not in m), 1
                ),
                "torch": torch.__version__,
            },
        },
    }
    carried = previous_versions(args.previous)
    if carried:
        manifest["previous_versions"] = carried
    (args.bundle / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {args.bundle}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
