"""Benchmark: speed of the pretrained taggers (torch ports), printed as JSON.

Usage: ``.venv/bin/python bench/taggers.py [--seconds 300] [--threads N]``.
Times, on ``seconds`` of generated audio at 16 kHz: the log-mel frontend, each
member of the ``genre`` and ``instruments`` bundles on the non-overlapping
3-second patches, and the whole chain (one frontend, four models). Speeds are
"× realtime" (audio seconds per wall-clock second). For comparison, NOTES.md
measured the original pipeline (librosa + TensorFlow, one model per run) at
58× (MSD_musicnn), 115× (MSD_vgg), 64× (MTT_musicnn), 104× (MTT_vgg), ~20× for
all four, on this kind of machine.
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

from tagger_core.labels.bundles import load_bundle  # noqa: E402
from tagger_core.listening.frontend import LogMelFrontend, make_patches  # noqa: E402
from tagger_core.listening.weights import load_members


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    audio = torch.from_numpy((0.2 * rng.standard_normal(int(args.seconds * 16000))).astype("f4"))
    bundles = [load_bundle("genre"), load_bundle("instruments")]
    front = LogMelFrontend(bundles[0].frontend_config)
    with torch.inference_mode():
        front(audio[:16000])  # warm-up
        front_s, logmel = timed(lambda: front(audio))
        patches = make_patches(logmel, 187)
        figures: dict = {"frontend_x_realtime": round(args.seconds / front_s, 1)}
        total = front_s
        for bundle in bundles:
            for name, model in zip(bundle.member_names, load_members(bundle), strict=True):
                model(patches[:2])  # warm-up

                def run(model=model) -> None:
                    for i in range(0, len(patches), args.batch):
                        model(patches[i : i + args.batch])

                seconds, _ = timed(run)
                total += seconds
                figures[f"{name}_x_realtime"] = round(args.seconds / seconds, 1)
    figures["all_four_with_one_frontend_x_realtime"] = round(args.seconds / total, 1)
    print(
        json.dumps(
            {
                "benchmark": "pretrained_taggers",
                "audio_seconds": args.seconds,
                "patches": len(patches),
                "threads": args.threads,
                "batch": args.batch,
                **figures,
                "torch": torch.__version__,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
