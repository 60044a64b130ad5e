"""Inference-time rewrites of model architectures: the same outputs, less work.

Why: in musicnn every front-end branch is ``conv → ReLU → batch norm → max over
frequency``, and on a CPU the ReLU and batch norm over the full
``[B, filters, T, mels]`` maps cost about a quarter of the whole forward pass.
Both are monotone per channel, so they commute with the pooling: with the
batch norm written as ``s·x + b`` per channel,

    max_f (s · relu(y_f) + b) = s · relu(max_f y_f) + b   if s ≥ 0
                              = s · relu(min_f y_f) + b   if s < 0

and only the pooled ``[B, filters, T]`` maps need ReLU and batch norm. The
rewrite shares the original module's parameters; :func:`fast_variant` returns
``None`` for architectures it does not know, and the engine checks every
rewrite against the original before using it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from tagger_core.listening.models.musicnn import Musicnn


def _affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Inference batch norm as per-channel ``scale, shift``."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


class FastMusicnn(nn.Module):
    """:class:`Musicnn` with pooled-then-normalised front-end branches (same outputs)."""

    def __init__(self, model: Musicnn) -> None:
        super().__init__()
        self.model = model
        self.eval()

    def _branch(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        y = block.conv(F.pad(x, (0, 0, block.time_pad[0], block.time_pad[1])))
        low, high = torch.aminmax(y, dim=3)
        scale, shift = _affine(block.bn)
        scale, shift = scale[None, :, None], shift[None, :, None]
        return torch.where(scale >= 0, high, low).clamp_min(0) * scale + shift

    def forward(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        m = self.model
        x = m.input_bn(patches.unsqueeze(1))
        frontend = torch.cat([self._branch(b, x) for b in (*m.timbral, *m.temporal)], dim=1)
        return m.from_frontend(frontend)


def fast_variant(model: nn.Module) -> nn.Module | None:
    """A faster equivalent of ``model`` for inference, or ``None`` if there is none."""
    if type(model) is Musicnn:
        return FastMusicnn(model)
    return None
