"""On-disk cache of members exported to ONNX, with the eager outputs they were checked against.

Why: exporting a member costs 0.1-1 s (and importing ``onnx``, 0.5 s), and checking
ONNX Runtime's outputs against the eager member ran the eager member too — at every
start-up. An entry holds the exported graph and the eager member's logits and
embeddings on the start-up check batches, computed once when the entry is made; a
later start-up loads the graph and compares ONNX Runtime's outputs with those.

The key is a sha256 over everything the graph and the reference depend on: the
member's weights and buffers, the check patches, the torch version, the ONNX opset
and the source of the exporting code and of the member's architecture modules, so a
change to any of them makes a new entry. Entries are written atomically (temporary
file, fsync, rename); an unreadable, corrupt or unwritable cache is logged and
ignored, and the export then happens in memory as without a cache.

Location: ``onnx/`` in the user cache folder, or under ``$MUSIC_TAGGER_CACHE_DIR``.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

CACHE_ENV = "MUSIC_TAGGER_CACHE_DIR"
APP_NAME = "music-archive-tagger"  # as tagger_core.db.location names the user folders
_SUFFIX = ".npz"
#: what a member returns, and what an entry stores per check batch
OUTPUTS = ("logits", "embedding")

#: per check batch: ``{"logits": …, "embedding": …}`` of the eager member
Reference = list[dict[str, torch.Tensor]]


@dataclass
class Entry:
    """A cached export: the ONNX graph and the eager outputs it must reproduce."""

    graph: bytes
    reference: Reference


def cache_dir() -> Path:
    """``$MUSIC_TAGGER_CACHE_DIR/onnx`` if set, else ``onnx`` in the user cache folder."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override) / "onnx"
    from platformdirs import user_cache_path  # noqa: PLC0415 - only where a cache is used

    return user_cache_path(APP_NAME, appauthor=False) / "onnx"


def _tensor_bytes(tensor: torch.Tensor) -> memoryview:
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    return memoryview(flat.view(torch.uint8).numpy())


def _source_files(model: nn.Module) -> list[Path]:
    """This package's files that define the member's modules and that export it."""
    here = Path(__file__)
    files = {here, here.with_name("onnx_runner.py"), here.parent / "models" / "pool_first.py"}
    for module in model.modules():
        if type(module).__module__.startswith("tagger_core."):
            files.add(Path(inspect.getfile(type(module))))
    return sorted(files)


def entry_key(model: nn.Module, sample: torch.Tensor, parts: Iterable[str]) -> str:
    """The sha256 naming ``model``'s entry for check patches ``sample``.

    ``parts`` are the exporter's own settings (opset, output names).
    """
    digest = hashlib.sha256()
    for part in (torch.__version__, *parts):
        digest.update(part.encode() + b"\0")
    for path in _source_files(model):
        digest.update(path.read_bytes() + b"\0")
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(_tensor_bytes(tensor))
    digest.update(f"sample|{sample.dtype}|{tuple(sample.shape)}".encode())
    digest.update(_tensor_bytes(sample))
    return digest.hexdigest()


def entry_path(key: str) -> Path:
    return cache_dir() / f"{key}{_SUFFIX}"


def load(key: str) -> Entry | None:
    """The entry stored under ``key``, or None (missing, or unreadable: logged)."""
    path = entry_path(key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                raise ValueError("it was stored under another key")
            count = int(data["batches"])
            reference = [
                {out: torch.from_numpy(data[f"ref{i}_{out}"].copy()) for out in OUTPUTS}
                for i in range(count)
            ]
            return Entry(data["graph"].tobytes(), reference)
    except Exception as err:  # noqa: BLE001 - a damaged zip or array fails in many ways
        log.warning("ignoring unreadable ONNX cache entry %s: %s", path, err)
        return None


def store(key: str, entry: Entry) -> bool:
    """Write ``entry`` under ``key`` atomically; False (logged) where the cache is unwritable."""
    folder = cache_dir()
    arrays: dict[str, np.ndarray] = {
        "key": np.array(key),
        "batches": np.array(len(entry.reference)),
        "graph": np.frombuffer(entry.graph, dtype=np.uint8),
    }
    for i, outputs in enumerate(entry.reference):
        for out, tensor in outputs.items():
            arrays[f"ref{i}_{out}"] = tensor.detach().cpu().numpy()
    tmp: str | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key[:16]}-", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, entry_path(key))
        tmp = None
        return True
    except OSError as err:
        log.warning("ONNX cache not written in %s: %s", folder, err)
        return False
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
