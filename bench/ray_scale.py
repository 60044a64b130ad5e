"""Benchmark the Ray engine against the local one on this machine; prints one JSON object.

What it measures, on synthesised tracks (``--tracks`` of ``--seconds`` each, mixed
formats) with the shipped ensembles (genre + instruments + instrument-family, 9
members) and the default 32-patch limit:

* ``local``: :func:`tagger_core.listening.engine.analyze` (float32, like Ray).
* ``ray_1_node`` / ``ray_2_nodes``: :func:`tagger_core.listening.ray_engine.analyze_on_ray`
  on a Ray cluster of one, then two local nodes (``ray.cluster_utils.Cluster``,
  ``--cpus-per-node`` logical CPUs each), each into a fresh library: wall seconds
  (connection and actor start-up included), seconds to the first stored track, ×
  realtime, and the largest difference of stored logits from the local engine's.
* ``per_member``: what each member costs per patch on this CPU (one torch thread,
  batches of 16, after a warm-up), and decode + log-mel per track (the work
  the decode tasks do), from which docs/scale.md estimates a large cluster.

Two local nodes share this machine's cores, so they cannot be faster than one
here; the point is correctness and the engine's overhead.

    .venv/bin/python bench/ray_scale.py --tracks 12 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tagger_core.db import open_library  # noqa: E402
from tagger_core.db.blob_codec import unpack  # noqa: E402
from tagger_core.db.models import Analysis  # noqa: E402
from tagger_core.labels.bundles import load_bundle  # noqa: E402
from tagger_core.library.demo import synthesise, write_audio  # noqa: E402
from tagger_core.library.scan import scan  # noqa: E402
from tagger_core.listening.engine import analyze, prepare_ensemble  # noqa: E402
from tagger_core.listening.report import DEFAULT_BUNDLES, DEFAULT_MAX_PATCHES  # noqa: E402
from tagger_core.listening.track_patches import PatchJob, prepare_track  # noqa: E402

STYLES = ("rock", "jazz", "piano", "ambient", "strings")
EXTS = (".flac", ".ogg", ".mp3", ".wav")


def make_corpus(folder: Path, tracks: int, seconds: float) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(tracks):
        path = folder / f"track{i:03d}{EXTS[i % len(EXTS)]}"
        write_audio(path, synthesise(STYLES[i % len(STYLES)], seconds, seed=i))
    return tracks * seconds


def stored_logits(library) -> dict[tuple[int, str], np.ndarray]:
    with library.session() as s:
        return {
            (r.track_id, r.bundle_id): unpack(r.member_logits)
            for r in s.query(Analysis).filter_by(status="ok")
        }


def run_local(music: Path, db: Path, bundles) -> tuple[dict, dict]:
    lib = open_library(db)
    scan(lib, [music])
    t0 = time.perf_counter()
    report = analyze(lib, bundles=bundles, mixed_precision=False)
    wall = time.perf_counter() - t0
    out = stored_logits(lib)
    lib.close()
    return {
        "wall_s": round(wall, 2),
        "realtime": round(report.audio_seconds / wall, 1),
        "tracks": report.tracks_done,
        "model_s": round(report.model_s, 2),
        "decode_s": round(report.decode_s + report.frontend_s, 2),
    }, out


def run_ray(music: Path, db: Path, bundles, address: str, reference: dict) -> dict:
    from tagger_core.listening.ray_engine import analyze_on_ray

    lib = open_library(db)
    scan(lib, [music])
    first: list[float] = []
    t0 = time.perf_counter()

    def progress(p) -> None:
        if p.done and not first:
            first.append(time.perf_counter() - t0)

    report = analyze_on_ray(lib, bundles=bundles, address=address, progress=progress)
    wall = time.perf_counter() - t0
    got = stored_logits(lib)
    lib.close()
    diff = max(float(np.abs(got[k] - reference[k]).max()) for k in reference)
    return {
        "wall_s": round(wall, 2),
        "first_track_s": round(first[0], 2) if first else None,
        "realtime": round(report.audio_seconds / wall, 1),
        "tracks": report.tracks_done,
        "nodes_used": len(report.nodes),
        "actors": report.workers,
        "max_logit_diff_vs_local": diff,
        "same_keys_as_local": set(got) == set(reference),
    }


def per_member_costs(bundles, music: Path) -> dict:
    """Milliseconds per patch for each member as the engines run it (optimised, float32,
    one thread), and decode + frontend per track."""
    torch.set_num_threads(1)
    out: dict = {"threads": 1, "members_ms_per_patch": {}}
    rng = np.random.default_rng(0)
    for bundle in bundles:
        shape = (16, bundle.patch_frames, bundle.frontend_config.n_mels)
        sample = rng.random(shape, dtype=np.float32)
        ens = prepare_ensemble(bundle, "cpu", threads=1, mixed_precision=False)
        for name, model in zip(ens.member_names, ens.members, strict=True):
            model(sample)
            t0 = time.perf_counter()
            for _ in range(4):
                model(sample)
            out["members_ms_per_patch"][f"{bundle.id}/{name}"] = round(
                (time.perf_counter() - t0) / 64 * 1000, 2
            )
    layouts = tuple(
        dict.fromkeys((b.frontend_config, b.patch_frames, b.patch_hop_frames) for b in bundles)
    )
    files = sorted(music.iterdir())
    t0 = time.perf_counter()
    for i, path in enumerate(files):
        prepare_track(PatchJob(i, str(path), None, layouts, DEFAULT_MAX_PATCHES))
    out["decode_frontend_s_per_track"] = round((time.perf_counter() - t0) / len(files), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--cpus-per-node", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("RAY_memory_monitor_refresh_ms", "0")
    from ray.cluster_utils import Cluster

    bundles = [load_bundle(b) for b in DEFAULT_BUNDLES]
    work = Path(tempfile.mkdtemp(prefix="ray-scale-"))
    audio = make_corpus(work / "music", args.tracks, args.seconds)
    result: dict = {
        "machine_cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "tracks": args.tracks,
        "audio_minutes": round(audio / 60, 1),
        "bundles": list(DEFAULT_BUNDLES),
        "max_patches": DEFAULT_MAX_PATCHES,
    }
    result["local"], reference = run_local(work / "music", work / "local.db", bundles)
    node = {"num_cpus": args.cpus_per_node, "object_store_memory": 200 * 2**20}
    cluster = Cluster(
        initialize_head=True, connect=False, head_node_args={**node, "include_dashboard": False}
    )
    try:
        result["ray_1_node"] = run_ray(
            work / "music", work / "ray1.db", bundles, cluster.address, reference
        )
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        result["ray_2_nodes"] = run_ray(
            work / "music", work / "ray2.db", bundles, cluster.address, reference
        )
    finally:
        cluster.shutdown()
    result["per_member"] = per_member_costs(bundles, work / "music")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
