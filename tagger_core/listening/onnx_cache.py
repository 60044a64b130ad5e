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

A bundle index (``bundle-<key>.json``) lists the entries of a bundle whose every
member runs in ONNX Runtime. Its key is computed without torch, from the bundle's
files (manifest, weights, verdicts), the check patches, the installed torch version
and the source of the code that builds and exports members, so a CPU start-up with
a warm cache finds its members' graphs without importing torch (1.2 CPU s); it still
compares every session's outputs with the stored eager ones before using it.

Location: ``onnx/`` in the user cache folder, or under ``$MUSIC_TAGGER_CACHE_DIR``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from tagger_core.labels.bundles import MANIFEST, Bundle, sha256_of
from tagger_core.listening.fast_forms import verdict_path

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)

CACHE_ENV = "MUSIC_TAGGER_CACHE_DIR"
APP_NAME = "music-archive-tagger"  # as tagger_core.db.location names the user folders
_SUFFIX = ".npz"
_INDEX_PREFIX = "bundle-"
#: what a member returns, and what an entry stores per check batch
OUTPUTS = ("logits", "embedding")

#: per check batch: ``{"logits": …, "embedding": …}`` of the eager member (float32 arrays)
Reference = list[dict[str, np.ndarray]]


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
    import torch  # noqa: PLC0415 - only where members are built

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


def entry_key(model: nn.Module, sample: np.ndarray, parts: Iterable[str]) -> str:
    """The sha256 naming ``model``'s entry for check patches ``sample``.

    ``parts`` are the exporter's own settings (opset, output names).
    """
    import torch  # noqa: PLC0415 - only where members are built

    digest = hashlib.sha256()
    for part in (torch.__version__, *parts):
        digest.update(part.encode() + b"\0")
    for path in _source_files(model):
        digest.update(path.read_bytes() + b"\0")
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(_tensor_bytes(tensor))
    digest.update(f"sample|{sample.dtype}|{tuple(sample.shape)}".encode())
    digest.update(np.ascontiguousarray(sample).tobytes())
    return digest.hexdigest()


def _torch_version() -> str:
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "none"


def _builder_sources() -> list[Path]:
    """Source of the code that builds, converts and exports members (any change: new index)."""
    here = Path(__file__).parent
    return sorted([*here.glob("*.py"), *(here / "models").rglob("*.py")])


def bundle_key(bundle: Bundle, sample: np.ndarray, parts: Iterable[str]) -> str:
    """The sha256 naming ``bundle``'s index, computed without torch.

    Covers the manifest, every weights file's bytes (a replaced file is a new key, and
    the torch path then checks it against the manifest), the fast-form verdicts, the
    check patches, the installed torch version, ``parts`` (exporter settings and the
    options that decide member forms) and the listening code's source.
    """
    digest = hashlib.sha256()
    for part in (_torch_version(), *parts):
        digest.update(part.encode() + b"\0")
    digest.update((bundle.path / MANIFEST).read_bytes() + b"\0")
    for spec in bundle.members:
        digest.update(sha256_of(bundle.path / spec.weights).encode() + b"\0")
    verdicts = verdict_path(bundle)
    digest.update(verdicts.read_bytes() if verdicts.is_file() else b"no verdicts")
    for path in _builder_sources():
        digest.update(path.read_bytes() + b"\0")
    digest.update(f"sample|{sample.dtype}|{tuple(sample.shape)}".encode())
    digest.update(np.ascontiguousarray(sample).tobytes())
    return digest.hexdigest()


def index_path(key: str) -> Path:
    return cache_dir() / f"{_INDEX_PREFIX}{key}.json"


def load_index(key: str) -> list[str] | None:
    """The member entry keys the bundle index ``key`` lists, or None (missing or unreadable)."""
    path = index_path(key)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["key"] != key or not all(isinstance(k, str) for k in data["members"]):
            raise ValueError("it was stored under another key")
        return list(data["members"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("ignoring unreadable ONNX cache index %s: %s", path, err)
        return None


def store_index(key: str, member_keys: list[str]) -> bool:
    """Write the bundle index ``key`` atomically; False (logged) where the cache is unwritable."""
    text = json.dumps({"key": key, "members": member_keys}).encode()
    return _write_atomic(index_path(key), lambda fh: fh.write(text))


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
                {out: data[f"ref{i}_{out}"].copy() for out in OUTPUTS} for i in range(count)
            ]
            return Entry(data["graph"].tobytes(), reference)
    except Exception as err:  # noqa: BLE001 - a damaged zip or array fails in many ways
        log.warning("ignoring unreadable ONNX cache entry %s: %s", path, err)
        return None


def store(key: str, entry: Entry) -> bool:
    """Write ``entry`` under ``key`` atomically; False (logged) where the cache is unwritable."""
    arrays: dict[str, np.ndarray] = {
        "key": np.array(key),
        "batches": np.array(len(entry.reference)),
        "graph": np.frombuffer(entry.graph, dtype=np.uint8),
    }
    for i, outputs in enumerate(entry.reference):
        for out, array in outputs.items():
            arrays[f"ref{i}_{out}"] = np.asarray(array)
    return _write_atomic(entry_path(key), lambda fh: np.savez(fh, **arrays))


def _write_atomic(path: Path, write: Callable[[IO[bytes]], object]) -> bool:
    """``write`` into a temporary file beside ``path``, fsync, rename; False (logged) on failure."""
    folder = path.parent
    tmp: str | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.stem[:24]}-", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
        return True
    except OSError as err:
        log.warning("ONNX cache not written in %s: %s", folder, err)
        return False
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
