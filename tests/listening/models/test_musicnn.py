"""The torch musicnn port reproduces the original TF graph (reference fixtures)."""

from __future__ import annotations

import pytest
import torch
from musicnn_reference import member, reference, reference_inputs

from tagger_core.listening.models import Musicnn


@pytest.mark.parametrize(
    ("bundle_id", "name"), [("genre", "MSD_musicnn"), ("instruments", "MTT_musicnn")]
)
def test_probabilities_match_original_graph(bundle_id: str, name: str) -> None:
    with torch.no_grad():
        out = member(bundle_id, name)(reference_inputs())
    expected = reference(name, "probabilities")
    assert out["probabilities"].shape == expected.shape
    assert abs(out["probabilities"].numpy() - expected).max() <= 1e-4
    assert abs(out["embedding"].numpy() - reference(name, "embedding")).max() <= 1e-3


def test_outputs_vary_between_recordings() -> None:
    # the broken TF rebuild gave identical outputs for every input: guard against that
    with torch.no_grad():
        probs = member("genre", "MSD_musicnn")(reference_inputs())["probabilities"]
    assert probs.std(dim=0).max() > 0.05


def test_shapes_of_embeddings_and_variable_length() -> None:
    model = Musicnn()
    with torch.no_grad():
        out = model(torch.randn(2, 100, 96))  # musicnn accepts any patch length
    assert out["logits"].shape == (2, 50)
    assert out["penultimate"].shape == (2, 200)
    assert out["mean_pool"].shape == out["max_pool"].shape == (2, 753)
    assert torch.allclose(out["probabilities"], torch.sigmoid(out["logits"]))


def test_state_dict_mapping_covers_every_parameter() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    model = Musicnn()
    # fabricate TF-named arrays with the checkpoint's shapes from the module itself
    names = {
        "batch_normalization": 1, "conv2d": (7, 38, 1, 204), "conv2d_1": (7, 67, 1, 204),
        "conv2d_2": (128, 1, 1, 51), "conv2d_3": (64, 1, 1, 51), "conv2d_4": (32, 1, 1, 51),
        "conv2d_5": (7, 561, 1, 64), "conv2d_6": (7, 64, 1, 64), "conv2d_7": (7, 64, 1, 64),
    }  # fmt: skip
    tensors: dict[str, np.ndarray] = {}
    for conv, shape in names.items():
        if conv.startswith("conv2d"):
            tensors[f"{conv}/kernel"] = rng.standard_normal(shape).astype(np.float32)
            tensors[f"{conv}/bias"] = rng.standard_normal(shape[-1]).astype(np.float32)
    bn_sizes = [1, 204, 204, 51, 51, 51, 64, 64, 64, 1506, 200]
    for i, size in enumerate(bn_sizes):
        name = "batch_normalization" if i == 0 else f"batch_normalization_{i}"
        for var in ("gamma", "beta", "moving_mean", "moving_variance"):
            tensors[f"{name}/{var}"] = rng.random(size).astype(np.float32)
    tensors["dense/kernel"] = rng.standard_normal((1506, 200)).astype(np.float32)
    tensors["dense/bias"] = rng.standard_normal(200).astype(np.float32)
    tensors["dense_1/kernel"] = rng.standard_normal((200, 50)).astype(np.float32)
    tensors["dense_1/bias"] = rng.standard_normal(50).astype(np.float32)
    state = Musicnn.state_dict_from_tf(tensors)
    model.load_state_dict(state, strict=True)
    # TF dense kernels are [in, out]; torch Linear weights are [out, in]
    assert torch.equal(model.dense.weight, torch.from_numpy(tensors["dense/kernel"].T))
