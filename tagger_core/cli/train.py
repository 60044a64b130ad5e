"""``music-tagger train heads|resnet`` and ``music-tagger experiment scaling``.

Training writes a model bundle folder (``--out``); add its parent folder to
``$MUSIC_TAGGER_BUNDLES`` so the app finds it. Work in progress is
checkpointed next to it (``.<name>.checkpoints``, removed after success):
running the same command again after Ctrl-C or a crash resumes from there.

The datasets of ``train resnet`` and ``experiment scaling`` are local copies
(nothing is downloaded): a folder with one sub-folder per class, a CSV of
``path,labels[,split]``, the FMA release folder (``fma_metadata/tracks.csv``
+ ``fma_small/``) or the NSynth release folder (``nsynth-train/`` …); see
:mod:`tagger_core.training.datasets`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from tagger_core.cli.common import library_from_args, print_json, progress_bar
from tagger_core.errors import TaggerError
from tagger_core.training.evaluation import CALIBRATION_METHODS

LAYOUTS = ("auto", "folder", "csv", "fma", "nsynth")


def _checkpoint_dir(args: argparse.Namespace, out: Path) -> Path:
    return Path(args.checkpoint) if args.checkpoint else out.parent / f".{out.name}.checkpoints"


def _finish_checkpoints(args: argparse.Namespace, ckpt: Path) -> None:
    if not args.checkpoint and ckpt.is_dir():
        shutil.rmtree(ckpt, ignore_errors=True)


def _add_common(p: argparse.ArgumentParser, *, members: int, batch: int) -> None:
    p.add_argument("--members", type=int, default=members, help=f"ensemble size ({members})")
    p.add_argument("--epochs", type=int, default=100, help="maximum epochs (100, as AM'23)")
    p.add_argument("--patience", type=int, default=10, help="early-stopping patience (10)")
    p.add_argument("--batch-size", type=int, default=batch)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--checkpoint", help="checkpoint folder (default: beside --out)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")


def _add_dataset(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset folder or CSV file")
    p.add_argument("--layout", choices=LAYOUTS, default="auto")
    p.add_argument("--fma-subset", choices=("small", "medium", "large"), default="small")
    p.add_argument("--audio-dir", help="FMA audio folder (default: DATASET/fma_<subset>)")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    train = sub.add_parser("train", help="train models on your archive or a dataset")
    tsub = train.add_subparsers(dest="train_command", metavar="WHAT")

    p = tsub.add_parser("heads", help="MLP heads on stored embeddings (no audio decoding)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--taxonomy", help="TOML file whose [TASK.labels] are the classes")
    src.add_argument("--from-tags", action="store_true",
                     help="the app's labels from genre tags or instrument credits")  # fmt: skip
    p.add_argument("--no-tags", action="store_true", help="with --taxonomy: reviews only")
    p.add_argument("--synonyms", help="extra genre synonyms TOML for --from-tags")
    p.add_argument("--task", choices=("genre", "instruments"), default="genre")
    p.add_argument("--base", help="bundle whose stored embeddings are the input (default: TASK)")
    p.add_argument("--design", choices=("joint", "ova"), default="joint")
    p.add_argument("--compare", action="store_true", help="also train the other design")
    p.add_argument("--hidden", type=int, default=0, help="hidden units (0: 256 joint, 64 ova)")
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--calibration", choices=CALIBRATION_METHODS, default="temperature")
    p.add_argument("--min-examples", type=int, default=10,
                   help="positives and negatives each class needs (10)")  # fmt: skip
    p.add_argument("--skip-rare", action="store_true", help="leave out classes with too few")
    p.add_argument("--out", required=True, help="folder to write the bundle to")
    p.add_argument("--id", help="bundle id (default: the --out folder's name)")
    p.add_argument("--apply", action="store_true", help="store the heads' outputs in the library")
    _add_common(p, members=5, batch=64)
    p.set_defaults(func=cmd_heads)

    p = tsub.add_parser("apply", help="store a head bundle's outputs for newly analysed tracks")
    p.add_argument("bundle_dir", help="folder of a bundle made by 'train heads'")
    p.set_defaults(func=cmd_apply)

    p = tsub.add_parser("resnet", help="AM'23's ResNet ensemble on log-mel patches of a dataset")
    _add_dataset(p)
    p.add_argument("--setting", choices=("fma", "nsynth"),
                   help="patch setting (default: nsynth for NSynth data, else fma)")  # fmt: skip
    p.add_argument("--task", help="task of the bundle (default: instruments for NSynth, genre)")
    p.add_argument("--activation", choices=("auto", "softmax", "sigmoid"), default="auto")
    p.add_argument("--no-augment", action="store_true", help="train without augmentations")
    p.add_argument("--calibration", choices=CALIBRATION_METHODS, default="temperature")
    p.add_argument("--out", required=True, help="folder to write the bundle to")
    p.add_argument("--id", help="bundle id (default: the --out folder's name)")
    _add_common(p, members=5, batch=32)
    p.set_defaults(func=cmd_resnet)

    exp = sub.add_parser("experiment", help="the papers' experiments on a dataset")
    esub = exp.add_subparsers(dest="experiment_command", metavar="WHICH")
    p = esub.add_parser("scaling", help="MGR'25: one-vs-all models, linear vs mel spectrograms")
    _add_dataset(p)
    p.add_argument("--setting", choices=("fma", "nsynth"), default="fma")
    p.add_argument("--repeats", type=int, default=1, help="seeds per class and scale (1)")
    p.add_argument("--linear-bands", type=int,
                   help="linear bands (default: as many as mel; 0: every STFT bin)")  # fmt: skip
    _add_common(p, members=1, batch=32)
    p.set_defaults(func=cmd_scaling)

    for parser in (train, exp):
        parser.set_defaults(func=lambda args, parser=parser: (parser.print_help(), 2)[1])


def cmd_heads(args: argparse.Namespace) -> int:
    from tagger_core.labels.bundles import load_bundle
    from tagger_core.listening.device import pick_device  # torch
    from tagger_core.listening.head_runtime import analyze_with_heads, load_head_bundle
    from tagger_core.training.archive_labels import (
        load_labelled_set,
        vocabulary_from_app,
        vocabulary_from_taxonomy,
    )
    from tagger_core.training.head_training import compare_designs, format_run, train_and_save_heads
    from tagger_core.training.heads import HeadConfig

    device = pick_device(args.device)
    base = load_bundle(args.base or args.task)
    if args.taxonomy:
        vocab = vocabulary_from_taxonomy(args.taxonomy, args.task, use_tags=not args.no_tags)
    else:
        vocab = vocabulary_from_app(args.task, use_tags=True, synonyms=args.synonyms)
    config = HeadConfig(
        design=args.design, n_members=args.members, hidden=args.hidden, dropout=args.dropout,
        lr=args.lr, batch_size=args.batch_size, max_epochs=args.epochs, patience=args.patience,
        seed=args.seed,
    )  # fmt: skip
    out = Path(args.out)
    ckpt = _checkpoint_dir(args, out)
    library = library_from_args(args)
    try:
        with library.session() as session:
            data = load_labelled_set(session, base.id, vocab, minimum=args.min_examples,
                                     skip_rare=args.skip_rare)  # fmt: skip
        with progress_bar("training heads") as update:
            runs, folder = train_and_save_heads(
                data, base, out, args.id or out.name, config, task=args.task,
                compare=args.compare, calibration=args.calibration, device=device,
                progress=update, checkpoint_dir=ckpt,
            )  # fmt: skip
        _finish_checkpoints(args, ckpt)
        stored = 0
        if args.apply:
            heads = load_head_bundle(folder)
            stored = library.write(
                lambda session: analyze_with_heads(session, heads), "storing the heads' outputs"
            )
    finally:
        library.close()
    if args.json:
        print_json({"bundle": str(folder), "labels": data.summary, "stored": stored,
                    "classes": list(data.classes),
                    "runs": {d: r.to_dict() for d, r in runs.items()}})  # fmt: skip
        return 0
    print(f"labels: {data.summary}")
    for run in runs.values():
        print(format_run(run))
        print()
    if len(runs) > 1:
        print("designs compared on the same split (test set, after calibration):")
        print(compare_designs(runs))
        print()
    print(f"bundle written to {folder} ({args.design} design)")
    if args.apply:
        print(f"stored the heads' outputs for {stored} tracks")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from tagger_core.listening.head_runtime import analyze_with_heads, load_head_bundle

    head = load_head_bundle(args.bundle_dir)
    library = library_from_args(args)
    try:
        stored = library.write(
            lambda session: analyze_with_heads(session, head), "storing the heads' outputs"
        )
    finally:
        library.close()
    print(f"stored the outputs of {head.bundle.id!r} for {stored} tracks")
    return 0


def _dataset(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from tagger_core.training.datasets import read_dataset

    data = read_dataset(args.dataset, args.layout, fma_subset=args.fma_subset,
                        audio_dir=args.audio_dir)  # fmt: skip
    print(f"{args.dataset}: {len(data.items)} files, {len(data.classes)} classes "
          f"({data.layout} layout, {data.skipped} skipped)", file=sys.stderr)  # fmt: skip
    return data


def _resnet_config(args: argparse.Namespace, **extra):  # type: ignore[no-untyped-def]
    from tagger_core.training.resnet_training import ResNetConfig

    return ResNetConfig(
        n_members=args.members, epochs=args.epochs, patience=args.patience,
        batch_size=args.batch_size, lr=args.lr, seed=args.seed, threads=args.threads, **extra,
    )  # fmt: skip


def cmd_resnet(args: argparse.Namespace) -> int:
    from tagger_core.listening.device import pick_device, set_threads  # torch
    from tagger_core.training.evaluation import format_report
    from tagger_core.training.resnet_training import (
        SETTINGS,
        run_resnet_training,
        save_resnet_bundle,
    )

    device = pick_device(args.device)
    set_threads(args.threads)
    data = _dataset(args)
    setting = SETTINGS[args.setting or ("nsynth" if data.layout == "nsynth" else "fma")]
    task = args.task or ("instruments" if data.layout == "nsynth" else "genre")
    out = Path(args.out)
    if (out / "manifest.json").exists():
        raise TaggerError(f"{out} already holds a bundle; choose another output folder")
    ckpt = _checkpoint_dir(args, out)
    config = _resnet_config(args, augment=not args.no_augment, activation=args.activation)
    with progress_bar("training resnet") as update:
        run = run_resnet_training(data, setting, config, calibration=args.calibration,
                                  device=device, progress=update, checkpoint_dir=ckpt)  # fmt: skip
    folder = save_resnet_bundle(run, out, bundle_id=args.id or out.name, task=task)
    _finish_checkpoints(args, ckpt)
    if args.json:
        print_json({"bundle": str(folder), "setting": setting.to_dict(),
                    "activation": run.activation, "report": run.report.to_dict()})  # fmt: skip
        return 0
    print(format_report(run.report, f"ResNet ensemble, {setting.name} setting, {run.activation}"))
    print(f"\nbundle written to {folder}")
    return 0


def cmd_scaling(args: argparse.Namespace) -> int:
    from tagger_core.listening.device import pick_device, set_threads  # torch
    from tagger_core.training.resnet_training import SETTINGS
    from tagger_core.training.scaling_experiment import (
        format_scaling_table,
        run_scaling_experiment,
    )

    device = pick_device(args.device)
    set_threads(args.threads)
    data = _dataset(args)
    with progress_bar("scaling experiment") as update:
        result = run_scaling_experiment(
            data, SETTINGS[args.setting], _resnet_config(args), repeats=args.repeats,
            linear_bands=args.linear_bands, device=device, progress=update,
            checkpoint_dir=args.checkpoint,
        )  # fmt: skip
    if args.json:
        print_json(result.to_dict())
    else:
        print(format_scaling_table(result))
    return 0
