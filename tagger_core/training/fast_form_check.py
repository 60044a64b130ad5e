"""The offline check that accepts or rejects a member's cheaper form (``fast_forms.json``).

Why offline and on whole files: what the app shows comes from file-level
probabilities (patch posteriors averaged), their labels and their
calibration, so that is what an approximation must keep. The check set is
fixed and reproducible (seeded): synthesised clips of every demo style,
labelled with the demo's genres, plus clips rendered from MIDI with
FluidSynth, labelled with the instrument families that play (when FluidSynth,
a General MIDI soundfont and ``mido`` are installed). The int8 activation
ranges are calibrated on *other* clips (other seeds), so the check measures
the form as it will run, not as it was fitted.

A form is accepted for a member only when, against the member's float32
outputs on the check set:

* file-level probabilities (raw tags and app labels) move by at most
  ``MAX_ABS_DP`` (0.01);
* the top raw tag, the top app label and every 0.5 decision (raw tags and
  labels) agree on at least ``MIN_AGREEMENT`` (99 %) of files;
* the ensemble's calibration figures (ECE and AM'23 MAE of its app-label
  probabilities, with the bundle's shipped temperature if it has one, on the
  labelled files of its task) with the member in that form stay inside the
  95 % bootstrap interval of the float32 ensemble's figures;
* it is faster: at least ``MIN_SPEEDUP`` × less CPU per patch on the checking
  machine (an int8 form that is not faster has no reason to exist).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tagger_core.labels.bundles import Bundle
from tagger_core.library.demo import CLIPS, synthesise
from tagger_core.listening.ensembles import check_sample, file_logits
from tagger_core.listening.fast_forms import FAST_FORMS_FILE, FORMAT, INT8
from tagger_core.listening.int8_convs import calibrate, int8_available, with_int8_convs
from tagger_core.listening.logmel import cut_patches, logmel
from tagger_core.listening.torch_members import as_member, optimized_runner
from tagger_core.listening.weights import load_members
from tagger_core.trust.metrics import am23_mae, expected_calibration_error, reliability_diagram

log = logging.getLogger(__name__)

MAX_ABS_DP = 0.01
MIN_AGREEMENT = 0.99
MIN_SPEEDUP = 1.1
BOOTSTRAP = 1000
STYLES = ("rock", "electronic", "piano", "strings", "jazz", "ambient")
SOUNDFONTS = ("/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf2/FluidR3_GM.sf2")


@dataclass
class CheckClip:
    """One file of the check set: audio at the bundle's rate and its known labels."""

    name: str
    audio: np.ndarray
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # task -> labels


def _style_genres() -> dict[str, tuple[str, ...]]:
    out: dict[str, set[str]] = {}
    for clip in CLIPS:
        out.setdefault(clip.style, set()).update(clip.genres)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _soundfont() -> str | None:
    return next((s for s in SOUNDFONTS if Path(s).is_file()), None)


def rendering_available() -> bool:
    """Whether labelled instrument clips can be rendered here."""
    try:
        import mido  # noqa: F401, PLC0415 - optional recipe dependency
    except ImportError:
        return False
    return shutil.which("fluidsynth") is not None and _soundfont() is not None


def check_clips(
    sr: int,
    seed: int = 0,
    per_style: int = 3,
    seconds: float = 15.0,
    rendered: int = 18,
    rendered_seconds: float = 8.0,
) -> list[CheckClip]:
    """The check set: ``per_style`` synthesised clips of every demo style and ``rendered``
    FluidSynth clips (skipped where rendering is unavailable), all from ``seed``."""
    genres = _style_genres()
    clips = [
        CheckClip(
            f"{style}-{seed}-{k}",
            synthesise(style, seconds, sr=sr, seed=1000 * seed + 10 * k + i),
            {"genre": genres[style]},
        )
        for k in range(per_style)
        for i, style in enumerate(STYLES)
    ]
    if rendered and rendering_available():
        from tagger_core.training import instrument_data as recipe  # noqa: PLC0415

        specs = recipe.make_clips(seed + 7, rendered, rendered_seconds)
        audio = recipe.render_clips(specs, _soundfont(), rendered_seconds, sr=sr)
        for spec, wave in zip(specs, audio, strict=True):
            clips.append(
                CheckClip(
                    f"rendered-{seed}-{spec.index}", wave, {"instruments": tuple(spec.families)}
                )
            )
    return clips


def clip_patches(bundle: Bundle, clips: Sequence[CheckClip]) -> list[np.ndarray]:
    """Each clip's log-mel patches through the bundle's own frontend."""
    config, frames, hop = bundle.frontend_config, bundle.patch_frames, bundle.patch_hop_frames
    return [cut_patches(logmel(clip.audio, config), frames, hop) for clip in clips]


def file_outputs(member: Callable, patches: Sequence[np.ndarray], batch: int = 32) -> np.ndarray:
    """File-level logits ``[files, tags]`` (logit of the patch-averaged probability) of a
    member with the array interface (:func:`~tagger_core.listening.torch_members.as_member`)."""
    flat = np.concatenate(list(patches))
    logits = np.concatenate([member(flat[i : i + batch])["logits"]
                             for i in range(0, flat.shape[0], batch)])  # fmt: skip
    out, start = [], 0
    for p in patches:
        out.append(file_logits(logits[start : start + p.shape[0]]))
        start += p.shape[0]
    return np.stack(out)


def cpu_ms_per_patch(member: Callable, patches: np.ndarray, repeats: int = 3) -> float:
    """CPU time (this process, all threads) per patch, after one warm-up pass."""
    member(patches)
    t0 = time.process_time()
    for _ in range(repeats):
        member(patches)
    return (time.process_time() - t0) / repeats / patches.shape[0] * 1000


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def agreement(ref_logits: np.ndarray, cand_logits: np.ndarray, bundle: Bundle) -> dict[str, float]:
    """How far a member's file-level outputs move: |Δp|, top-1 and 0.5-decision agreement,
    on raw tags and (where the bundle's taxonomy has any) on app labels."""
    kinds = [("raw", ref_logits, cand_logits)]
    if bundle.taxonomy.labels:
        labels = bundle.taxonomy.label_logits
        kinds.append(("label", labels(ref_logits), labels(cand_logits)))
    figures: dict[str, float] = {}
    for kind, ref, cand in kinds:
        pr, pc = _sigmoid(np.asarray(ref, np.float64)), _sigmoid(np.asarray(cand, np.float64))
        figures[f"{kind}_max_abs_dp"] = float(np.abs(pr - pc).max())
        figures[f"{kind}_mean_abs_dp"] = float(np.abs(pr - pc).mean())
        figures[f"{kind}_top1_agreement"] = float(np.mean(pr.argmax(1) == pc.argmax(1)))
        figures[f"{kind}_decision_agreement"] = float(
            np.mean(((pr > 0.5) == (pc > 0.5)).all(axis=1))
        )
    return figures


def _temperature(bundle: Bundle) -> float:
    cal = bundle.manifest.get("calibration") or {}
    temps = cal.get("temperature") if cal.get("kind") == "temperature" else None
    return float(temps[0]) if temps and not cal.get("per_class") else 1.0


def _label_targets(bundle: Bundle, clips: Sequence[CheckClip]) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the clips labelled for the bundle's task and their multi-hot labels."""
    labels = bundle.taxonomy.labels
    rows = [i for i, c in enumerate(clips) if bundle.task in c.labels and labels]
    y = np.zeros((len(rows), len(labels)), dtype=np.int64)
    for r, i in enumerate(rows):
        for name in clips[i].labels[bundle.task]:
            if name in labels:
                y[r, labels.index(name)] = 1
    return np.asarray(rows, dtype=np.int64), y


def calibration_figures(
    bundle: Bundle, member_logits: Sequence[np.ndarray], rows: np.ndarray, y: np.ndarray
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """ECE and AM'23 MAE of the ensemble's label probabilities, with bootstrap intervals.

    Member probabilities are averaged after the bundle's shipped temperature
    (if any) is applied to each member's label logits.
    """
    temp = _temperature(bundle)
    probs = np.mean(
        [_sigmoid(bundle.taxonomy.label_logits(z[rows]).astype(np.float64) / temp)
         for z in member_logits],
        axis=0,
    )  # fmt: skip

    def figures(idx: np.ndarray) -> tuple[float, float]:
        p, t = probs[idx].ravel(), y[idx].ravel()
        return expected_calibration_error(p, t), am23_mae(reliability_diagram(p, t))

    ece, mae = figures(np.arange(len(rows)))
    rng = np.random.default_rng(0)
    boot = np.array([figures(rng.integers(0, len(rows), len(rows))) for _ in range(BOOTSTRAP)])
    lo, hi = np.nanquantile(boot, 0.025, axis=0), np.nanquantile(boot, 0.975, axis=0)
    point = {"ece": float(ece), "mae": float(mae), "temperature": temp, "files": len(rows)}
    return point, {"ece": [float(lo[0]), float(hi[0])], "mae": [float(lo[1]), float(hi[1])]}


def judge(
    figures: dict[str, Any], calibration: dict[str, Any], interval: dict[str, list[float]]
) -> list[str]:
    """Reasons to reject a form (empty: accepted)."""
    reasons = []
    for kind in ("raw", "label"):
        if f"{kind}_max_abs_dp" not in figures:
            continue
        if figures[f"{kind}_max_abs_dp"] > MAX_ABS_DP:
            reasons.append(f"{kind} |dp| {figures[f'{kind}_max_abs_dp']:.4f} > {MAX_ABS_DP}")
        for what in ("top1", "decision"):
            value = figures[f"{kind}_{what}_agreement"]
            if value < MIN_AGREEMENT:
                reasons.append(f"{kind} {what} agreement {value:.3f} < {MIN_AGREEMENT}")
    for name, (lo, hi) in interval.items():
        value = calibration.get(name)
        if value is not None and not lo <= value <= hi:
            reasons.append(f"{name} {value:.4f} outside float32's interval [{lo:.4f}, {hi:.4f}]")
    if figures["speedup"] < MIN_SPEEDUP:
        reasons.append(f"only {figures['speedup']:.2f}x less CPU per patch (< {MIN_SPEEDUP})")
    return reasons


def check_bundle(
    bundle: Bundle,
    clips: Sequence[CheckClip],
    calibration_clips: Sequence[CheckClip],
    members: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Check the int8 form of each member of ``bundle``; returns the ``fast_forms.json`` data."""
    if not int8_available():
        raise RuntimeError("this torch build has no quantized CPU engine")
    cpu = torch.device("cpu")
    models = load_members(bundle, cpu)
    sample = check_sample(bundle)
    patches = clip_patches(bundle, clips)
    cal_patches = torch.from_numpy(np.concatenate(clip_patches(bundle, calibration_clips)))
    timing = np.concatenate(patches)[:16]
    rows, y = _label_targets(bundle, clips)
    ref_runners = [as_member(optimized_runner(m, sample, cpu) or m) for m in models]
    ref = [file_outputs(r, patches) for r in ref_runners]
    cal_ref, interval = calibration_figures(bundle, ref, rows, y) if len(rows) else ({}, {})
    out_members: dict[str, Any] = {}
    for i, (spec, model) in enumerate(zip(bundle.members, models, strict=True)):
        if members and spec.name not in members:
            continue
        qparams = calibrate(model, cal_patches.split(32))
        fast_model = with_int8_convs(model, qparams)
        fast = as_member(optimized_runner(fast_model, sample, cpu) or fast_model)
        cand = file_outputs(fast, patches)
        figures: dict[str, Any] = agreement(ref[i], cand, bundle)
        float_ms = cpu_ms_per_patch(ref_runners[i], timing)
        fast_ms = cpu_ms_per_patch(fast, timing)
        figures.update(
            cpu_ms_per_patch_float32=round(float_ms, 2),
            cpu_ms_per_patch_int8=round(fast_ms, 2),
            speedup=round(float_ms / fast_ms, 3),
        )
        calib: dict[str, Any] = {}
        if len(rows):
            swapped = [cand if j == i else z for j, z in enumerate(ref)]
            point, _ = calibration_figures(bundle, swapped, rows, y)
            calib = {k: point[k] for k in ("ece", "mae")}
        reasons = judge(figures, calib, interval)
        figures["calibration"] = {"float32": cal_ref, "interval95": interval, "int8": calib}
        out_members[spec.name] = {
            "weights_sha256": spec.sha256,
            "forms": {
                INT8: {
                    "verdict": "rejected" if reasons else "accepted",
                    "reasons": reasons,
                    "figures": figures,
                    "params": {"qparams": qparams},
                }
            },
        }
        log.info("%s/%s int8: %s", bundle.id, spec.name, reasons or "accepted")
    return {
        "format": FORMAT,
        "bundle": bundle.id,
        "version": bundle.version,
        "made_by": "tools/check_fast_members.py",
        "made_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "quantized_engine": torch.backends.quantized.engine,
        "criteria": {
            "max_abs_dp": MAX_ABS_DP,
            "min_agreement": MIN_AGREEMENT,
            "calibration": "ECE and AM'23 MAE inside float32's 95% bootstrap interval",
            "min_speedup": MIN_SPEEDUP,
        },
        "check_set": {
            "files": len(clips),
            "patches": int(sum(p.shape[0] for p in patches)),
            "seconds": round(sum(len(c.audio) for c in clips) / bundle.frontend_config.sr, 1),
            "labelled_for_task": int(len(rows)),
            "calibration_files": len(calibration_clips),
        },
        "members": out_members,
    }


def write_verdicts(bundle: Bundle, data: dict[str, Any]) -> Path:
    """Write ``fast_forms.json`` into the bundle folder (whole file, then rename)."""
    path = bundle.path / FAST_FORMS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


__all__ = [
    "CheckClip",
    "agreement",
    "calibration_figures",
    "check_bundle",
    "check_clips",
    "judge",
    "rendering_available",
    "write_verdicts",
]
