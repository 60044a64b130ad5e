"""Run a float32 member with ONNX Runtime on the CPU: the same numbers, about 1.7-2x cheaper.

Why: per patch, PyTorch's CPU kernels for musicnn's wide convolutions and the
VGG stacks cost as much as the original TensorFlow graphs (docs/analysis.md);
ONNX Runtime's CPU kernels run the very same float32 graph in about half the
CPU time (measured 1.7-1.95x against the engine's own optimised TorchScript
runners, largest logit difference 6e-6). Nothing is approximated, so no offline
verdict is needed: the engine still checks the runner's logits and embeddings
against the eager model on its start-up patches and keeps PyTorch on any
mismatch. ``onnxruntime`` is an optional dependency (``pip install
music-archive-tagger[fast]``); without it, or with ``MUSIC_TAGGER_ONNXRUNTIME=0``,
the members run in PyTorch as before.

Exports are cached on disk with the eager outputs they were checked against
(:mod:`tagger_core.listening.onnx_cache`), so a later start-up neither exports
(nor imports ``onnx``) nor runs the eager member. Sessions do not spin: ONNX
Runtime's intra-op threads otherwise busy-wait between operators, which cost
about 10 % more CPU per patch on 2 threads for no gain in wall time
(docs/analysis.md). And every session of a process allocates from one shared CPU
arena: with an arena per session, each of a run's 8 members kept its own peak
(3.2 GB resident for ``tag``'s three bundles) and touched it page by page, which
cost more system CPU time than the models' arithmetic in a short run.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import warnings
from typing import TYPE_CHECKING

import numpy as np

from tagger_core.listening import onnx_cache
from tagger_core.listening.onnx_cache import OUTPUTS, Entry, Reference

if TYPE_CHECKING:
    from torch import nn

#: absolute and relative tolerance of a runner's outputs against the eager member's
OPTIMIZE_TOLERANCE = (1e-4, 1e-4)

log = logging.getLogger(__name__)

ENV_SWITCH = "MUSIC_TAGGER_ONNXRUNTIME"
#: the exporter's opset (pinned: it is part of the cache key)
OPSET = 20
#: session option that stops idle intra-op threads from busy-waiting
NO_SPINNING = ("session.intra_op.allow_spinning", "0")
#: session option that makes a session allocate from the process-wide arena
SHARED_ARENA = ("session.use_env_allocators", "1")
#: exports made by this process (the cache's effect is observable through it)
exports = 0
_arena_registered: bool | None = None
_arena_lock = threading.Lock()


def available() -> bool:
    """Whether ONNX Runtime is installed and not switched off by ``MUSIC_TAGGER_ONNXRUNTIME=0``."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "no", "off", "false"):
        return False
    try:
        import onnxruntime  # noqa: F401, PLC0415 - optional
    except ImportError:
        return False
    return True


def check_batches(sample: np.ndarray) -> list[np.ndarray]:
    """The batches every runner is compared with the eager member on: two batch sizes."""
    return [sample, sample[: max(1, sample.shape[0] // 2)]]


def same_outputs(runner, sample: np.ndarray, want: Reference) -> bool:
    """Whether ``runner`` (a member callable) reproduces ``want`` on the check batches."""
    atol, rtol = OPTIMIZE_TOLERANCE
    for batch, expected in zip(check_batches(sample), want, strict=True):
        got = runner(batch)
        for key in OUTPUTS:
            a, b = np.asarray(got[key]), np.asarray(expected[key])
            if a.shape != b.shape or not np.allclose(a, b, atol=atol, rtol=rtol):
                return False
    return True


class OnnxMember:
    """A member callable: patches ``[B, frames, mels]`` → ``{"logits", "embedding"}`` arrays.

    ``reference`` holds the eager member's outputs on the check batches, which this
    runner must reproduce before it is used.
    """

    runtime = "onnxruntime"

    def __init__(self, session, reference: Reference) -> None:  # an onnxruntime.InferenceSession
        self.session = session
        self.reference = reference
        #: the cache entry it came from or went to (None: not cached)
        self.key: str | None = None

    def __call__(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        feed = {"patches": np.ascontiguousarray(patches, np.float32)}
        logits, embedding = self.session.run(list(OUTPUTS), feed)
        return {"logits": logits, "embedding": embedding.reshape(len(embedding), -1)}


def _shared_arena() -> bool:
    """Register one CPU arena for every session of this process (once); False if refused."""
    global _arena_registered
    import onnxruntime as ort  # noqa: PLC0415 - optional

    with _arena_lock:
        if _arena_registered is None:
            try:
                kind = ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR
                info = ort.OrtMemoryInfo("Cpu", kind, 0, ort.OrtMemType.DEFAULT)
                ort.create_and_register_allocator(info, None)
                _arena_registered = True
            except Exception as err:  # noqa: BLE001 - older runtimes lack it: arena per session
                log.info("ONNX Runtime sessions keep their own memory arenas: %s", err)
                _arena_registered = False
        return _arena_registered


def session_options(threads: int):  # an onnxruntime.SessionOptions
    """CPU session options: ``threads`` intra-op threads that do not spin, the process's
    shared memory arena, errors only."""
    import onnxruntime as ort  # noqa: PLC0415 - optional

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.add_session_config_entry(*NO_SPINNING)
    if _shared_arena():
        options.add_session_config_entry(*SHARED_ARENA)
    options.log_severity_level = 3  # errors only
    return options


def _session(graph: bytes, threads: int):  # an onnxruntime.InferenceSession
    import onnxruntime as ort  # noqa: PLC0415 - optional

    return ort.InferenceSession(graph, session_options(threads), providers=["CPUExecutionProvider"])


def reference_outputs(model: nn.Module, sample: np.ndarray) -> Reference:
    """The eager member's logits and embedding on each check batch (float32 arrays)."""
    import torch  # noqa: PLC0415 - only where members are built

    param = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
    device = param.device if param is not None else torch.device("cpu")
    out: Reference = []
    with torch.inference_mode():
        for batch in check_batches(sample):
            got = model(torch.from_numpy(batch).to(device))
            logits, embedding = got["logits"].float().cpu(), got["embedding"].float().flatten(1)
            out.append(
                {"logits": logits.numpy().copy(), "embedding": embedding.cpu().numpy().copy()}
            )
    return out


def _export(model: nn.Module, sample: np.ndarray) -> bytes:
    """The float32 eager ``model`` as an ONNX graph with a free batch size."""
    import torch  # noqa: PLC0415 - only where members are built

    class Outputs(torch.nn.Module):
        """The member's output dict as a tuple, which is what an ONNX graph returns."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = self.model(patches)
            return out["logits"], out["embedding"]

    global exports
    exports += 1
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter notes about traced Python branches
        torch.onnx.export(
            Outputs().eval(),
            (torch.from_numpy(sample),),
            buffer,
            input_names=["patches"],
            output_names=list(OUTPUTS),
            opset_version=OPSET,
            dynamic_axes={name: {0: "batch"} for name in ("patches", *OUTPUTS)},
            dynamo=False,
        )
    return buffer.getvalue()


def _cache_key(model: nn.Module, sample: np.ndarray) -> str | None:
    try:
        return onnx_cache.entry_key(model, sample, (f"opset {OPSET}", *OUTPUTS))
    except Exception as err:  # noqa: BLE001 - an odd state dict only costs the cache
        log.info("ONNX export not cached: %s", err)
        return None


def onnx_member(model: nn.Module, sample: np.ndarray, threads: int) -> OnnxMember | None:
    """``model`` in an ONNX Runtime CPU session with ``threads`` intra-op threads, or None.

    The graph and the eager outputs on ``sample``'s check batches come from the
    on-disk cache when an entry for this member, these patches and this code
    exists; otherwise the float32 eager model is exported in memory (batch size
    free), its outputs computed, and both stored. Any failure gives None and a log
    line; the caller compares outputs with ``reference`` before using it.
    """
    if not available():
        return None
    key = _cache_key(model, sample)
    member = cached_member(key, threads) if key else None
    if member is not None:
        return member
    try:
        # the exact pool-first rewrite where there is one (~10 % less CPU for musicnn in
        # ONNX Runtime); checked, like any graph, against the eager model's outputs
        from tagger_core.listening.models.pool_first import fast_variant  # noqa: PLC0415

        graph = _export(fast_variant(model) or model, sample)
        entry = Entry(graph, reference_outputs(model, sample))
        member = OnnxMember(_session(entry.graph, threads), entry.reference)
    except Exception as err:  # noqa: BLE001 - export and session creation fail in many ways
        log.info("keeping PyTorch for this member: ONNX Runtime form failed: %s", err)
        return None
    if key:
        onnx_cache.store(key, entry)
    member.key = key
    return member


def cached_member(key: str, threads: int) -> OnnxMember | None:
    """The member stored under ``key`` in a session, or None (no entry, or it does not load)."""
    entry = onnx_cache.load(key)
    if entry is None:
        return None
    try:
        member = OnnxMember(_session(entry.graph, threads), entry.reference)
    except Exception as err:  # noqa: BLE001 - a damaged graph fails in many ways
        log.warning("ignoring ONNX cache entry that does not load: %s", err)
        return None
    member.key = key
    return member
