"""Benchmark: torch log-mel frontend vs librosa (the baseline), printed as JSON.

Usage: ``.venv/bin/python bench/frontend.py [--seconds 120] [--repeats 5] [--threads N]``.
Both compute the musicnn log-mel (16 kHz, STFT 512, hop 256, 96 mels, logC)
of the same audio: ``clips`` clips of ``seconds / clips`` seconds, librosa one
clip at a time (as the original musicnn extractor does), torch as one batch.
Reports the best of ``repeats`` runs, times realtime, and the largest
difference between the two outputs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import librosa
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.listening.frontend import LogMelFrontend  # noqa: E402


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="total audio")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = FrontendConfig.musicnn()
    rng = np.random.default_rng(0)
    clip_len = int(args.seconds / args.clips * cfg.sr)
    clips = (0.3 * rng.standard_normal((args.clips, clip_len))).astype(np.float32)

    def run_librosa() -> list[np.ndarray]:
        out = []
        for y in clips:
            mel = librosa.feature.melspectrogram(
                y=y, sr=cfg.sr, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels
            ).T
            out.append(np.log10(cfg.log_c * mel + 1.0))
        return out

    front = LogMelFrontend(cfg)
    batch = torch.from_numpy(clips)

    def run_torch() -> torch.Tensor:
        with torch.inference_mode():
            return front(batch)

    ref = np.stack(run_librosa())
    got = run_torch().numpy()
    librosa_s = best_time(run_librosa, args.repeats)
    torch_s = best_time(run_torch, args.repeats)
    print(
        json.dumps(
            {
                "benchmark": "frontend_logmel_musicnn",
                "audio_seconds": args.clips * clip_len / cfg.sr,
                "clips": args.clips,
                "threads": args.threads,
                "baseline": "librosa.feature.melspectrogram + log10(10000x+1)",
                "librosa_seconds": round(librosa_s, 4),
                "torch_seconds": round(torch_s, 4),
                "librosa_x_realtime": round(args.seconds / librosa_s, 1),
                "torch_x_realtime": round(args.seconds / torch_s, 1),
                "speedup_vs_librosa": round(librosa_s / torch_s, 2),
                "max_abs_diff": float(np.abs(got - ref).max()),
                "torch": torch.__version__,
                "librosa": librosa.__version__,
                "machine": platform.machine(),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
