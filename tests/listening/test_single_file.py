"""Single files: ``tag`` hears a file exactly as ``analyze`` hears a library track."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from audio_files import make_audio
from tiny_bundle import make_tiny_bundle

from tagger_core.db.analysis_store import load_outputs
from tagger_core.errors import DecodeError
from tagger_core.labels.bundles import load_bundle
from tagger_core.library.scan import scan
from tagger_core.listening.engine import analyze, file_logits
from tagger_core.listening.single_file import BundleRunner, probability_to_logit, tag_file


def test_probability_to_logit_inverts_sigmoid() -> None:
    x = np.array([-5.0, 0.0, 2.5])
    np.testing.assert_allclose(probability_to_logit(1 / (1 + np.exp(-x))), x, atol=1e-9)
    assert np.isfinite(probability_to_logit(np.array([0.0, 1.0]))).all()


def test_runner_averages_patch_probabilities_over_members() -> None:
    runner = BundleRunner(load_bundle("genre"))
    rng = np.random.default_rng(0)
    out = runner.run_chunks([(0.1 * rng.standard_normal(16000 * 7)).astype(np.float32)])
    assert out.patch_logits.shape == (2, 2, 50)  # 2 members, 437 frames -> 2 patches
    expected = (1 / (1 + np.exp(-out.patch_logits))).mean(axis=(0, 1))
    np.testing.assert_allclose(out.probabilities, expected, rtol=1e-6)
    with pytest.raises(DecodeError):
        runner.run_chunks([np.zeros(0, np.float32)])


@pytest.mark.parametrize("max_patches", [3, None])
def test_tag_and_analyze_hear_a_long_file_the_same_way(
    library, tmp_path: Path, max_patches: int | None
) -> None:
    bundle = make_tiny_bundle(tmp_path / "bundles", "tiny-same", seed=5)
    path = tmp_path / "music" / "long.flac"
    path.parent.mkdir()
    make_audio(path, seconds=14.0, seed=4)  # 6 patches: sampled when max_patches=3
    scan(library, [path.parent])
    report = analyze(library, bundles=[bundle], optimize=False, max_patches=max_patches)
    assert report.tracks_sampled == (1 if max_patches else 0)
    with library.session() as s:
        stored = load_outputs(s, bundle.id).logits[0]  # [members, raw tags]
    [out] = tag_file(path, [BundleRunner(bundle)], max_patches)
    assert out.patch_logits.shape[1] == (max_patches or 6)
    heard = np.stack([file_logits(m) for m in out.patch_logits])
    np.testing.assert_allclose(heard, stored, atol=1e-4)


def test_tag_file_names_an_undecodable_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF nothing else")
    with pytest.raises(DecodeError, match="broken.wav"):
        tag_file(bad, [BundleRunner(make_tiny_bundle(tmp_path / "b", "tiny-bad"))], 3)
