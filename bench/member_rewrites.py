"""CPU cost per patch of each member in ONNX Runtime: exported as it is vs as its exact
inference rewrite (``models/pool_first.py``); prints JSON.

Like for like: the same weights, the same float32 arithmetic up to rounding (the JSON
gives the largest logit difference), the same ONNX Runtime session options as the
engine (no spinning), the same batch of start-up check patches, start-up counted on
neither side. CPU time of this process per run, best of ``--repeats`` alternating runs.

    .venv/bin/python bench/member_rewrites.py [--batch 32] [--threads 1] [--repeats 6]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tagger_core.labels.bundles import load_bundle  # noqa: E402
from tagger_core.listening import onnx_runner  # noqa: E402
from tagger_core.listening.ensembles import check_sample  # noqa: E402
from tagger_core.listening.models.pool_first import fast_variant  # noqa: E402
from tagger_core.listening.weights import load_members  # noqa: E402


def _cpu_ms(session, patches: np.ndarray) -> float:
    t0 = time.process_time()
    session.run(None, {"patches": patches})
    return 1000.0 * (time.process_time() - t0) / len(patches)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--bundles", default="genre,instruments")
    args = parser.parse_args()
    if not onnx_runner.available():
        print(json.dumps({"error": "onnxruntime/onnx not installed (extra 'fast')"}))
        return 1
    out = {"machine": platform.platform(), "threads": args.threads, "batch": args.batch,
           "load_average": os.getloadavg(), "members": {}}  # fmt: skip
    for bundle_id in args.bundles.split(","):
        bundle = load_bundle(bundle_id)
        sample = check_sample(bundle)
        patches = np.tile(sample, (-(-args.batch // len(sample)), 1, 1))[: args.batch]
        for name, model in zip(bundle.member_names, load_members(bundle), strict=True):
            rewrite = fast_variant(model)
            if rewrite is None:
                out["members"][f"{bundle_id}/{name}"] = {"rewrite": None}
                continue
            sessions = {
                kind: onnx_runner._session(onnx_runner._export(m, sample), args.threads)
                for kind, m in (("as_is", model), ("rewrite", rewrite))
            }
            logits = {k: s.run(None, {"patches": patches})[0] for k, s in sessions.items()}
            best = {kind: float("inf") for kind in sessions}
            for _ in range(args.repeats):
                for kind, session in sessions.items():
                    best[kind] = min(best[kind], _cpu_ms(session, patches))
            out["members"][f"{bundle_id}/{name}"] = {
                "rewrite": type(rewrite).__name__,
                "cpu_ms_per_patch_as_is": round(best["as_is"], 2),
                "cpu_ms_per_patch_rewrite": round(best["rewrite"], 2),
                "speedup": round(best["as_is"] / best["rewrite"], 2),
                "max_abs_logit_difference": float(
                    np.abs(logits["as_is"] - logits["rewrite"]).max()
                ),
            }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
