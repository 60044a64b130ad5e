"""Run model bundles over single audio files, with no database: ``music-tagger tag``.

Why here: the shortest path from a file to model outputs, for the ``tag`` command and
for tools. A file is heard exactly as ``analyze`` hears a library track: the same
patch sampling (:func:`tagger_core.listening.track_patches.prepare_track`, up to
``max_patches`` patches, evenly spread windows beyond) and the same per-member
averaging (:func:`tagger_core.listening.ensembles.file_logits`).

Per-file aggregation (AM'23): each member's patch probabilities are averaged
over the file's patches, and the members' file probabilities are averaged over
the ensemble; the result is returned both as probabilities and as logits
(``log p − log(1 − p)``) so that taxonomy rules, which work on logits, can be
applied to it. Per-patch, per-member logits are kept too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tagger_core.errors import DecodeError
from tagger_core.labels.bundles import Bundle
from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.listening.decode import probe_duration
from tagger_core.listening.device import resolve_device, thread_count
from tagger_core.listening.ensembles import file_logits, prepare_ensemble
from tagger_core.listening.logmel import cut_patches, logmel
from tagger_core.listening.track_patches import PatchJob, PatchLayout, PreparedTrack, prepare_track

_EPS = 1e-7


def probability_to_logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


@dataclass
class FileOutputs:
    """One bundle's outputs for one file."""

    bundle_id: str
    raw_labels: tuple[str, ...]
    patch_logits: np.ndarray  # [members, patches, raw tags]
    probabilities: np.ndarray  # [raw tags], patch- then member-averaged
    logits: np.ndarray  # [raw tags], logit of ``probabilities``
    seconds_analysed: float


class BundleRunner:
    """A loaded bundle ready to tag audio on one device.

    Its members are the engine's prepared ones (``ensembles.prepare_ensemble``: ONNX
    Runtime or other exact rewrites, checked against the eager members; float32), so a
    file gets the numbers ``analyze`` stores, at the engine's cost per patch. ``device``:
    a torch device name or ``auto``; ``threads``: CPU threads per member (default: the
    usable cores).
    """

    def __init__(
        self, bundle: Bundle, device: str = "cpu", batch_size: int = 16, threads: int | None = None
    ) -> None:
        self.bundle = bundle
        self.device = resolve_device(str(device))
        self.batch_size = batch_size
        self.models = prepare_ensemble(
            bundle, self.device, threads=thread_count(threads), mixed_precision=False
        ).members

    @property
    def frontend_config(self) -> FrontendConfig:
        return self.bundle.frontend_config

    def patches(self, chunks: Sequence[np.ndarray]) -> np.ndarray:
        """Patches of every decoded chunk, concatenated ``[P, frames, mels]``."""
        config, frames, hop = self.layout
        parts = [cut_patches(logmel(chunk, config), frames, hop) for chunk in chunks if chunk.size]
        if not parts:
            return np.zeros((0, frames, config.n_mels), np.float32)
        return np.concatenate(parts)

    def patch_logits(self, patches: np.ndarray) -> np.ndarray:
        """Logits of every member on every patch: ``[members, P, raw tags]``."""
        out = []
        for model in self.models:
            batches = [
                model(patches[i : i + self.batch_size])["logits"]
                for i in range(0, len(patches), self.batch_size)
            ]
            out.append(np.concatenate(batches))
        return np.stack(out)

    @property
    def layout(self) -> PatchLayout:
        """What this bundle's input depends on (frontend, patch frames, patch hop)."""
        return (self.frontend_config, self.bundle.patch_frames, self.bundle.patch_hop_frames)

    def run_patches(self, patches: np.ndarray, seconds: float) -> FileOutputs:
        """Outputs of this bundle on one file's ``patches`` (``seconds`` of audio heard)."""
        if len(patches) == 0:
            raise DecodeError("no audio to analyse")
        logits = self.patch_logits(patches)
        member_logits = np.stack([file_logits(m) for m in logits])
        probs = (1.0 / (1.0 + np.exp(-member_logits))).mean(axis=0)
        return FileOutputs(
            bundle_id=self.bundle.id,
            raw_labels=self.bundle.raw_labels,
            patch_logits=logits,
            probabilities=probs,
            logits=probability_to_logit(probs),
            seconds_analysed=seconds,
        )

    def run_chunks(self, chunks: Sequence[np.ndarray]) -> FileOutputs:
        """Outputs on decoded audio held in memory (every patch; for tools and tests)."""
        seconds = sum(c.size for c in chunks) / self.frontend_config.sr
        return self.run_patches(self.patches(chunks), seconds)


def prepare_file(
    path: str | os.PathLike, layouts: Sequence[PatchLayout], max_patches: int | None
) -> PreparedTrack:
    """``path`` decoded and cut into the patches of every layout, sampled as ``analyze`` does.

    Apart from :func:`tag_file` so a caller can decode while the models load.
    """
    duration = probe_duration(path) if max_patches is not None else None
    job = PatchJob(0, os.fspath(path), duration, tuple(dict.fromkeys(layouts)), max_patches)
    return prepare_track(job)


def tag_file(
    path: str | os.PathLike,
    runners: Sequence[BundleRunner],
    max_patches: int | None,
    prepared: PreparedTrack | None = None,
) -> list[FileOutputs]:
    """Every runner's outputs on ``path``, its patches cut and sampled as ``analyze`` does.

    ``max_patches`` as in :func:`tagger_core.listening.engine.analyze` (None: every
    patch); ``prepared``: the file already decoded by :func:`prepare_file`. A file that
    cannot be decoded raises ``DecodeError`` with its one-line reason.
    """
    if prepared is None:
        prepared = prepare_file(path, [runner.layout for runner in runners], max_patches)
    if prepared.error is not None:
        raise DecodeError(prepared.error)
    return [
        runner.run_patches(prepared.patches[runner.layout], prepared.seconds) for runner in runners
    ]
