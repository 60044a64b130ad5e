"""A small, general trainer: Adam, seeds, early stopping, checkpoint/resume, progress, cancel.

Why our own: the app trains small models (AM'23's ResNet, one-vs-all genre
nets) on a desktop CPU, where a run must be reproducible (same seed, same
weights), survive an interruption (resume from the last finished epoch with
the random states it had) and report progress to a GUI that may cancel it.

Determinism on CPU: the shuffling order comes from a generator seeded with
``seed + epoch``; datasets that augment randomly get ``set_epoch(epoch)``
before each epoch and should derive their randomness from it; dropout uses
torch's global generator, whose state is saved in the checkpoint.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from tagger_core.errors import Cancelled, TaggerError


class TrainingCancelled(Cancelled):
    """The caller asked training to stop; the last checkpoint (if any) is kept."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one run. ``patience`` epochs without validation improvement stop it."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    patience: int = 5
    min_delta: float = 0.0
    threads: int | None = 2
    checkpoint: str | None = None
    device: str = "cpu"  # where the model trains; checkpoints and the result are on the CPU
    workers: int = 0  # DataLoader worker processes (augmentation is per item, in NumPy)


@dataclass(frozen=True)
class EpochRecord:
    """What one finished epoch measured."""

    epoch: int
    train_loss: float
    val_loss: float
    seconds: float


@dataclass
class TrainResult:
    """Outcome of :meth:`Trainer.fit`: the best weights are already loaded into the model."""

    best_epoch: int
    best_val_loss: float
    history: list[EpochRecord] = field(default_factory=list)
    stopped_early: bool = False
    resumed_from: int | None = None

    @property
    def seconds(self) -> float:
        return float(sum(r.seconds for r in self.history))

    def to_dict(self) -> dict:
        return {
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val_loss,
            "stopped_early": self.stopped_early,
            "resumed_from": self.resumed_from,
            "seconds": round(self.seconds, 1),
            "history": [asdict(r) for r in self.history],
        }


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (the global generators)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a tensor, or the tensors in a list, tuple or dict, to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(item, device) for item in batch)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    return batch


def logits_of(output: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
    """The tensor the loss is computed on: the output itself or its ``"logits"`` entry."""
    return output["logits"] if isinstance(output, dict) else output


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Progress = Callable[[EpochRecord, int], None]  # (record, total epochs)


class Trainer:
    """Fit ``model`` on ``(inputs, targets)`` datasets by minimising ``loss_fn``.

    Validation loss decides early stopping and which weights are kept.
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, config: TrainConfig) -> None:
        if config.epochs <= 0 or config.batch_size <= 0 or config.lr <= 0:
            raise TaggerError("epochs, batch size and learning rate must be positive")
        self.device = torch.device(config.device)
        self.model = model.to(self.device)
        self.loss_fn = loss_fn
        self.config = config
        self.optimizer = torch.optim.Adam(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )

    def _cpu_state(self) -> dict[str, torch.Tensor]:
        """A copy of the weights on the CPU (the best epoch's, kept while training goes on)."""
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    # -- checkpoints

    def _save(self, path: Path, epoch: int, best: dict, result: TrainResult, bad: int) -> None:
        state = {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "best_state": best,
            "best_epoch": result.best_epoch,
            "best_val_loss": result.best_val_loss,
            "history": [asdict(r) for r in result.history],
            "bad_epochs": bad,
            "torch_rng": torch.get_rng_state(),
            "config": asdict(self.config),
        }
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def _load(self, path: Path) -> tuple[int, dict, TrainResult, int]:
        state = torch.load(path, map_location="cpu", weights_only=False)
        free = ("epochs", "checkpoint", "threads", "patience", "device", "workers")
        current = asdict(self.config)
        if any(current.get(k) != v for k, v in state["config"].items() if k not in free):
            raise TaggerError(f"checkpoint {path} was made with other training settings")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])  # follows the model's device
        torch.set_rng_state(state["torch_rng"])
        result = TrainResult(
            best_epoch=state["best_epoch"],
            best_val_loss=state["best_val_loss"],
            history=[EpochRecord(**r) for r in state["history"]],
            resumed_from=state["epoch"],
        )
        return state["epoch"], state["best_state"], result, state["bad_epochs"]

    # -- loops

    def _run_epoch(
        self, loader: DataLoader, train: bool, cancel: Callable[[], bool] | None
    ) -> float:
        self.model.train(train)
        total, count = 0.0, 0
        with torch.set_grad_enabled(train):
            for inputs, targets in loader:
                if cancel is not None and cancel():
                    raise TrainingCancelled("training cancelled")
                inputs, targets = to_device(inputs, self.device), to_device(targets, self.device)
                loss = self.loss_fn(logits_of(self.model(inputs)), targets)
                if train:
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.optimizer.step()
                total += float(loss.detach()) * len(inputs)
                count += len(inputs)
        return total / max(count, 1)

    def fit(
        self,
        train_data: Dataset,
        val_data: Dataset,
        progress: Progress | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> TrainResult:
        """Train until ``epochs`` or early stopping; resume from ``checkpoint`` if it exists."""
        cfg = self.config
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        seed_everything(cfg.seed)
        ckpt = Path(cfg.checkpoint) if cfg.checkpoint else None
        start, bad = 0, 0
        best_state = self._cpu_state()
        result = TrainResult(best_epoch=0, best_val_loss=math.inf)
        if ckpt is not None and ckpt.is_file():
            start, best_state, result, bad = self._load(ckpt)
        val_loader = DataLoader(val_data, batch_size=cfg.batch_size, shuffle=False,
                                num_workers=cfg.workers)  # fmt: skip
        for epoch in range(start + 1, cfg.epochs + 1):
            if bad >= cfg.patience:
                result.stopped_early = True
                break
            t0 = time.perf_counter()
            for data in (train_data, val_data):
                if hasattr(data, "set_epoch"):
                    data.set_epoch(epoch)
            generator = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
            loader = DataLoader(train_data, batch_size=cfg.batch_size, shuffle=True,
                                generator=generator, num_workers=cfg.workers)  # fmt: skip
            train_loss = self._run_epoch(loader, True, cancel)
            val_loss = self._run_epoch(val_loader, False, cancel)
            record = EpochRecord(epoch, train_loss, val_loss, time.perf_counter() - t0)
            result.history.append(record)
            if val_loss < result.best_val_loss - cfg.min_delta:
                result.best_val_loss, result.best_epoch, bad = val_loss, epoch, 0
                best_state = self._cpu_state()
            else:
                bad += 1
            if ckpt is not None:
                self._save(ckpt, epoch, best_state, result, bad)
            if progress is not None:
                progress(record, cfg.epochs)
        self.model.load_state_dict(best_state)
        self.model.to("cpu").eval()
        return result
