"""Evaluate the `instrument-family` bundle in two phases: choices on validation, then test once.

    .venv/bin/python tools/evaluate_instrument_model.py --data DIR --phase validation
    .venv/bin/python tools/evaluate_instrument_model.py --data DIR --phase test

``validation`` makes every choice on the validation clips (training sources,
other notes): which members form the ensemble (the best-k by single-member
validation NLL, k chosen by the ensemble's validation NLL after temperature
scaling), the shared temperature (NLL), and records the decision threshold (0.5,
the review policy's default). It writes the frozen choices with the weights'
sha256 to ``<out>/frozen.json`` and the temperature and members into the bundle
manifest (the weights of members left out are removed from the bundle).

``test`` refuses to run unless the bundle is exactly what was frozen, and refuses a
second look at the test clips (``--again`` overrides and is recorded). It
scores the sample-disjoint ``test`` split (freepats, the training mix recipe) and
``test_dense`` (freepats, a mix recipe no member was trained on): per-family
average precision, macro mAP and F1 at 0.5, AM'23's MAE, weighted MAE and ECE
with 95 % bootstrap intervals (clips resampled), at T = 1 and at the frozen
validation T; writes ``metrics.json``, ``tables.md``, the reliability diagrams
and the manifest's ``metrics``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.special import expit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tagger_core.errors import TaggerError  # noqa: E402
from tagger_core.labels.bundles import load_bundle_dir  # noqa: E402
from tagger_core.labels.taxonomy import INSTRUMENT_FAMILIES as FAMILIES  # noqa: E402
from tagger_core.listening.ensembles import file_logits  # noqa: E402
from tagger_core.listening.frontend import make_patches  # noqa: E402
from tagger_core.listening.weights import load_members  # noqa: E402
from tagger_core.training.evaluation import check_frozen  # noqa: E402
from tagger_core.training.ranking import average_precision  # noqa: E402
from tagger_core.trust import metrics, scaling  # noqa: E402
from tagger_core.trust.uncertainty import bootstrap_figures  # noqa: E402

THRESHOLD = 0.5
TEST_SPLITS = {
    "test": "freepats (sample-disjoint), training mix recipe",
    "test_dense": "freepats (sample-disjoint), unseen dense mix recipe",
}


def member_file_logits(models, features: np.ndarray, patch_frames: int, hop: int) -> np.ndarray:
    """``[members, clips, classes]``: logit of the patch-averaged sigmoid, per member."""
    patches = [make_patches(torch.from_numpy(f.astype(np.float32)), patch_frames, hop)
               for f in features]  # fmt: skip
    counts = [len(p) for p in patches]
    flat = torch.cat(patches)
    out = []
    with torch.inference_mode():
        for model in models:
            z = torch.cat([model(flat[i : i + 256])["logits"] for i in range(0, len(flat), 256)])
            per_clip, start = [], 0
            for n in counts:
                per_clip.append(file_logits(z[start : start + n].numpy()))
                start += n
            out.append(np.stack(per_clip))
    return np.stack(out)


def scores(probs: np.ndarray, labels: np.ndarray, intervals: bool = False) -> dict:
    """Ranking, decisions at 0.5 and calibration figures of one set of probabilities."""
    ap = average_precision(probs, labels)
    report = metrics.classification_report(probs, labels, THRESHOLD)
    cal = metrics.calibration_summary(probs, labels)
    out = {
        "ap": dict(zip(FAMILIES, ap.round(4).tolist(), strict=True)),
        "f1": dict(zip(FAMILIES, np.round(report.f1, 4).tolist(), strict=True)),
        "map": round(float(np.nanmean(ap)), 4),
        "macro_f1": round(float(np.mean(report.f1)), 4),
        "mae": round(cal.mae, 4),
        "weighted_mae": round(cal.weighted_mae, 4),
        "ece": round(cal.ece, 4),
        "brier": round(cal.brier, 4),
    }
    if intervals:
        figures = bootstrap_figures(probs, labels, n_resamples=1000, seed=0).to_dict()
        for name in ("mae", "weighted_mae", "ece"):
            out[f"{name}_ci95"] = [round(v, 4) for v in figures[f"{name}_ci95"]]
    return out


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    p = np.clip(probs, 1e-7, 1 - 1e-7)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def fit_temperature(z: np.ndarray, y: np.ndarray) -> float:
    return float(scaling.TemperatureScaler(per_class=False).fit(z, y).temperature[0])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_split(data: Path, name: str) -> dict:
    with np.load(data / f"{name}.npz") as z:
        return {k: z[k] for k in z.files}


def plot_reliability(z: np.ndarray, y: np.ndarray, temperature: float, path: Path, title: str):
    """AM'23 Figure 1 style: grey members, black ensemble, blue ensemble at the frozen T."""
    fig, ax = plt.subplots(figsize=(5, 5))
    edges = np.linspace(0.0, 1.0, 11)
    ax.plot([0, 1], [0, 1], "--", color="green", label="ideal")

    def stairs(probs, **kw):
        ax.stairs(np.array(metrics.reliability_diagram(probs, y).frequency), edges,
                  baseline=None, **kw)  # fmt: skip

    for m in range(z.shape[0]):
        stairs(expit(z[m]), color="0.7", lw=1, label="single models" if m == 0 else None)
    stairs(expit(z).mean(0), color="black", lw=2.5, label="ensemble, T = 1")
    stairs(expit(z / temperature).mean(0), color="tab:blue", lw=2,
           label=f"ensemble, validation T = {temperature:.2f}")  # fmt: skip
    ax.set_xlabel("confidence bucket")
    ax.set_ylabel("fraction positive")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def validation_phase(args, bundle, models, manifest: dict) -> dict:
    val = load_split(args.data, "val")
    y = val["labels"].astype(np.float64)
    z = member_file_logits(models, val["features"], bundle.patch_frames, bundle.patch_hop_frames)
    names = [m["name"] for m in manifest["members"]]
    single_nll = [nll(expit(z[m]), y) for m in range(len(models))]
    order = list(np.argsort(single_nll))
    by_k = []
    for k in range(1, len(order) + 1):
        zk = z[order[:k]]
        t = fit_temperature(zk, y)
        by_k.append({"k": k, "members": [names[i] for i in order[:k]], "temperature": round(t, 4),
                     "nll_at_T": round(nll(expit(zk / t).mean(0), y), 5)})  # fmt: skip
    best = min(by_k, key=lambda r: r["nll_at_T"])
    chosen = [names.index(n) for n in best["members"]]
    t_val = best["temperature"]
    zc = z[chosen]
    per_source = {}
    for source in sorted(set(val["source"].tolist())):
        rows = val["source"] == source
        per_source[source] = scores(expit(zc[:, rows] / t_val).mean(0), y[rows])
    frozen = {
        "frozen_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "validation_clips": int(len(y)),
        "single_member_validation_nll": dict(
            zip(names, np.round(single_nll, 5).tolist(), strict=True)
        ),  # fmt: skip
        "ensembles_by_size": by_k,
        "members": best["members"],
        "temperature": t_val,
        "threshold": THRESHOLD,
        "weights_sha256": {
            m["name"]: m["sha256"] for m in manifest["members"] if m["name"] in best["members"]
        },  # fmt: skip
        "validation": {
            "ensemble_T1": scores(expit(zc).mean(0), y, intervals=True),
            "ensemble_at_T": scores(expit(zc / t_val).mean(0), y, intervals=True),
            "per_source_at_T": per_source,
        },
        "test_looks": [],
    }
    plot_reliability(zc, y, t_val, args.out / "reliability_validation.png",
                     "validation (training sources, other notes)")  # fmt: skip
    for m in manifest["members"]:
        if m["name"] not in best["members"]:  # not shipped; the training checkpoints keep them
            (args.bundle / m["weights"]).unlink(missing_ok=True)
    manifest["members"] = [m for m in manifest["members"] if m["name"] in best["members"]]
    manifest["calibration"] = {
        **scaling.TemperatureScaler("sigmoid", per_class=False, temperature=[t_val]).to_dict(),
        "fitted_on": "validation clips of the training sources (FluidR3/MuseScore, TimGM6mb, "
        "OPL-3 FM; other notes, mixes and degradations), NLL",
    }
    return frozen


def test_phase(args, bundle, models, manifest: dict, frozen: dict) -> dict:
    t_val = frozen["temperature"]
    results = {"frozen": {k: frozen[k] for k in ("members", "temperature", "threshold")}}
    recipe = json.loads((args.data / "dataset.json").read_text())["recipe"]
    results["test_recipe"] = {"command": recipe["command"], "seed": recipe.get("seed", 0)}
    for split, what in TEST_SPLITS.items():
        data = load_split(args.data, split)
        y = data["labels"].astype(np.float64)
        z = member_file_logits(models, data["features"], bundle.patch_frames,
                               bundle.patch_hop_frames)  # fmt: skip
        single = [scores(expit(z[m]), y) for m in range(len(models))]
        results[split] = {
            "data": what,
            "clips": int(len(y)),
            "single_map": {"mean": round(float(np.mean([s["map"] for s in single])), 4),
                           "std": round(float(np.std([s["map"] for s in single])), 4)},
            "ensemble_T1": scores(expit(z).mean(0), y, intervals=True),
            "ensemble_at_validation_T": scores(expit(z / t_val).mean(0), y, intervals=True),
        }  # fmt: skip
        plot_reliability(z, y, t_val, args.out / f"reliability_{split}.png", what)
    return results


def markdown_tables(frozen: dict, results: dict) -> str:
    """The report's tables, generated from the results (pasted into the report)."""
    lines = ["| split | data | clips | macro mAP (single mean ± std) | macro mAP ensemble | "
             "macro F1 @0.5 | ECE T=1 | ECE validation T | MAE validation T | "
             "weighted MAE validation T |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    v = frozen["validation"]
    lines.append(
        f"| validation | training sources, other notes | {frozen['validation_clips']} | – | "
        f"{v['ensemble_at_T']['map']:.3f} | {v['ensemble_at_T']['macro_f1']:.3f} | "
        f"{v['ensemble_T1']['ece']:.3f} | {v['ensemble_at_T']['ece']:.3f} "
        f"{v['ensemble_at_T']['ece_ci95']} | {v['ensemble_at_T']['mae']:.3f} | "
        f"{v['ensemble_at_T']['weighted_mae']:.3f} |"
    )
    for split in TEST_SPLITS:
        r = results[split]
        e1, et = r["ensemble_T1"], r["ensemble_at_validation_T"]
        lines.append(
            f"| {split} | {r['data']} | {r['clips']} | {r['single_map']['mean']:.3f} ± "
            f"{r['single_map']['std']:.3f} | {et['map']:.3f} | {et['macro_f1']:.3f} | "
            f"{e1['ece']:.3f} {e1['ece_ci95']} | {et['ece']:.3f} {et['ece_ci95']} | "
            f"{et['mae']:.3f} {et['mae_ci95']} | {et['weighted_mae']:.3f} |"
        )
    lines += ["", "| family | AP test | AP test_dense | AP validation |", "|---|---|---|---|"]
    for fam in FAMILIES:
        lines.append(
            f"| {fam} | {results['test']['ensemble_at_validation_T']['ap'][fam]:.3f} | "
            f"{results['test_dense']['ensemble_at_validation_T']['ap'][fam]:.3f} | "
            f"{v['ensemble_at_T']['ap'][fam]:.3f} |"
        )
    lines += ["", "| validation source | mAP | ECE at T |", "|---|---|---|"]
    for source, s in v["per_source_at_T"].items():
        lines.append(f"| {source} | {s['map']:.3f} | {s['ece']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--phase", choices=("validation", "test"), required=True)
    parser.add_argument("--bundle", type=Path, default=ROOT / "resources/models/instrument-family")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/models/instrument-family")
    parser.add_argument("--again", action="store_true", help="record a second look at the test")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    frozen_path = args.out / "frozen.json"
    if args.phase == "validation":
        bundle = load_bundle_dir(args.bundle)
        frozen = validation_phase(args, bundle, load_members(bundle), manifest)
        frozen_path.write_text(json.dumps(frozen, indent=2) + "\n")
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        print(json.dumps({k: frozen[k] for k in ("members", "temperature", "ensembles_by_size")},
                         indent=1))  # fmt: skip
        return 0
    frozen = json.loads(frozen_path.read_text())
    try:
        check_frozen(frozen, manifest, args.again)
    except TaggerError as err:
        raise SystemExit(str(err)) from None
    for m in manifest["members"]:
        if sha256(args.bundle / m["weights"]) != m["sha256"]:
            raise SystemExit(f"{m['weights']} does not match its recorded sha256")
    frozen["test_looks"].append(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    frozen_path.write_text(json.dumps(frozen, indent=2) + "\n")  # recorded before the look
    bundle = load_bundle_dir(args.bundle)
    results = test_phase(args, bundle, load_members(bundle), manifest, frozen)
    (args.out / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "tables.md").write_text(markdown_tables(frozen, results))
    t, d = results["test"]["ensemble_at_validation_T"], results["test_dense"]
    manifest["metrics"] = {
        "test_data": TEST_SPLITS["test"], "test_clips": results["test"]["clips"],
        "test_recipe_seed": results["test_recipe"]["seed"],
        "ensemble_map": t["map"], "ensemble_macro_f1": t["macro_f1"],
        "ensemble_ece_T1": results["test"]["ensemble_T1"]["ece"],
        "validation_T": frozen["temperature"],
        "ensemble_ece_validation_T": t["ece"], "ensemble_mae_validation_T": t["mae"],
        "dense_unseen_mix": {"clips": d["clips"],
                             "ensemble_map": d["ensemble_at_validation_T"]["map"],
                             "ensemble_ece_validation_T": d["ensemble_at_validation_T"]["ece"]},
        "ap_per_family": t["ap"],
        "report": "docs/models/instrument-family.md",
    }  # fmt: skip
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps({s: {k: results[s][k] for k in ("ensemble_T1", "ensemble_at_validation_T")}
                      for s in TEST_SPLITS}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
