"""Where the instrument-family bundle loses ranking quality on the validation clips.

    .venv/bin/python tools/instrument_label_audibility.py --data DATA [--bundle DIR]

Why: a clip-level label says that a family plays in the clip, not that it can
be heard over the others. This re-renders every part of every validation clip
alone (``instrument_data.stem_shares``: a family's share of the clip's energy
in the 4-s window the bundle hears, before room, level and codec) and reports
the bundle's macro mAP when positives quieter than a threshold are left out,
then mAP per condition (room, codec, level, drums, number of families, music).
Validation clips only: the test clips are looked at once, by
``tools/evaluate_instrument_model.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from evaluate_instrument_model import member_file_logits  # noqa: E402

from tagger_core.labels.bundles import load_bundle, load_bundle_dir  # noqa: E402
from tagger_core.listening.weights import load_members  # noqa: E402
from tagger_core.training import instrument_data as recipe  # noqa: E402
from tagger_core.training.ranking import average_precision  # noqa: E402

THRESHOLDS_DB = (-30.0, -20.0, -15.0, -10.0)


def macro_map(probs: np.ndarray, labels: np.ndarray, keep: np.ndarray | None = None) -> float:
    """Mean AP over the families with a positive and a negative among the kept clips."""
    keep = np.ones_like(labels, bool) if keep is None else keep
    aps = []
    for j in range(labels.shape[1]):
        y = labels[keep[:, j], j]
        if 0 < y.sum() < len(y):
            aps.append(average_precision(probs[keep[:, j], j, None], y[:, None])[0])
    return round(float(np.mean(aps)), 4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="tools/instrument_data.py output")
    parser.add_argument("--bundle", type=Path, help="bundle directory (default: the shipped one)")
    parser.add_argument("--window", type=float, default=4.0, help="seconds the bundle hears")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    bundle = load_bundle_dir(args.bundle) if args.bundle else load_bundle("instrument-family")
    recipe_record = json.loads((args.data / "dataset.json").read_text())["recipe"]
    seconds = float(recipe_record["clip_seconds"])
    with np.load(args.data / "val.npz") as z:
        data = {k: z[k] for k in z.files}
    shares = []
    for source, clips in recipe.split_clips("val", recipe.corpus_parts(), seconds):
        shares.append(recipe.stem_shares(clips, recipe.SOURCES[source][1], seconds, args.window))
        print(f"{source}: {len(clips)} clips' stems rendered", flush=True)
    share = np.concatenate(shares)
    labels = data["labels"]
    if not np.array_equal(~np.isnan(share), labels == 1):
        raise SystemExit("the re-drawn clips do not match DATA's validation labels: other recipe?")
    models = load_members(bundle)
    z = member_file_logits(models, data["features"], bundle.patch_frames, bundle.patch_hop_frames)
    temperature = float((bundle.manifest.get("calibration") or {}).get("temperature", [1.0])[0])
    probs = (1.0 / (1.0 + np.exp(-z / temperature))).mean(axis=0)
    positives = share[labels == 1]
    report: dict = {
        "bundle": f"{bundle.id} {bundle.version}", "split": "validation", "clips": len(labels),
        "temperature": temperature, "map": macro_map(probs, labels),
        "positive_share_db_percentiles": dict(zip(
            ("5", "10", "25", "50", "75"),
            np.percentile(positives, [5, 10, 25, 50, 75]).round(1).tolist(), strict=True)),
        "quiet_positives_left_out": {},
    }  # fmt: skip
    for threshold in THRESHOLDS_DB:
        keep = (labels == 0) | (share >= threshold)
        report["quiet_positives_left_out"][f"below {threshold:g} dB"] = {
            "positives_left_out": round(float(np.mean(positives < threshold)), 4),
            "map": macro_map(probs, labels, keep),
        }
    gain, rt60, codec = data["gain_db"], data["rt60"], data["codec"].astype(str)
    music = data["music"].astype(str)
    n_families = labels.sum(axis=1)
    clean = (rt60 == 0) & (codec == "") & (gain <= 0) & ~data["drums"]
    conditions = {
        "dry": rt60 == 0, "room": rt60 > 0, "no codec": codec == "", "mp3": codec == "mp3",
        "vorbis": codec == "vorbis", "below -20 dBFS": gain < -20,
        "-20 to 0 dBFS": (gain >= -20) & (gain <= 0), "clipped": gain > 0,
        "drums": data["drums"], "no drums": ~data["drums"],
        "score excerpt": np.char.startswith(music, "corpus"), "generated phrase": music == "phrase",
        **{f"{k} families": n_families == k for k in (1, 2, 3, 4)},
        "clean (dry, no codec, not clipped, no drums)": clean,
        "clean solo": clean & (n_families == 1),
    }  # fmt: skip
    report["by_condition"] = {
        name: {"clips": int(sel.sum()), "map": macro_map(probs[sel], labels[sel])}
        for name, sel in conditions.items()
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
