"""Benchmark: training throughput on the CPU (or GPU), printed as JSON.

Usage: ``.venv/bin/python bench/train.py [--steps 20] [--threads N] [--device cpu]``.

* ``resnet_fma`` / ``resnet_nsynth``: AM'23's ResNet (default widths, about
  420k parameters for 8 / 11 classes) trained with Adam on random log-mel
  patches of the FMA (68 frames x 96 mels) and NSynth (63 x 64) settings,
  batch 32, softmax cross-entropy: patches per second over ``steps``
  optimiser steps after two warm-up steps (best of ``repeats``).
* ``heads_joint`` / ``heads_ova``: the MLP heads on 456-value embeddings
  (the genre bundle's musicnn + VGG widths), 15 classes, batch 64:
  embeddings per second.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tagger_core.listening.models.heads import MLPHead, OneVsAllHeads  # noqa: E402
from tagger_core.listening.models.resnet import AM23ResNet, count_parameters  # noqa: E402


def throughput(model, make_batch, loss_fn, steps: int, repeats: int, device) -> float:
    """Samples per second of forward + backward + Adam step."""
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = make_batch()
    x, y = x.to(device), y.to(device)

    def step() -> None:
        out = model(x)
        loss = loss_fn(out["logits"] if isinstance(out, dict) else out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return steps * x.shape[0] / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    results: dict[str, object] = {}
    for name, frames, mels, classes in (("resnet_fma", 68, 96, 8), ("resnet_nsynth", 63, 64, 11)):
        model = AM23ResNet(classes, n_mels=mels)

        def batch(frames=frames, mels=mels, classes=classes):
            return torch.randn(32, frames, mels), torch.randint(0, classes, (32,))

        rate = throughput(model, batch, F.cross_entropy, args.steps, args.repeats, device)
        results[name] = {"patches_per_s": round(rate, 1), "parameters": count_parameters(model),
                         "patch": [frames, mels], "batch": 32}  # fmt: skip
    for name, cls in (("heads_joint", MLPHead), ("heads_ova", OneVsAllHeads)):
        model = cls(456, 15)

        def batch():
            return torch.randn(64, 456), (torch.rand(64, 15) < 0.2).float()

        rate = throughput(model, batch, F.binary_cross_entropy_with_logits, args.steps * 5,
                          args.repeats, device)  # fmt: skip
        results[name] = {"embeddings_per_s": round(rate, 1), "batch": 64}
    print(json.dumps({
        "device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "machine": platform.machine(), "steps": args.steps, **results,
    }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
