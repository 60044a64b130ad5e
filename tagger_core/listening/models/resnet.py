"""AM'23's ResNet for log-mel patches (after Grollmisch & Cano 2021, ~420k parameters).

Why this shape: AM'23 trains a small residual CNN from scratch on single log-mel
patches (NSynth: 4 s, 64 mels; FMA: 3 s, 96 mels) and averages the patch
posteriors per file. The paper gives its size, not its layers; this version is
a stem convolution, three residual stages that halve time and frequency, and
global average pooling, so it accepts any patch length and mel count
(``n_mels`` is recorded only to check inputs). Outputs are raw logits: sigmoid
for multi-label tasks, softmax for single-label ones, chosen by the caller.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and an identity (or 1×1) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class AM23ResNet(nn.Module):
    """Log-mel patches ``[B, frames, n_mels]`` → ``{"logits", "probabilities", "embedding"}``.

    The output mapping matches the other architectures of the bundle registry
    (``logits`` ``[B, n_classes]``, sigmoid ``probabilities``, pooled ``embedding``).

    ``channels`` gives the width of each residual stage and ``strides`` its
    stride (default: 1 for the first stage, 2 for the others; a stride of 2
    in the first stage quarters the compute for CPU training); the default
    (32, 64, 160) has about 410k parameters for 11 classes. ``dropout`` applies
    before the classifier.
    """

    def __init__(
        self,
        n_classes: int,
        n_mels: int = 64,
        channels: tuple[int, ...] | list[int] = (32, 64, 160),
        dropout: float = 0.2,
        strides: tuple[int, ...] | list[int] | None = None,
    ) -> None:
        super().__init__()
        if n_classes <= 0 or n_mels <= 0 or not channels:
            raise ValueError("n_classes, n_mels and channels must be positive")
        self.n_classes = n_classes
        self.n_mels = n_mels
        widths = [int(c) for c in channels]
        self.input_norm = nn.BatchNorm2d(n_mels)  # per mel band, as PANNs' bn0
        self.stem = nn.Sequential(
            nn.Conv2d(1, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        steps = [1] + [2] * (len(widths) - 1) if strides is None else [int(s) for s in strides]
        if len(steps) != len(widths):
            raise ValueError("strides must give one stride per stage")
        stages = []
        c_prev = widths[0]
        for width, stride in zip(widths, steps, strict=True):
            stages.append(ResidualBlock(c_prev, width, stride=stride))
            c_prev = width
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c_prev, n_classes)

    def embed(self, patches: torch.Tensor) -> torch.Tensor:
        """Pooled features ``[B, channels[-1]]`` before the classifier."""
        if patches.dim() != 3 or patches.shape[-1] != self.n_mels:
            shape = tuple(patches.shape)
            raise ValueError(f"expected patches [B, frames, {self.n_mels}], got {shape}")
        # [B, frames, mels] -> [B, mels, frames, 1]: normalise each band, then image layout
        x = self.input_norm(patches.transpose(1, 2).unsqueeze(-1)).squeeze(-1)
        x = x.transpose(1, 2).unsqueeze(1)
        x = self.stages(self.stem(x))
        return x.mean(dim=(2, 3))

    def forward(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        embedding = self.embed(patches)
        logits = self.classifier(self.dropout(embedding))
        return {"logits": logits, "probabilities": torch.sigmoid(logits), "embedding": embedding}


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
