"""Choosing the torch device and CPU threads for inference.

Order of preference: CUDA, then Apple's MPS, then the CPU. A user (``--device``)
or the ``MUSIC_TAGGER_DEVICE`` environment variable can force one; asking for a
device this machine does not have is a user error, not a silent fallback.

:func:`resolve_device` answers without importing torch (1.2 CPU s) where the answer
can only be the CPU: ``cpu`` asked for, or ``auto`` on a Linux machine with no GPU
device node (``/dev/nvidiactl``, ``/dev/nvidia0``, ``/dev/dxg``, ``/dev/kfd``), where no
CUDA or ROCm build of torch could find a GPU; elsewhere torch decides.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tagger_core.errors import ConfigError

if TYPE_CHECKING:
    import torch

DEVICE_ENV = "MUSIC_TAGGER_DEVICE"
THREADS_ENV = "MUSIC_TAGGER_THREADS"
_CHOICES = "auto, cpu, cuda, cuda:N or mps"


#: device nodes a CUDA (NVIDIA, WSL) or ROCm GPU shows on Linux
GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg", "/dev/kfd")


def _gpu_possible() -> bool:
    """False only where no torch build could find a GPU (Linux without GPU device nodes)."""
    if not sys.platform.startswith("linux"):
        return True
    return any(Path(node).exists() for node in GPU_NODES)


def _wanted(preference: str | None) -> str:
    return (preference or os.environ.get(DEVICE_ENV) or "auto").strip().lower()


def resolve_device(preference: str | None = None) -> str:
    """:func:`pick_device`'s answer as a name (``cpu``, ``cuda:0``…), without torch where
    it can only be ``cpu``."""
    wanted = _wanted(preference)
    if wanted == "cpu" or (wanted == "auto" and not _gpu_possible()):
        return "cpu"
    return str(pick_device(wanted))


def _mps_available() -> bool:
    import torch  # noqa: PLC0415 - see resolve_device

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Device kinds usable here, best first (``cpu`` is always last)."""
    import torch  # noqa: PLC0415 - see resolve_device

    kinds = []
    if torch.cuda.is_available():
        kinds.append("cuda")
    if _mps_available():
        kinds.append("mps")
    kinds.append("cpu")
    return kinds


def pick_device(preference: str | None = None) -> torch.device:
    """The device to run models on.

    ``preference`` (or ``$MUSIC_TAGGER_DEVICE`` when it is ``None``) may be
    ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    """
    import torch  # noqa: PLC0415 - see resolve_device

    wanted = _wanted(preference)
    if wanted == "auto":
        return torch.device(available_devices()[0])
    try:
        device = torch.device(wanted)
    except (RuntimeError, ValueError):
        raise ConfigError(f"unknown device {wanted!r} (use {_CHOICES})") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' requested but no CUDA GPU is available here")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise ConfigError(f"device {wanted!r} requested but only {count} CUDA GPU(s) exist")
        return device
    if device.type == "mps":
        if not _mps_available():
            raise ConfigError("device 'mps' requested but Apple MPS is not available here")
        return device
    raise ConfigError(f"unsupported device {wanted!r} (use {_CHOICES})")


def default_threads() -> int:
    """CPU threads for torch: ``$MUSIC_TAGGER_THREADS`` or the usable core count."""
    env = os.environ.get(THREADS_ENV)
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ConfigError(f"{THREADS_ENV} must be a whole number, not {env!r}") from None
        if value < 1:
            raise ConfigError(f"{THREADS_ENV} must be at least 1")
        return value
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def thread_count(threads: int | None) -> int:
    """CPU threads per member: ``threads``, else :func:`default_threads` (checked)."""
    count = default_threads() if threads is None else int(threads)
    if count < 1:
        raise ConfigError("--threads must be at least 1")
    return count


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (``None``: :func:`default_threads`); return the count."""
    import torch  # noqa: PLC0415 - see resolve_device

    count = thread_count(threads)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
