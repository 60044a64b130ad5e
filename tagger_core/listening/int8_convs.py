"""Int8 convolutions for a member: static quantization with stored activation ranges.

Why this form: on a CPU nearly all of a member's time is in its convolutions,
and int8 kernels (fbgemm/oneDNN, VNNI or AMX where the CPU has them) do the
same multiply-adds several times cheaper than float32. Each ``Conv1d``/``Conv2d``
is replaced by one that quantizes its input to uint8 with a fixed scale,
convolves with per-channel symmetric int8 weights and returns float32, so the
rest of the network (ReLU, batch norm, pooling, dense layers, the exact
rewrites in :mod:`tagger_core.listening.models.pool_first`) stays as it is.

Activation ranges are calibrated once, offline, by ``tools/check_fast_members.py``
and stored with its verdict (``fast_forms.json``), so the engine rebuilds
exactly the form whose outputs were checked; nothing is re-calibrated at start-up.
Needs no compiler; :func:`int8_available` says whether this torch has a
quantized CPU engine.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable

import torch
import torch.ao.nn.quantized as nnq
from torch import nn
from torch.ao.quantization import HistogramObserver, PerChannelMinMaxObserver

#: quantized CPU engines in order of preference (``x86`` picks fbgemm or oneDNN per op)
ENGINES = ("x86", "fbgemm", "onednn")

#: ``{conv module name: [input scale, input zero point, output scale, output zero point]}``
QParams = dict[str, list[float]]


def int8_engine() -> str | None:
    """The quantized CPU engine to use, or None when this torch build has none."""
    supported = set(torch.backends.quantized.supported_engines)
    return next((e for e in ENGINES if e in supported), None)


def int8_available() -> bool:
    """Whether int8 convolutions can run here."""
    return int8_engine() is not None


def _convs(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if type(m) in (nn.Conv1d, nn.Conv2d)]


def calibrate(model: nn.Module, batches: Iterable[torch.Tensor]) -> QParams:
    """Input and output ranges of every convolution of ``model`` on ``batches``.

    Histogram observers choose ranges that minimise quantization error rather
    than spanning rare outliers; the result is deterministic for given inputs.
    """
    observers: dict[str, tuple[HistogramObserver, HistogramObserver]] = {}
    hooks = []
    for name, conv in _convs(model):
        pair = (HistogramObserver(), HistogramObserver())
        observers[name] = pair

        def hook(_m, inputs, output, pair=pair) -> None:
            pair[0](inputs[0].detach())
            pair[1](output.detach())

        hooks.append(conv.register_forward_hook(hook))
    try:
        with torch.no_grad():
            for batch in batches:
                model(batch)
    finally:
        for h in hooks:
            h.remove()
    out: QParams = {}
    for name, (obs_in, obs_out) in observers.items():
        s_in, z_in = obs_in.calculate_qparams()
        s_out, z_out = obs_out.calculate_qparams()
        out[name] = [float(s_in), int(z_in), float(s_out), int(z_out)]
    return out


class Int8Conv(nn.Module):
    """uint8 input (fixed scale) → int8 per-channel convolution → float32 output."""

    def __init__(self, conv: nn.Conv1d | nn.Conv2d, qparams: list[float]) -> None:
        super().__init__()
        s_in, z_in, s_out, z_out = qparams
        self.in_scale, self.in_zero = float(s_in), int(z_in)
        weight = conv.weight.detach().float()
        observer = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8,
                                            qscheme=torch.per_channel_symmetric)  # fmt: skip
        observer(weight)
        scales, zeros = observer.calculate_qparams()
        qweight = torch.quantize_per_channel(weight, scales, zeros.long(), 0, torch.qint8)
        cls = nnq.Conv2d if isinstance(conv, nn.Conv2d) else nnq.Conv1d
        self.conv = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
        )
        bias = None if conv.bias is None else conv.bias.detach().float()
        self.conv.set_weight_bias(qweight, bias)
        self.conv.scale, self.conv.zero_point = float(s_out), int(z_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.quantize_per_tensor(x.contiguous(), self.in_scale, self.in_zero, torch.quint8)
        return self.conv(q).dequantize()


def has_int8_convs(model: nn.Module) -> bool:
    """Whether ``model`` runs any :class:`Int8Conv`."""
    return any(isinstance(m, Int8Conv) for m in model.modules())


def with_int8_convs(model: nn.Module, qparams: QParams) -> nn.Module:
    """A copy of ``model`` whose convolutions run in int8 (``qparams`` from :func:`calibrate`).

    Raises ``ValueError`` when ``qparams`` does not name exactly the model's
    convolutions (a verdict made for another architecture or version).
    """
    engine = int8_engine()
    if engine is None:
        raise RuntimeError("this torch build has no quantized CPU engine")
    torch.backends.quantized.engine = engine
    out = copy.deepcopy(model).eval()
    convs = _convs(out)
    if {n for n, _ in convs} != set(qparams):
        raise ValueError("quantization parameters do not match the model's convolutions")
    with warnings.catch_warnings():
        # torch 2.13 announces the quantized tensor API's future removal; until then it
        # is the int8 path that needs no compiler (the engine falls back to float32 after)
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        for name, conv in convs:
            parent_name, _, attr = name.rpartition(".")
            parent = out.get_submodule(parent_name) if parent_name else out
            setattr(parent, attr, Int8Conv(conv, qparams[name]))
    return out


__all__ = [
    "Int8Conv",
    "QParams",
    "calibrate",
    "has_int8_convs",
    "int8_available",
    "int8_engine",
    "with_int8_convs",
]
