"""Running a model on a GPU under the shared trainer, which feeds CPU batches.

Why a wrapper: :class:`tagger_core.training.trainer.Trainer` takes batches
straight from a ``DataLoader`` (CPU tensors); wrapping the model moves each
batch to the model's device, so the same trainer uses a GPU when there is one.
Targets are moved by the loss functions (:func:`to_device`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class OnDevice(nn.Module):
    """``inner`` on ``device``; ``forward`` moves its input there first."""

    def __init__(self, inner: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.inner = inner.to(device)
        self.device = device

    def forward(self, x: torch.Tensor) -> Any:
        return self.inner(x.to(self.device, non_blocking=True))


def to_device(value: Any, device: torch.device) -> Any:
    """A tensor, or a list/tuple of tensors, on ``device``."""
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device) for v in value)
    return value.to(device, non_blocking=True)
