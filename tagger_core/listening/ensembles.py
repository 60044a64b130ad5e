"""A bundle's members made ready to run, and how their patch outputs make a file's.

Why apart from the engine: ``tag`` (:mod:`tagger_core.listening.single_file`) and tools
run prepared ensembles without a library, so this module imports no database code
(SQLAlchemy alone is 0.2 s of every ``tag`` start-up).

Preparing a member: load it, use its offline-accepted cheaper form if any
(:mod:`tagger_core.listening.fast_forms`), then the fastest runner that reproduces its
outputs on the start-up check patches (ONNX Runtime, exact rewrites, a frozen graph),
and float16 only where that keeps probabilities within ``AMP_TOLERANCE``.
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from tagger_core.labels.bundles import Bundle
from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.listening.fast_forms import FLOAT16, fast_member, read_verdicts, verdict_stamp
from tagger_core.listening.frontend import LogMelFrontend, make_patches
from tagger_core.listening.int8_convs import has_int8_convs
from tagger_core.listening.models.pool_first import fast_variant
from tagger_core.listening.onnx_cache import Reference
from tagger_core.listening.onnx_runner import (
    OnnxMember,
    check_batches,
    onnx_member,
    reference_outputs,
)
from tagger_core.listening.onnx_runner import available as onnx_available
from tagger_core.listening.track_patches import PatchLayout
from tagger_core.listening.weights import load_members

log = logging.getLogger(__name__)

AMP_TOLERANCE = 1e-3
OPTIMIZE_TOLERANCE = 1e-4


@dataclass
class Ensemble:
    """A bundle's members ready to run on a device."""

    bundle_id: str
    version: str
    layout: PatchLayout
    member_names: list[str]
    members: list[Callable[[torch.Tensor], dict[str, torch.Tensor]]]
    amp: list[bool]
    optimized: list[bool] = field(default_factory=list)
    #: per member: ``float32``, ``int8`` (accepted offline, ``fast_forms.json``) or ``float16``
    forms: list[str] = field(default_factory=list)

    @property
    def runtimes(self) -> list[str]:
        """What runs each member: ``onnxruntime``, ``torchscript`` or ``torch``."""
        return [runtime_of(m) for m in self.members]


def runtime_of(member: Callable) -> str:
    if isinstance(member, OnnxMember):
        return "onnxruntime"
    if isinstance(member, torch.jit.ScriptModule):
        return "torchscript"
    return "torch"


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


def _same_outputs(candidate: Callable, sample: torch.Tensor, want: Reference) -> bool:
    """Whether ``candidate`` reproduces ``want`` (the eager member's logits and embedding on
    the check batches of ``sample``)."""
    with torch.inference_mode():
        for batch, expected in zip(check_batches(sample), want, strict=True):
            got = candidate(batch)
            for key in ("logits", "embedding"):
                if not torch.allclose(got[key], expected[key], atol=OPTIMIZE_TOLERANCE, rtol=1e-4):
                    return False
    return True


def optimized_runner(
    model: nn.Module, sample: torch.Tensor, device: torch.device
) -> Callable | None:
    """A faster runner for ``model`` that gives the same outputs, or None.

    On a CPU, a float32 member runs in ONNX Runtime when it is installed
    (:mod:`tagger_core.listening.onnx_runner`: the same graph, about half the CPU
    time). Otherwise first an architecture rewrite (:mod:`tagger_core.listening.models.pool_first`).
    Then, on CPU, a frozen TorchScript graph (``optimize_for_inference`` fuses
    conv + ReLU and picks oneDNN kernels: about 1.6× for the float32 VGG
    members; for int8 members it removes per-op dispatch, about 1.2×), with no
    compiler needed on the user's machine. A float32 rewrite is not frozen
    (measured no gain). Every candidate is checked against ``model``'s outputs
    (for ONNX Runtime, those cached with its export); any failure or mismatch
    falls back to the last candidate that matched.
    """
    try:
        if device.type == "cpu" and not has_int8_convs(model):
            onnx = onnx_member(model, sample, torch.get_num_threads())
            if onnx is not None and _same_outputs(onnx, sample, onnx.reference):
                return onnx
        want = reference_outputs(model, sample)
        fast = fast_variant(model)
        if fast is not None and not _same_outputs(fast, sample, want):
            return None
        if device.type != "cpu" or (fast is not None and not has_int8_convs(model)):
            return fast
        base = fast if fast is not None else model
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript deprecation and tracer notes
            traced = torch.jit.trace(copy.deepcopy(base).eval(), sample, strict=False)
            frozen = torch.jit.freeze(traced)
            try:
                frozen = torch.jit.optimize_for_inference(frozen)
            except RuntimeError as err:
                log.info("frozen graph without optimize_for_inference: %s", err)
        return frozen if _same_outputs(frozen, sample, want) else fast
    except Exception as err:  # noqa: BLE001 - tracing can fail in many ways; eager still works
        log.info("keeping eager model: %s", err)
        return None


_CACHE: dict[tuple, Ensemble] = {}
_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()


def prepare_ensemble(
    bundle: Bundle,
    device: torch.device,
    *,
    optimize: bool = True,
    mixed_precision: bool = True,
    fast_forms: bool = True,
) -> Ensemble:
    """Load ``bundle``'s members on ``device``, optimised where outputs stay the same.

    With ``fast_forms``, a member whose cheaper form (int8 convolutions) the
    offline check accepted runs in that form (:mod:`tagger_core.listening.fast_forms`).
    Prepared ensembles are cached (a few, keyed by bundle folder, version and
    options) because loading, checking and optimising members takes seconds,
    and a GUI analyses in many small runs.
    """
    key = (
        str(bundle.path),
        bundle.id,
        bundle.version,
        str(device),
        optimize,
        mixed_precision,
        fast_forms and verdict_stamp(bundle),
        onnx_available(),
    )
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        ensemble = _prepare(bundle, device, optimize, mixed_precision, fast_forms)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = ensemble
        return ensemble


def check_sample(bundle: Bundle) -> torch.Tensor:
    """Patches the start-up checks of rewrites and mixed precision run on.

    Small, because the checks are part of every start-up, but music-like:
    uniform noise in log-mel space misses the loud, sparse inputs where
    float16 goes wrong. Two synthesised clips through the bundle's own
    frontend, plus one noise patch for inputs no music gives. Made once per
    frontend and patch length (genre and instruments share musicnn's).
    """
    return _check_patches(bundle.frontend_config, bundle.patch_frames).clone()


@functools.lru_cache(maxsize=8)
def _check_patches(config: FrontendConfig, frames: int) -> torch.Tensor:
    from tagger_core.library.demo import synthesise

    seconds = (frames + 2) * config.hop_length / config.sr
    frontend = LogMelFrontend(config)
    patches = []
    for seed, style in enumerate(("rock", "strings")):
        clip = synthesise(style, seconds, sr=config.sr, seed=seed).astype("float32")
        audio = torch.from_numpy(clip)
        with torch.inference_mode():
            patches.append(make_patches(frontend(audio), frames)[:1])
    gen = torch.Generator().manual_seed(0)
    patches.append(torch.rand((1, frames, config.n_mels), generator=gen).mul_(3.0))
    return torch.cat(patches).float()


def _prepare(
    bundle: Bundle, device: torch.device, optimize: bool, mixed_precision: bool, fast_forms: bool
) -> Ensemble:
    layout: PatchLayout = (bundle.frontend_config, bundle.patch_frames, bundle.patch_hop_frames)
    models = load_members(bundle, device)
    sample = check_sample(bundle).to(device)
    verdicts = read_verdicts(bundle) if fast_forms else {}
    members: list[Callable] = []
    amp: list[bool] = []
    optimized: list[bool] = []
    forms: list[str] = []
    for name, model in zip(bundle.member_names, models, strict=True):
        model.eval()
        model, form = fast_member(model, verdicts.get(name), device.type)
        runner = optimized_runner(model, sample, device) if optimize else None
        optimized.append(runner is not None)
        runner = runner or model
        members.append(runner)
        amp.append(mixed_precision and _check_amp(runner, sample, device))
        forms.append(FLOAT16 if amp[-1] else form)
    names = list(bundle.member_names)
    return Ensemble(bundle.id, bundle.version, layout, names, members, amp, optimized, forms)


def file_logits(patch_logits: torch.Tensor) -> torch.Tensor:
    """``logit(mean_p sigmoid(z_p))`` over patches (dim 0), computed stably in log space.

    ``log mean sigmoid(z) - log mean sigmoid(-z)``: the ``1/P`` factors cancel.
    """
    z = patch_logits.double()
    return torch.logsumexp(F.logsigmoid(z), 0) - torch.logsumexp(F.logsigmoid(-z), 0)
