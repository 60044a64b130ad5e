"""Exported members are cached on disk, checked against the stored eager outputs, and a
broken or unwritable cache costs only the export. A bundle whose members are all cached
is prepared on a CPU without torch, from the cache's bundle index."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tagger_core.labels.bundles import load_bundle, load_bundle_dir
from tagger_core.listening import ensembles, onnx_cache, onnx_runner
from tagger_core.listening.ensembles import check_sample, runtime_of
from tagger_core.listening.torch_members import optimized_runner
from tagger_core.listening.weights import load_members

CPU = torch.device("cpu")
pytestmark = pytest.mark.skipif(
    not onnx_runner.available(), reason="onnxruntime and onnx are not installed (extra 'fast')"
)


@pytest.fixture(scope="module")
def member() -> tuple[torch.nn.Module, np.ndarray]:
    """The smallest shipped member (an instrument-family ResNet) and its check patches."""
    bundle = load_bundle("instrument-family")
    return load_members(bundle, CPU)[0].eval(), check_sample(bundle)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(onnx_cache.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


def _key(model: torch.nn.Module, sample: np.ndarray) -> str:
    key = onnx_runner._cache_key(model, sample)
    assert key is not None
    return key


def _assert_matches_eager(
    runner: onnx_runner.OnnxMember, model: torch.nn.Module, sample: np.ndarray
) -> None:
    noise = np.random.default_rng(1).random((5, *sample.shape[1:]), dtype=np.float32) * 3.0
    patches = np.concatenate([sample, noise])
    with torch.inference_mode():
        got, want = runner(patches), model(torch.from_numpy(patches))
    for key in onnx_runner.OUTPUTS:
        np.testing.assert_allclose(got[key], want[key].flatten(1).numpy(), atol=1e-4, rtol=1e-4)


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
            np.testing.assert_array_equal(stored[key], eager[key])
    assert runtime_of(optimized_runner(model, sample, CPU)) == "onnxruntime"
    assert onnx_runner.exports == before + 1


def test_key_follows_weights_and_check_patches(member) -> None:
    model, sample = member
    key = _key(model, sample)
    assert _key(model, sample.copy()) == key
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
import json, sys
from tagger_core.labels.bundles import load_bundle
from tagger_core.listening import onnx_runner
from tagger_core.listening.engine import prepare_ensemble
ensemble = prepare_ensemble(load_bundle("instrument-family"), "cpu")
print(json.dumps({"exports": onnx_runner.exports, "runtimes": ensemble.runtimes,
                  "onnx_imported": "onnx" in sys.modules,
                  "torch_imported": "torch" in sys.modules}))
"""


def test_a_later_process_neither_exports_nor_imports_onnx_or_torch(tmp_path: Path) -> None:
    env = {**os.environ, onnx_cache.CACHE_ENV: str(tmp_path / "cache")}

    def prepare() -> dict:
        out = subprocess.run(
            [sys.executable, "-c", _PREPARE], env=env, capture_output=True, text=True,
            check=True, timeout=600,
        )  # fmt: skip
        return json.loads(out.stdout.strip().splitlines()[-1])

    members = len(load_bundle("instrument-family").members)
    cold = prepare()
    assert cold["exports"] == members and cold["onnx_imported"] and cold["torch_imported"]
    warm = prepare()
    runtimes = ["onnxruntime"] * members
    assert warm == {
        "exports": 0, "runtimes": runtimes, "onnx_imported": False, "torch_imported": False
    }  # fmt: skip


def test_check_patches_are_made_once_per_layout_and_handed_out_as_copies() -> None:
    """genre and instruments share musicnn's frontend: one synthesis serves both."""
    from tagger_core.listening.ensembles import _check_patches

    genre, instruments = load_bundle("genre"), load_bundle("instruments")
    assert genre.frontend_config == instruments.frontend_config
    first = check_sample(genre)
    hits = _check_patches.cache_info().hits
    second = check_sample(instruments)
    assert _check_patches.cache_info().hits == hits + 1
    np.testing.assert_array_equal(first, second)
    first[:] = 0.0  # a caller's copy is its own
    np.testing.assert_array_equal(check_sample(genre), second)
    assert np.abs(second).sum() > 0


@pytest.fixture
def bundle_copy(tmp_path: Path):
    """The instrument-family bundle in a folder of its own (its files may be changed)."""
    folder = tmp_path / "bundle"
    shutil.copytree(load_bundle("instrument-family").path, folder)
    return folder


def _prepare(bundle) -> ensembles.Ensemble:
    """Prepare without the in-memory cache of prepared ensembles (as a new process would)."""
    return ensembles._prepare(bundle, "cpu", 1, True, False, True)


def test_the_bundle_index_prepares_checked_members_without_torch(bundle_copy, cache) -> None:
    bundle = load_bundle_dir(bundle_copy)
    cold = _prepare(bundle)
    assert cold.used_torch and cold.runtimes == ["onnxruntime"] * len(bundle.members)
    assert len(list(cache.glob("bundle-*.json"))) == 1
    warm = _prepare(bundle)
    assert not warm.used_torch and warm.forms == cold.forms and warm.runtimes == cold.runtimes
    patches = np.random.default_rng(2).random((6, *check_sample(bundle).shape[1:]), np.float32)
    for a, b in zip(cold.members, warm.members, strict=True):
        np.testing.assert_array_equal(a(patches)["logits"], b(patches)["logits"])


@pytest.mark.parametrize("change", ["weights", "verdicts", "manifest"])
def test_a_changed_bundle_file_misses_the_index(bundle_copy, cache, change: str) -> None:
    bundle = load_bundle_dir(bundle_copy)
    sample = check_sample(bundle)
    key = onnx_cache.bundle_key(bundle, sample, ("opset",))
    assert onnx_cache.bundle_key(bundle, sample, ("opset",)) == key
    assert onnx_cache.bundle_key(bundle, sample + 1e-3, ("opset",)) != key
    if change == "weights":
        weights = bundle_copy / bundle.members[0].weights
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0x01
        weights.write_bytes(bytes(data))
    elif change == "verdicts":
        (bundle_copy / "fast_forms.json").write_text("{}")
    else:
        manifest = bundle_copy / "manifest.json"
        manifest.write_text(manifest.read_text() + "\n")
    assert onnx_cache.bundle_key(load_bundle_dir(bundle_copy), sample, ("opset",)) != key


def test_replaced_weights_are_caught_by_the_torch_path(bundle_copy, cache) -> None:
    """The index never vouches for weights: other bytes are another key, and loading them
    checks the manifest's sha256."""
    from tagger_core.labels.bundles import BundleError

    bundle = load_bundle_dir(bundle_copy)
    assert _prepare(bundle).used_torch
    weights = bundle_copy / bundle.members[0].weights
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        _prepare(load_bundle_dir(bundle_copy))


@pytest.mark.parametrize("damage", ["index garbage", "entry missing", "reference moved"])
def test_a_damaged_index_or_entry_falls_back_to_torch(
    bundle_copy, cache, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = load_bundle_dir(bundle_copy)
    _prepare(bundle)
    [index] = cache.glob("bundle-*.json")
    member_keys = json.loads(index.read_text())["members"]
    if damage == "index garbage":
        index.write_text("{not json")
    elif damage == "entry missing":
        onnx_cache.entry_path(member_keys[1]).unlink()
    else:
        entry = onnx_cache.load(member_keys[1])
        moved = [{k: v + 1e-3 for k, v in out.items()} for out in entry.reference]
        assert onnx_cache.store(member_keys[1], onnx_cache.Entry(entry.graph, moved))
    with caplog.at_level(logging.INFO):
        again = _prepare(bundle)
    assert again.used_torch
    if damage == "reference moved":  # the moved entry no longer passes for this member
        assert again.runtimes[1] != "onnxruntime" and again.runtimes[0] == "onnxruntime"
    else:  # repaired: the next start-up needs no torch
        assert again.runtimes == ["onnxruntime"] * len(bundle.members)
        assert not _prepare(bundle).used_torch
