"""Recomputing stored predictions (calibration + review flags) for a whole library.

Builds a temp database of N analysed tracks (genre bundle, random member
logits), then times ``refresh_predictions``: read raw outputs, taxonomy,
calibration, flags, and the upsert of every ``predictions`` row. Baseline
named in the output: the vectorised array part alone (no database), so the
JSON shows what the storage costs on top. Usage: python bench/predictions.py [--tracks N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from tagger_core.db import open_library
from tagger_core.db.blob_codec import pack
from tagger_core.db.models import Analysis, Track, utcnow
from tagger_core.labels.bundles import load_bundle
from tagger_core.trust.policy import evaluate_policy
from tagger_core.trust.predictions import refresh_predictions
from tagger_core.trust.scaling import IdentityScaler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=100_000)
    n = parser.parse_args().tracks
    bundle = load_bundle("genre")
    rng = np.random.default_rng(0)
    raw = rng.normal(-2, 2, (n, len(bundle.members), len(bundle.raw_labels))).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        lib = open_library(Path(tmp) / "bench.db")
        now = utcnow()
        with lib.session() as s:
            s.execute(Track.__table__.insert(), [
                {"id": i + 1, "path": f"/m/{i}.mp3".encode(), "path_text": f"/m/{i}.mp3",
                 "size": 1, "mtime_ns": 1, "status": "ok", "genres": [], "raw_tags": {},
                 "first_seen": now, "last_seen": now} for i in range(n)
            ])  # fmt: skip
            s.execute(Analysis.__table__.insert(), [
                {"track_id": i + 1, "bundle_id": "genre", "bundle_version": bundle.version,
                 "status": "ok", "members": list(bundle.member_names), "n_patches": 1,
                 "seconds_analysed": 30.0, "member_logits": pack(raw[i]), "created_at": now}
                for i in range(n)
            ])  # fmt: skip
        t0 = time.perf_counter()
        z = np.transpose(np.asarray(bundle.taxonomy.label_logits(raw)), (1, 0, 2))
        out = IdentityScaler("sigmoid").transform(z)
        flags = evaluate_policy(out.mean, spread=out.std, class_names=bundle.taxonomy.labels)
        assert flags.flagged.shape == (n,)
        arrays_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        written = refresh_predictions(lib)
        refresh_s = time.perf_counter() - t0
        lib.close()
    assert written == n
    print(json.dumps({
        "tracks": n,
        "refresh_predictions_s": round(refresh_s, 2),
        "tracks_per_s": round(n / refresh_s),
        "baseline": "array part only (taxonomy + calibration + flags, no database)",
        "baseline_s": round(arrays_s, 3),
    }, indent=2))


if __name__ == "__main__":
    main()
