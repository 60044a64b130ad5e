"""The musicnn tagger (Pons & Serra, 2019) in torch, for the pretrained weights.

Why a port: the published MSD/MTT checkpoints are TF1 graphs; this module
reproduces the inference graph operation for operation so that the converted
weights give the same tag probabilities (checked against reference fixtures).

Architecture, for a log-mel patch ``[B, T, M]`` (T frames, M = 96 mels):

* front end: batch norm of the input (one channel), then five branches whose
  outputs are max-pooled over the whole frequency axis:
  two *timbral* convolutions with kernels ``7 × int(0.4·M)`` and
  ``7 × int(0.7·M)`` (time zero-padded by 3 on each side, "valid" in frequency)
  and three *temporal* convolutions with kernels ``128/64/32 × 1`` and TF
  "same" padding (for an even kernel k: ``k/2 - 1`` before, ``k/2`` after);
  each branch is conv → ReLU → batch norm → max over frequency.
* mid end: three 1-D convolutions (kernel 7, zero pad 3) over the 561 front-end
  channels, each conv → ReLU → batch norm, the 2nd and 3rd with residual
  additions; the mid-end features are the concatenation
  ``[front end, conv1, conv1+conv2, conv1+conv2+conv3]`` (753 channels).
* back end: max and mean over time, *interleaved* per channel
  (``[max_0, mean_0, max_1, mean_1, …]``, the order of TF's flatten of a
  ``[753, 2]`` tensor), batch norm, dense 200 + ReLU, batch norm (the
  "penultimate" embedding), dense to the tag logits.

Batch norms use the moving statistics with epsilon 1e-3 (TF1's default);
dropout layers of the original are identity at inference and are omitted.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

TF_BN_EPSILON = 1e-3


def _bn2d(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=TF_BN_EPSILON)


def _bn1d(channels: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(channels, eps=TF_BN_EPSILON)


class _FreqPooledConv(nn.Module):
    """conv (time-padded) → ReLU → batch norm → max over the frequency axis."""

    def __init__(self, filters: int, kernel: tuple[int, int], time_pad: tuple[int, int]) -> None:
        super().__init__()
        self.time_pad = time_pad
        self.conv = nn.Conv2d(1, filters, kernel)
        self.bn = _bn2d(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, 1, T, M] -> [B, filters, T]
        x = F.pad(x, (0, 0, self.time_pad[0], self.time_pad[1]))
        x = self.bn(F.relu(self.conv(x)))
        return x.amax(dim=3)


class _MidendConv(nn.Module):
    """1-D conv over time (kernel 7, zero pad 3) → ReLU → batch norm."""

    def __init__(self, in_channels: int, filters: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, filters, 7, padding=3)
        self.bn = _bn1d(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


def _same_pad(kernel: int) -> tuple[int, int]:
    """TF "same" padding for stride 1: the extra element goes after."""
    total = kernel - 1
    return total // 2, total - total // 2


class Musicnn(nn.Module):
    """musicnn; ``forward(patches [B, T, n_mels])`` returns a dict of tensors.

    Keys: ``logits`` ``[B, n_classes]``, ``probabilities`` (sigmoid),
    ``embedding`` (= ``penultimate``, ``[B, num_units_backend]``),
    ``mean_pool`` and ``max_pool`` (``[B, 561 + 3·num_filt_midend]``, the
    time-pooled mid-end features).
    """

    def __init__(
        self,
        n_classes: int = 50,
        n_mels: int = 96,
        num_filt_frontend: float = 1.6,
        num_filt_midend: int = 64,
        num_units_backend: int = 200,
    ) -> None:
        super().__init__()
        self.n_mels = n_mels
        timbral_filters = int(num_filt_frontend * 128)
        temporal_filters = int(num_filt_frontend * 32)
        self.input_bn = _bn2d(1)
        self.timbral = nn.ModuleList(
            _FreqPooledConv(timbral_filters, (7, int(frac * n_mels)), (3, 3)) for frac in (0.4, 0.7)
        )
        self.temporal = nn.ModuleList(
            _FreqPooledConv(temporal_filters, (k, 1), _same_pad(k)) for k in (128, 64, 32)
        )
        frontend_channels = 2 * timbral_filters + 3 * temporal_filters
        self.midend = nn.ModuleList(
            [
                _MidendConv(frontend_channels, num_filt_midend),
                _MidendConv(num_filt_midend, num_filt_midend),
                _MidendConv(num_filt_midend, num_filt_midend),
            ]
        )
        self.midend_channels = frontend_channels + 3 * num_filt_midend
        self.pool_bn = _bn1d(2 * self.midend_channels)
        self.dense = nn.Linear(2 * self.midend_channels, num_units_backend)
        self.dense_bn = _bn1d(num_units_backend)
        self.output = nn.Linear(num_units_backend, n_classes)
        self.eval()

    def forward(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.input_bn(patches.unsqueeze(1))
        branches = [block(x) for block in (*self.timbral, *self.temporal)]
        return self.from_frontend(torch.cat(branches, dim=1))  # [B, 561, T]

    def from_frontend(self, frontend: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mid-end, pooling and dense back-end on the concatenated front-end branches."""
        c1 = self.midend[0](frontend)
        r2 = self.midend[1](c1) + c1
        r3 = self.midend[2](r2) + r2
        features = torch.cat([frontend, c1, r2, r3], dim=1)  # [B, 753, T]
        max_pool = features.amax(dim=2)
        mean_pool = features.mean(dim=2)
        pooled = torch.stack([max_pool, mean_pool], dim=2).flatten(1)
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        logits = self.output(penultimate)
        return {
            "logits": logits,
            "probabilities": torch.sigmoid(logits),
            "embedding": penultimate,
            "penultimate": penultimate,
            "mean_pool": mean_pool,
            "max_pool": max_pool,
        }

    @staticmethod
    def state_dict_from_tf(tensors: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Map musicnn TF1 checkpoint variables to this module's state dict.

        TF1 names layers by creation order: ``batch_normalization[_i]``,
        ``conv2d[_i]`` and ``dense[_i]``; the graph creates them in the order
        input BN, timbral 74 / 77, temporal 128 / 64 / 32, mid-end 1–3, pooled
        BN, dense, dense BN, output dense.
        """
        out: dict[str, torch.Tensor] = {}
        bn_targets = [
            "input_bn",
            "timbral.0.bn",
            "timbral.1.bn",
            "temporal.0.bn",
            "temporal.1.bn",
            "temporal.2.bn",
            "midend.0.bn",
            "midend.1.bn",
            "midend.2.bn",
            "pool_bn",
            "dense_bn",
        ]
        for i, target in enumerate(bn_targets):
            out.update(_tf_batch_norm(tensors, _tf_name("batch_normalization", i), target))
        conv2d_targets = ["timbral.0", "timbral.1", "temporal.0", "temporal.1", "temporal.2"]
        for i, target in enumerate(conv2d_targets):
            src = _tf_name("conv2d", i)
            out[f"{target}.conv.weight"] = _t(tensors[f"{src}/kernel"].transpose(3, 2, 0, 1))
            out[f"{target}.conv.bias"] = _t(tensors[f"{src}/bias"])
        for i in range(3):
            src = _tf_name("conv2d", len(conv2d_targets) + i)
            kernel = tensors[f"{src}/kernel"]  # [7, in, 1, out]
            out[f"midend.{i}.conv.weight"] = _t(kernel[:, :, 0, :].transpose(2, 1, 0))
            out[f"midend.{i}.conv.bias"] = _t(tensors[f"{src}/bias"])
        for src, target in (("dense", "dense"), ("dense_1", "output")):
            out[f"{target}.weight"] = _t(tensors[f"{src}/kernel"].T)
            out[f"{target}.bias"] = _t(tensors[f"{src}/bias"])
        return out


def _tf_name(base: str, index: int) -> str:
    return base if index == 0 else f"{base}_{index}"


def _t(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _tf_batch_norm(tensors: dict[str, np.ndarray], src: str, target: str) -> dict:
    """One TF batch-norm layer's four arrays as torch BatchNorm entries."""
    return {
        f"{target}.weight": _t(tensors[f"{src}/gamma"]),
        f"{target}.bias": _t(tensors[f"{src}/beta"]),
        f"{target}.running_mean": _t(tensors[f"{src}/moving_mean"]),
        f"{target}.running_var": _t(tensors[f"{src}/moving_variance"]),
        f"{target}.num_batches_tracked": torch.tensor(0, dtype=torch.long),
    }
