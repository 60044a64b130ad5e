"""Run model bundles over whole audio files and summarise them per file.

Why here: the shortest path from a file to model outputs (decode → log-mel →
patches → every member), shared by ``music-tagger tag`` and by anything else
that needs per-file raw tag outputs without a database.

Per-file aggregation (AM'23): each member's patch probabilities are averaged
over the file's patches, and the members' file probabilities are averaged over
the ensemble; the result is returned both as probabilities and as logits
(``log p − log(1 − p)``) so that taxonomy rules and calibration, which work on
logits, can be applied to it. Per-patch, per-member logits are kept too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tagger_core.errors import DecodeError
from tagger_core.labels.bundles import Bundle
from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.listening.decode import decode, decode_regions, probe_duration
from tagger_core.listening.frontend import LogMelFrontend, make_patches
from tagger_core.listening.weights import load_members

_EPS = 1e-7


def choose_regions(
    duration_s: float, max_seconds: float | None, region_seconds: float = 30.0
) -> list[tuple[float, float | None]]:
    """Stretches to decode: the whole file, or evenly spaced regions covering ``max_seconds``.

    Long tracks are sampled rather than decoded in full; regions are
    ``region_seconds`` long (shorter if ``max_seconds`` is), spread from start to end.
    """
    if max_seconds is None or duration_s <= max_seconds:
        return [(0.0, None)]
    length = min(region_seconds, max_seconds)
    count = max(1, int(max_seconds // length))
    span = duration_s - length
    starts = [span * (i + 0.5) / count for i in range(count)]
    return [(start, length) for start in starts]


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
    """A loaded bundle ready to tag audio on one device."""

    def __init__(self, bundle: Bundle, device: str | torch.device = "cpu", batch_size: int = 16):
        self.bundle = bundle
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.models = load_members(bundle, self.device)
        self.frontend = LogMelFrontend(bundle.frontend_config).to(self.device)

    @property
    def frontend_config(self) -> FrontendConfig:
        return self.bundle.frontend_config

    def logmel(self, audio: np.ndarray) -> torch.Tensor:
        with torch.inference_mode():
            return self.frontend(torch.from_numpy(audio).to(self.device))

    def patches(self, chunks: Sequence[np.ndarray]) -> torch.Tensor:
        """Patches of every decoded chunk, concatenated ``[P, frames, mels]``."""
        parts = [
            make_patches(self.logmel(chunk), self.bundle.patch_frames, self.bundle.patch_hop_frames)
            for chunk in chunks
            if chunk.size
        ]
        if not parts:
            return torch.zeros((0, self.bundle.patch_frames, self.frontend_config.n_mels))
        return torch.cat(parts)

    def patch_logits(self, patches: torch.Tensor) -> np.ndarray:
        """Logits of every member on every patch: ``[members, P, raw tags]``."""
        out = []
        with torch.inference_mode():
            for model in self.models:
                batches = [
                    model(patches[i : i + self.batch_size].to(self.device))["logits"].float().cpu()
                    for i in range(0, len(patches), self.batch_size)
                ]
                out.append(torch.cat(batches) if batches else torch.zeros(0, 0))
        return torch.stack(out).numpy()

    def run_chunks(self, chunks: Sequence[np.ndarray]) -> FileOutputs:
        patches = self.patches(chunks)
        if len(patches) == 0:
            raise DecodeError("no audio to analyse")
        logits = self.patch_logits(patches)
        probs = (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).mean(axis=(0, 1))
        return FileOutputs(
            bundle_id=self.bundle.id,
            raw_labels=self.bundle.raw_labels,
            patch_logits=logits,
            probabilities=probs,
            logits=probability_to_logit(probs),
            seconds_analysed=sum(c.size for c in chunks) / self.frontend_config.sr,
        )


def decode_for(
    path: str | os.PathLike, config: FrontendConfig, max_seconds: float | None
) -> list[np.ndarray]:
    """Decode the stretches of ``path`` that will be analysed, at the frontend's rate."""
    if max_seconds is None:
        return [decode(path, config.sr)]
    regions = choose_regions(probe_duration(path), max_seconds)
    if regions == [(0.0, None)]:
        return [decode(path, config.sr)]
    return decode_regions(path, regions, config.sr)
