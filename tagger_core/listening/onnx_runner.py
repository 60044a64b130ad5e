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
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

OUTPUTS = ("logits", "embedding")
ENV_SWITCH = "MUSIC_TAGGER_ONNXRUNTIME"


class _Outputs(nn.Module):
    """The member's output dict as a tuple, which is what an ONNX graph returns."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(patches)
        return out["logits"], out["embedding"]


def available() -> bool:
    """Whether ONNX Runtime is installed and not switched off by ``MUSIC_TAGGER_ONNXRUNTIME=0``."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "no", "off", "false"):
        return False
    try:
        import onnxruntime  # noqa: F401, PLC0415 - optional
    except ImportError:
        return False
    return True


class OnnxMember:
    """A callable with a member's interface (patches → ``{"logits", "embedding"}``)."""

    def __init__(self, session) -> None:  # an onnxruntime.InferenceSession
        self.session = session

    def __call__(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        feed = {"patches": np.ascontiguousarray(patches.detach().cpu().numpy(), np.float32)}
        logits, embedding = self.session.run(list(OUTPUTS), feed)
        return {"logits": torch.from_numpy(logits), "embedding": torch.from_numpy(embedding)}


def onnx_member(model: nn.Module, sample: torch.Tensor, threads: int) -> Callable | None:
    """``model`` exported to ONNX and loaded in an ONNX Runtime CPU session, or None.

    The graph is exported in memory from the float32 eager model (batch size
    free) and run with ``threads`` intra-op threads. Any failure gives None and
    a log line; the caller compares outputs before using it.
    """
    if not available():
        return None
    import onnxruntime as ort  # noqa: PLC0415 - optional

    try:
        buffer = io.BytesIO()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # exporter notes about traced Python branches
            torch.onnx.export(
                _Outputs(model).eval(),
                (sample.cpu(),),
                buffer,
                input_names=["patches"],
                output_names=list(OUTPUTS),
                dynamic_axes={name: {0: "batch"} for name in ("patches", *OUTPUTS)},
                dynamo=False,
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        session = ort.InferenceSession(
            buffer.getvalue(), options, providers=["CPUExecutionProvider"]
        )
        return OnnxMember(session)
    except Exception as err:  # noqa: BLE001 - export and session creation fail in many ways
        log.info("keeping PyTorch for this member: ONNX Runtime form failed: %s", err)
        return None
