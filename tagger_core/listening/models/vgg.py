"""The VGG-like baseline tagger shipped with musicnn, in torch.

Why a port: see ``tagger_core.listening.models.musicnn``. Architecture, for a log-mel
patch ``[B, 187, 96]``: batch norm of the input, then five blocks of
3×3 convolution (TF "same" padding, i.e. 1 on each side) → ReLU → batch norm →
max pooling with TF "valid" padding; pools (time × frequency, size / stride):
``4×1 / 2×2``, ``2×2 / 2×2`` three times, ``4×4 / 4×4``. The last pooled map
(``2 × 1 × 128`` for 187 × 96 input) is flattened in TF's channels-last order
and a dense layer gives the tag logits. The input length is fixed by that
dense layer (187 frames for the shipped weights). Dropout is identity at
inference and omitted. Batch norms use moving statistics, epsilon 1e-3.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from tagger_core.listening.models.musicnn import TF_BN_EPSILON, _t, _tf_batch_norm, _tf_name

_POOLS: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((4, 1), (2, 2)),
    ((2, 2), (2, 2)),
    ((2, 2), (2, 2)),
    ((2, 2), (2, 2)),
    ((4, 4), (4, 4)),
)


def _pooled_size(size: int, kernel: int, stride: int) -> int:
    return (size - kernel) // stride + 1


class MusicnnVGG(nn.Module):
    """VGG tagger; ``forward(patches [B, n_frames, n_mels])`` returns a dict.

    Keys: ``logits`` ``[B, n_classes]``, ``probabilities`` (sigmoid),
    ``embedding`` (= ``pool5``, the flattened last pooled map that feeds the
    output layer, ``[B, 256]`` for the shipped weights).
    """

    def __init__(
        self, n_classes: int = 50, n_mels: int = 96, n_frames: int = 187, num_filters: int = 128
    ) -> None:
        super().__init__()
        self.n_frames = n_frames
        self.input_bn = nn.BatchNorm2d(1, eps=TF_BN_EPSILON)
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        in_channels = 1
        height, width = n_frames, n_mels
        for kernel, stride in _POOLS:
            self.convs.append(nn.Conv2d(in_channels, num_filters, 3, padding=1))
            self.bns.append(nn.BatchNorm2d(num_filters, eps=TF_BN_EPSILON))
            in_channels = num_filters
            height = _pooled_size(height, kernel[0], stride[0])
            width = _pooled_size(width, kernel[1], stride[1])
        self.output = nn.Linear(height * width * num_filters, n_classes)
        self.eval()

    def forward(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        if patches.shape[1] != self.n_frames:
            raise ValueError(f"VGG tagger needs {self.n_frames}-frame patches")
        x = self.input_bn(patches.unsqueeze(1))
        for conv, bn, (kernel, stride) in zip(self.convs, self.bns, _POOLS, strict=True):
            x = F.max_pool2d(bn(F.relu(conv(x))), kernel, stride)
        return self.from_pooled(x)

    def from_pooled(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The output layer on the last pooled map ``[B, C, H, W]``."""
        pool5 = x.permute(0, 2, 3, 1).flatten(1)  # TF flattens channels-last
        logits = self.output(pool5)
        return {
            "logits": logits,
            "probabilities": torch.sigmoid(logits),
            "embedding": pool5,
            "pool5": pool5,
        }

    @staticmethod
    def state_dict_from_tf(tensors: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Map the VGG TF1 checkpoint (``1CNN``…``5CNN``, ``batch_normalization[_i]``,
        ``dense``) to this module's state dict."""
        out: dict[str, torch.Tensor] = dict(
            _tf_batch_norm(tensors, "batch_normalization", "input_bn")
        )
        for i in range(len(_POOLS)):
            src = f"{i + 1}CNN"
            out[f"convs.{i}.weight"] = _t(tensors[f"{src}/kernel"].transpose(3, 2, 0, 1))
            out[f"convs.{i}.bias"] = _t(tensors[f"{src}/bias"])
            out.update(_tf_batch_norm(tensors, _tf_name("batch_normalization", i + 1), f"bns.{i}"))
        out["output.weight"] = _t(tensors["dense/kernel"].T)
        out["output.bias"] = _t(tensors["dense/bias"])
        return out
