"""Inference-time rewrites of model architectures: the same outputs, less work.

Why: in musicnn every front-end branch is ``conv → ReLU → batch norm → max over
frequency``, and on a CPU the ReLU and batch norm over the full
``[B, filters, T, mels]`` maps cost about a quarter of the whole forward pass.
Both are monotone per channel, so they commute with the pooling: with the
batch norm written as ``s·x + b`` per channel,

    max_f (s · relu(y_f) + b) = s · relu(max_f y_f) + b   if s ≥ 0
                              = s · relu(min_f y_f) + b   if s < 0

and only the pooled ``[B, filters, T]`` maps need ReLU and batch norm. The min is
taken as a max of the channel with its filter negated (``min y = -max(-y)``; a sign
flip is exact), so every branch ends in one max pool, which ONNX Runtime runs in its
blocked channel layout without converting the full maps back.

Second, a front-end convolution whose filters span few dimensions is run as a
convolution with that many basis filters followed by a 1 × 1 mixing convolution.
MSD_musicnn's 204 timbral filters of 7 × 38 and 7 × 67 span 23 and 14 dimensions,
its temporal ones 3, 7 and 17 of 51 (singular values beyond those are below 1e-6
of the largest: the weights *are* low-rank, nothing is approximated beyond float
rounding). The rank is rounded up to a multiple of 16 (the CPU kernels' channel
block; more basis filters are as exact), and a factorisation is used only where it
saves at least a fifth of a branch's multiply-adds.

The rewrite is computed from the original module's parameters; :func:`fast_variant`
returns ``None`` for architectures it does not know, and the engine checks every
rewrite against the original before using it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from tagger_core.listening.models.musicnn import Musicnn

#: singular values below this fraction of the largest count as zero (float rounding)
RANK_TOLERANCE = 1e-6
#: ranks are rounded up to a multiple of this (the CPU convolution kernels' channel block)
RANK_BLOCK = 16
#: a factorisation must save at least this fraction of a convolution's multiply-adds
MIN_SAVING = 0.2


def _conv(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Conv2d:
    out, inp, *kernel = weight.shape
    conv = nn.Conv2d(inp, out, tuple(kernel), bias=bias is not None)
    with torch.no_grad():
        conv.weight.copy_(weight)
        if bias is not None:
            conv.bias.copy_(bias)
    return conv


def factorised(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Sequential | None:
    """A one-input-channel convolution (``weight [C, 1, kh, kw]``) as basis filters + 1 × 1
    mixing, where its filters span few enough dimensions to save ``MIN_SAVING``; else None."""
    filters, channels, *kernel = weight.shape
    if channels != 1:
        return None
    flat = weight.detach().double().reshape(filters, -1)  # [C, K]
    size = flat.shape[1]
    u, s, vh = torch.linalg.svd(flat, full_matrices=False)
    if not s.numel() or s[0] <= 0:
        return None
    rank = int((s > s[0] * RANK_TOLERANCE).sum())
    rank = min(-(-rank // RANK_BLOCK) * RANK_BLOCK, len(s))
    if rank * (size + filters) > (1 - MIN_SAVING) * filters * size:
        return None
    basis = (s[:rank, None] * vh[:rank]).reshape(rank, 1, *kernel)
    mix = u[:, :rank].reshape(filters, rank, 1, 1)
    dtype = weight.dtype
    return nn.Sequential(_conv(basis.to(dtype), None), _conv(mix.to(dtype), bias))


def _affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Inference batch norm as per-channel ``scale, shift``."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


class _PooledBranch(nn.Module):
    """One front-end branch: (factorised) conv with sign-flipped filters → max over
    frequency → sign → ReLU → batch norm, as :class:`FastMusicnn` explains."""

    def __init__(self, block: nn.Module, n_mels: int) -> None:
        super().__init__()
        self.time_pad = block.time_pad
        self.width = n_mels - block.conv.kernel_size[1] + 1  # frequency positions (static)
        scale, shift = (t.detach() for t in _affine(block.bn))
        sign = torch.where(scale >= 0, 1.0, -1.0).to(scale.dtype)
        weight = block.conv.weight.detach() * sign[:, None, None, None]
        bias = block.conv.bias.detach() * sign if block.conv.bias is not None else None
        # zero filters up to a multiple of the channel block, so the max pool runs in the
        # CPU kernels' blocked layout; they are dropped after pooling
        self.channels = weight.shape[0]
        extra = -self.channels % RANK_BLOCK
        weight = F.pad(weight, (0, 0, 0, 0, 0, 0, 0, extra))
        bias = F.pad(bias, (0, extra)) if bias is not None else None
        self.conv = factorised(weight, bias) or _conv(weight, bias)
        self.register_buffer("sign", sign[None, :, None])
        self.register_buffer("scale", scale[None, :, None])
        self.register_buffer("shift", shift[None, :, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(F.pad(x, (0, 0, self.time_pad[0], self.time_pad[1])))  # [B, C, T, F]
        pooled = F.max_pool2d(y, (1, self.width))[:, : self.channels, :, 0]  # max (or -min)
        return (pooled * self.sign).clamp_min(0) * self.scale + self.shift


class FastMusicnn(nn.Module):
    """:class:`Musicnn` with pooled-then-normalised front-end branches, low-rank ones
    factorised (same outputs)."""

    def __init__(self, model: Musicnn) -> None:
        super().__init__()
        self.model = model
        blocks = (*model.timbral, *model.temporal)
        self.branches = nn.ModuleList(_PooledBranch(b, model.n_mels) for b in blocks)
        self.to(next(model.parameters()).device)
        self.eval()

    def forward(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        m = self.model
        x = m.input_bn(patches.unsqueeze(1))
        return m.from_frontend(torch.cat([branch(x) for branch in self.branches], dim=1))


def fast_variant(model: nn.Module) -> nn.Module | None:
    """A faster equivalent of ``model`` for inference, or ``None`` if there is none."""
    if type(model) is Musicnn:
        return FastMusicnn(model)
    return None
