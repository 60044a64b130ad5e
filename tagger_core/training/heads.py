"""Small MLP heads on stored backbone embeddings, trained as a deep ensemble.

Why heads: every archive has its own vocabulary, and re-running the audio
backbone to learn it would take hours; the analysis engine already stores one
pooled embedding per track, so a head trains in seconds on those arrays.

Two designs, selectable so they can be compared (the issue asks for both):

* ``"joint"``: one MLP with a sigmoid output per class, trained with binary
  cross-entropy on every track and every class (AM'23's MLP on embeddings,
  multi-label).
* ``"ova"``: MGR'25's one-vs-all strategy: an independent binary MLP per class,
  each trained on the class's positives plus an equal-sized, *fixed* subset of
  its negatives drawn stratified over the negatives' own labels
  (:func:`balanced_negative_subsample`). Balancing raises the positive rate
  the head sees to 50 %, so raw OVA confidences are biased upwards; the
  calibration step that follows training is what turns them into
  probabilities again.

Both keep the input standardisation (train-set mean and standard deviation)
as buffers, so a saved head needs nothing but its own weights. A deep
ensemble (AM'23: five members, different seeds) is trained member by member
with the shared :class:`~tagger_core.training.trainer.Trainer` (Adam, early
stopping on validation loss, a checkpoint after every epoch), so an
interrupted run resumes where it stopped. The OVA heads share one early stop
(on the sum of their balanced validation losses), the price of training them
in one batched pass.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.utils.data import Dataset

from tagger_core.errors import TaggerError
from tagger_core.listening.models.heads import ARCHITECTURE_NAMES, HEAD_ARCHITECTURES
from tagger_core.training.on_device import OnDevice, to_device
from tagger_core.training.trainer import EpochRecord, TrainConfig, Trainer

Design = Literal["joint", "ova"]
DESIGNS: tuple[str, ...] = ("joint", "ova")
Progress = Callable[[int, int, str], None]


def balanced_negative_subsample(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Per class, a boolean row mask: all positives plus as many negatives, stratified.

    MGR'25 trains each one-vs-all model on the class's positives and a fixed
    negative subset of the same size, stratified over the negative class. Here
    the negatives of class c are grouped by their first positive label (or
    "no label") and each group contributes in proportion to its size (largest
    remainders get the rounding); when negatives are fewer than positives all
    are used. Returns ``mask [N, C]``.
    """
    y = np.asarray(labels).astype(bool)
    n, n_classes = y.shape
    rng = np.random.default_rng(seed)
    has_label = y.any(axis=1)
    stratum = np.where(has_label, np.argmax(y, axis=1), n_classes)
    mask = np.zeros((n, n_classes), dtype=bool)
    for c in range(n_classes):
        pos = np.flatnonzero(y[:, c])
        neg = np.flatnonzero(~y[:, c])
        mask[pos, c] = True
        if neg.size <= pos.size:
            mask[neg, c] = True
            continue
        groups = [neg[stratum[neg] == s] for s in np.unique(stratum[neg])]
        exact = np.array([g.size for g in groups]) * pos.size / neg.size
        take = np.floor(exact).astype(int)
        short = pos.size - take.sum()
        for g in np.argsort(-(exact - take), kind="stable")[:short]:
            take[g] += 1
        for g, k in zip(groups, take, strict=True):
            mask[rng.choice(g, size=int(k), replace=False), c] = True
    return mask


@dataclass(frozen=True)
class HeadConfig:
    """Everything that decides a trained head ensemble (with the data)."""

    design: str = "joint"
    n_members: int = 5
    hidden: int = 0  # 0: 256 for joint, 64 for ova
    dropout: float = 0.3
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    max_epochs: int = 100
    patience: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise TaggerError(f"unknown head design {self.design!r} (choose joint or ova)")
        if self.n_members < 1 or self.max_epochs < 1 or self.batch_size < 1:
            raise TaggerError("members, epochs and batch size must be at least 1")

    @property
    def hidden_units(self) -> int:
        return self.hidden or (256 if self.design == "joint" else 64)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MemberHistory:
    """Per-epoch training and validation loss of one member, and where it stopped."""

    seed: int
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    epochs_run: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class HeadEnsemble:
    """Trained members (eval mode, on the CPU) and what produced them."""

    config: HeadConfig
    class_names: tuple[str, ...]
    in_dim: int
    members: list[nn.Module]
    histories: list[MemberHistory]

    @property
    def architecture(self) -> str:
        return ARCHITECTURE_NAMES[self.config.design]

    @property
    def params(self) -> dict[str, Any]:
        """Constructor parameters of every member (for a bundle manifest)."""
        return {
            "in_dim": self.in_dim,
            "n_classes": len(self.class_names),
            "hidden": self.config.hidden_units,
            "dropout": self.config.dropout,
        }

    @torch.no_grad()
    def member_logits(self, embeddings: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Logits of every member, shape ``(members, N, C)`` (float64)."""
        x = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))
        out = []
        for model in self.members:
            model.eval()
            parts = [model(x[i : i + batch_size])["logits"] for i in range(0, len(x), batch_size)]
            out.append(torch.cat(parts).numpy() if parts else np.zeros((0, len(self.class_names))))
        return np.stack(out).astype(np.float64)


def build_head(design: str, in_dim: int, n_classes: int, hidden: int, dropout: float) -> nn.Module:
    """A fresh head of ``design`` (``"joint"`` or ``"ova"``)."""
    return HEAD_ARCHITECTURES[design](in_dim, n_classes, hidden=hidden, dropout=dropout)


class _Rows(Dataset):
    """Rows of ``x`` with their targets: ``y``, or ``(y, weight)`` for one-vs-all."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None) -> None:
        self.x, self.y, self.weight = x, y, weight

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, Any]:
        if self.weight is None:
            return self.x[i], self.y[i]
        return self.x[i], (self.y[i], self.weight[i])


def _joint_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over all tracks and classes."""
    return F.binary_cross_entropy_with_logits(logits, y.to(logits.device))


def _ova_loss(logits: torch.Tensor, target: Any) -> torch.Tensor:
    """Sum over classes of each class's weighted mean BCE on its own rows.

    Training weights are the 0/1 balanced-subsample mask (each class sees only
    its positives and its negative subset); validation weights balance
    positives and negatives, so both measure the balanced problem the heads learn.
    """
    y, w = to_device(target, logits.device)
    bce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    return ((bce * w).sum(dim=0) / w.sum(dim=0).clamp_min(1e-6)).sum()


def _balanced_weight(y: torch.Tensor) -> torch.Tensor:
    """Per-pair weights giving positives and negatives of each class equal total weight."""
    pos = y.sum(dim=0).clamp_min(1.0)
    neg = (1 - y).sum(dim=0).clamp_min(1.0)
    return torch.where(y > 0.5, 1.0 / pos, 1.0 / neg)


def _config_key(config: HeadConfig, x: np.ndarray, y: np.ndarray, xv: np.ndarray) -> str:
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode())
    for arr in (x, y, xv):
        digest.update(np.ascontiguousarray(arr, dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


def fit_member(
    config: HeadConfig,
    member: int,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    device: torch.device,
    *,
    progress: Callable[[EpochRecord, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    checkpoint: Path | None = None,
) -> tuple[nn.Module, MemberHistory]:
    """Train one member with the shared :class:`Trainer` (Adam, early stopping on
    validation loss, per-epoch checkpoint); returns it with its best weights.

    Joint: BCE on every pair. OVA: see :func:`_ova_loss`; early stopping
    watches the sum of the classes' balanced validation losses.
    """
    seed = config.seed + 1000 * member
    ova = config.design == "ova"
    torch.manual_seed(seed)
    head = build_head(
        config.design, x_train.shape[1], y_train.shape[1], config.hidden_units, config.dropout
    )
    head.norm.set_stats(x_train)  # type: ignore[operator]
    if ova:
        mask = torch.from_numpy(balanced_negative_subsample(y_train.numpy(), seed=seed))
        train_data = _Rows(x_train, y_train, mask.to(torch.float32))
        val_data = _Rows(x_val, y_val, _balanced_weight(y_val))
    else:
        train_data, val_data = _Rows(x_train, y_train, None), _Rows(x_val, y_val, None)
    model = OnDevice(head, device)
    train_config = TrainConfig(
        epochs=config.max_epochs, batch_size=config.batch_size, lr=config.lr,
        weight_decay=config.weight_decay, seed=seed, patience=config.patience, threads=None,
        checkpoint=str(checkpoint) if checkpoint else None,
    )  # fmt: skip
    trainer = Trainer(model, _ova_loss if ova else _joint_loss, train_config)
    result = trainer.fit(train_data, val_data, progress=progress, cancel=cancel)
    history = MemberHistory(
        seed=seed,
        train_loss=[r.train_loss for r in result.history],
        val_loss=[r.val_loss for r in result.history],
        best_epoch=result.best_epoch,
        epochs_run=len(result.history),
    )
    return head.cpu().eval(), history


def train_head_ensemble(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    class_names: Sequence[str],
    config: HeadConfig | None = None,
    *,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    checkpoint_dir: str | Path | None = None,
    threads: int | None = 1,
) -> HeadEnsemble:
    """Train ``config.n_members`` heads (seeds ``seed + 1000·m``) and return the ensemble.

    ``progress(done, total, text)`` is called after every epoch (total = members ×
    max epochs; a member that stops early jumps ahead). ``cancel`` is checked
    before every batch and raises ``TrainingCancelled``; every epoch of every
    member is checkpointed in ``checkpoint_dir`` (if given), and a later call with
    the same data and config resumes from there (finished members are not trained
    again). Deterministic on the CPU for a seed.

    ``threads``: torch CPU threads while training (restored afterwards; ``None``
    leaves them alone). Heads are so small that one thread is fastest: on a
    busy 2-core machine two threads made each step about 30x slower.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        return _train_head_ensemble(
            x_train, y_train, x_val, y_val, class_names, config or HeadConfig(),
            torch.device(device), progress, cancel, checkpoint_dir,
        )  # fmt: skip
    finally:
        torch.set_num_threads(previous)


def _train_head_ensemble(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    class_names: Sequence[str],
    config: HeadConfig,
    device: torch.device,
    progress: Progress | None,
    cancel: threading.Event | None,
    checkpoint_dir: str | Path | None,
) -> HeadEnsemble:
    x = np.asarray(x_train, dtype=np.float32)
    y = np.asarray(y_train, dtype=np.float32)
    xv = np.asarray(x_val, dtype=np.float32)
    yv = np.asarray(y_val, dtype=np.float32)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0] or y.shape[1] != len(class_names):
        raise TaggerError("training data must be embeddings N x D and labels N x classes")
    if xv.shape[1:] != x.shape[1:] or yv.shape[1:] != y.shape[1:] or xv.shape[0] != yv.shape[0]:
        raise TaggerError("validation data does not match the training data's shape")
    if xv.shape[0] == 0:
        raise TaggerError("early stopping needs validation tracks; none were given")
    total = config.n_members * config.max_epochs
    key = _config_key(config, x, y, xv)
    ckpt = Path(checkpoint_dir) if checkpoint_dir else None
    if ckpt:
        ckpt.mkdir(parents=True, exist_ok=True)
    members: list[nn.Module] = []
    histories: list[MemberHistory] = []
    xt_t, yt_t = torch.from_numpy(x), torch.from_numpy(y)
    xv_t, yv_t = torch.from_numpy(xv), torch.from_numpy(yv)

    def should_stop() -> bool:
        return cancel is not None and cancel.is_set()

    for m in range(config.n_members):
        base = m * config.max_epochs

        def on_epoch(record: EpochRecord, epochs: int, m: int = m, base: int = base) -> None:
            if progress:
                progress(base + record.epoch, total, f"member {m + 1}/{config.n_members}")

        path = ckpt / f"heads_{key}_member_{m}.pt" if ckpt else None
        model, history = fit_member(
            config, m, xt_t, yt_t, xv_t, yv_t, device,
            progress=on_epoch, cancel=should_stop, checkpoint=path,
        )  # fmt: skip
        if progress:
            progress(base + config.max_epochs, total, f"member {m + 1}/{config.n_members} done")
        members.append(model)
        histories.append(history)
    return HeadEnsemble(config, tuple(class_names), x.shape[1], members, histories)
