"""Benchmark: CPU time per patch of each shipped member, PyTorch runner vs ONNX Runtime (JSON).

Usage: ``.venv/bin/python bench/member_runtimes.py [--batch 32] [--repeats 4] [--threads 1]``.

Like for like: the same members, the same float32 patches (the bundle's start-up
check patches tiled to a batch), the same thread count. The baseline is the
runner the engine used before ONNX Runtime (the pool-first musicnn rewrite, the
frozen TorchScript graph of the VGG and ResNet members), built with
``MUSIC_TAGGER_ONNXRUNTIME=0``; ONNX Runtime runs the eager member's graph.
CPU seconds (``time.process_time``) per patch, best of ``repeats``; start-up
(export, session) is reported apart and counted on neither side. The largest
output difference shows that nothing is approximated.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tagger_core.labels.bundles import load_bundle  # noqa: E402
from tagger_core.listening import onnx_runner  # noqa: E402
from tagger_core.listening.ensembles import check_sample  # noqa: E402
from tagger_core.listening.torch_members import as_member, optimized_runner  # noqa: E402
from tagger_core.listening.weights import load_members  # noqa: E402

CPU = torch.device("cpu")


def cpu_ms_per_patch(fn, patches: np.ndarray, repeats: int) -> float:
    fn(patches)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn(patches)
        best = min(best, time.process_time() - t0)
    return 1000.0 * best / len(patches)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--bundles", default="genre,instruments,instrument-family")
    args = parser.parse_args()
    if not onnx_runner.available():
        print(json.dumps({"error": "onnxruntime/onnx not installed (extra 'fast')"}))
        return 1
    torch.set_num_threads(args.threads)
    out = {"machine": platform.platform(), "threads": args.threads, "batch": args.batch,
           "load_average": os.getloadavg(), "members": {}}  # fmt: skip
    for bundle_id in args.bundles.split(","):
        bundle = load_bundle(bundle_id)
        sample = check_sample(bundle)
        patches = np.tile(sample, ((args.batch + len(sample) - 1) // len(sample), 1, 1))[
            : args.batch
        ]
        for name, model in zip(bundle.member_names, load_members(bundle, CPU), strict=True):
            model.eval()
            os.environ[onnx_runner.ENV_SWITCH] = "0"
            baseline = as_member(optimized_runner(model, sample, CPU) or model)
            os.environ[onnx_runner.ENV_SWITCH] = "1"
            t0 = time.perf_counter()
            onnx = onnx_runner.onnx_member(model, sample, args.threads)
            startup = time.perf_counter() - t0
            if onnx is None:
                continue
            want, got = baseline(patches), onnx(patches)
            base_ms = cpu_ms_per_patch(baseline, patches, args.repeats)
            onnx_ms = cpu_ms_per_patch(onnx, patches, args.repeats)
            out["members"][f"{bundle_id}/{name}"] = {
                "baseline_runner": baseline.runtime,
                "baseline_cpu_ms_per_patch": round(base_ms, 3),
                "onnxruntime_cpu_ms_per_patch": round(onnx_ms, 3),
                "speedup": round(base_ms / onnx_ms, 2),
                "max_abs_logit_difference": float(np.abs(want["logits"] - got["logits"]).max()),
                "onnx_startup_s": round(startup, 2),
            }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
