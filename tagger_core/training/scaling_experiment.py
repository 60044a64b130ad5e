"""MGR'25's experiment: one-vs-all genre models on linear vs mel spectrograms, paired test.

Why: MGR'25 asks whether mel-scaled spectrograms give statistically better
one-vs-all genre models than plain ones. Protocol reproduced here on any
labelled dataset:

* one binary AM'23 ResNet per class (one-vs-all), trained on the class's
  training positives plus an equal-sized, fixed, stratified subset of its
  negatives (:func:`tagger_core.training.heads.balanced_negative_subsample`),
  early-stopped on the same balance of validation files; tested on all test
  files (threshold 0.5, patch probabilities averaged per file);
* the same split, seeds and network for both spectrogram scales, which
  differ only in the filterbank (:mod:`tagger_core.training.spectrograms`);
* every (class, repeat) gives a *pair* of F1 scores; the differences
  (linear − mel, the paper's "spectrogram minus mel spectrogram") are tested
  for normality with Shapiro–Wilk, then the pairs with a paired t-test
  (``scipy.stats.ttest_rel``); when Shapiro–Wilk rejects normality at 0.05
  the Wilcoxon signed-rank test is reported next to it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from tagger_core.errors import TaggerError
from tagger_core.training.datasets import AudioDataset
from tagger_core.training.heads import balanced_negative_subsample
from tagger_core.training.resnet_training import (
    PatchSet,
    PatchSetting,
    Progress,
    ResNetConfig,
    dataset_split,
    extract_patches,
    file_member_logits,
    train_resnet_ensemble,
)
from tagger_core.training.spectrograms import linear_config
from tagger_core.training.splits import Split, check_split_counts
from tagger_core.trust.metrics import classification_report

SCALES = ("linear", "mel")
METRICS = ("f1", "accuracy", "balanced_accuracy", "precision", "recall")


@dataclass(frozen=True)
class PairedComparison:
    """Paired comparison of two score lists ``a`` (linear) and ``b`` (mel)."""

    n: int
    mean_a: float
    mean_b: float
    mean_difference: float
    shapiro_w: float
    shapiro_p: float
    t_statistic: float
    t_p: float
    wilcoxon_p: float | None

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in self.__dict__.items()}  # fmt: skip


def paired_comparison(a: Sequence[float], b: Sequence[float]) -> PairedComparison:
    """Shapiro–Wilk on ``a - b``, paired t-test of ``a`` vs ``b``, Wilcoxon if not normal.

    Shapiro–Wilk needs at least 3 pairs (NaN otherwise); identical pairs give a
    NaN t statistic (no variance to test).
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise TaggerError("a paired comparison needs two equally long lists of at least 2 scores")
    d = x - y
    w = p_w = float("nan")
    if d.size >= 3 and np.ptp(d) > 0:
        w, p_w = (float(v) for v in stats.shapiro(d))
    if np.all(d == 0):
        t, p_t = float("nan"), float("nan")
    else:
        res = stats.ttest_rel(x, y)
        t, p_t = float(res.statistic), float(res.pvalue)
    wil = None
    if not math.isnan(p_w) and p_w < 0.05 and np.any(d != 0):
        wil = float(stats.wilcoxon(x, y).pvalue)
    return PairedComparison(int(d.size), float(x.mean()), float(y.mean()), float(d.mean()),
                            w, p_w, t, p_t, wil)  # fmt: skip


@dataclass
class ScalingResult:
    """Per scale, class and repeat: the test figures; and the paired comparison of F1."""

    classes: tuple[str, ...]
    repeats: int
    scores: dict[str, dict[str, np.ndarray]]  # scale -> metric -> [classes, repeats]
    comparison: PairedComparison
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "repeats": self.repeats,
            "scores": {s: {m: v.tolist() for m, v in d.items()} for s, d in self.scores.items()},
            "comparison": self.comparison.to_dict(),
            **self.settings,
        }


def _subset(ps: PatchSet, files: np.ndarray) -> PatchSet:
    """Patches of some files, renumbered 0..len(files)-1 in the order given."""
    new_index = {int(f): i for i, f in enumerate(files)}
    keep = np.isin(ps.file_index, files)
    return PatchSet(ps.patches[keep], np.array([new_index[int(f)] for f in ps.file_index[keep]],
                    dtype=np.int64), len(files))  # fmt: skip


def run_scaling_experiment(
    dataset: AudioDataset,
    setting: PatchSetting,
    config: ResNetConfig,
    *,
    repeats: int = 1,
    linear_bands: int | None = None,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    checkpoint_dir: str | Path | None = None,
    split: Split | None = None,
) -> ScalingResult:
    """Train one-vs-all ResNets per class, scale and repeat (seed ``seed + r``); compare F1.

    ``linear_bands``: band count of the linear spectrogram (``None``: as many as
    the mel bands; ``0``: every STFT bin).
    """
    if repeats < 1:
        raise TaggerError("repeats must be at least 1")
    y = dataset.label_matrix()
    split = split if split is not None else dataset_split(dataset, config.seed)
    check_split_counts(y, split, dataset.classes)
    if len(dataset.classes) * repeats < 2:
        raise TaggerError("the paired test needs at least two classes or two repeats")
    paths = [item.path for item in dataset.items]
    linear = replace(setting, frontend=linear_config(setting.frontend, linear_bands))
    configs = {"mel": setting, "linear": linear}
    member_cfg = replace(config, n_members=1)
    n_c = len(dataset.classes)
    scores = {s: {m: np.zeros((n_c, repeats)) for m in METRICS} for s in SCALES}
    total = len(SCALES) * n_c * repeats
    done = 0
    for scale in SCALES:
        parts = {
            name: extract_patches(
                [paths[i] for i in split.part(name)], configs[scale], scale=scale, cancel=cancel
            )  # fmt: skip
            for name in ("train", "val", "test")
        }
        for r in range(repeats):
            seed = config.seed + r
            train_mask = balanced_negative_subsample(y[split.train], seed=seed)
            val_mask = balanced_negative_subsample(y[split.val], seed=seed)
            for c in range(n_c):
                tr = np.flatnonzero(train_mask[:, c])
                va = np.flatnonzero(val_mask[:, c])
                ckpt = Path(checkpoint_dir) / f"{scale}_c{c}_r{r}" if checkpoint_dir else None
                models, _ = train_resnet_ensemble(
                    _subset(parts["train"], tr), y[split.train][tr][:, [c]],
                    _subset(parts["val"], va), y[split.val][va][:, [c]],
                    replace(member_cfg, seed=seed), "sigmoid",
                    device=device, cancel=cancel, checkpoint_dir=ckpt,
                )  # fmt: skip
                logits = file_member_logits(models, parts["test"], "sigmoid")[0]
                probs = 1.0 / (1.0 + np.exp(-logits))
                report = classification_report(probs, y[split.test][:, [c]])
                for m in METRICS:
                    scores[scale][m][c, r] = getattr(report, m)[0]
                done += 1
                if progress:
                    progress(done, total, f"{scale} {dataset.classes[c]} repeat {r + 1}")
    comparison = paired_comparison(scores["linear"]["f1"].ravel(), scores["mel"]["f1"].ravel())
    return ScalingResult(
        classes=dataset.classes, repeats=repeats, scores=scores, comparison=comparison,
        settings={"setting": setting.to_dict(), "linear_bands": configs["linear"].frontend.n_mels,
                  "config": member_cfg.to_dict(), "split": {k: len(v) for k, v in
                                                            split.to_dict().items()}},
    )  # fmt: skip


def _num(v: float | None, digits: int = 4) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def format_scaling_table(result: ScalingResult) -> str:
    """A table like MGR'25's: per class the mean test figures on both scales, then the tests."""
    short = {"f1": "F1", "balanced_accuracy": "bal.acc", "precision": "prec", "recall": "recall"}
    keys = tuple(short)
    head = f"{'class':<16}" + "".join(f"{short[m] + ' ' + s:>14}" for m in keys for s in SCALES)
    lines = [head]
    for c, name in enumerate(result.classes):
        cells = "".join(f"{result.scores[s][m][c].mean():>14.3f}" for m in keys for s in SCALES)
        lines.append(f"{name[:15]:<16}{cells}")
    cells = "".join(f"{result.scores[s][m].mean():>14.3f}" for m in keys for s in SCALES)
    lines.append(f"{'mean':<16}{cells}")
    cmp = result.comparison
    lines += [
        "",
        f"pairs (class x repeat): {cmp.n}; mean F1 linear {cmp.mean_a:.4f}, mel {cmp.mean_b:.4f}, "
        f"difference (linear - mel) {cmp.mean_difference:+.4f}",
        f"Shapiro-Wilk on the differences: W = {_num(cmp.shapiro_w)}, p = {_num(cmp.shapiro_p)}"
        + ("" if cmp.shapiro_p is None or math.isnan(cmp.shapiro_p) or cmp.shapiro_p >= 0.05
           else " (normality rejected)"),
        f"paired t-test: t = {_num(cmp.t_statistic)}, p = {_num(cmp.t_p)}",
    ]  # fmt: skip
    if cmp.wilcoxon_p is not None:
        lines.append(f"Wilcoxon signed-rank: p = {_num(cmp.wilcoxon_p)}")
    return "\n".join(lines)
