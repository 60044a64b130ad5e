"""Benchmark: speed of the `instrument-family` bundle (5 AM'23 ResNets), printed as JSON.

Usage: ``.venv/bin/python bench/instrument_family.py [--seconds 300] [--threads N]``.
Times, on ``seconds`` of generated audio at 16 kHz, the 64-band log-mel
frontend (window 2048, hop 1024), each member on the 4-second patches and the
whole chain, as "× realtime" (audio seconds per wall-clock second).
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bundle = load_bundle("instrument-family")
    models = load_members(bundle)
    rng = np.random.default_rng(0)
    audio = torch.from_numpy((0.2 * rng.standard_normal(int(args.seconds * 16000))).astype("f4"))
    front = LogMelFrontend(bundle.frontend_config)
    members = {}
    with torch.inference_mode():
        front(audio[:16000])
        start = time.perf_counter()
        patches = make_patches(front(audio), bundle.patch_frames, bundle.patch_hop_frames)
        front_s = time.perf_counter() - start
        for name, model in zip(bundle.member_names, models, strict=True):
            model(patches[: args.batch])
            start = time.perf_counter()
            for i in range(0, len(patches), args.batch):
                model(patches[i : i + args.batch])
            members[name] = time.perf_counter() - start
    total = front_s + sum(members.values())
    print(json.dumps({
        "bench": "instrument_family",
        "audio_seconds": args.seconds,
        "threads": args.threads,
        "patches": len(patches),
        "frontend_x_realtime": round(args.seconds / front_s, 1),
        "member_x_realtime": {k: round(args.seconds / v, 1) for k, v in members.items()},
        "ensemble_chain_x_realtime": round(args.seconds / total, 1),
    }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
