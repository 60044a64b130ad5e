"""Render the instrument-family dataset (the v2 recipe of the `instrument-family` bundle).

Debian packages: ``fluidsynth fluid-soundfont-gm timgm6mb-soundfont
musescore-general-soundfont-small opl3-soundfont timidity freepats``; PyPI:
``mido music21`` (music21 ships the score corpus). Nothing is downloaded.

    .venv/bin/python tools/instrument_data.py --out /tmp/instrument-data

Sources are grouped by the sample data they share (``tools/soundfont_samples.py``):
{FluidR3_GM, MuseScore_General_Lite}, {TimGM6mb}, {OPL-3 FM}, {freepats,
rendered by TiMidity++} and {project_synth, the project's own synthesiser, no
samples at all; only in the ``synth_train``/``synth_val`` splits, not in v2}.
Training and validation clips come from the first three groups (validation:
other seeds, i.e. other notes, mixes and degradations); both test splits come
only from freepats, restricted to the programs whose samples no other source
holds, and from held-out corpus scores:

* ``test``: the training mix recipe (1–4 families, 30 % drums, rooms, levels
  from quiet to clipped, MP3/Vorbis round trips);
* ``test_dense``: a mix recipe no member was trained on (5–6 instruments,
  families may repeat, always drums, always a long room).

Each split is ``<split>.npz`` (log-mel ``features`` float16 ``[N, frames, 64]``;
for ``train`` uint8 in steps of 1/32 logC, half the size,
``labels`` uint8 ``[N, 11]``, ``source``, ``drums``, ``programs``, per-clip
degradation columns) and ``dataset.json`` holds the recipe and statistics.
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

from tagger_core.labels.frontend_config import FrontendConfig  # noqa: E402
from tagger_core.listening.frontend import LogMelFrontend  # noqa: E402
from tagger_core.training import instrument_data as recipe  # noqa: E402


def featurize_with(frontend: LogMelFrontend):
    def featurize(audio: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return frontend(torch.from_numpy(audio)).numpy().astype(np.float16)

    return featurize


def build_split(name, scores_by_part, args, frontend, log):
    _, mix_name, per_source, program_set, _ = recipe.SPLITS[name]
    n_frames = frontend.config.n_frames(int(args.seconds * frontend.config.sr))
    feats, clips, source_of = [], [], []
    for source, specs in recipe.split_clips(
        name, scores_by_part, args.seconds, args.clips / 100.0, args.seed
    ):
        n = len(specs)
        part = recipe.render_dataset(
            specs, recipe.SOURCES[source][1], args.seconds, featurize_with(frontend),
            progress=lambda done, total, s=source: log(f"{name}: {s} {done}/{total}"),
        )  # fmt: skip
        feats.append(part[:, :n_frames])
        clips += specs
        source_of += [source] * n
    labels = np.stack([c.label_vector() for c in clips])
    drums = np.array([c.drums for c in clips])
    kinds = np.array([c.source for c in clips])
    degradations = [c.extra["degradation"] for c in clips]
    features = np.concatenate(feats)
    if name in recipe.TRAINING_SPLITS:  # uint8 logC steps: half the size (GPU upload)
        steps = np.round(features.astype(np.float32) / recipe.TRAIN_FEATURE_STEP)
        features = np.clip(steps, 0, 255).astype(np.uint8)
    np.savez_compressed(
        args.out / f"{name}.npz", features=features, labels=labels,
        source=np.array(source_of), drums=drums, music=kinds,
        programs=np.array([",".join(str(p.program) for p in c.parts if p.family) for c in clips]),
        rt60=np.array([d.rt60 for d in degradations], np.float32),
        gain_db=np.array([d.gain_db for d in degradations], np.float32),
        codec=np.array([d.codec for d in degradations]),
    )  # fmt: skip
    stats = recipe.dataset_statistics(labels, drums)
    stats["sources"] = {s: int(source_of.count(s)) for s in per_source}
    stats["groups"] = sorted({recipe.SOURCES[s][0] for s in per_source})
    stats["mix"] = mix_name
    stats["programs"] = program_set or "all mapped GM programs"
    stats["corpus_clips"] = int(sum(k.startswith("corpus") for k in kinds))
    stats["rooms"] = int(sum(d.rt60 > 0 for d in degradations))
    stats["clipped"] = int(sum(d.gain_db > 0 for d in degradations))
    stats["codecs"] = {c: int(sum(d.codec == c for d in degradations)) for c in ("mp3", "vorbis")}
    return stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--splits", default=",".join(recipe.SPLITS), help="comma-separated")
    parser.add_argument(
        "--clips",
        type=float,
        default=100.0,
        help="percent of each split's clip counts to render (tests use a few)",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="clip length")
    parser.add_argument("--scores", type=int, default=60, help="music21 Bach scores to use")
    parser.add_argument("--test-scores", type=int, default=12, help="of which held out for test")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    t0 = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t0:7.1f}s] {msg}", flush=True)

    scores_by_part = recipe.corpus_parts(args.scores, args.test_scores)
    scores = scores_by_part["train"] + scores_by_part["test"]
    log(f"{len(scores)} corpus scores ({len(scores_by_part['test'])} held out for test)")
    config = FrontendConfig.am23_resnet()
    frontend = LogMelFrontend(config)
    stats = {}
    for name in args.splits.split(","):
        stats[name] = build_split(name, scores_by_part, args, frontend, log)
        log(f"{name}: {stats[name]['clips']} clips")
    manifest = {
        "recipe": {
            "version": 2,
            "command": "python tools/instrument_data.py "
            + " ".join(sys.argv[1:] if argv is None else argv),
            "seed": args.seed,
            "splits": {k: {"seed": v[0], "mix": v[1], "clips_per_source": v[2],
                           "programs": v[3] or "all", "scores": v[4]}
                       for k, v in recipe.SPLITS.items()},
            "sources": {k: {"group": g, "file": Path(f).name}
                        for k, (g, f) in recipe.SOURCES.items()},
            "mixes": {k: vars(m) | {"instrument_probs": list(m.instrument_probs)}
                      for k, m in recipe.MIXES.items()},
            "clip_seconds": args.seconds,
            "render": "fluidsynth -n -i -g 0.4 -r 32000 -O float -R 1 -C 1 (soundfonts) or "
                      "timidity -c freepats.cfg -s 32000 (freepats); soxr to 16 kHz, mono; "
                      "project_synth: tagger_core/training/synth_voices.py at 16 kHz",
            "degradation": "tagger_core/training/degradation.py: generated room impulse "
                           "response (RT60, wet share), peak-normalised gain with hard or tanh "
                           "clipping above 0 dBFS, MP3/Vorbis round trip at libsndfile "
                           "compression 0.5-0.95 (MP3 about 20-27 kbit/s at 16 kHz mono)",
            "corpus": f"music21 corpus, first {len(scores)} Bach scores by path "
                      f"({len(scores_by_part['test'])} last ones only in the test splits)",
            "freepats_disjoint_programs": list(recipe.FREEPATS_DISJOINT_PROGRAMS),
            "gm_program_to_family": {str(k): v for k, v in sorted(recipe.GM_FAMILY.items())},
            "preprocessing": config.to_dict(),
            "train_feature_step": recipe.TRAIN_FEATURE_STEP,
            "elapsed_s": round(time.time() - t0, 1),
        },
        "statistics": stats,
    }  # fmt: skip
    (args.out / "dataset.json").write_text(json.dumps(manifest, indent=2, default=str))
    log(f"done: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
