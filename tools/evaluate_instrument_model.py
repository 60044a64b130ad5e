"""Evaluate the `instrument-family` bundle on its test soundfont (AM'23 Tables 1 and 2).

    .venv/bin/python tools/evaluate_instrument_model.py --data /tmp/instrument-data \
        [--pretrained 400]

Computes, for every single member and for the ensemble: per-family average
precision and F1 (threshold 0.5), macro mAP; AM'23's MAE, weighted MAE and ECE
before and after temperature scaling (the best shared T on the test set, as in
AM'23, and the T fitted by NLL on the validation clips, which is what a user
could do); reliability diagrams and the MAE-vs-T curve as PNGs. Results go to
``docs/models/instrument-family/metrics.json`` (figures beside it) and into the
bundle manifest's ``metrics``. ``--pretrained N`` re-renders the first N test
clips (the recipe is deterministic) and compares/fuses the pretrained MTT
``instruments`` bundle on the families it covers.
"""

from __future__ import annotations

import argparse
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

from tagger_core.labels.bundles import load_bundle, load_bundle_dir  # noqa: E402
from tagger_core.listening.frontend import make_patches  # noqa: E402
from tagger_core.listening.single_file import BundleRunner  # noqa: E402
from tagger_core.listening.weights import load_members  # noqa: E402
from tagger_core.training import instrument_data as recipe  # noqa: E402
from tagger_core.training.ranking import average_precision  # noqa: E402
from tagger_core.trust import metrics, scaling  # noqa: E402

FAMILIES = recipe.FAMILIES


def file_logits(patch_logits: torch.Tensor) -> torch.Tensor:
    """``logit(mean_p sigmoid(z_p))`` over patches (dim 0), as the analysis engine does."""
    z = patch_logits.double()
    logsig = torch.nn.functional.logsigmoid
    return torch.logsumexp(logsig(z), 0) - torch.logsumexp(logsig(-z), 0)


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
            z = z.double()
            per_clip, start = [], 0
            for n in counts:
                zc = z[start : start + n]
                per_clip.append(file_logits(zc))
                start += n
            out.append(torch.stack(per_clip))
    return torch.stack(out).numpy()


def scores(probs: np.ndarray, labels: np.ndarray) -> dict:
    ap = average_precision(probs, labels)
    report = metrics.classification_report(probs, labels, 0.5)
    cal = metrics.calibration_summary(probs, labels)
    return {
        "ap": dict(zip(FAMILIES, ap.round(4).tolist(), strict=True)),
        "f1": dict(zip(FAMILIES, np.round(report.f1, 4).tolist(), strict=True)),
        "map": round(float(np.nanmean(ap)), 4),
        "macro_f1": round(float(np.mean(report.f1)), 4),
        "mae": round(cal.mae, 4),
        "weighted_mae": round(cal.weighted_mae, 4),
        "ece": round(cal.ece, 4),
        "brier": round(cal.brier, 4),
    }


def mean_std(values: list[float]) -> dict:
    return {"mean": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4)}


def plot_reliability(z, y, temperature, path: Path, title: str) -> None:
    """AM'23 Figure 1 style: grey members, black ensemble, blue ensemble at the shipped T.

    The shipped T is fitted on validation; the T best on the test clips is not drawn,
    since choosing it looks at the test labels.
    """
    fig, ax = plt.subplots(figsize=(5, 5))
    edges = np.linspace(0.0, 1.0, 11)
    ax.plot([0, 1], [0, 1], "--", color="green", label="ideal")

    def stairs(probs, **kw):
        d = metrics.reliability_diagram(probs, y)
        freq = np.array(d.frequency)
        ax.stairs(freq, edges, baseline=None, **kw)

    for m in range(z.shape[0]):
        label = "single models" if m == 0 else None
        stairs(expit(z[m]), color="0.7", lw=1, label=label)
    stairs(expit(z).mean(0), color="black", lw=2.5, label="ensemble")
    stairs(expit(z / temperature).mean(0), color="tab:blue", lw=2,
           label=f"ensemble, validation T = {temperature:.2f}")  # fmt: skip
    ax.set_xlabel("confidence bucket")
    ax.set_ylabel("fraction positive")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_temperature(z, y, path: Path) -> tuple[list[float], float]:
    grid = [round(0.3 + 0.05 * i, 2) for i in range(55)]
    fig, ax = plt.subplots(figsize=(6, 4))
    member_best = []
    for m in range(z.shape[0]):
        curve = scaling.mae_temperature_curve(z[m][None], y, grid)
        member_best.append(curve.best_temperature)
        ax.plot(grid, curve.mae, color="0.7", lw=1, label="single models" if m == 0 else None)
    ens = scaling.mae_temperature_curve(z, y, grid)
    ax.plot(grid, ens.mae, color="black", lw=2.5, label="ensemble")
    best = ens.best_temperature
    ax.axvline(best, color="tab:blue", ls=":", label=f"best T {best}")
    ax.set_xlabel("temperature T (logits / T)")
    ax.set_ylabel("AM'23 MAE")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return member_best, ens.best_temperature


def plot_ap(single: list[dict], ensemble: dict, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 3.5))
    x = np.arange(len(FAMILIES))
    singles = np.array([[s["ap"][f] for f in FAMILIES] for s in single])
    ax.bar(x - 0.2, singles.mean(0), 0.4, yerr=singles.std(0), color="0.7",
           label="single (mean±std)")  # fmt: skip
    ax.bar(x + 0.2, [ensemble["ap"][f] for f in FAMILIES], 0.4, color="black", label="ensemble")
    ax.set_xticks(x, FAMILIES, rotation=30)
    ax.set_ylim(0, 1)
    ax.set_ylabel("average precision")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def float16_deviation(bundle, features, patch_frames) -> float:
    """Largest change of an ensemble probability when the weights are rounded to float16."""
    models = load_members(bundle)
    ref = expit(member_file_logits(models, features, patch_frames, patch_frames)).mean(0)
    for model in models:
        for p in model.state_dict().values():
            if p.dtype == torch.float32:
                p.copy_(p.half().float())
    half = expit(member_file_logits(models, features, patch_frames, patch_frames)).mean(0)
    return float(np.abs(ref - half).max())


def compare_pretrained(args, dataset: dict, ens_probs: np.ndarray, y: np.ndarray) -> dict:
    """Re-render the first N test clips; run the MTT `instruments` bundle; compare and fuse."""
    rec = dataset["recipe"]
    n = args.pretrained
    n_scores = int(rec["corpus"].split("first ")[1].split(" ")[0])
    all_scores = recipe.load_corpus_scores(n_scores)
    held = dataset["statistics"]["test"]["clips"]
    n_test_scores = int(rec["corpus"].split("(")[1].split(" ")[0])
    test_scores = all_scores[len(all_scores) - n_test_scores :]
    clips = recipe.make_clips(rec["split_seeds"]["test"] + 1000 * rec["seed"], held,
                              rec["clip_seconds"], test_scores)[:n]  # fmt: skip
    soundfont = Path("/usr/share/sounds/sf3") / rec["test_soundfont"]
    if not soundfont.is_file():
        soundfont = Path("/usr/share/sounds/sf2") / rec["test_soundfont"]
    audio = np.concatenate([
        recipe.render_clips(clips[i : i + 200], soundfont, rec["clip_seconds"])
        for i in range(0, n, 200)
    ])  # fmt: skip
    assert np.array_equal(np.stack([c.label_vector() for c in clips]), y[:n]), "recipe drifted"
    runner = BundleRunner(load_bundle("instruments"))
    taxonomy = runner.bundle.taxonomy
    covered = [f for f in taxonomy.labels if f in FAMILIES]
    idx = [FAMILIES.index(f) for f in covered]
    t0 = time.time()
    raw = np.stack([runner.run_chunks([a]).logits for a in audio])
    seconds = time.time() - t0
    label_logits = taxonomy.label_logits(raw)
    mtt = expit(label_logits[:, [taxonomy.labels.index(f) for f in covered]])
    ours = ens_probs[:n][:, idx]
    truth = y[:n][:, idx]
    fused = 0.5 * (ours + mtt)
    out = {"clips": n, "families": covered, "mtt_seconds": round(seconds, 1)}
    for name, p in (("instrument-family", ours), ("instruments (MTT)", mtt), ("fused mean", fused)):
        ap = average_precision(p, truth)
        out[name] = {"ap": dict(zip(covered, ap.round(4).tolist(), strict=True)),
                     "map": round(float(np.nanmean(ap)), 4)}  # fmt: skip
    return out


def _f(v) -> str:
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"


def markdown_tables(r: dict) -> str:
    """The report's tables, generated from the results (pasted into the report)."""
    ss, ens, tt = r["single_summary"], r["ensemble"], r["temperature"]
    n = len(r["single"])
    lines = [
        "| | macro mAP | macro F1 |", "|---|---|---|",
        f"| single models (mean ± std of {n}) | {_f(ss['map']['mean'])} ± "
        f"{_f(ss['map']['std'])} | {_f(ss['macro_f1']['mean'])} ± {_f(ss['macro_f1']['std'])} |",
        f"| ensemble of {n} | {_f(ens['map'])} | {_f(ens['macro_f1'])} |", "",
    ]  # fmt: skip
    lines += ["| family | AP single (mean) | AP ensemble | F1 ensemble |", "|---|---|---|---|"]
    for fam in FAMILIES:
        single_ap = np.mean([s["ap"][fam] for s in r["single"]])
        lines.append(f"| {fam} | {_f(single_ap)} | {_f(ens['ap'][fam])} | {_f(ens['f1'][fam])} |")
    lines += ["", "| | T | MAE | weighted MAE | ECE |", "|---|---|---|---|---|"]
    sb = tt["single_at_best_test_T"]
    rows = [
        ("single models, T = 1", "1", ss["mae"], ss["weighted_mae"], ss["ece"]),
        ("ensemble, T = 1", "1", ens["mae"], ens["weighted_mae"], ens["ece"]),
        ("single models, best T chosen on test (not valid)",
         "/".join(f"{t:.2f}" for t in tt["best_test_T_single"]),
         sb["mae"], sb["weighted_mae"], sb["ece"]),
        ("ensemble, best T chosen on test (AM'23; not valid)",
         f"{tt['best_test_T_ensemble']:.2f}",
         tt["ensemble_at_best_test_T"]["mae"], tt["ensemble_at_best_test_T"]["weighted_mae"],
         tt["ensemble_at_best_test_T"]["ece"]),
        ("ensemble, T fitted on validation (NLL; shipped, headline)",
         f"{tt['validation_nll_T']:.2f}",
         tt["ensemble_at_validation_T"]["mae"], tt["ensemble_at_validation_T"]["weighted_mae"],
         tt["ensemble_at_validation_T"]["ece"]),
        ("ensemble, per-family T on validation", "per family",
         tt["ensemble_at_validation_T_per_family"]["mae"],
         tt["ensemble_at_validation_T_per_family"]["weighted_mae"],
         tt["ensemble_at_validation_T_per_family"]["ece"]),
    ]  # fmt: skip
    for name, t, *vals in rows:
        cells = [f"{_f(v['mean'])} ± {_f(v['std'])}" if isinstance(v, dict) else _f(v)
                 for v in vals]  # fmt: skip
        lines.append(f"| {name} | {t} | " + " | ".join(cells) + " |")
    if "pretrained" in r:
        pr = r["pretrained"]
        fams = pr["families"]
        lines += ["", "| model | " + " | ".join(fams) + " | mAP |",
                  "|---|" + "---|" * (len(fams) + 1)]  # fmt: skip
        for name in ("instrument-family", "instruments (MTT)", "fused mean"):
            row = pr[name]
            lines.append(f"| {name} | " + " | ".join(_f(row["ap"][f]) for f in fams)
                         + f" | {_f(row['map'])} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def shipped_calibration(temperature: float) -> dict:
    """The bundle's default calibration: one shared temperature, as a scaler dict."""
    from tagger_core.trust.scaling import TemperatureScaler

    scaler = TemperatureScaler("sigmoid", per_class=False, temperature=[temperature])
    return {**scaler.to_dict(), "fitted_on": "validation clips (training soundfonts), NLL"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--bundle", type=Path, default=ROOT / "resources/models/instrument-family")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/models/instrument-family")
    parser.add_argument("--pretrained", type=int, default=0, help="clips for the MTT comparison")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    bundle = load_bundle_dir(args.bundle)
    models = load_members(bundle)
    pf, hop = bundle.patch_frames, bundle.patch_hop_frames
    data = {}
    for split in ("val", "test"):
        with np.load(args.data / f"{split}.npz") as z:
            data[split] = (z["features"], z["labels"].astype(np.float64))
    z_val = member_file_logits(models, data["val"][0], pf, hop)
    z_test = member_file_logits(models, data["test"][0], pf, hop)
    y_val, y_test = data["val"][1], data["test"][1]
    single = [scores(expit(z_test[m]), y_test) for m in range(len(models))]
    ensemble = scores(expit(z_test).mean(0), y_test)
    member_best, t_best = plot_temperature(z_test, y_test, args.out / "temperature.png")
    t_val = float(scaling.TemperatureScaler(per_class=False).fit(z_val, y_val).temperature[0])
    per_class = scaling.TemperatureScaler(per_class=True).fit(z_val, y_val)
    single_best = [scores(expit(z_test[m] / member_best[m]), y_test) for m in range(len(models))]
    results = {
        "test_clips": int(len(y_test)),
        "validation_clips": int(len(y_val)),
        "single": single,
        "single_summary": {k: mean_std([s[k] for s in single])
                           for k in ("map", "macro_f1", "mae", "weighted_mae", "ece")},
        "ensemble": ensemble,
        "validation_ensemble": scores(expit(z_val).mean(0), y_val),
        "temperature": {
            "best_test_T_ensemble": t_best,
            "best_test_T_single": member_best,
            "ensemble_at_best_test_T": scores(expit(z_test / t_best).mean(0), y_test),
            "single_at_best_test_T": {k: mean_std([s[k] for s in single_best])
                                      for k in ("mae", "weighted_mae", "ece")},
            "validation_nll_T": round(t_val, 4),
            "ensemble_at_validation_T": scores(expit(z_test / t_val).mean(0), y_test),
            "validation_nll_T_per_family": dict(
                zip(FAMILIES, np.round(per_class.temperature, 4).tolist(), strict=True)),
            "ensemble_at_validation_T_per_family": scores(per_class.transform(z_test).mean, y_test),
        },  # fmt: skip
    }
    plot_reliability(z_test, y_test, t_val, args.out / "reliability.png",
                     "test soundfont: reliability (10 buckets, all families)")  # fmt: skip
    plot_ap(single, ensemble, args.out / "average_precision.png")
    from tagger_core.trust.plots import render_reliability_comparison  # noqa: PLC0415

    render_reliability_comparison(
        [metrics.reliability_diagram(expit(z_test).mean(0), y_test),
         metrics.reliability_diagram(expit(z_test / t_val).mean(0), y_test)],
        ("Ensemble, T = 1", f"Ensemble, validation T = {t_val:.2f}"),
        path=args.out / "reliability_before_after.png",
    )  # fmt: skip
    results["float16_max_abs_probability_change"] = float16_deviation(bundle, data["test"][0], pf)
    if args.pretrained:
        dataset = json.loads((args.data / "dataset.json").read_text())
        results["pretrained"] = compare_pretrained(args, dataset, expit(z_test).mean(0), y_test)
    (args.out / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "tables.md").write_text(markdown_tables(results))
    manifest_path = args.bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["metrics"] = {
        "test_soundfont": manifest["provenance"]["data"]["recipe"]["test_soundfont"],
        "test_clips": results["test_clips"],
        "ensemble_map": ensemble["map"], "ensemble_macro_f1": ensemble["macro_f1"],
        "single_map": results["single_summary"]["map"],
        "ensemble_mae_T1": ensemble["mae"], "ensemble_weighted_mae_T1": ensemble["weighted_mae"],
        "ensemble_ece_T1": ensemble["ece"],
        "best_test_T": t_best,
        "ensemble_mae_best_T": results["temperature"]["ensemble_at_best_test_T"]["mae"],
        "validation_T": results["temperature"]["validation_nll_T"],
        "ensemble_mae_validation_T": results["temperature"]["ensemble_at_validation_T"]["mae"],
        "ap_per_family": ensemble["ap"],
        "report": "docs/models/instrument-family.md",
    }  # fmt: skip
    # The app applies this until the librarian fits a calibration of their own:
    # one temperature fitted by NLL on the validation clips (training soundfonts).
    manifest["calibration"] = shipped_calibration(results["temperature"]["validation_nll_T"])
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps({k: results[k] for k in ("single_summary", "temperature")}, indent=1))
    print(json.dumps({"ensemble": ensemble}, indent=1))
    if "pretrained" in results:
        print(json.dumps(results["pretrained"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
