"""MLP heads that read a stored backbone embedding instead of log-mel patches.

Why separate from the patch models: a head bundle sits on top of another
bundle (its ``manifest.json`` says ``"input": {"embedding_of": ...}``); the
analysis engine stores that bundle's pooled embeddings once, so a head is
applied to those arrays without decoding audio again. Both heads return the
same ``{"logits", "embedding"}`` mapping as the patch models, and keep the
input standardisation as buffers so a saved head is self-contained.
"""

from __future__ import annotations

import torch
from torch import nn


class _Standardise(nn.Module):
    """``(x - mean) / std`` with the statistics stored as buffers."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))

    def set_stats(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean(dim=0))
        self.std.copy_(x.std(dim=0, unbiased=False).clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class MLPHead(nn.Module):
    """Joint multi-label head: ``embedding [B, D]`` → logits ``[B, C]`` and hidden ``[B, H]``."""

    def __init__(self, in_dim: int, n_classes: int, hidden: int = 256, dropout: float = 0.3):
        super().__init__()
        if min(in_dim, n_classes, hidden) <= 0:
            raise ValueError("in_dim, n_classes and hidden must be positive")
        self.norm = _Standardise(in_dim)
        self.hidden = nn.Linear(in_dim, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, embedding: torch.Tensor) -> dict[str, torch.Tensor]:
        h = torch.relu(self.hidden(self.norm(embedding)))
        return {"logits": self.out(self.dropout(h)), "embedding": h}


class OneVsAllHeads(nn.Module):
    """C independent binary MLPs evaluated in one batched pass.

    Weights are stacked per class (``w1 [C, D, H]``, ``w2 [C, H]``), so class
    c's logit depends only on class c's parameters: training them together on
    a sum of per-class losses is the same as training C separate models.
    """

    def __init__(self, in_dim: int, n_classes: int, hidden: int = 64, dropout: float = 0.3):
        super().__init__()
        if min(in_dim, n_classes, hidden) <= 0:
            raise ValueError("in_dim, n_classes and hidden must be positive")
        self.norm = _Standardise(in_dim)
        bound1, bound2 = 1.0 / in_dim**0.5, 1.0 / hidden**0.5
        self.w1 = nn.Parameter(torch.empty(n_classes, in_dim, hidden).uniform_(-bound1, bound1))
        self.b1 = nn.Parameter(torch.empty(n_classes, hidden).uniform_(-bound1, bound1))
        self.w2 = nn.Parameter(torch.empty(n_classes, hidden).uniform_(-bound2, bound2))
        self.b2 = nn.Parameter(torch.empty(n_classes).uniform_(-bound2, bound2))
        self.dropout = nn.Dropout(dropout)

    def forward(self, embedding: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.norm(embedding)
        h = torch.relu(torch.einsum("bd,cdh->bch", x, self.w1) + self.b1)
        logits = torch.einsum("bch,ch->bc", self.dropout(h), self.w2) + self.b2
        return {"logits": logits, "embedding": h.mean(dim=1)}


HEAD_ARCHITECTURES: dict[str, type[nn.Module]] = {"joint": MLPHead, "ova": OneVsAllHeads}
ARCHITECTURE_NAMES: dict[str, str] = {"joint": "mlp_head", "ova": "ova_mlp_heads"}
