"""Build the ``--profile fast`` students: teacher targets, training, evaluation, bundle.

Reproduce (docs/models/fast-profile.md names the data; every step is seeded):

    T=tools/distill_student.py; P=.venv/bin/python
    $P $T generate --out D/gen_train --seed 1 --clips 240
    $P $T generate --out D/gen_val --seed 2 --clips 80
    $P $T targets --out D/train.npz D/gen_train REAL_TRAIN_DIRS...
    $P $T targets --out D/val.npz --exclude-hashes D/train.files.json -- D/gen_val REAL_VAL_DIRS...
    $P $T train --teacher genre --train D/train.npz --val D/val.npz --out D/genre
    $P $T evaluate --teacher genre --weights D/genre --data D/val.npz --phase validation
    $P $T bundle --teacher genre --weights D/genre      # writes resources/models/genre-fast
    $P $T targets --out D/test.npz --exclude-hashes D/train.files.json D/val.files.json -- \
        REAL_TEST_DIRS...    # after freezing; evaluated once
    $P $T evaluate --teacher genre --data D/test.npz --phase test

``targets`` decodes every audio file once (files with identical bytes are taken
once, across all folders given, and ``--exclude-hashes`` drops files another
split holds), runs the teacher ensembles on up to ``--max-patches`` evenly
spread 3-s patches and stores their mean member probabilities with the patches
(the student's inputs); the demo synthesiser's piano and strings styles ignore
the seed, so each split holds one clip of those. ``evaluate --phase test`` is
refused unless the bundle is the one ``bundle`` froze (weights' sha256) and
records the look.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from safetensors.torch import load_file, save_file  # noqa: E402

from tagger_core.errors import TaggerError  # noqa: E402
from tagger_core.labels.bundles import bundle_roots, load_bundle, sha256_of  # noqa: E402
from tagger_core.listening.engine import prepare_ensemble  # noqa: E402
from tagger_core.listening.weights import load_members  # noqa: E402
from tagger_core.training import distillation as dist  # noqa: E402
from tagger_core.training.trainer import TrainConfig, Trainer, seed_everything  # noqa: E402

AUDIO = {".ogg", ".opus", ".mp3", ".flac", ".wav"}
TEACHERS = ("genre", "instruments")
STYLES = ("rock", "electronic", "piano", "strings", "jazz", "ambient")  # library.demo.synthesise
RENDER_SOURCES = ("FluidR3_GM", "MuseScore_General_Lite", "TimGM6mb", "OPL-3_FM")  # not freepats
MIN_BYTES = 200_000  # game packages also hold short jingles and effects


def audio_files(folders: list[Path], exclude: set[str]) -> tuple[list[Path], dict[str, str], int]:
    """Music files under ``folders``, one per distinct content; their sha256 by path; how
    many were left out because another split holds the same bytes."""
    seen: dict[str, str] = {}
    files, excluded = [], 0
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() not in AUDIO or not path.is_file():
                continue
            if path.stat().st_size < MIN_BYTES and "gen_" not in folder.name:
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest in exclude:
                excluded += 1
                continue
            if digest in seen.values():
                continue
            seen[str(path)] = digest
            files.append(path)
    return files, seen, excluded


def cmd_generate(args: argparse.Namespace) -> None:
    """Synthesised demo-style clips and FluidSynth renders of generated scores (WAV)."""
    from tagger_core.library.demo import synthesise
    from tagger_core.training import instrument_data as recipe

    args.out.mkdir(parents=True, exist_ok=True)
    n_synth = args.clips // 2
    for i in range(n_synth):
        style = STYLES[i % len(STYLES)]
        audio = synthesise(style, args.seconds, sr=16000, seed=args.seed * 10_000 + i)
        sf.write(args.out / f"gen_synth_{style}_{i:04d}.wav", audio, 16000, subtype="PCM_16")
    sources = RENDER_SOURCES
    n_render = args.clips - n_synth
    clips = recipe.make_clips(args.seed * 7919, n_render, args.seconds)
    for k, source in enumerate(sources):
        part = clips[k :: len(sources)]
        if not part:
            continue
        audio = recipe.render_clips(part, recipe.SOURCES[source][1], args.seconds)
        for clip, wave in zip(part, audio, strict=True):
            name = f"gen_render_{source}_{clip.index:04d}.wav"
            sf.write(args.out / name, wave, 16000, subtype="PCM_16")
    print(
        json.dumps(
            {
                "out": str(args.out),
                "synthesised": n_synth,
                "rendered": n_render,
                "seconds": args.seconds,
                "seed": args.seed,
            }
        )
    )


def cmd_targets(args: argparse.Namespace) -> None:
    exclude: set[str] = set()
    for path in args.exclude_hashes or []:
        exclude |= set(json.loads(Path(path).read_text())["sha256"].values())
    files, hashes, excluded = audio_files(args.folders, exclude)
    teachers = []
    for bundle_id in TEACHERS:
        bundle = load_bundle(bundle_id)
        ens = prepare_ensemble(bundle, "cpu", threads=torch.get_num_threads(), fast_forms=False)
        teachers.append((bundle, ens.members))
    rows, failed, t0 = [], [], time.perf_counter()
    for n, path in enumerate(files, 1):
        try:
            row = dist.file_targets(path, teachers, args.max_patches, name=str(path))
        except (TaggerError, OSError, ValueError, RuntimeError) as err:
            failed.append(f"{path}: {err}")
            continue
        if row is not None:
            rows.append(row)
        if n % 10 == 0:
            print(f"{n}/{len(files)} files, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    meta = {"folders": [str(f) for f in args.folders], "max_patches": args.max_patches}
    saved = dist.save_targets(rows, args.out, meta)
    kept = {str(r.name): hashes[str(r.name)] for r in rows}
    record = {"meta": meta, "sha256": kept, "failed": failed, "in_other_split": excluded}
    args.out.with_suffix(".files.json").write_text(json.dumps(record, indent=1))
    seconds = round(time.perf_counter() - t0)
    out = {**saved, "failed": len(failed), "in_other_split": excluded, "seconds": seconds}
    print(json.dumps(out))


def _params(args: argparse.Namespace) -> dict:
    return {
        "channels": [int(c) for c in args.channels.split(",")],
        "strides": [int(s) for s in args.strides.split(",")],
        "dropout": args.dropout,
    }


def _load(paths: list[Path], teacher: str) -> dist.TargetSet:
    data = dist.TargetSet.load(paths[0], teacher)
    for path in paths[1:]:
        data = data.join(dist.TargetSet.load(path, teacher))
    return data


def cmd_train(args: argparse.Namespace) -> None:
    train, val = _load(args.train, args.teacher), _load(args.val, args.teacher)
    seed_everything(args.seed)
    params = _params(args)
    n_mels = train.inputs.shape[2]
    model = dist.build_student(train.targets.shape[1], n_mels, params)
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = str(args.out / "checkpoint.pt")
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch,
        lr=args.lr,
        seed=args.seed,
        patience=args.patience,
        threads=args.threads,
        workers=0,
        checkpoint=checkpoint,
    )
    result = Trainer(model, dist.soft_bce, config).fit(
        dist.PatchTargets(train, jitter=args.jitter, seed=args.seed),
        dist.PatchTargets(val),
        progress=lambda r, n: print(
            f"epoch {r.epoch}/{n} train {r.train_loss:.4f} val {r.val_loss:.4f} {r.seconds:.0f} s",
            file=sys.stderr,
        ),
    )
    save_file(model.state_dict(), str(args.out / "student.safetensors"))
    probs = dist.patch_probabilities(model, val.inputs)
    fid = dist.fidelity(
        dist.file_means(probs, val.file_index), dist.file_means(val.targets, val.file_index)
    )
    record = {
        "teacher": args.teacher,
        "params": params,
        "train": [str(p) for p in args.train],
        "val": [str(p) for p in args.val],
        "train_patches": len(train.inputs),
        "val_patches": len(val.inputs),
        "config": {
            "epochs": args.epochs,
            "batch": args.batch,
            "lr": args.lr,
            "seed": args.seed,
            "patience": args.patience,
            "jitter": args.jitter,
        },
        "training": result.to_dict(),
        "validation_fidelity": fid,
    }
    (args.out / "training.json").write_text(json.dumps(record, indent=1))
    print(
        json.dumps(
            {
                "best_epoch": result.best_epoch,
                "val_loss": result.best_val_loss,
                "validation_fidelity": fid,
            }
        )
    )


def _student(weights_dir: Path, n_classes: int, n_mels: int) -> torch.nn.Module:
    record = json.loads((weights_dir / "training.json").read_text())
    model = dist.build_student(n_classes, n_mels, record["params"])
    model.load_state_dict(load_file(str(weights_dir / "student.safetensors")))
    return model.eval()


def _fast_dir(teacher: str) -> Path:
    return bundle_roots()[0] / f"{teacher}-fast"


def cmd_evaluate(args: argparse.Namespace) -> None:
    data = _load(args.data, args.teacher)
    if args.phase == "test":
        bundle = load_bundle(f"{args.teacher}-fast")
        frozen_path = _fast_dir(args.teacher) / "frozen.json"
        frozen = json.loads(frozen_path.read_text())
        weights = bundle.path / bundle.members[0].weights
        if sha256_of(weights) != frozen["weights_sha256"]:
            raise SystemExit("the shipped student is not the one frozen after validation")
        if frozen["test_looks"] and not args.again:
            raise SystemExit(f"test already looked at ({frozen['test_looks']}); --again records")
        model = load_members(bundle)[0]
    else:
        model = _student(args.weights, data.targets.shape[1], data.inputs.shape[2])
    probs = dist.patch_probabilities(model, data.inputs)
    student = dist.file_means(probs, data.file_index)
    teacher = dist.file_means(data.targets, data.file_index)
    teacher_bundle = load_bundle(args.teacher)
    labels = [dist.label_probabilities(p, teacher_bundle) for p in (student, teacher)]
    out = {
        "phase": args.phase,
        "data": [str(p) for p in args.data],
        "teacher": args.teacher,
        "file_level_fidelity": dist.fidelity(student, teacher),
        "label_fidelity": dist.fidelity(*labels),
        "top5_raw_tags_shared": float(
            np.mean(
                [
                    len(set(np.argsort(-a)[:5]) & set(np.argsort(-b)[:5]))
                    for a, b in zip(student, teacher, strict=True)
                ]
            )
        ),
    }
    if args.phase == "test":
        frozen["test_looks"].append(
            {
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "data": out["data"],
                "figures": {k: out[k] for k in ("file_level_fidelity", "label_fidelity")},
            }
        )
        frozen_path.write_text(json.dumps(frozen, indent=1))
    print(json.dumps(out, indent=1))


def cmd_bundle(args: argparse.Namespace) -> None:
    teacher = load_bundle(args.teacher)
    record = json.loads((args.weights / "training.json").read_text())
    out = _fast_dir(args.teacher)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / "student.safetensors"
    weights.write_bytes((args.weights / "student.safetensors").read_bytes())
    digest = sha256_of(weights)
    teacher_manifest = json.loads((teacher.path / "manifest.json").read_text())
    manifest = {
        "format": 1,
        "id": f"{args.teacher}-fast",
        "version": "1.0.0",
        "task": teacher.task,
        "description": f"Fast profile: one AM'23 ResNet distilled from the {args.teacher} "
        "ensemble's probabilities (this project's own weights; --profile fast).",
        "raw_labels": list(teacher.raw_labels),
        "output_activation": "sigmoid",
        "preprocessing": teacher_manifest["preprocessing"],
        "patch_frames": teacher.patch_frames,
        "patch_hop_frames": teacher.patch_hop_frames,
        "taxonomy": teacher_manifest["taxonomy"],
        "members": [
            {
                "name": "student",
                "architecture": "am23_resnet",
                "params": {
                    "n_classes": len(teacher.raw_labels),
                    "n_mels": teacher.frontend_config.n_mels,
                    **record["params"],
                },
                "weights": "student.safetensors",
                "sha256": digest,
                "embedding_dim": record["params"]["channels"][-1],
                "training": {k: record[k] for k in ("config", "train_patches", "val_patches")},
                "validation_fidelity": record["validation_fidelity"],
            }
        ],
        "distilled_from": {
            "bundle": teacher.id,
            "version": teacher.version,
            "members": list(teacher.member_names),
            "target": "mean member probability per 3-s patch",
        },
        "licence": {
            "name": "ISC",
            "file": "LICENSE.txt",
            "attribution": "Weights trained by this project to imitate the outputs of "
            "the musicnn 0.1.0 models (ISC, Music Technology Group, Universitat "
            "Pompeu Fabra 2019); see LICENSE.txt.",
        },
        "provenance": {
            "made_by": "tools/distill_student.py",
            "data": record["train"],
            "validation": record["val"],
        },
    }
    (out / "LICENSE.txt").write_bytes((teacher.path / "LICENSE.txt").read_bytes())
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    frozen = {"weights_sha256": digest, "frozen_after": "validation", "test_looks": []}
    (out / "frozen.json").write_text(json.dumps(frozen, indent=1) + "\n")
    print(json.dumps({"bundle": str(out), "sha256": digest}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--out", type=Path, required=True)
    g.add_argument("--seed", type=int, required=True)
    g.add_argument("--clips", type=int, default=240)
    g.add_argument("--seconds", type=float, default=15.0)
    t = sub.add_parser("targets")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--max-patches", type=int, default=48)
    t.add_argument("--exclude-hashes", type=Path, nargs="*")
    t.add_argument("folders", type=Path, nargs="+")
    r = sub.add_parser("train")
    r.add_argument("--teacher", choices=TEACHERS, required=True)
    r.add_argument("--train", type=Path, nargs="+", required=True)
    r.add_argument("--val", type=Path, nargs="+", required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--channels", default="32,64,160")
    r.add_argument("--strides", default="1,2,2")
    r.add_argument("--dropout", type=float, default=0.1)
    r.add_argument(
        "--epochs",
        type=int,
        default=40,
        help="at most; a run stopped early resumes from OUT/checkpoint.pt, and a smaller "
        "--epochs than it reached ends it with its best epoch",
    )
    r.add_argument("--batch", type=int, default=64)
    r.add_argument("--lr", type=float, default=1e-3)
    r.add_argument("--patience", type=int, default=6)
    r.add_argument("--jitter", type=int, default=2)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, default=2)
    e = sub.add_parser("evaluate")
    e.add_argument("--teacher", choices=TEACHERS, required=True)
    e.add_argument("--weights", type=Path)
    e.add_argument("--data", type=Path, nargs="+", required=True)
    e.add_argument("--phase", choices=("validation", "test"), required=True)
    e.add_argument("--again", action="store_true")
    b = sub.add_parser("bundle")
    b.add_argument("--teacher", choices=TEACHERS, required=True)
    b.add_argument("--weights", type=Path, required=True)
    args = parser.parse_args()
    {
        "generate": cmd_generate,
        "targets": cmd_targets,
        "train": cmd_train,
        "evaluate": cmd_evaluate,
        "bundle": cmd_bundle,
    }[args.cmd](args)


if __name__ == "__main__":
    main()
