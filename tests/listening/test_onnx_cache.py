"""Exported members are cached on disk, checked against the stored eager outputs, and a
broken or unwritable cache costs only the export."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tagger_core.labels.bundles import load_bundle
from tagger_core.listening import onnx_cache, onnx_runner
from tagger_core.listening.engine import check_sample, optimized_runner, runtime_of
from tagger_core.listening.weights import load_members

CPU = torch.device("cpu")
pytestmark = pytest.mark.skipif(
    not onnx_runner.available(), reason="onnxruntime and onnx are not installed (extra 'fast')"
)


@pytest.fixture(scope="module")
def member() -> tuple[torch.nn.Module, torch.Tensor]:
    """The smallest shipped member (an instrument-family ResNet) and its check patches."""
    bundle = load_bundle("instrument-family")
    return load_members(bundle, CPU)[0].eval(), check_sample(bundle)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(onnx_cache.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


def _key(model: torch.nn.Module, sample: torch.Tensor) -> str:
    key = onnx_runner._cache_key(model, sample)
    assert key is not None
    return key


def _assert_matches_eager(
    runner: onnx_runner.OnnxMember, model: torch.nn.Module, sample: torch.Tensor
) -> None:
    patches = torch.cat([sample, torch.rand((5, *sample.shape[1:])) * 3.0])
    with torch.inference_mode():
        got, want = runner(patches), model(patches)
    for key in onnx_runner.OUTPUTS:
        torch.testing.assert_close(got[key], want[key], atol=1e-4, rtol=1e-4)


def test_sessions_do_not_spin_and_share_one_arena(member, cache: Path) -> None:
    options = onnx_runner.session_options(2)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.use_env_allocators") == "1"
    model, sample = member
    runner = onnx_runner.onnx_member(model, sample, 2)
    assert runner is not None
    options = runner.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.use_env_allocators") == "1"
    assert options.intra_op_num_threads == 2
    _assert_matches_eager(runner, model, sample)


def test_second_preparation_loads_from_the_cache_without_exporting(member, cache: Path) -> None:
    model, sample = member
    before = onnx_runner.exports
    first = onnx_runner.onnx_member(model, sample, 1)
    assert first is not None and onnx_runner.exports == before + 1
    entry = onnx_cache.entry_path(_key(model, sample))
    assert entry.parent == cache and entry.is_file()
    assert [p.name for p in cache.iterdir()] == [entry.name]  # no temporary file left
    written = entry.stat().st_mtime_ns

    second = onnx_runner.onnx_member(model, sample, 1)
    assert second is not None
    assert onnx_runner.exports == before + 1  # loaded, not exported again
    assert entry.stat().st_mtime_ns == written
    _assert_matches_eager(second, model, sample)
    want = onnx_runner.reference_outputs(model, sample)
    assert len(second.reference) == len(want) == 2
    for stored, eager in zip(second.reference, want, strict=True):
        for key in onnx_runner.OUTPUTS:
            torch.testing.assert_close(stored[key], eager[key], atol=0, rtol=0)
    assert runtime_of(optimized_runner(model, sample, CPU)) == "onnxruntime"
    assert onnx_runner.exports == before + 1


def test_key_follows_weights_and_check_patches(member) -> None:
    model, sample = member
    key = _key(model, sample)
    assert _key(model, sample.clone()) == key
    assert _key(model, sample + 1e-3) != key
    assert _key(model, sample[:2]) != key
    changed = load_members(load_bundle("instrument-family"), CPU)[0].eval()
    assert _key(changed, sample) == key  # the same weights, loaded again
    with torch.no_grad():
        next(changed.parameters()).view(-1)[0] += 1e-3
    assert _key(changed, sample) != key


@pytest.mark.parametrize("damage", ["garbage bytes", "truncated", "graph"])
def test_a_corrupt_entry_is_ignored_and_rewritten(
    member, cache: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    model, sample = member
    key = _key(model, sample)
    assert onnx_runner.onnx_member(model, sample, 1) is not None
    path = onnx_cache.entry_path(key)
    if damage == "garbage bytes":
        path.write_bytes(b"not a cache entry at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-200])
    else:  # a readable entry whose graph ONNX Runtime cannot load
        reference = onnx_cache.load(key).reference
        assert onnx_cache.store(key, onnx_cache.Entry(b"\x08\x07 no graph", reference))
    before = onnx_runner.exports
    with caplog.at_level(logging.WARNING):
        runner = onnx_runner.onnx_member(model, sample, 1)
    assert runner is not None
    assert onnx_runner.exports == before + 1  # exported again
    assert "ONNX cache entry" in caplog.text
    _assert_matches_eager(runner, model, sample)
    assert onnx_runner.onnx_member(model, sample, 1) is not None
    assert onnx_runner.exports == before + 1  # the rewritten entry is used


@pytest.mark.parametrize("blocked", ["read-only folder", "a file in the folder's place"])
def test_an_unwritable_cache_still_gives_the_member(
    member, cache: Path, blocked: str, caplog: pytest.LogCaptureFixture
) -> None:
    if blocked == "read-only folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders (the other case still runs)")
        cache.mkdir(parents=True)
        cache.chmod(0o500)
    else:
        cache.parent.mkdir(parents=True)
        cache.write_bytes(b"")
    model, sample = member
    before = onnx_runner.exports
    try:
        with caplog.at_level(logging.WARNING):
            runner = onnx_runner.onnx_member(model, sample, 1)
        assert runner is not None and onnx_runner.exports == before + 1
        assert "ONNX cache not written" in caplog.text
        _assert_matches_eager(runner, model, sample)
        assert runtime_of(optimized_runner(model, sample, CPU)) == "onnxruntime"
    finally:
        if cache.is_dir():
            cache.chmod(0o700)
    assert not onnx_cache.entry_path(_key(model, sample)).exists()


def test_a_cached_reference_the_session_does_not_reproduce_keeps_pytorch(
    member, cache: Path
) -> None:
    """The output check still runs on a cached entry: ORT must reproduce what is stored."""
    model, sample = member
    assert onnx_runner.onnx_member(model, sample, 1) is not None
    key = _key(model, sample)
    entry = onnx_cache.load(key)
    moved = [{k: v + 1e-3 for k, v in outputs.items()} for outputs in entry.reference]
    assert onnx_cache.store(key, onnx_cache.Entry(entry.graph, moved))
    runner = optimized_runner(model, sample, CPU)
    assert runtime_of(runner) != "onnxruntime"


_PREPARE = """
import json, sys, torch
from tagger_core.labels.bundles import load_bundle
from tagger_core.listening import onnx_runner
from tagger_core.listening.engine import prepare_ensemble
ensemble = prepare_ensemble(load_bundle("instrument-family"), torch.device("cpu"))
print(json.dumps({"exports": onnx_runner.exports, "runtimes": ensemble.runtimes,
                  "onnx_imported": "onnx" in sys.modules}))
"""


def test_a_later_process_neither_exports_nor_imports_onnx(tmp_path: Path) -> None:
    env = {**os.environ, onnx_cache.CACHE_ENV: str(tmp_path / "cache")}

    def prepare() -> dict:
        out = subprocess.run(
            [sys.executable, "-c", _PREPARE], env=env, capture_output=True, text=True,
            check=True, timeout=600,
        )  # fmt: skip
        return json.loads(out.stdout.strip().splitlines()[-1])

    members = len(load_bundle("instrument-family").members)
    cold = prepare()
    assert cold["exports"] == members and cold["onnx_imported"]
    warm = prepare()
    assert warm == {"exports": 0, "runtimes": ["onnxruntime"] * members, "onnx_imported": False}


def test_check_patches_are_made_once_per_layout_and_handed_out_as_copies() -> None:
    """genre and instruments share musicnn's frontend: one synthesis serves both."""
    from tagger_core.listening.ensembles import _check_patches

    genre, instruments = load_bundle("genre"), load_bundle("instruments")
    assert genre.frontend_config == instruments.frontend_config
    first = check_sample(genre)
    hits = _check_patches.cache_info().hits
    second = check_sample(instruments)
    assert _check_patches.cache_info().hits == hits + 1
    assert torch.equal(first, second)
    first.zero_()  # a caller's copy is its own
    assert torch.equal(check_sample(genre), second) and second.abs().sum() > 0
