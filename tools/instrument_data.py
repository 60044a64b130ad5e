"""Render the instrument-family dataset (the recipe of the `instrument-family` bundle).

Debian packages: ``fluidsynth fluid-soundfont-gm timgm6mb-soundfont
musescore-general-soundfont-small``; PyPI: ``mido music21`` (music21 ships the
score corpus). Nothing is downloaded at run time.

    .venv/bin/python tools/instrument_data.py --out /tmp/instrument-data

Writes ``train.npz``, ``val.npz`` and ``test.npz`` (log-mel ``features``
float16 ``[N, frames, 64]``, ``labels`` uint8 ``[N, 11]``, ``soundfont``,
``drums``, ``source``) and ``dataset.json`` (recipe and statistics). Train and
validation clips use the training soundfonts (alternating); the test clips use
only the held-out soundfont and held-out corpus scores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.listening.frontend import LogMelFrontend  # noqa: E402
from tagger_core.training import instrument_data as recipe  # noqa: E402

TRAIN_SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2")
TEST_SOUNDFONT = "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"
SPLIT_SEEDS = {"train": 1, "val": 2, "test": 3}


def featurize_with(frontend: LogMelFrontend):
    def featurize(audio: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return frontend(torch.from_numpy(audio)).numpy().astype(np.float16)

    return featurize


def build_split(name, n_clips, soundfonts, scores, args, frontend, log):
    clips = recipe.make_clips(SPLIT_SEEDS[name] + 1000 * args.seed, n_clips, args.seconds, scores)
    which = np.arange(n_clips) % len(soundfonts)
    n_frames = frontend.config.n_frames(int(args.seconds * frontend.config.sr))
    feats = np.zeros((n_clips, n_frames, frontend.config.n_mels), np.float16)
    for k, soundfont in enumerate(soundfonts):
        idx = np.flatnonzero(which == k)
        subset = [clips[i] for i in idx]
        feats[idx] = recipe.render_dataset(
            subset, soundfont, args.seconds, featurize_with(frontend),
            progress=lambda done, total, s=soundfont: log(f"{name}: {Path(s).name} {done}/{total}"),
        )  # fmt: skip
    labels = np.stack([c.label_vector() for c in clips])
    drums = np.array([c.drums for c in clips])
    sources = np.array([c.source for c in clips])
    programs = np.array(
        [",".join(str(p.program) for p in c.parts if p.family) for c in clips]
    )
    np.savez_compressed(
        args.out / f"{name}.npz", features=feats, labels=labels, soundfont=which, drums=drums,
        source=sources, programs=programs,
    )  # fmt: skip
    stats = recipe.dataset_statistics(labels, drums)
    stats["soundfonts"] = [Path(s).name for s in soundfonts]
    stats["corpus_clips"] = int(sum(s.startswith("corpus") for s in sources))
    return stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train", type=int, default=4000, help="training clips")
    parser.add_argument("--val", type=int, default=500, help="validation clips")
    parser.add_argument("--test", type=int, default=1000, help="held-out test clips")
    parser.add_argument("--seconds", type=float, default=5.0, help="clip length")
    parser.add_argument("--scores", type=int, default=60, help="music21 Bach scores to use")
    parser.add_argument("--test-scores", type=int, default=12, help="of which held out for test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-soundfont", action="append", help="repeatable")
    parser.add_argument("--test-soundfont", default=TEST_SOUNDFONT)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    t0 = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t0:7.1f}s] {msg}", flush=True)

    train_sfs = tuple(args.train_soundfont or TRAIN_SOUNDFONTS)
    scores = recipe.load_corpus_scores(args.scores) if args.scores else []
    n_test_scores = min(args.test_scores, len(scores) // 2)
    cut = len(scores) - n_test_scores
    train_scores, test_scores = scores[:cut], scores[cut:]
    log(f"{len(scores)} corpus scores ({len(test_scores)} held out)")
    config = FrontendConfig.am23_resnet()
    frontend = LogMelFrontend(config)
    stats = {
        "train": build_split("train", args.train, train_sfs, train_scores, args, frontend, log),
        "val": build_split("val", args.val, train_sfs, train_scores, args, frontend, log),
        "test": build_split(
            "test", args.test, (args.test_soundfont,), test_scores, args, frontend, log
        ),
    }
    manifest = {
        "recipe": {
            "command": "python tools/instrument_data.py "
            + " ".join(sys.argv[1:] if argv is None else argv),
            "seed": args.seed,
            "split_seeds": SPLIT_SEEDS,
            "clip_seconds": args.seconds,
            "render": "fluidsynth -n -i -g 0.4 -r 32000 -O float -R 1 -C 1, soxr to 16 kHz, mono",
            "level": "peak-normalised then gain uniform in [-24, -1] dB",
            "instruments_per_clip_probs": list(recipe.N_INSTRUMENT_PROBS),
            "drum_fraction": 0.3,
            "corpus": f"music21 corpus, first {len(scores)} Bach scores by path "
                      f"({len(test_scores)} last ones only in test)",
            "corpus_fraction": 0.35,
            "train_soundfonts": [Path(s).name for s in train_sfs],
            "test_soundfont": Path(args.test_soundfont).name,
            "gm_program_to_family": {str(k): v for k, v in sorted(recipe.GM_FAMILY.items())},
            "preprocessing": config.to_dict(),
            "elapsed_s": round(time.time() - t0, 1),
        },
        "statistics": stats,
    }
    (args.out / "dataset.json").write_text(json.dumps(manifest, indent=2))
    log(f"done: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
