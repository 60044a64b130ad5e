"""Members in ONNX Runtime give the PyTorch float32 numbers, and PyTorch remains the fallback."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tagger_core.labels.bundles import load_bundle
from tagger_core.listening import onnx_runner
from tagger_core.listening.ensembles import check_sample, prepare_ensemble, runtime_of
from tagger_core.listening.weights import load_members

CPU = torch.device("cpu")
needs_onnxruntime = pytest.mark.skipif(
    not onnx_runner.available(), reason="onnxruntime and onnx are not installed (extra 'fast')"
)


@needs_onnxruntime
@pytest.mark.parametrize("bundle_id", ["genre", "instruments", "instrument-family"])
def test_shipped_members_run_in_onnxruntime_with_the_same_outputs(bundle_id: str) -> None:
    bundle = load_bundle(bundle_id)
    ensemble = prepare_ensemble(bundle, CPU)
    assert ensemble.runtimes == ["onnxruntime"] * len(bundle.members)
    assert ensemble.forms == ["float32"] * len(bundle.members)  # nothing approximated
    config = bundle.frontend_config
    rng = np.random.default_rng(7)
    sample = check_sample(bundle)
    for n in (1, 7, 33):  # the graph's batch size is free
        patches = rng.random((n, bundle.patch_frames, config.n_mels), dtype=np.float32) * 4.0
        patches[0] = sample[n % len(sample)]
        with torch.inference_mode():
            for fast, eager in zip(ensemble.members, load_members(bundle, CPU), strict=True):
                got, want = fast(patches), eager.eval()(torch.from_numpy(patches))
                for key in ("logits", "embedding"):
                    assert isinstance(got[key], np.ndarray) and got[key].dtype == np.float32
                    expected = want[key].flatten(1).numpy()
                    assert got[key].shape == expected.shape
                    np.testing.assert_allclose(got[key], expected, atol=1e-4, rtol=1e-4)


def test_switched_off_or_missing_means_pytorch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(onnx_runner.ENV_SWITCH, "0")
    assert not onnx_runner.available()
    bundle = load_bundle("instrument-family")
    ensemble = prepare_ensemble(bundle, CPU)
    assert "onnxruntime" not in ensemble.runtimes
    model = load_members(bundle, CPU)[0].eval()
    assert onnx_runner.onnx_member(model, check_sample(bundle), 1) is None


@needs_onnxruntime
def test_a_graph_that_cannot_be_exported_keeps_pytorch() -> None:
    class DictOfThree(torch.nn.Module):  # not a member: no "embedding" output
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"logits": x.mean(dim=1)}

    patches = np.random.default_rng(0).random((2, 5, 4), dtype=np.float32)
    assert onnx_runner.onnx_member(DictOfThree(), patches, 1) is None
    assert runtime_of(DictOfThree()) == "torch"


@needs_onnxruntime
def test_analyze_reports_which_runtime_ran_each_member(tmp_path, capsys) -> None:
    import numpy as np
    import soundfile as sf

    from tagger_core.cli import main

    music = tmp_path / "music"
    music.mkdir()
    t = np.arange(16000 * 4) / 16000
    sf.write(music / "a.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    db = str(tmp_path / "lib.db")
    assert main(["--db", db, "scan", str(music)]) == 0
    capsys.readouterr()
    args = ["analyze", "--all", "--models", "instrument-family", "--device", "cpu", "--json"]
    assert main(["--db", db, *args]) == 0  # on a GPU machine, auto would pick CUDA
    report = json.loads(capsys.readouterr().out)
    assert set(report["runtimes"]["instrument-family"].values()) == {"onnxruntime"}


@needs_onnxruntime
def test_musicnn_is_exported_pooled_before_its_relu_and_batch_norm() -> None:
    """The exact pool-first rewrite is what ONNX Runtime runs: ReLU and BN on pooled maps,
    one max pool per front-end branch (the min of negative-scale channels as a max of
    negated filters), low-rank branches as basis + mixing convolutions."""
    import onnx

    from tagger_core.listening import onnx_cache

    bundle = load_bundle("genre")
    model, sample = load_members(bundle, CPU)[0], check_sample(bundle)
    member = onnx_runner.onnx_member(model, sample, 1)
    assert member is not None
    graph = onnx.load_from_string(onnx_cache.load(onnx_runner._cache_key(model, sample)).graph)
    ops = [node.op_type for node in graph.graph.node]
    assert ops.count("MaxPool") == 5 and "ReduceMin" not in ops
    assert ops.count("Conv") >= 5 + 4 + 3  # 4 factorised branches, 3 mid-end convolutions
    with torch.inference_mode():
        want = model(torch.from_numpy(sample))["logits"].numpy()
    np.testing.assert_allclose(member(sample)["logits"], want, atol=1e-4, rtol=1e-4)
