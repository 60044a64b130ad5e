"""Embeddings of the pretrained musicnn/VGG members for instrument-recipe clips.

    .venv/bin/python tools/pretrained_embeddings.py --split train --out E/train.npz
    .venv/bin/python tools/pretrained_embeddings.py --split val --out E/val.npz

Why: the ``genre`` and ``instruments`` bundles' members learned from real
recordings (MSD, MagnaTagATune), not from General MIDI sample sets. A head on
their embeddings may transfer to a sample source it never heard better than a
ResNet trained on rendered clips alone; ``tools/instrument_probe.py`` measures
that. The clips are the recipe's own (``instrument_data.split_clips``: same
seeds, so the same clips whose log-mels the ResNet trains on), rendered again as
audio; every member's embedding is averaged over the clip's patches and the
members' embeddings are concatenated. ``--sources`` limits the sources.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tagger_core.labels.bundles import load_bundle  # noqa: E402
from tagger_core.listening.single_file import BundleRunner  # noqa: E402
from tagger_core.training import instrument_data as recipe  # noqa: E402

BUNDLES = ("genre", "instruments")


def clip_embeddings(runners: list[BundleRunner], audio: np.ndarray) -> np.ndarray:
    """``[clips, dims]``: each member's patch embeddings averaged per clip, members side by side."""
    rows = []
    for wave in audio:
        parts, patches_of = [], {}
        for runner in runners:  # genre and instruments share one layout: cut the patches once
            if runner.layout not in patches_of:
                patches_of[runner.layout] = runner.patches([wave])
            patches = patches_of[runner.layout]
            for model in runner.models:
                parts.append(model(patches)["embedding"].reshape(len(patches), -1).mean(axis=0))
        rows.append(np.concatenate(parts))
    return np.stack(rows).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", required=True, choices=sorted(recipe.SPLITS))
    parser.add_argument("--sources", help="comma-separated sources (default: all of the split)")
    parser.add_argument("--seed", type=int, default=0, help="the recipe seed (instrument_data)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    wanted = set(args.sources.split(",")) if args.sources else None
    runners = [BundleRunner(load_bundle(b), threads=args.threads) for b in BUNDLES]
    t0 = time.time()
    feats, labels, sources = [], [], []
    parts = recipe.corpus_parts()
    for source, clips in recipe.split_clips(args.split, parts, args.seconds, seed=args.seed):
        if wanted is not None and source not in wanted:
            continue
        for start in range(0, len(clips), 200):
            batch = clips[start : start + 200]
            audio = recipe.render_clips(batch, recipe.SOURCES[source][1], args.seconds)
            feats.append(clip_embeddings(runners, audio))
            labels += [c.label_vector() for c in batch]
            sources += [source] * len(batch)
            print(f"[{time.time() - t0:6.0f}s] {source} {start + len(batch)}/{len(clips)}",
                  flush=True)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out, embeddings=np.concatenate(feats), labels=np.stack(labels),
        source=np.array(sources), bundles=np.array(BUNDLES),
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
