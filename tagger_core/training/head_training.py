"""``train heads`` end to end on arrays: split, train, calibrate on val, report on test.

Why a separate orchestration module: ``heads`` trains, ``evaluation`` scores,
``head_bundle`` saves; this module fixes the protocol that makes the numbers
honest: one stratified split (train for weights, validation for early
stopping *and* calibration, test only for the report), the same split for
both designs when they are compared.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tagger_core.labels.bundles import MANIFEST, Bundle, BundleError
from tagger_core.training.archive_labels import LabelledSet
from tagger_core.training.evaluation import TrainingReport, evaluate_ensemble, format_report
from tagger_core.training.head_bundle import save_head_bundle
from tagger_core.training.heads import (
    DESIGNS,
    HeadConfig,
    HeadEnsemble,
    Progress,
    train_head_ensemble,
)
from tagger_core.training.splits import (
    DEFAULT_FRACTIONS,
    Split,
    check_split_counts,
    stratified_split,
)
from tagger_core.trust.scaling import Scaler


@dataclass
class HeadsRun:
    """One trained design: the ensemble, its calibration, the test report and the split."""

    ensemble: HeadEnsemble
    scaler: Scaler
    report: TrainingReport
    split: Split

    def to_dict(self) -> dict[str, Any]:
        return {
            "design": self.ensemble.config.design,
            "config": self.ensemble.config.to_dict(),
            "histories": [h.to_dict() for h in self.ensemble.histories],
            "report": self.report.to_dict(),
        }


def train_heads_on_arrays(
    embeddings: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    config: HeadConfig,
    *,
    split: Split | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    calibration: str = "temperature",
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    checkpoint_dir: str | Path | None = None,
) -> HeadsRun:
    """Train ``config.design`` on X (N x D) and Y (N x C) and report on the test part.

    Raises ``TaggerError`` when a part of the split lacks positives or negatives
    of some class (the data is too thin to train, stop early and calibrate).
    """
    x = np.asarray(embeddings, dtype=np.float32)
    y = np.asarray(labels, dtype=np.float32)
    if split is None:
        split = stratified_split(y, fractions, seed=config.seed)
    check_split_counts(y, split, class_names)
    tr, va, te = split.train, split.val, split.test
    ensemble = train_head_ensemble(
        x[tr], y[tr], x[va], y[va], class_names, config,
        device=device, progress=progress, cancel=cancel, checkpoint_dir=checkpoint_dir,
    )  # fmt: skip
    report, scaler = evaluate_ensemble(
        ensemble.member_logits(x[va]), y[va], ensemble.member_logits(x[te]), y[te],
        class_names, calibration, "sigmoid", train_labels=y[tr],
    )  # fmt: skip
    report.extra["best_epochs"] = [h.best_epoch for h in ensemble.histories]
    return HeadsRun(ensemble, scaler, report, split)


def compare_designs(runs: dict[str, HeadsRun]) -> str:
    """Side-by-side macro figures of designs trained on the same split (after calibration)."""
    keys = ("accuracy", "precision", "recall", "f1", "balanced_accuracy")
    head = f"{'design':<8}" + "".join(f"{k[:8]:>10}" for k in keys)
    head += f"{'MAE':>8}{'wMAE':>8}{'ECE':>8}{'raw MAE':>9}"
    lines = [head]
    for design, run in runs.items():
        macro = run.report.after.classification.macro()
        cal, raw = run.report.after.calibration, run.report.before.calibration
        lines.append(
            f"{design:<8}" + "".join(f"{macro[k]:>10.3f}" for k in keys)
            + f"{cal.mae:>8.3f}{cal.weighted_mae:>8.3f}{cal.ece:>8.3f}{raw.mae:>9.3f}"
        )  # fmt: skip
    return "\n".join(lines)


def format_run(run: HeadsRun) -> str:
    """The text report of one design."""
    cfg = run.ensemble.config
    title = (
        f"design {cfg.design}: {cfg.n_members} members, best epochs "
        f"{[h.best_epoch for h in run.ensemble.histories]}; split "
        f"{len(run.split.train)}/{len(run.split.val)}/{len(run.split.test)} tracks"
    )
    return format_report(run.report, title)


def train_and_save_heads(
    data: LabelledSet,
    base: Bundle,
    out_dir: str | Path,
    bundle_id: str,
    config: HeadConfig,
    *,
    task: str = "genre",
    compare: bool = False,
    calibration: str = "temperature",
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    checkpoint_dir: str | Path | None = None,
) -> tuple[dict[str, HeadsRun], Path]:
    """Train ``config.design`` (and, with ``compare``, the other design on the same split),
    save the chosen design as a bundle in ``out_dir`` and return every run and the folder."""
    if (Path(out_dir) / MANIFEST).exists():
        raise BundleError(f"{out_dir} already holds a bundle; choose another output folder")
    split = stratified_split(data.labels, DEFAULT_FRACTIONS, seed=config.seed)
    designs = [config.design] + ([d for d in DESIGNS if d != config.design] if compare else [])
    runs: dict[str, HeadsRun] = {}
    for design in designs:
        ckpt = Path(checkpoint_dir) / design if checkpoint_dir else None
        runs[design] = train_heads_on_arrays(
            data.embeddings, data.labels, data.classes, replace(config, design=design),
            split=split, calibration=calibration, device=device, progress=progress,
            cancel=cancel, checkpoint_dir=ckpt,
        )  # fmt: skip
    chosen = runs[config.design]
    folder = save_head_bundle(
        chosen.ensemble, chosen.scaler, out_dir,
        bundle_id=bundle_id, task=task, base=base,
        columns=data.columns.tolist(),
        provenance={
            "base_version": data.base_version,
            "labels": data.summary,
            "split": {k: len(v) for k, v in chosen.split.to_dict().items()},
            "test_report": {
                "macro_after": chosen.report.after.classification.macro(),
                "calibration_before": chosen.report.before.calibration.to_dict(),
                "calibration_after": chosen.report.after.calibration.to_dict(),
            },
        },
    )  # fmt: skip
    return runs, folder
