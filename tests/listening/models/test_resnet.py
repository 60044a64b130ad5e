from __future__ import annotations

import pytest
import torch

from tagger_core.errors import ConfigError
from tagger_core.listening.models import build_model
from tagger_core.listening.models.resnet import AM23ResNet, count_parameters


def test_outputs_and_size_match_am23():
    model = AM23ResNet(11).eval()
    out = model(torch.randn(3, 63, 64))
    assert out["logits"].shape == (3, 11)
    assert out["embedding"].shape == (3, 160)
    assert torch.allclose(out["probabilities"], torch.sigmoid(out["logits"]))
    assert 380_000 < count_parameters(model) < 450_000  # AM'23: ~420k


def test_any_patch_length_and_configurable_stages():
    model = AM23ResNet(5, n_mels=96, channels=(8, 16), strides=(2, 2)).eval()
    assert model(torch.randn(2, 187, 96))["logits"].shape == (2, 5)
    with pytest.raises(ValueError, match="96"):
        model(torch.randn(2, 187, 64))
    with pytest.raises(ValueError, match="stride"):
        AM23ResNet(5, channels=(8, 16), strides=(2,))


def test_registered_for_bundles():
    model = build_model("am23_resnet", {"n_classes": 4, "n_mels": 64, "channels": [8, 16, 32]})
    assert isinstance(model, AM23ResNet)
    with pytest.raises(ConfigError):
        build_model("am23_resnet", {"n_classes": 4, "colour": "red"})
