"""The torch port of musicnn's VGG tagger reproduces the original TF graph."""

from __future__ import annotations

import pytest
import torch
from musicnn_reference import member, reference, reference_inputs

from tagger_core.errors import ConfigError
from tagger_core.listening.models import MusicnnVGG, build_model


@pytest.mark.parametrize(("bundle_id", "name"), [("genre", "MSD_vgg"), ("instruments", "MTT_vgg")])
def test_probabilities_match_original_graph(bundle_id: str, name: str) -> None:
    with torch.no_grad():
        out = member(bundle_id, name)(reference_inputs())
    expected = reference(name, "probabilities")
    assert abs(out["probabilities"].numpy() - expected).max() <= 1e-4
    assert abs(out["embedding"].numpy() - reference(name, "embedding")).max() <= 1e-3


def test_vgg_shapes_and_fixed_length() -> None:
    model = MusicnnVGG()
    with torch.no_grad():
        out = model(torch.randn(3, 187, 96))
    assert out["logits"].shape == (3, 50)
    assert out["embedding"].shape == (3, 256)
    with pytest.raises(ValueError):
        model(torch.randn(1, 100, 96))


def test_registry_rejects_unknown_architecture() -> None:
    with pytest.raises(ConfigError):
        build_model("no-such-net")
    assert isinstance(build_model("musicnn_vgg", {"n_classes": 7}), MusicnnVGG)
