"""Test-set report of a trained ensemble: classification and calibration, before and after.

Why one report for every trainer: heads on embeddings and ResNets on patches
are judged the same way. MGR'25's per-class figures (accuracy, precision,
recall, F1, balanced accuracy) and their macro means, AM'23's reliability
figures (MAE to the bucket centres, the winning-class weighted MAE, ECE, ...)
pooled over all classes and per class, the single members next to the
ensemble (AM'23 Tables 1 and 2), all computed on the *test* part from the
member logits, once raw and once after a scaler fitted on the *validation*
part. Nothing here is copied from anywhere: every figure comes out of
``tagger_core.trust``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from tagger_core.errors import TaggerError
from tagger_core.trust import metrics
from tagger_core.trust.scaling import (
    IdentityScaler,
    IsotonicScaler,
    PlattScaler,
    Scaler,
    TemperatureScaler,
    as_member_logits,
)

Activation = Literal["sigmoid", "softmax"]
CALIBRATION_METHODS = ("temperature", "platt", "isotonic", "none")


def make_scaler(method: str, activation: Activation = "sigmoid") -> Scaler:
    """The scaler for ``method`` (temperature is per class for sigmoid, shared for softmax)."""
    if method == "temperature":
        return TemperatureScaler(activation=activation, per_class=activation == "sigmoid")
    if method == "none":
        return IdentityScaler(activation=activation)
    if activation == "softmax":
        raise TaggerError(f"{method} calibration needs sigmoid outputs; use temperature")
    if method == "platt":
        return PlattScaler()
    if method == "isotonic":
        return IsotonicScaler()
    raise TaggerError(
        f"unknown calibration method {method!r} (choose {', '.join(CALIBRATION_METHODS)})"
    )


def _predicted_labels(probs: np.ndarray, activation: Activation) -> np.ndarray:
    """Sigmoid: the probabilities as they are; softmax: one-hot of the winning class.

    For single-label (softmax) models MGR'25's per-class figures are computed
    from the arg-max decision, so a one-hot matrix is thresholded at 0.5.
    """
    if activation == "sigmoid":
        return probs
    hot = np.zeros_like(probs)
    hot[np.arange(len(probs)), np.argmax(probs, axis=1)] = 1.0
    return hot


@dataclass(frozen=True)
class SetEvaluation:
    """Figures of one probability matrix against labels."""

    classification: metrics.ClassificationReport
    calibration: metrics.CalibrationSummary
    class_mae: tuple[float, ...]
    class_ece: tuple[float, ...]
    diagram: metrics.ReliabilityDiagram
    top1_accuracy: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "classification": self.classification.to_dict(),
            "calibration": self.calibration.to_dict(),
            "class_mae": _clean(self.class_mae),
            "class_ece": _clean(self.class_ece),
            "diagram": self.diagram.to_dict(),
            "top1_accuracy": self.top1_accuracy,
        }


def _clean(values: Sequence[float]) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values]


def evaluate_probabilities(
    probs: np.ndarray, labels: np.ndarray, activation: Activation = "sigmoid"
) -> SetEvaluation:
    """Classification report at 0.5 (arg-max for softmax), calibration summary, per-class MAE/ECE.

    ``top1_accuracy`` is the fraction of tracks whose highest-confidence class is
    one of their labels (AM'23's accuracy for single-label data).
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    diagrams = metrics.per_class_reliability(p, y)
    top = np.argmax(p, axis=1)
    return SetEvaluation(
        classification=metrics.classification_report(_predicted_labels(p, activation), y),
        calibration=metrics.calibration_summary(
            p, y, nll_kind="categorical" if activation == "softmax" else "binary"
        ),
        class_mae=tuple(metrics.am23_mae(d) for d in diagrams),
        class_ece=tuple(metrics.diagram_ece(d) for d in diagrams),
        diagram=metrics.reliability_diagram(p, y),
        top1_accuracy=float(np.mean(y[np.arange(len(y)), top] > 0)),
    )


@dataclass(frozen=True)
class MemberSpread:
    """Mean and standard deviation over single members (AM'23 Tables 1 and 2)."""

    macro_f1: tuple[float, float]
    top1_accuracy: tuple[float, float]
    mae: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {k: list(getattr(self, k)) for k in ("macro_f1", "top1_accuracy", "mae")}


def member_spread(
    member_logits: np.ndarray, labels: np.ndarray, activation: Activation = "sigmoid"
) -> MemberSpread:
    """Each member alone (uncalibrated): macro F1, top-1 accuracy and AM'23 MAE, mean and std."""
    z = as_member_logits(member_logits)
    scaler = IdentityScaler(activation=activation)
    rows = []
    for m in range(z.shape[0]):
        ev = evaluate_probabilities(scaler.transform(z[m]).mean, labels, activation)
        rows.append((ev.classification.macro()["f1"], ev.top1_accuracy, ev.calibration.mae))
    arr = np.asarray(rows)
    mean, std = arr.mean(axis=0), arr.std(axis=0)
    return MemberSpread(
        macro_f1=(float(mean[0]), float(std[0])),
        top1_accuracy=(float(mean[1]), float(std[1])),
        mae=(float(mean[2]), float(std[2])),
    )


@dataclass
class TrainingReport:
    """Everything a training run reports about its test part."""

    class_names: tuple[str, ...]
    activation: str
    calibration_method: str
    counts: dict[str, dict[str, list[int]]]
    members: MemberSpread
    before: SetEvaluation
    after: SetEvaluation
    scaler: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "class_names": list(self.class_names),
            "activation": self.activation,
            "calibration_method": self.calibration_method,
            "counts": self.counts,
            "members": self.members.to_dict(),
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "scaler": self.scaler,
            **self.extra,
        }


def label_counts(labels: np.ndarray) -> dict[str, list[int]]:
    """Positives and negatives per class."""
    y = np.asarray(labels).astype(bool)
    pos = y.sum(axis=0)
    return {"positives": pos.tolist(), "negatives": (len(y) - pos).tolist()}


def evaluate_ensemble(
    val_logits: np.ndarray,
    val_labels: np.ndarray,
    test_logits: np.ndarray,
    test_labels: np.ndarray,
    class_names: Sequence[str],
    method: str = "temperature",
    activation: Activation = "sigmoid",
    train_labels: np.ndarray | None = None,
) -> tuple[TrainingReport, Scaler]:
    """Fit ``method`` on the validation logits, report test before and after; returns the scaler.

    Logits are ``(members, tracks, classes)``.
    """
    scaler = make_scaler(method, activation).fit(val_logits, val_labels)
    raw = IdentityScaler(activation=activation).transform(test_logits).mean
    calibrated = scaler.transform(test_logits).mean
    counts = {"val": label_counts(val_labels), "test": label_counts(test_labels)}
    if train_labels is not None:
        counts = {"train": label_counts(train_labels), **counts}
    report = TrainingReport(
        class_names=tuple(class_names),
        activation=activation,
        calibration_method=method,
        counts=counts,
        members=member_spread(test_logits, test_labels, activation),
        before=evaluate_probabilities(raw, test_labels, activation),
        after=evaluate_probabilities(calibrated, test_labels, activation),
        scaler=scaler.to_dict(),
    )
    return report, scaler


def _fmt(value: float | None) -> str:
    return "   -  " if value is None or np.isnan(value) else f"{value:6.3f}"


def format_report(report: TrainingReport, title: str = "") -> str:
    """Plain-text tables: per class and macro, before → after calibration, and the members."""
    lines = [title] if title else []
    b, a = report.before.classification, report.after.classification
    head = f"{'class':<18}{'pos':>5}{'acc':>7}{'prec':>7}{'rec':>7}{'F1':>7}{'bal.acc':>8}"
    head += f"{'MAE':>7}{'→MAE':>7}{'ECE':>7}{'→ECE':>7}"
    lines += [f"test set, calibration: {report.calibration_method} (fitted on validation)", head]
    for c, name in enumerate(report.class_names):
        lines.append(
            f"{name[:17]:<18}{b.positives[c]:>5}{_fmt(a.accuracy[c])}{_fmt(a.precision[c])}"
            f"{_fmt(a.recall[c])}{_fmt(a.f1[c])} {_fmt(a.balanced_accuracy[c])}"
            f"{_fmt(report.before.class_mae[c])}{_fmt(report.after.class_mae[c])}"
            f"{_fmt(report.before.class_ece[c])}{_fmt(report.after.class_ece[c])}"
        )
    ma = a.macro()
    lines.append(
        f"{'macro':<18}{'':>5}{_fmt(ma['accuracy'])}{_fmt(ma['precision'])}{_fmt(ma['recall'])}"
        f"{_fmt(ma['f1'])} {_fmt(ma['balanced_accuracy'])}"
    )
    mb = b.macro()
    lines.append(
        f"{'macro (raw)':<18}{'':>5}{_fmt(mb['accuracy'])}{_fmt(mb['precision'])}"
        f"{_fmt(mb['recall'])}{_fmt(mb['f1'])} {_fmt(mb['balanced_accuracy'])}"
    )
    lines.append("")
    lines.append(f"{'all classes pooled':<22}{'before':>8}{'after':>8}")
    cb, ca = report.before.calibration, report.after.calibration
    for key in ("mae", "weighted_mae", "ece", "mce", "adaptive_ece", "brier", "nll"):
        lines.append(f"{key:<22}{_fmt(getattr(cb, key)):>8}{_fmt(getattr(ca, key)):>8}")
    lines.append(
        f"{'top-1 accuracy':<22}{_fmt(report.before.top1_accuracy):>8}"
        f"{_fmt(report.after.top1_accuracy):>8}"
    )
    m = report.members
    lines.append("")
    lines.append(
        f"single members (raw): macro F1 {m.macro_f1[0]:.3f} ({m.macro_f1[1]:.3f}), "
        f"top-1 accuracy {m.top1_accuracy[0]:.3f} ({m.top1_accuracy[1]:.3f}), "
        f"MAE {m.mae[0]:.3f} ({m.mae[1]:.3f})"
    )
    return "\n".join(lines)


def check_frozen(frozen: dict, manifest: dict, again: bool = False) -> None:
    """Refuse a test look unless the bundle is exactly what the validation phase froze.

    Why: a test figure means something only if nothing was chosen after seeing it,
    so the members, their weights and the temperature must be the frozen ones, and
    a second look must be asked for (and is then recorded by the caller).
    """
    names = [m["name"] for m in manifest["members"]]
    if sorted(names) != sorted(frozen["members"]):
        raise TaggerError(f"members {names} are not the frozen {frozen['members']}")
    for member in manifest["members"]:
        if member["sha256"] != frozen["weights_sha256"].get(member["name"]):
            raise TaggerError(f"{member['name']} changed since the validation phase froze it")
    if manifest.get("calibration", {}).get("temperature") != [frozen["temperature"]]:
        raise TaggerError("the manifest's temperature is not the frozen one")
    if frozen["test_looks"] and not again:
        raise TaggerError(
            f"the test clips were already evaluated ({frozen['test_looks']}); "
            "--again records a second look"
        )
