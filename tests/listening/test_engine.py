"""The analysis engine on real files, a real database and small real torch models."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from audio_files import make_audio
from sqlalchemy import select, text
from tiny_bundle import PATCH_FRAMES, make_tiny_bundle

from tagger_core.db.analysis_store import load_outputs, split_embeddings
from tagger_core.db.blob_codec import unpack
from tagger_core.db.models import Analysis, Track
from tagger_core.errors import ConfigError
from tagger_core.library.scan import scan
from tagger_core.listening.decode import decode
from tagger_core.listening.engine import analyze, file_logits, prepare_ensemble
from tagger_core.listening.logmel import cut_patches, logmel
from tagger_core.listening.weights import load_members


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("bundles")
    return make_tiny_bundle(root, "tiny-a", seed=1), make_tiny_bundle(root, "tiny-b", seed=2)


@pytest.fixture
def music(tmp_path: Path) -> Path:
    folder = tmp_path / "music"
    folder.mkdir()
    make_audio(folder / "a.flac", seconds=5.0, seed=1, style="rock")
    make_audio(folder / "b.ogg", seconds=3.0, seed=2, style="jazz")
    make_audio(folder / "c.wav", seconds=1.0, seed=3, style="piano")
    return folder


def _rows(library, bundle_id: str | None = None) -> list[Analysis]:
    with library.session() as s:
        stmt = select(Analysis).order_by(Analysis.track_id)
        if bundle_id:
            stmt = stmt.where(Analysis.bundle_id == bundle_id)
        return list(s.scalars(stmt))


def test_file_logits_is_logit_of_mean_probability() -> None:
    z = np.array([[-2.0, 0.5, 30.0], [1.0, 0.0, 40.0], [0.3, -1.0, 35.0]], np.float32)
    p = (1.0 / (1.0 + np.exp(-z.astype(np.float64)))).mean(0)
    expected = np.log(p) - np.log1p(-p)
    got = file_logits(z)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got[:2], expected[:2], atol=1e-9)
    # where 1 - p underflows in float64 the log-space form stays finite and large
    extreme = file_logits(np.array([[200.0], [210.0]], np.float32))
    assert np.isfinite(extreme).all() and extreme.item() > 150
    low = file_logits(np.array([[-200.0], [-210.0]], np.float32))  # and where p underflows
    assert np.isfinite(low).all() and low.item() < -150


def test_stored_outputs_match_a_direct_forward_pass(library, music, bundles) -> None:
    scan(library, [music])
    report = analyze(library, bundles=bundles, optimize=False, workers=2)
    assert report.tracks_done == 3 and not report.errors and not report.cancelled
    assert report.audio_seconds == pytest.approx(9.0, abs=0.1)
    rows = _rows(library, "tiny-a")
    assert len(rows) == 3 and len(_rows(library, "tiny-b")) == 3
    with library.session() as s:
        track = s.scalar(select(Track).where(Track.path_text.like("%a.flac")))
    row = next(r for r in rows if r.track_id == track.id)
    bundle = bundles[0]
    audio = decode(os.fsdecode(track.path), 16000)
    patches = torch.from_numpy(cut_patches(logmel(audio, bundle.frontend_config), 128))
    assert row.n_patches == patches.shape[0] == 2
    assert row.members == ["tiny_musicnn", "tiny_vgg"] and row.fingerprint == track.fingerprint
    stored = unpack(row.member_logits)
    assert stored.dtype == np.float32 and stored.shape == (2, 6)
    embeddings = split_embeddings(unpack(row.embedding))
    assert [e.shape for e in embeddings] == [(12,), (4,)]
    with torch.inference_mode():
        for m, model in enumerate(load_members(bundle, "cpu")):
            out = model(patches)
            want = file_logits(out["logits"].numpy())
            np.testing.assert_allclose(stored[m], want, atol=1e-4)
            np.testing.assert_allclose(
                embeddings[m], out["embedding"].mean(0).numpy(), rtol=2e-3, atol=2e-3
            )
    # 5 s -> 2 patches, 3 s -> 1, and the 1 s clip is repeat-padded to one patch
    assert sorted(r.n_patches for r in rows) == [1, 1, 2]


def test_unchanged_tracks_are_never_reanalysed_and_changed_ones_are(
    library, music, bundles
) -> None:
    scan(library, [music])
    analyze(library, bundles=bundles, optimize=False, workers=1)
    first = {r.track_id: r.member_logits for r in _rows(library, "tiny-a")}
    again = analyze(library, bundles=bundles, optimize=False)
    assert again.tracks_total == 0 and again.tracks_skipped == 3
    make_audio(music / "b.ogg", seconds=4.0, seed=9, style="electronic")
    scan(library, [music])
    report = analyze(library, bundles=bundles, optimize=False)
    assert report.tracks_done == 1
    after = {r.track_id: r.member_logits for r in _rows(library, "tiny-a")}
    changed = [tid for tid in first if first[tid] != after[tid]]
    assert len(changed) == 1 and len(after) == 3
    # a new bundle version analyses everything again, keeping the old rows
    newer = make_tiny_bundle(music.parent / "v2", "tiny-a", seed=1, version="2.0.0")
    assert analyze(library, optimize=False, bundles=[newer]).tracks_done == 3
    assert len(_rows(library, "tiny-a")) == 6


def test_a_bad_file_is_recorded_and_the_rest_analysed(library, music, bundles) -> None:
    scan(library, [music])
    (music / "b.ogg").write_bytes(b"OggS" + os.urandom(3000))  # corrupt after the scan
    report = analyze(library, bundles=bundles, optimize=False, workers=2)
    assert report.tracks_done == 2 and len(report.errors) == 1
    assert "b.ogg" in report.errors[0]
    bad = [r for r in _rows(library) if r.status == "error"]
    assert len(bad) == 2 and all(r.member_logits is None and r.error for r in bad)
    # stored failures are not retried until asked or the file changes
    assert analyze(library, bundles=bundles, optimize=False).tracks_total == 0
    assert analyze(library, bundles=bundles, optimize=False, retry_errors=True).tracks_total == 1


def test_long_tracks_are_sampled_evenly(library, tmp_path: Path, bundles) -> None:
    folder = tmp_path / "long"
    folder.mkdir()
    make_audio(folder / "long.flac", seconds=21.0, style="strings")
    scan(library, [folder])
    report = analyze(library, bundles=bundles[:1], optimize=False, max_patches=3)
    assert report.tracks_sampled == 1 and report.tracks_done == 1
    assert report.audio_seconds == pytest.approx(21.0, abs=0.1)
    (row,) = _rows(library)
    assert row.n_patches == 3
    assert row.seconds_analysed == pytest.approx(3 * PATCH_FRAMES * 256 / 16000)
    full = analyze(library, bundles=bundles[:1], optimize=False, max_patches=None, force=True)
    assert full.tracks_sampled == 0
    (row,) = _rows(library)
    assert row.n_patches == 10


def test_cancel_keeps_finished_tracks_and_the_next_run_resumes(
    library, tmp_path: Path, bundles
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(6):
        make_audio(folder / f"{i}.wav", seconds=2.5, seed=i)
    scan(library, [folder])
    cancel = threading.Event()
    seen = []

    def progress(p) -> None:
        seen.append(p)
        if p.done >= 1:
            cancel.set()

    report = analyze(
        library,
        bundles=bundles,
        optimize=False,
        batch_size=2,
        workers=1,
        progress=progress,
        cancel=cancel,
    )
    assert report.cancelled
    stored = {r.track_id for r in _rows(library)}
    assert 1 <= len(stored) < 6
    assert seen[-1].total == 6 and seen[-1].audio_seconds > 0
    assert any(p.eta_seconds is not None for p in seen)
    rest = analyze(library, bundles=bundles, optimize=False)
    assert rest.tracks_done == 6 - len(stored) and not rest.cancelled
    with library.session() as s:
        outputs = load_outputs(s, "tiny-b")
    assert outputs.logits.shape == (6, 2, 6) and np.isfinite(outputs.logits).all()


def test_cpu_optimised_members_reproduce_eager_outputs(bundles) -> None:
    ensemble = prepare_ensemble(bundles[0], torch.device("cpu"), optimize=True)
    eager = load_members(bundles[0], "cpu")
    batch = np.random.default_rng(3).random((5, PATCH_FRAMES, 96), dtype=np.float32) * 3
    with torch.inference_mode():
        for fast, slow in zip(ensemble.members, eager, strict=True):
            got, want = fast(batch), slow(torch.from_numpy(batch))
            for key in ("logits", "embedding"):
                expected = want[key].flatten(1).numpy()
                np.testing.assert_allclose(got[key], expected, atol=1e-4, rtol=1e-4)
    assert ensemble.amp == [False, False]  # never mixed precision on the CPU
    assert ensemble.optimized == [True, True]


def test_process_pool_gives_the_same_outputs(library, music, bundles) -> None:
    scan(library, [music])
    analyze(library, bundles=bundles[:1], optimize=False, pool="thread")
    threaded = {r.track_id: unpack(r.member_logits) for r in _rows(library)}
    analyze(library, bundles=bundles[:1], optimize=False, pool="process", workers=1, force=True)
    for r in _rows(library):
        np.testing.assert_allclose(unpack(r.member_logits), threaded[r.track_id], atol=1e-5)


def test_bad_options_are_user_errors(library, bundles) -> None:
    with pytest.raises(ConfigError):
        analyze(library, bundles=bundles, optimize=False, batch_size=0)
    with pytest.raises(ConfigError):
        analyze(library, bundles=bundles, optimize=False, pool="gpu")
    with pytest.raises(ConfigError):
        analyze(library, optimize=False, bundles=[bundles[0], bundles[0]])
    with pytest.raises(ConfigError):
        analyze(library, optimize=False, bundles=["no-such-bundle"])


KILLER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from tagger_core.labels.bundles import load_bundle_dir
from tagger_core.db import open_library
from tagger_core.listening.engine import analyze

def progress(p):
    if p.done >= 2:
        os.kill(os.getpid(), signal.SIGKILL)

library = open_library({db!r})
analyze(library, bundles=[load_bundle_dir({bundle!r})], optimize=False, batch_size=1,
        workers=1, progress=progress)
"""


def test_killed_process_loses_at_most_the_batch_in_flight(tmp_path: Path, bundles) -> None:
    import subprocess
    import sys

    from tagger_core.db import open_library

    folder = tmp_path / "music"
    folder.mkdir()
    for i in range(5):
        make_audio(folder / f"{i}.flac", seconds=2.2, seed=i)
    db = tmp_path / "lib.db"
    library = open_library(db)
    scan(library, [folder])
    library.close()
    script = KILLER.format(
        tests=str(Path(__file__).parents[1]), db=str(db), bundle=str(bundles[0].path)
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    library = open_library(db)
    try:
        with library.session() as s:
            assert s.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        kept = _rows(library)
        assert 2 <= len(kept) < 5 and all(r.status == "ok" for r in kept)
        rest = analyze(library, bundles=bundles[:1], optimize=False)
        assert rest.tracks_done == 5 - len(kept)
        assert len(_rows(library)) == 5
    finally:
        library.close()


def test_shipped_ensembles_share_one_frontend_and_analyse_a_clip(library, tmp_path: Path) -> None:
    from tagger_core.labels.bundles import load_bundle

    genre, instruments = load_bundle("genre"), load_bundle("instruments")
    layout = (genre.frontend_config, genre.patch_frames, genre.patch_hop_frames)
    assert layout == (
        instruments.frontend_config,
        instruments.patch_frames,
        instruments.patch_hop_frames,
    )
    folder = tmp_path / "clip"
    folder.mkdir()
    make_audio(folder / "clip.ogg", seconds=3.5, style="rock")
    scan(library, [folder])
    report = analyze(library, bundles=[genre, instruments], optimize=False)
    assert report.tracks_done == 1 and not report.errors
    for bundle in (genre, instruments):
        (row,) = _rows(library, bundle.id)
        logits = unpack(row.member_logits)
        assert logits.shape == (2, len(bundle.raw_labels)) and np.isfinite(logits).all()
        assert [e.shape[0] for e in split_embeddings(unpack(row.embedding))] == [200, 256]
        assert row.bundle_version == bundle.version and row.n_patches == 1


def test_members_side_by_side_store_what_one_thread_stores(library, music, bundles) -> None:
    """On a CPU with two threads the two members of a bundle run at once, one thread each
    (``member_threads``): the stored outputs are those of a one-thread run."""
    from tagger_core.listening.engine import member_threads

    assert member_threads("cpu", 2, 2) == 1 and member_threads("cpu", 2, 1) == 2
    assert member_threads("cpu", 4, 3) == 1 and member_threads("cuda:0", 2, 2) == 2
    scan(library, [music])
    analyze(library, bundles=bundles, threads=1, workers=1)
    one = {(r.track_id, r.bundle_id): unpack(r.member_logits) for r in _rows(library)}
    report = analyze(library, bundles=bundles, threads=2, workers=1, force=True)
    assert report.threads == 2 and report.tracks_done == 3
    for r in _rows(library):
        np.testing.assert_array_equal(unpack(r.member_logits), one[(r.track_id, r.bundle_id)])


def test_without_onnxruntime_members_are_frozen_rewrites_with_the_same_outputs(
    bundles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUSIC_TAGGER_ONNXRUNTIME", "0")
    ensemble = prepare_ensemble(bundles[1], "cpu", threads=1)
    assert ensemble.runtimes == ["torchscript", "torchscript"]  # musicnn and VGG rewrites
    eager = load_members(bundles[1], "cpu")
    batch = np.random.default_rng(5).random((3, PATCH_FRAMES, 96), dtype=np.float32) * 3
    with torch.inference_mode():
        for fast, slow in zip(ensemble.members, eager, strict=True):
            want = slow(torch.from_numpy(batch))["logits"].numpy()
            np.testing.assert_allclose(fast(batch)["logits"], want, atol=1e-4, rtol=1e-4)
