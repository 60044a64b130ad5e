"""Benchmark: raw vs calibrated-from-tags held-out calibration on a shifted set, as JSON.

Usage: ``.venv/bin/python bench/trust_from_tags.py [--genre-clips 150]
[--instrument-clips 150] [--seconds 5] [--folds 5] [--boot 1000] [--workdir DIR]``.

The set is made here, so nobody's data is needed:

- **genre**: clips synthesised by :func:`tagger_core.library.demo.synthesise` in six
  styles, tagged with genres the way the demo library tags them (a style's
  variants chosen at random, e.g. rock as "Rock" or "Rock; Pop");
- **instruments**: clips of one or two instrument families synthesised here with
  NumPy (plucked strings by Karplus–Strong, additive organ, formant-less reed and
  brass tones, noisy flute, inharmonic mallets…) in a mix recipe of our own, with
  the families written to the ``INSTRUMENTS`` field. Neither the sound source nor
  the recipe was used to train the shipped bundles: ``instrument-family`` was
  trained on FluidR3_GM and TimGM6mb renders of the recipe in
  ``tagger_core.training.instrument_data`` (``tools/instrument_data.py``), the
  only soundfonts installed here, so a soundfont render would not be shifted.

Every bundle is analysed (``analyze_and_predict``, automatic calibration off),
then its tag-labelled tracks are split into ``folds`` outer folds (iterative
stratification). For each outer fold the method (one temperature or one per
label) is chosen by NLL on inner validation folds of the other folds only, fitted
on those, and applied to the held-out fold; the pooled held-out probabilities are
scored before (raw ensemble) and after. Intervals: 95 % percentile bootstrap over
tracks (``--boot`` resamples).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tagger_core.db import open_library  # noqa: E402
from tagger_core.errors import CalibrationError  # noqa: E402
from tagger_core.library import demo  # noqa: E402
from tagger_core.library.scan import scan  # noqa: E402
from tagger_core.listening import analyze_and_predict  # noqa: E402
from tagger_core.trust.archive_calibration import (  # noqa: E402
    build_calibration_set,
    eligible_labels,
    make_scaler,
)
from tagger_core.trust.auto_calibration import interval_judge  # noqa: E402
from tagger_core.trust.crossval import cross_validate, stratified_folds  # noqa: E402
from tagger_core.trust.metrics import calibration_summary  # noqa: E402
from tagger_core.trust.scaling import IdentityScaler  # noqa: E402

SR = 22050
BUNDLES = ("genre", "instruments", "instrument-family")
STYLE_TAGS = {
    "rock": (["Rock"], ["Rock", "Pop"]),
    "electronic": (["Electronic"], ["Electronic", "Dance"]),
    "piano": (["Classical"],),
    "strings": (["Classical"],),
    "jazz": (["Jazz"], ["Jazz", "Blues"]),
    "ambient": (["Ambient"], ["Ambient", "Electronic"]),
}
METHODS = ("temperature", "per-class")


# ------------------------------------------------------------------ instrument sounds
def _env(n: int, attack: float, decay: float) -> np.ndarray:
    t = np.arange(n) / SR
    return np.minimum(1.0, t / attack) * np.exp(-t / decay)


def _additive(f: float, n: int, amps: list[float], vib: float = 0.0) -> np.ndarray:
    t = np.arange(n) / SR
    phase = 2 * np.pi * f * (t + vib * np.sin(2 * np.pi * 5.5 * t) / (2 * np.pi * 5.5))
    return sum(a * np.sin((k + 1) * phase) for k, a in enumerate(amps) if (k + 1) * f < SR / 2)


def _pluck(f: float, n: int, rng: np.random.Generator, damp: float) -> np.ndarray:
    period = max(2, int(SR / f))
    buf = rng.uniform(-1, 1, period)
    out = np.empty(n)
    for i in range(n):
        out[i] = buf[i % period]
        buf[i % period] = damp * 0.5 * (buf[i % period] + buf[(i + 1) % period])
    return out


def _tone(family: str, f: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """One note of ``family`` (a sound of our own, unlike any soundfont's samples)."""
    if family == "guitar":
        return _pluck(f, n, rng, 0.996)
    if family == "bass":
        return _pluck(f / 2, n, rng, 0.998)
    if family == "string":
        return _additive(f, n, [1 / k for k in range(1, 16)], vib=0.006) * _env(n, 0.15, 3.0)
    if family == "organ":
        return _additive(f, n, [1, 0.8, 0, 0.6, 0, 0.4, 0, 0.3]) * _env(n, 0.01, 50.0)
    if family == "flute":
        breath = rng.normal(0, 0.08, n)
        return (_additive(f * 2, n, [1, 0.2, 0.05], vib=0.004) + breath) * _env(n, 0.08, 4.0)
    if family == "reed":
        return _additive(f, n, [1 / k if k % 2 else 0.05 for k in range(1, 14)]) * _env(
            n, 0.04, 3.0
        )
    if family == "brass":
        bright = np.minimum(1.0, np.arange(n) / (0.1 * SR))
        body = _additive(f, n, [1 / np.sqrt(k) for k in range(1, 12)])
        return np.tanh(2 * bright * body) * _env(n, 0.05, 2.0)
    if family == "mallet":
        t = np.arange(n) / SR
        return sum(a * np.sin(2 * np.pi * f * 2 * r * t) * np.exp(-t * d)
                   for r, a, d in ((1, 1, 3), (3.93, 0.4, 9), (9.54, 0.2, 20)))  # fmt: skip
    if family == "keyboard":
        return _additive(f, n, [1, 0.5, 0.3, 0.2, 0.1]) * _env(n, 0.005, 0.8)
    # synth_lead
    t = np.arange(n) / SR
    saw = sum(((t * f * d) % 1.0) * 2 - 1 for d in (1.0, 1.007))
    return saw * 0.4 * _env(n, 0.01, 5.0)


FAMILIES = ("guitar", "bass", "string", "organ", "flute", "reed", "brass", "mallet",
            "keyboard", "synth_lead")  # fmt: skip
CREDIT_NAMES = {"guitar": "acoustic guitar", "bass": "double bass", "string": "violin",
                "organ": "Hammond organ", "flute": "flute", "reed": "alto saxophone",
                "brass": "trumpet", "mallet": "marimba", "keyboard": "piano",
                "synth_lead": "synthesizer"}  # fmt: skip


def instrument_clip(rng: np.random.Generator, seconds: float) -> tuple[np.ndarray, list[str]]:
    """One or two families, each a phrase of random notes at its own level."""
    n = int(seconds * SR)
    families = list(rng.choice(FAMILIES, size=int(rng.integers(1, 3)), replace=False))
    out = np.zeros(n)
    for family in families:
        step = int(SR * rng.choice([0.25, 0.5, 1.0]))
        base = 110.0 * 2 ** rng.integers(0, 3)
        part = np.zeros(n)
        for start in range(0, n - step, step):
            f = base * 2 ** (rng.choice([0, 2, 4, 5, 7, 9, 11, 12]) / 12)
            part[start : start + step] += _tone(family, f, step, rng)
        out += part / (np.abs(part).max() or 1.0) * 10 ** (rng.uniform(-9, 0) / 20)
    return (0.8 * out / (np.abs(out).max() or 1.0)).astype(np.float32), families


# ------------------------------------------------------------------ the library
def make_library(folder: Path, n_genre: int, n_inst: int, seconds: float, seed: int) -> None:
    from mutagen.flac import FLAC

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    styles = list(STYLE_TAGS)
    for i in range(n_genre):
        style = styles[i % len(styles)]
        path = folder / f"g{i:04d}.flac"
        demo.write_audio(path, demo.synthesise(style, seconds, seed=seed * 10000 + i))
        variants = STYLE_TAGS[style]
        genres = variants[int(rng.integers(len(variants)))]
        demo.tag_file(path, title=f"g{i}", artist="Bench", album=style, year="2026",
                      track=str(i % 10 + 1), genres=list(genres))  # fmt: skip
    for i in range(n_inst):
        audio, families = instrument_clip(rng, seconds)
        path = folder / f"i{i:04d}.flac"
        demo.write_audio(path, audio)
        tags = FLAC(path)
        tags["TITLE"] = f"i{i}"
        if i % 2:  # half as the INSTRUMENTS field, half as performer credits
            tags["INSTRUMENTS"] = families
        else:
            tags["PERFORMER"] = [f"Player {k} ({CREDIT_NAMES[f]})" for k, f in enumerate(families)]
        tags.save()


# ------------------------------------------------------------------ evaluation
def _boot(before: np.ndarray, after: np.ndarray, y: np.ndarray, n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in ("ece_before", "ece_after",
                                                     "wmae_before", "wmae_after")}  # fmt: skip
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        b, a = calibration_summary(before[idx], y[idx]), calibration_summary(after[idx], y[idx])
        draws["ece_before"].append(b.ece)
        draws["ece_after"].append(a.ece)
        draws["wmae_before"].append(b.weighted_mae)
        draws["wmae_after"].append(a.weighted_mae)
    return {k: [round(float(np.percentile(v, 2.5)), 4), round(float(np.percentile(v, 97.5)), 4)]
            for k, v in draws.items()}  # fmt: skip


def nested_held_out(z: np.ndarray, y: np.ndarray, folds: int, seed: int) -> tuple[Any, ...]:
    """Held-out probabilities before/after; each outer fold's method chosen on its inner folds."""
    outer = stratified_folds(y, folds, seed)
    before = IdentityScaler("sigmoid").transform(z).mean
    after = np.empty(y.shape)
    chosen: list[str] = []
    for f in range(folds):
        train, test = outer != f, outer == f
        scores = {}
        for method in METHODS:
            try:
                cv = cross_validate(z[:, train], y[train], make_scaler(method), k=folds - 1,
                                    seed=seed + 1, min_per_fold=1)  # fmt: skip
                scores[method] = cv.after.nll
            except CalibrationError:
                continue
        best = min(scores, key=scores.__getitem__) if scores else "temperature"
        chosen.append(best)
        fitted = make_scaler(best).fit(z[:, train], y[train])
        after[test] = fitted.transform(z[:, test]).mean
    return before, after, chosen


def evaluate(library: Any, bundle_id: str, folds: int, boot: int, seed: int) -> dict:
    with library.session() as s:
        cal_set = build_calibration_set(s, bundle_id, use_tags=True)
    keep, skipped = eligible_labels(cal_set, folds)
    out: dict[str, Any] = {"bundle": bundle_id, "task": cal_set.task,
                           "tagged_tracks": int(cal_set.from_tags), "labels": len(keep),
                           "labels_skipped": sorted(skipped)}  # fmt: skip
    if not keep:
        out["note"] = "no label has enough tagged positives and negatives"
        return out
    z, y = cal_set.logits[:, :, keep].astype(np.float64), cal_set.y[:, keep]
    before, after, chosen = nested_held_out(z, y, folds, seed)
    b, a = calibration_summary(before, y), calibration_summary(after, y)
    out.update({
        "split": f"{folds}-fold outer CV over the tagged tracks (iterative stratification, "
                 f"seed {seed}); method chosen by NLL on {folds - 1} inner folds",
        "methods_chosen": chosen,
        "raw": {"ece": round(b.ece, 4), "weighted_mae": round(b.weighted_mae, 4),
                "mae": round(b.mae, 4), "nll": round(b.nll, 4)},
        "from_tags": {"ece": round(a.ece, 4), "weighted_mae": round(a.weighted_mae, 4),
                      "mae": round(a.mae, 4), "nll": round(a.nll, 4)},
        "ci95": _boot(before, after, y, boot, seed),
        "would_activate": interval_judge(before, after, y).improved,
    })  # fmt: skip
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genre-clips", type=int, default=150)
    parser.add_argument("--instrument-clips", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", help="keep the library here (default: a temp folder)")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="trust-bench-"))
    started = time.perf_counter()
    music = work / "music"
    if not music.exists():
        make_library(music, args.genre_clips, args.instrument_clips, args.seconds, args.seed)
    library = open_library(work / "lib.db")
    scan(library, [music])
    made = time.perf_counter() - started
    report = analyze_and_predict(library, None, bundles=list(BUNDLES), calibrate_from_tags=False)
    results = [evaluate(library, b, args.folds, args.boot, args.seed) for b in BUNDLES]
    print(json.dumps({
        "bench": "trust_from_tags",
        "data": f"{args.genre_clips} synthesised genre clips (demo styles, genre tags) + "
                f"{args.instrument_clips} synthesised instrument clips (own sounds and mix, "
                "families in INSTRUMENTS / performer credits), "
                f"{args.seconds:g} s each",
        "seed": args.seed,
        "make_s": round(made, 1),
        "analyse_s": round(report.seconds, 1),
        "results": results,
    }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
