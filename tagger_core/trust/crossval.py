"""k-fold cross-validation of a scaler: calibration before vs after, on held-out folds.

A calibration fitted and scored on the same tracks always looks good; only
held-out tracks say whether it will help on the rest of the archive. Folds are
stratified per class with iterative stratification (Sechidis et al., 2011):
the rarest label is spread first, each track goes to the fold that still wants
most of that label, so every fold gets its share of every class as far as
multi-label data allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tagger_core.errors import CalibrationError
from tagger_core.trust.metrics import (
    CalibrationSummary,
    calibration_summary,
    per_class_summary,
)
from tagger_core.trust.scaling import (
    IdentityScaler,
    Scaler,
    as_member_logits,
    scaler_from_dict,
)
from tagger_core.trust.stratify import iterative_stratification

MIN_PER_FOLD = 3
"""Positives and negatives each class needs in every fold (so k * 3 in all)."""


def stratified_folds(labels: Any, k: int, seed: int = 0) -> np.ndarray:
    """Fold number (0 .. k-1) of each track, iteratively stratified over all classes."""
    n = np.asarray(labels).shape[0]
    if not 2 <= k <= n:
        raise CalibrationError(f"cross-validation needs 2 <= folds <= tracks, got {k} folds")
    return iterative_stratification(labels, [1.0] * k, seed)


def _class_names(class_names: Sequence[str] | None, n_classes: int) -> list[str]:
    if class_names is None:
        return [f"class {c}" for c in range(n_classes)]
    return list(class_names)


def check_label_counts(
    labels: Any,
    k: int,
    class_names: Sequence[str] | None = None,
    min_per_fold: int = MIN_PER_FOLD,
) -> None:
    """Refuse, in one line, when a class has too few positives or negatives for k folds."""
    y = np.asarray(labels)
    if y.ndim == 1:
        y = y[:, None]
    names = _class_names(class_names, y.shape[1])
    need = k * min_per_fold
    pos = y.sum(axis=0).astype(int)
    neg = y.shape[0] - pos
    short = [f"{names[c]} has {pos[c]} positives" for c in range(y.shape[1]) if pos[c] < need]
    short += [f"{names[c]} has {neg[c]} negatives" for c in range(y.shape[1]) if neg[c] < need]
    if short:
        raise CalibrationError(
            f"too few labels for {k}-fold cross-validation, which needs at least {need} positive "
            f"and {need} negative tracks per class ({min_per_fold} per fold): "
            + ", ".join(short)
        )


@dataclass(frozen=True)
class ClassResult:
    """Held-out calibration of one class, before and after, with its label counts."""

    name: str
    positives: int
    negatives: int
    before: CalibrationSummary
    after: CalibrationSummary

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "positives": self.positives,
            "negatives": self.negatives,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassResult:
        return cls(
            name=str(data["name"]),
            positives=int(data["positives"]),
            negatives=int(data["negatives"]),
            before=CalibrationSummary.from_dict(data["before"]),
            after=CalibrationSummary.from_dict(data["after"]),
        )


@dataclass(frozen=True)
class FoldResult:
    """One fold: sizes, the parameters fitted on the other folds, scores on this one."""

    fold: int
    n_train: int
    n_test: int
    params: dict[str, Any]
    before: CalibrationSummary
    after: CalibrationSummary

    def to_dict(self) -> dict[str, Any]:
        return {
            "fold": self.fold,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "params": self.params,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FoldResult:
        return cls(
            fold=int(data["fold"]),
            n_train=int(data["n_train"]),
            n_test=int(data["n_test"]),
            params=dict(data["params"]),
            before=CalibrationSummary.from_dict(data["before"]),
            after=CalibrationSummary.from_dict(data["after"]),
        )


@dataclass(frozen=True)
class CrossValReport:
    """Out-of-fold calibration before vs after, pooled, per class and per fold."""

    k: int
    seed: int
    scaler: dict[str, Any]
    before: CalibrationSummary
    after: CalibrationSummary
    per_class: tuple[ClassResult, ...]
    folds: tuple[FoldResult, ...]

    @property
    def improved(self) -> bool:
        """Whether held-out NLL and ECE both went down."""
        return not self.worse()

    def worse(self) -> list[tuple[str, float, float]]:
        """``(figure, before, after)`` of each held-out figure that did not go down.

        A calibration that does not lower both NLL and ECE on tracks it was not
        fitted on would make the confidences less trustworthy, so the GUI will
        not apply it without the librarian's explicit say-so.
        """
        return [
            (name, float(getattr(self.before, key)), float(getattr(self.after, key)))
            for key, name in (("nll", "NLL"), ("ece", "ECE"))
            if not getattr(self.after, key) < getattr(self.before, key)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "seed": self.seed,
            "scaler": self.scaler,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "per_class": [c.to_dict() for c in self.per_class],
            "folds": [f.to_dict() for f in self.folds],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrossValReport:
        return cls(
            k=int(data["k"]),
            seed=int(data["seed"]),
            scaler=dict(data["scaler"]),
            before=CalibrationSummary.from_dict(data["before"]),
            after=CalibrationSummary.from_dict(data["after"]),
            per_class=tuple(ClassResult.from_dict(c) for c in data["per_class"]),
            folds=tuple(FoldResult.from_dict(f) for f in data["folds"]),
        )


def cross_validate(
    member_logits: Any,
    labels: Any,
    scaler: Scaler,
    k: int = 5,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
    min_per_fold: int = MIN_PER_FOLD,
) -> CrossValReport:
    """Fit a fresh copy of ``scaler`` on k-1 folds, score the held-out fold, k times.

    ``scaler`` is a template (its settings are copied; its parameters, if any,
    are refitted). "Before" is the raw ensemble with the same activation.
    """
    z = as_member_logits(member_logits)
    y = np.asarray(labels, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.shape != z.shape[1:]:
        raise CalibrationError(f"labels {y.shape} do not match logits {z.shape[1:]}")
    names = _class_names(class_names, y.shape[1])
    if len(names) != y.shape[1]:
        raise CalibrationError(f"{len(names)} class names for {y.shape[1]} classes")
    check_label_counts(y, k, names, min_per_fold)
    nll_kind = "categorical" if scaler.activation == "softmax" else "binary"
    fold = stratified_folds(y, k, seed)
    before = np.empty(y.shape)
    after = np.empty(y.shape)
    identity = IdentityScaler(activation=scaler.activation)
    folds: list[FoldResult] = []
    for f in range(k):
        test, train = fold == f, fold != f
        fitted = scaler_from_dict(scaler.to_dict()).fit(z[:, train], y[train])
        before[test] = identity.transform(z[:, test]).mean
        after[test] = fitted.transform(z[:, test]).mean
        folds.append(
            FoldResult(
                fold=f,
                n_train=int(train.sum()),
                n_test=int(test.sum()),
                params=fitted.to_dict(),
                before=calibration_summary(before[test], y[test], nll_kind=nll_kind),
                after=calibration_summary(after[test], y[test], nll_kind=nll_kind),
            )
        )
    class_before, class_after = per_class_summary(before, y), per_class_summary(after, y)
    per_class = tuple(
        ClassResult(
            name=names[c],
            positives=int(y[:, c].sum()),
            negatives=int(y.shape[0] - y[:, c].sum()),
            before=class_before[c],
            after=class_after[c],
        )
        for c in range(y.shape[1])
    )
    return CrossValReport(
        k=k,
        seed=seed,
        scaler=scaler.to_dict(),
        before=calibration_summary(before, y, nll_kind=nll_kind),
        after=calibration_summary(after, y, nll_kind=nll_kind),
        per_class=per_class,
        folds=tuple(folds),
    )
