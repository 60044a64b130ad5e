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

The VGG members' blocks are ``conv → ReLU → batch norm → max pool``: the same
identity moves ReLU and batch norm after the pooling, with the min again as the max
of negated filters. After the pool, the sign, ReLU and batch norm are written as
batch norm → ReLU → batch norm, which ONNX Runtime keeps in its blocked layout
(written as multiplications they cost it layout conversions, and pooling first was
then 3 % slower for MTT_vgg).

Second, a convolution whose filters span few dimensions is run as a convolution
with that many basis filters followed by a 1 × 1 mixing convolution.
MSD_musicnn's 204 timbral filters of 7 × 38 and 7 × 67 span 23 and 14 dimensions,
its temporal ones 3, 7 and 17 of 51, MSD_vgg's 128 × 128 × 3 × 3 convolutions 53,
88 and 81 of 128 (singular values beyond those are below 1e-6 of the largest: the
weights *are* low-rank, nothing is approximated beyond float rounding). The rank is
rounded up to a multiple of 16 (the CPU kernels' channel block; more basis filters
are as exact), and a factorisation is used only where it saves at least a tenth of
a convolution's multiply-adds. ONNX Runtime, 1 thread, batch 32, CPU ms per patch
(``bench/member_rewrites.py``): MSD_musicnn 26.8 → 9.2, MTT_musicnn 26.6 → 16.9,
MSD_vgg 17.0 → 8.7, MTT_vgg 12.7 → 10.8.

The rewrite is computed from the original module's parameters; :func:`fast_variant`
returns ``None`` for architectures it does not know, and the engine checks every
rewrite against the original before using it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from tagger_core.listening.int8_convs import has_int8_convs
from tagger_core.listening.models.musicnn import Musicnn
from tagger_core.listening.models.vgg import _POOLS, MusicnnVGG

#: singular values below this fraction of the largest count as zero (float rounding)
RANK_TOLERANCE = 1e-6
#: ranks are rounded up to a multiple of this (the CPU convolution kernels' channel block)
RANK_BLOCK = 16
#: a factorisation must save at least this fraction of a convolution's multiply-adds
MIN_SAVING = 0.1


Padding = int | tuple[int, ...]


def _conv(weight: torch.Tensor, bias: torch.Tensor | None, padding: Padding = 0) -> nn.Conv2d:
    out, inp, *kernel = weight.shape
    conv = nn.Conv2d(inp, out, tuple(kernel), padding=padding, bias=bias is not None)
    with torch.no_grad():
        conv.weight.copy_(weight)
        if bias is not None:
            conv.bias.copy_(bias)
    return conv


def factorised(
    weight: torch.Tensor, bias: torch.Tensor | None, padding: Padding = 0
) -> nn.Sequential | None:
    """A stride-1 convolution (``weight [C, C_in, kh, kw]``) as basis filters + 1 × 1 mixing,
    where its filters span few enough dimensions to save ``MIN_SAVING``; else None."""
    filters, channels, *kernel = weight.shape
    flat = weight.detach().double().reshape(filters, -1)  # [C, K]
    size = flat.shape[1]
    u, s, vh = torch.linalg.svd(flat, full_matrices=False)
    if not s.numel() or s[0] <= 0:
        return None
    rank = int((s > s[0] * RANK_TOLERANCE).sum())
    rank = min(-(-rank // RANK_BLOCK) * RANK_BLOCK, len(s))
    if rank * (size + filters) > (1 - MIN_SAVING) * filters * size:
        return None
    basis = (s[:rank, None] * vh[:rank]).reshape(rank, channels, *kernel)
    mix = u[:, :rank].reshape(filters, rank, 1, 1)
    dtype = weight.dtype
    return nn.Sequential(_conv(basis.to(dtype), None, padding), _conv(mix.to(dtype), bias))


def _signed(conv: nn.Conv2d, sign: torch.Tensor, extra: int = 0) -> nn.Module:
    """``conv`` with output channel ``c`` times ``sign[c]`` and ``extra`` zero filters
    appended, factorised where that pays."""
    weight = conv.weight.detach() * sign[:, None, None, None]
    bias = conv.bias.detach() * sign if conv.bias is not None else None
    weight = F.pad(weight, (0, 0, 0, 0, 0, 0, 0, extra))
    bias = F.pad(bias, (0, extra)) if bias is not None else None
    if conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1:
        raise ValueError("only stride-1, undilated, ungrouped convolutions are rewritten")
    return factorised(weight, bias, conv.padding) or _conv(weight, bias, conv.padding)


def _sign_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    scale, shift = (t.detach() for t in _affine(bn))
    return torch.where(scale >= 0, 1.0, -1.0).to(scale.dtype), scale, shift


def _affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Inference batch norm as per-channel ``scale, shift``."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def _affine_relu_affine(
    x: torch.Tensor, sign: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor
) -> torch.Tensor:
    """``relu(x · sign) · scale + shift`` per channel, as two inference batch norms around a
    ReLU: ONNX Runtime keeps those in its blocked channel layout (mean 0, variance 1,
    epsilon 0: the factors are applied exactly)."""
    zero, one = torch.zeros_like(sign.flatten()), torch.ones_like(sign.flatten())
    x = F.batch_norm(x, zero, one, sign.flatten(), zero, training=False, eps=0.0)
    x = F.relu(x)
    return F.batch_norm(x, zero, one, scale.flatten(), shift.flatten(), training=False, eps=0.0)


class _PooledBranch(nn.Module):
    """One front-end branch: (factorised) conv with sign-flipped filters → max over
    frequency → sign → ReLU → batch norm, as :class:`FastMusicnn` explains."""

    def __init__(self, block: nn.Module, n_mels: int) -> None:
        super().__init__()
        self.time_pad = block.time_pad
        self.width = n_mels - block.conv.kernel_size[1] + 1  # frequency positions (static)
        sign, scale, shift = _sign_scale_shift(block.bn)
        # zero filters up to a multiple of the channel block, so the max pool runs in the
        # CPU kernels' blocked layout; they are dropped after pooling
        self.channels = block.conv.out_channels
        self.conv = _signed(block.conv, sign, -self.channels % RANK_BLOCK)
        self.register_buffer("sign", sign[None, :, None])
        self.register_buffer("scale", scale[None, :, None])
        self.register_buffer("shift", shift[None, :, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(F.pad(x, (0, 0, self.time_pad[0], self.time_pad[1])))  # [B, C, T, F]
        pooled = F.max_pool2d(y, (1, self.width))[:, : self.channels, :, 0]  # max (or -min)
        return _affine_relu_affine(pooled, self.sign, self.scale, self.shift)


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


class _PooledVGGBlock(nn.Module):
    """(factorised) conv with sign-flipped filters → max pool → sign → ReLU → batch norm."""

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d, kernel, stride) -> None:
        super().__init__()
        sign, scale, shift = _sign_scale_shift(bn)
        self.conv = _signed(conv, sign)
        self.kernel, self.stride = kernel, stride
        self.register_buffer("sign", sign[None, :, None, None])
        self.register_buffer("scale", scale[None, :, None, None])
        self.register_buffer("shift", shift[None, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.max_pool2d(self.conv(x), self.kernel, self.stride)
        return _affine_relu_affine(pooled, self.sign, self.scale, self.shift)


class FastVGG(nn.Module):
    """:class:`MusicnnVGG` with every block pooled before its ReLU and batch norm, low-rank
    convolutions factorised (same outputs)."""

    def __init__(self, model: MusicnnVGG) -> None:
        super().__init__()
        self.model = model
        self.blocks = nn.ModuleList(
            _PooledVGGBlock(conv, bn, kernel, stride)
            for conv, bn, (kernel, stride) in zip(model.convs, model.bns, _POOLS, strict=True)
        )
        self.to(next(model.parameters()).device)
        self.eval()

    def forward(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        m = self.model
        if patches.shape[1] != m.n_frames:
            raise ValueError(f"VGG tagger needs {m.n_frames}-frame patches")
        x = m.input_bn(patches.unsqueeze(1))
        for block in self.blocks:
            x = block(x)
        return m.from_pooled(x)


def fast_variant(model: nn.Module) -> nn.Module | None:
    """A faster equivalent of ``model`` for inference, or ``None`` if there is none (also
    for a member in int8 form, whose convolutions have no float filters to rewrite)."""
    if has_int8_convs(model):
        return None
    if type(model) is Musicnn:
        return FastMusicnn(model)
    if type(model) is MusicnnVGG:
        return FastVGG(model)
    return None
