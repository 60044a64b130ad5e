"""A bundle's members made ready to run, and how their patch outputs make a file's.

Why apart from the engine: ``tag`` (:mod:`tagger_core.listening.single_file`) and tools
run prepared ensembles without a library, so this module imports no database code
(SQLAlchemy alone is 0.2 s of every ``tag`` start-up). It imports no torch either: a
member is any callable from float32 patches ``[B, frames, mels]`` to
``{"logits": [B, tags], "embedding": [B, D]}`` float32 arrays.

On a CPU with ONNX Runtime, a bundle whose members were all exported before is
prepared from the ONNX cache's bundle index (:mod:`tagger_core.listening.onnx_cache`)
without torch: every session is still checked against the eager outputs stored with
its export. Otherwise :mod:`tagger_core.listening.torch_members` loads and prepares
the members (and writes the index when they all ended up in ONNX Runtime).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tagger_core.labels.bundles import Bundle
from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.listening import onnx_cache
from tagger_core.listening.fast_forms import FLOAT32, verdict_stamp
from tagger_core.listening.logmel import cut_patches, logmel
from tagger_core.listening.onnx_runner import OPSET, OUTPUTS, cached_member, same_outputs
from tagger_core.listening.onnx_runner import available as onnx_available
from tagger_core.listening.track_patches import PatchLayout

log = logging.getLogger(__name__)

#: what a member is: float32 patches → ``{"logits", "embedding"}`` float32 arrays
Member = Callable[[np.ndarray], dict[str, np.ndarray]]


@dataclass
class Ensemble:
    """A bundle's members ready to run on a device."""

    bundle_id: str
    version: str
    layout: PatchLayout
    member_names: list[str]
    members: list[Member]
    amp: list[bool]
    optimized: list[bool] = field(default_factory=list)
    #: per member: ``float32``, ``int8`` (accepted offline, ``fast_forms.json``) or ``float16``
    forms: list[str] = field(default_factory=list)
    #: whether torch was imported to prepare it (False: from the ONNX cache's bundle index)
    used_torch: bool = True

    @property
    def runtimes(self) -> list[str]:
        """What runs each member: ``onnxruntime``, ``torchscript`` or ``torch``."""
        return [runtime_of(m) for m in self.members]


def runtime_of(member: Callable) -> str:
    return getattr(member, "runtime", "torch")


_CACHE: dict[tuple, Ensemble] = {}
_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()


def prepare_ensemble(
    bundle: Bundle,
    device: str = "cpu",
    *,
    threads: int = 1,
    optimize: bool = True,
    mixed_precision: bool = True,
    fast_forms: bool = True,
) -> Ensemble:
    """Load ``bundle``'s members on ``device`` (a torch device name), optimised where
    outputs stay the same; ``threads``: CPU threads per member.

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
        threads,
        optimize,
        mixed_precision,
        fast_forms and verdict_stamp(bundle),
        onnx_available(),
    )
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        ensemble = _prepare(bundle, str(device), threads, optimize, mixed_precision, fast_forms)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = ensemble
        return ensemble


def check_sample(bundle: Bundle) -> np.ndarray:
    """Patches the start-up checks of rewrites and mixed precision run on (a copy).

    Small, because the checks are part of every start-up, but music-like:
    uniform noise in log-mel space misses the loud, sparse inputs where
    float16 goes wrong. Two synthesised clips through the bundle's own
    frontend, plus one noise patch for inputs no music gives. Made once per
    frontend and patch length (genre and instruments share musicnn's).
    """
    return _check_patches(bundle.frontend_config, bundle.patch_frames).copy()


@functools.lru_cache(maxsize=8)
def _check_patches(config: FrontendConfig, frames: int) -> np.ndarray:
    from tagger_core.library.demo import synthesise  # noqa: PLC0415 - only for start-up checks

    seconds = (frames + 2) * config.hop_length / config.sr
    patches = []
    for seed, style in enumerate(("rock", "strings")):
        clip = synthesise(style, seconds, sr=config.sr, seed=seed).astype(np.float32)
        patches.append(cut_patches(logmel(clip, config), frames)[:1])
    noise = np.random.default_rng(0).random((1, frames, config.n_mels), dtype=np.float32)
    patches.append(noise * np.float32(3.0))
    return np.concatenate(patches).astype(np.float32)


def _index_key(bundle: Bundle, sample: np.ndarray, fast_forms: bool) -> str | None:
    try:
        parts = (f"opset {OPSET}", *OUTPUTS, f"fast_forms {fast_forms}")
        return onnx_cache.bundle_key(bundle, sample, parts)
    except OSError as err:  # an unreadable bundle file: the torch path reports it
        log.info("no ONNX cache index for %s: %s", bundle.id, err)
        return None


def _from_index(bundle: Bundle, key: str, sample: np.ndarray, threads: int) -> list[Member] | None:
    """The bundle's members from the ONNX cache, each checked; None if any is missing or differs."""
    member_keys = onnx_cache.load_index(key)
    if member_keys is None or len(member_keys) != len(bundle.members):
        return None
    members = []
    for name, member_key in zip(bundle.member_names, member_keys, strict=True):
        member = cached_member(member_key, threads)
        if member is None or not same_outputs(member, sample, member.reference):
            log.info(
                "%s/%s: cached ONNX graph missing or not reproducing; using torch", bundle.id, name
            )
            return None
        members.append(member)
    return members


def _prepare(
    bundle: Bundle,
    device: str,
    threads: int,
    optimize: bool,
    mixed_precision: bool,
    fast_forms: bool,
) -> Ensemble:
    layout: PatchLayout = (bundle.frontend_config, bundle.patch_frames, bundle.patch_hop_frames)
    names = list(bundle.member_names)
    sample = check_sample(bundle)
    indexed = device == "cpu" and optimize and onnx_available()
    key = _index_key(bundle, sample, fast_forms) if indexed else None
    members = _from_index(bundle, key, sample, threads) if key else None
    if members is not None:
        n = len(members)
        return Ensemble(
            bundle.id, bundle.version, layout, names, members, [False] * n, [True] * n,
            [FLOAT32] * n, used_torch=False,
        )  # fmt: skip
    from tagger_core.listening.torch_members import prepare_members  # noqa: PLC0415 - torch

    members, amp, optimized, forms = prepare_members(
        bundle, device, threads, sample,
        optimize=optimize, mixed_precision=mixed_precision, fast_forms=fast_forms,
    )  # fmt: skip
    member_keys = [getattr(m, "key", None) for m in members]
    if key and all(member_keys) and all(f == FLOAT32 for f in forms):
        onnx_cache.store_index(key, member_keys)
    return Ensemble(bundle.id, bundle.version, layout, names, members, amp, optimized, forms)


def file_logits(patch_logits: np.ndarray) -> np.ndarray:
    """``logit(mean_p sigmoid(z_p))`` over patches (axis 0), computed stably in log space
    (float64).

    ``log mean sigmoid(z) - log mean sigmoid(-z)``: the ``1/P`` factors cancel, and
    ``log sigmoid(z) = -log(1 + e^-z)``.
    """
    z = np.asarray(patch_logits, dtype=np.float64)
    log_p = -np.logaddexp(0.0, -z)
    log_q = -np.logaddexp(0.0, z)
    return _logsumexp(log_p) - _logsumexp(log_q)


def _logsumexp(x: np.ndarray) -> np.ndarray:
    top = np.max(x, axis=0)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return top + np.log(np.sum(np.exp(x - top), axis=0))
