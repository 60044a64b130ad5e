"""Choosing the torch device and CPU threads for inference.

Order of preference: CUDA, then Apple's MPS, then the CPU. A user (``--device``)
or the ``MUSIC_TAGGER_DEVICE`` environment variable can force one; asking for a
device this machine does not have is a user error, not a silent fallback.
"""

from __future__ import annotations

import os

import torch

from tagger_core.errors import ConfigError

DEVICE_ENV = "MUSIC_TAGGER_DEVICE"
THREADS_ENV = "MUSIC_TAGGER_THREADS"
_CHOICES = "auto, cpu, cuda, cuda:N or mps"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Device kinds usable here, best first (``cpu`` is always last)."""
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
    wanted = (preference or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
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


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (``None``: :func:`default_threads`); return the count."""
    count = default_threads() if threads is None else int(threads)
    if count < 1:
        raise ConfigError("--threads must be at least 1")
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
