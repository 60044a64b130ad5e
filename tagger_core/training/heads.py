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
ensemble (AM'23: five members, different seeds) is trained member by member;
a finished member is checkpointed, so an interrupted run resumes with the next.
"""

from __future__ import annotations

import copy
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

from tagger_core.errors import Cancelled, TaggerError
from tagger_core.models.heads import ARCHITECTURE_NAMES, HEAD_ARCHITECTURES

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


def _loss(
    logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None, weight: torch.Tensor | None
) -> torch.Tensor:
    """Mean BCE (joint) or the sum over classes of each class's mean BCE on its rows (OVA)."""
    bce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    if weight is not None:
        bce = bce * weight
    if mask is None:
        return bce.mean()
    m = mask.to(bce.dtype)
    return ((bce * m).sum(dim=0) / m.sum(dim=0).clamp_min(1.0)).sum()


def _balanced_weight(y: torch.Tensor) -> torch.Tensor:
    """Per-pair weights giving positives and negatives of each class equal total weight."""
    pos = y.sum(dim=0).clamp_min(1.0)
    neg = (1 - y).sum(dim=0).clamp_min(1.0)
    n = y.shape[0]
    return torch.where(y > 0.5, n / (2 * pos), n / (2 * neg))


def _config_key(config: HeadConfig, x: np.ndarray, y: np.ndarray, xv: np.ndarray) -> str:
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode())
    for arr in (x, y, xv):
        digest.update(np.ascontiguousarray(arr, dtype=np.float32).tobytes())
    return digest.hexdigest()


def fit_member(
    config: HeadConfig,
    member: int,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    device: torch.device,
    on_epoch: Callable[[int], None] | None = None,
) -> tuple[nn.Module, MemberHistory]:
    """Train one member with Adam and early stopping on validation loss; returns the best state.

    Joint: validation loss is the BCE over all pairs. OVA: each class keeps the
    weights of its own best epoch (class-balanced BCE on validation), and
    training stops when no class has improved for ``patience`` epochs.
    """
    seed = config.seed + 1000 * member
    history = MemberHistory(seed=seed)
    ova = config.design == "ova"
    n_classes = y_train.shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_head(
            config.design, x_train.shape[1], n_classes, config.hidden_units, config.dropout
        )
        model.norm.set_stats(x_train)  # type: ignore[operator]
        model.to(device)
        best_state = copy.deepcopy(model.state_dict())
        mask = None
        if ova:
            mask_np = balanced_negative_subsample(y_train.numpy(), seed=seed)
            mask = torch.from_numpy(mask_np).to(device)
        xt, yt = x_train.to(device), y_train.to(device)
        xv, yv = x_val.to(device), y_val.to(device)
        val_weight = _balanced_weight(yv) if ova else None
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        gen = torch.Generator().manual_seed(seed)
        best = torch.full((n_classes if ova else 1,), float("inf"))
        since = torch.zeros_like(best)
        n = xt.shape[0]
        for epoch in range(config.max_epochs):
            model.train()
            order = torch.randperm(n, generator=gen).to(device)
            total, batches = 0.0, 0
            for start in range(0, n, config.batch_size):
                idx = order[start : start + config.batch_size]
                logits = model(xt[idx])["logits"]
                loss = _loss(logits, yt[idx], None if mask is None else mask[idx], None)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
                batches += 1
            model.eval()
            with torch.no_grad():
                vlog = model(xv)["logits"]
                bce = F.binary_cross_entropy_with_logits(vlog, yv, reduction="none")
                per = (bce * val_weight).mean(dim=0) if ova else bce.mean().reshape(1)
            per = per.cpu()
            history.train_loss.append(total / max(batches, 1))
            history.val_loss.append(float(per.mean()))
            history.epochs_run = epoch + 1
            improved = per < best - 1e-6
            if bool(improved.any()):
                state = model.state_dict()
                if ova:
                    on_device = improved.to(device)
                    for key in ("w1", "b1", "w2", "b2"):
                        best_state[key][on_device] = state[key][on_device].clone()
                    best_state["norm.mean"] = state["norm.mean"].clone()
                    best_state["norm.std"] = state["norm.std"].clone()
                else:
                    best_state = copy.deepcopy(state)
                history.best_epoch = epoch + 1
            best = torch.where(improved, per, best)
            since = torch.where(improved, torch.zeros_like(since), since + 1)
            if on_epoch is not None:
                on_epoch(epoch + 1)
            if bool((since >= config.patience).all()):
                break
        model.load_state_dict(best_state)
    return model.cpu().eval(), history


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
    max epochs; a member that stops early jumps ahead). ``cancel`` is checked after
    every epoch and raises :class:`Cancelled`; members finished before that are in
    ``checkpoint_dir`` (if given), and a later call with the same data and config
    loads them instead of training them again. Deterministic on the CPU for a seed.

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
    for m in range(config.n_members):
        base = m * config.max_epochs
        path = ckpt / f"member_{m}.pt" if ckpt else None
        if path is not None and path.is_file():
            saved = torch.load(path, map_location="cpu", weights_only=False)
            if saved.get("key") == key:
                model = build_head(
                    config.design, x.shape[1], y.shape[1], config.hidden_units, config.dropout
                )
                model.load_state_dict(saved["state"])
                members.append(model.eval())
                histories.append(MemberHistory(**saved["history"]))
                if progress:
                    progress(base + config.max_epochs, total, f"member {m + 1} (resumed)")
                continue

        def on_epoch(epoch: int, m: int = m, base: int = base) -> None:
            if progress:
                progress(base + epoch, total, f"member {m + 1}/{config.n_members}")
            if cancel is not None and cancel.is_set():
                raise Cancelled("training cancelled; finished members are kept for resuming")

        model, history = fit_member(config, m, xt_t, yt_t, xv_t, yv_t, device, on_epoch)
        if path is not None:
            tmp = path.with_suffix(".tmp")
            torch.save({"key": key, "state": model.state_dict(), "history": history.to_dict()}, tmp)
            tmp.replace(path)
        if progress:
            progress(base + config.max_epochs, total, f"member {m + 1}/{config.n_members} done")
        members.append(model)
        histories.append(history)
    return HeadEnsemble(config, tuple(class_names), x.shape[1], members, histories)
