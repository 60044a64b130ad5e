"""Shared helpers: run a shipped member on the musicnn reference fixtures."""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import torch

from tagger_core.labels.bundles import load_bundle
from tagger_core.listening.weights import load_members

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "musicnn"


@lru_cache(maxsize=1)
def reference_inputs() -> torch.Tensor:
    return torch.from_numpy(np.load(FIXTURES / "inputs.npy").astype(np.float32))


@cache
def member(bundle_id: str, name: str) -> torch.nn.Module:
    bundle = load_bundle(bundle_id)
    models = load_members(bundle, "cpu")
    return models[bundle.member_names.index(name)]


def reference(name: str, what: str) -> np.ndarray:
    return np.load(FIXTURES / f"{name}_{what}.npy")
