"""``music-tagger tag FILE…``: what the pretrained models hear, with no database.

The quickest way to see the models work: for each file, the top genres and
instrument families (uncalibrated label scores from the taxonomy rule applied
to the ensemble-averaged raw tags of all bundles together) and each bundle's
raw top tags. A file that cannot be decoded prints one line on stderr and the
others carry on; the exit status is 1 if any file failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tagger_core.errors import ConfigError, TaggerError
from tagger_core.labels.bundles import combined_taxonomy, load_bundle
from tagger_core.listening.report import DEFAULT_MAX_PATCHES, PROFILES, profile_bundles

if TYPE_CHECKING:
    from tagger_core.listening.single_file import BundleRunner, FileOutputs


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tag",
        help="print the pretrained models' top genres, instruments and raw tags for files",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--top", type=int, default=5, help="how many of each to show (5)")
    parser.add_argument(
        "--bundle",
        action="append",
        dest="bundles",
        metavar="ID",
        help="model bundle to run (repeatable; default: the default profile's bundles)",
    )
    parser.add_argument(
        "--profile",
        choices=tuple(PROFILES),
        help="default: the full ensembles; fast: distilled students (docs/models/fast-profile.md)",
    )
    parser.add_argument(
        "--max-patches",
        type=int,
        default=DEFAULT_MAX_PATCHES,
        help=f"patches per file before sampling evenly, as analyze (default "
        f"{DEFAULT_MAX_PATCHES}; 0 = all)",
    )
    parser.add_argument(
        "--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default cpu)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(func=run)


def _fmt(pairs: list[tuple[str, float]]) -> str:
    return ", ".join(f"{name} {score:.2f}" for name, score in pairs) or "(none)"


def _top(names: tuple[str, ...] | list[str], scores: np.ndarray, n: int) -> list[tuple[str, float]]:
    order = np.argsort(-scores, kind="stable")[:n]
    return [(names[i], float(scores[i])) for i in order]


def _label_scores(
    task: str, runners: list[BundleRunner], outputs: list[FileOutputs]
) -> tuple[tuple[str, ...], np.ndarray]:
    """Taxonomy label probabilities for ``task`` from every bundle's raw tags together."""
    logits = np.concatenate([out.logits for out in outputs])
    bound = combined_taxonomy(task, [runner.bundle for runner in runners])
    if not bound.labels:
        return (), np.zeros(0)
    label_logits = np.asarray(bound.label_logits(logits))
    return bound.labels, 1.0 / (1.0 + np.exp(-label_logits))


def run(args: argparse.Namespace) -> int:
    from tagger_core.listening.device import resolve_device
    from tagger_core.listening.single_file import BundleRunner, prepare_file, tag_file

    if args.top < 1:
        raise ConfigError("--top must be at least 1")
    device = resolve_device(args.device)  # torch only where a GPU could be asked for
    max_patches = args.max_patches if args.max_patches and args.max_patches > 0 else None
    chosen = ",".join(args.bundles) if args.bundles else None
    bundle_ids = profile_bundles(args.profile, chosen, flag="--bundle")
    bundles = [load_bundle(b) for b in bundle_ids]
    layouts = [(b.frontend_config, b.patch_frames, b.patch_hop_frames) for b in bundles]
    # the first file decodes (libsndfile and soxr release the GIL) while the models load
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(prepare_file, args.files[0], layouts, max_patches)
        runners = [BundleRunner(b, device) for b in bundles]
    failures = 0
    for i, path in enumerate(args.files):
        try:
            outputs = tag_file(path, runners, max_patches, first.result() if i == 0 else None)
        except TaggerError as err:
            failures += 1
            message = str(err) if str(path) in str(err) else f"{path}: {err}"
            print(f"music-tagger: {message.splitlines()[0]}", file=sys.stderr)
            continue
        _print(path, runners, outputs, args.top, args.json)
    return 1 if failures else 0


def _print(
    path: Path, runners: list[BundleRunner], outputs: list[FileOutputs], top: int, as_json: bool
) -> None:
    tasks = {"genre": "genres", "instruments": "instruments"}
    labels = {key: _label_scores(task, runners, outputs) for task, key in tasks.items()}
    if as_json:
        record = {
            "file": str(path),
            "seconds_analysed": outputs[0].seconds_analysed,
            **{key: dict(_top(names, scores, top)) for key, (names, scores) in labels.items()},
            "raw_tags": {
                out.bundle_id: dict(_top(out.raw_labels, out.probabilities, top)) for out in outputs
            },
        }
        print(json.dumps(record, ensure_ascii=False))
        return
    patches = outputs[0].patch_logits.shape[1]
    seconds = outputs[0].seconds_analysed
    print(f"{path}  ({seconds:.1f} s analysed, {patches} patches; scores not calibrated)")
    rows = [(f"{key}:", _fmt(_top(names, scores, top))) for key, (names, scores) in labels.items()]
    rows += [(f"raw {out.bundle_id}:", _fmt(_top(out.raw_labels, out.probabilities, top)))
             for out in outputs]  # fmt: skip
    width = max(len(name) for name, _ in rows) + 1  # one column, however long a bundle id
    for name, values in rows:
        print(f"  {name:<{width}}{values}")
    sys.stdout.flush()
