"""Members prepared with torch: loaded, in their accepted form, behind the fastest exact runner.

Why apart from :mod:`tagger_core.listening.ensembles`: this is the only part of running a
bundle that needs torch, and a CPU start-up whose members are all in the ONNX cache
skips it (and torch's 1.2 CPU s of import). It runs on every other start-up: a GPU,
a cold cache, a member kept in torch.

Preparing a member: load it, use its offline-accepted cheaper form if any
(:mod:`tagger_core.listening.fast_forms`), then the fastest runner that reproduces its
outputs on the start-up check patches (ONNX Runtime, exact rewrites, a frozen graph),
and float16 only where that keeps probabilities within ``AMP_TOLERANCE``. Every
runner is wrapped to the engine's member interface: float32 arrays in and out.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from tagger_core.labels.bundles import Bundle
from tagger_core.listening.fast_forms import FLOAT16, fast_member, read_verdicts
from tagger_core.listening.int8_convs import has_int8_convs
from tagger_core.listening.models.pool_first import fast_variant
from tagger_core.listening.onnx_cache import Reference
from tagger_core.listening.onnx_runner import (
    OnnxMember,
    onnx_member,
    reference_outputs,
    same_outputs,
)
from tagger_core.listening.weights import load_members

log = logging.getLogger(__name__)

AMP_TOLERANCE = 1e-3


class TorchMember:
    """A torch member behind the engine's interface: patches ``[B, frames, mels]`` (float32
    array) → ``{"logits": [B, tags], "embedding": [B, D]}`` float32 arrays.

    ``amp``: run under float16 autocast (CUDA, where the start-up check allowed it).
    """

    def __init__(self, module: Callable, device: torch.device, amp: bool = False) -> None:
        self.module = module
        self.device = device
        self.amp = amp
        self.runtime = "torchscript" if isinstance(module, torch.jit.ScriptModule) else "torch"

    def __call__(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(patches, np.float32))
        x = x.to(self.device, non_blocking=True)
        with torch.inference_mode():
            if self.amp:
                with torch.autocast(device_type=self.device.type, dtype=torch.float16):
                    out = self.module(x)
            else:
                out = self.module(x)
            logits = out["logits"].float().cpu().numpy()
            embedding = out["embedding"].float().flatten(1).cpu().numpy()
        return {"logits": logits, "embedding": embedding}


def as_member(runner: Callable, device: torch.device | str = "cpu") -> Callable:
    """``runner`` (a torch callable or an :class:`OnnxMember`) with the array interface."""
    if isinstance(runner, (OnnxMember, TorchMember)):
        return runner
    return TorchMember(runner, torch.device(device))


def exact_float32(device: torch.device) -> None:
    """Keep float32 convolutions float32 on CUDA.

    PyTorch lets cuDNN use TF32 (a 10-bit mantissa) for float32 convolutions by
    default; measured on an H200 that moves the shipped ensembles' file-level
    probabilities by up to 5e-4 from the CPU's, against 8e-7 with it off, at
    no measurable cost to analysis (which is decode-bound there). Reduced
    precision is the engine's explicit, checked choice (mixed precision), never
    a hidden default.
    """
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False


def _check_amp(model: Callable, sample: torch.Tensor, device: torch.device) -> bool:
    """Use float16 autocast only where it keeps probabilities within ``AMP_TOLERANCE``."""
    if device.type != "cuda":
        return False
    try:
        with torch.inference_mode():
            ref = torch.sigmoid(model(sample)["logits"].float())
            with torch.autocast(device_type="cuda", dtype=torch.float16):
                low = torch.sigmoid(model(sample)["logits"].float())
        return bool((ref - low).abs().max().item() <= AMP_TOLERANCE)
    except RuntimeError:
        return False


def _same(candidate: Callable, sample: np.ndarray, want: Reference, device: torch.device) -> bool:
    """Whether the torch runner ``candidate`` reproduces ``want`` on the check batches."""
    return same_outputs(TorchMember(candidate, device), sample, want)


def optimized_runner(model: nn.Module, sample: np.ndarray, device: torch.device) -> Callable | None:
    """A faster runner for ``model`` that gives the same outputs, or None.

    On a CPU, a float32 member runs in ONNX Runtime when it is installed
    (:mod:`tagger_core.listening.onnx_runner`: the same graph, about half the CPU
    time). Otherwise first an architecture rewrite (:mod:`tagger_core.listening.models.pool_first`).
    Then, on CPU, a frozen TorchScript graph of the rewrite or the member
    (``optimize_for_inference`` fuses conv + ReLU and picks oneDNN kernels: about
    1.6× for the float32 VGG members; for int8 members it removes per-op dispatch,
    about 1.2×), with no compiler needed on the user's machine. Every candidate is
    checked against ``model``'s outputs
    (for ONNX Runtime, those cached with its export); any failure or mismatch
    falls back to the last candidate that matched. An ONNX Runtime runner is an
    :class:`~tagger_core.listening.onnx_runner.OnnxMember`; the others are torch
    callables.
    """
    try:
        if device.type == "cpu" and not has_int8_convs(model):
            onnx = onnx_member(model, sample, torch.get_num_threads())
            if onnx is not None and same_outputs(onnx, sample, onnx.reference):
                return onnx
        want = reference_outputs(model, sample)
        fast = fast_variant(model)
        if fast is not None and not _same(fast, sample, want, device):
            return None
        if device.type != "cpu":
            return fast
        base = fast if fast is not None else model
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript deprecation and tracer notes
            traced = torch.jit.trace(
                copy.deepcopy(base).eval(), torch.from_numpy(sample), strict=False
            )
            frozen = torch.jit.freeze(traced)
            try:
                frozen = torch.jit.optimize_for_inference(frozen)
            except RuntimeError as err:
                log.info("frozen graph without optimize_for_inference: %s", err)
        return frozen if _same(frozen, sample, want, device) else fast
    except Exception as err:  # noqa: BLE001 - tracing can fail in many ways; eager still works
        log.info("keeping eager model: %s", err)
        return None


def prepare_members(
    bundle: Bundle,
    device: str,
    threads: int,
    sample: np.ndarray,
    *,
    optimize: bool,
    mixed_precision: bool,
    fast_forms: bool,
) -> tuple[list[Callable], list[bool], list[bool], list[str]]:
    """``bundle``'s members on ``device``: runners (array interface), mixed precision used,
    optimised, and form per member."""
    dev = torch.device(device)
    exact_float32(dev)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    models = load_members(bundle, dev)
    verdicts = read_verdicts(bundle) if fast_forms else {}
    check = torch.from_numpy(sample).to(dev)
    members: list[Callable] = []
    amp: list[bool] = []
    optimized: list[bool] = []
    forms: list[str] = []
    for name, model in zip(bundle.member_names, models, strict=True):
        model.eval()
        model, form = fast_member(model, verdicts.get(name), dev.type)
        runner = optimized_runner(model, sample, dev) if optimize else None
        optimized.append(runner is not None)
        runner = runner or model
        if isinstance(runner, OnnxMember):
            amp.append(False)
            members.append(runner)
        else:
            amp.append(mixed_precision and _check_amp(runner, check, dev))
            members.append(TorchMember(runner, dev, amp[-1]))
        forms.append(FLOAT16 if amp[-1] else form)
    return members, amp, optimized, forms
