"""Analysis on CUDA against the CPU: mixed precision and batching (runs only where CUDA exists).

The engine turns float16 autocast on per member only where a start-up check
keeps probabilities within ``AMP_TOLERANCE``, and batches patches of several
tracks together; on a GPU both must leave what is stored as the CPU would
store it. These tests analyse the same generated library with the shipped
ensembles on both devices and compare the stored file-level outputs.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from audio_files import make_audio

from tagger_core.db import open_library
from tagger_core.db.analysis_store import load_outputs
from tagger_core.library.scan import scan
from tagger_core.listening.device import pick_device
from tagger_core.listening.engine import DEFAULT_BUNDLES, analyze
from tagger_core.listening.torch_members import AMP_TOLERANCE

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")

#: float32 on the GPU vs the CPU: only the order of summation differs (TF32 is off).
FLOAT32_TOLERANCE = 1e-4
#: The start-up check holds float16 members to AMP_TOLERANCE on its own few patches;
#: real music reaches a little further (1.13e-3 measured on an H200), so files get twice it.
MIXED_PRECISION_FILE_TOLERANCE = 2 * AMP_TOLERANCE
CLIPS = [
    ("rock", ".flac", 25.0),
    ("jazz", ".ogg", 12.0),
    ("piano", ".wav", 4.0),
    ("electronic", ".flac", 40.0),
    ("strings", ".ogg", 9.0),
    ("ambient", ".wav", 18.0),
]
_names = itertools.count()


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("music")
    for i, (style, ext, seconds) in enumerate(CLIPS):
        make_audio(folder / f"{i}_{style}{ext}", seconds=seconds, seed=i, style=style)
    return folder


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("libraries")


def probabilities(work: Path, music: Path, **options) -> dict[str, np.ndarray]:
    """Analyse ``music`` into a fresh library; per bundle ``[tracks, members, tags]`` p."""
    library = open_library(work / f"lib{next(_names)}.db")
    try:
        scan(library, [music])
        report = analyze(library, **options)
        assert report.tracks_done == len(CLIPS) and not report.errors
        out = {}
        with library.session() as s:
            for bundle_id in DEFAULT_BUNDLES:
                logits = load_outputs(s, bundle_id).logits.astype(np.float64)
                out[bundle_id] = 1 / (1 + np.exp(-logits))
        return out
    finally:
        library.close()


def max_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(np.abs(a[k] - b[k]).max()) for k in a}


@pytest.fixture(scope="module")
def on_cpu(work: Path, music: Path) -> dict[str, np.ndarray]:
    return probabilities(work, music, device="cpu", max_patches=None)


def test_auto_picks_cuda_first() -> None:
    assert pick_device("auto").type == "cuda"


def test_float32_on_cuda_matches_cpu(work: Path, music: Path, on_cpu) -> None:
    got = probabilities(work, music, device="cuda", mixed_precision=False, max_patches=None)
    diffs = max_diff(got, on_cpu)
    assert all(d <= FLOAT32_TOLERANCE for d in diffs.values()), diffs


def test_mixed_precision_stays_within_its_tolerance(work: Path, music: Path, on_cpu) -> None:
    got = probabilities(work, music, device="cuda", mixed_precision=True, max_patches=None)
    diffs = max_diff(got, on_cpu)
    assert all(d <= MIXED_PRECISION_FILE_TOLERANCE for d in diffs.values()), diffs
    for bundle_id, want in on_cpu.items():
        assert np.mean((got[bundle_id] > 0.5) == (want > 0.5)) >= 0.99, bundle_id


@pytest.mark.parametrize("batch_size", [1, 7, 128])
def test_batching_does_not_change_outputs(work: Path, music: Path, on_cpu, batch_size) -> None:
    got = probabilities(
        work, music, device="cuda", mixed_precision=False, batch_size=batch_size, max_patches=None
    )
    diffs = max_diff(got, on_cpu)
    assert all(d <= FLOAT32_TOLERANCE for d in diffs.values()), diffs
