"""Model architectures, looked up by the name a bundle manifest gives.

Why a registry: a bundle's ``manifest.json`` names each member's architecture
and its constructor parameters; new bundles (for example a separately trained
instrument-family model) add their class here and reuse the bundle format.
"""

from __future__ import annotations

from torch import nn

from tagger_core.errors import ConfigError
from tagger_core.listening.models.heads import MLPHead, OneVsAllHeads
from tagger_core.listening.models.musicnn import Musicnn
from tagger_core.listening.models.resnet import AM23ResNet
from tagger_core.listening.models.vgg import MusicnnVGG

ARCHITECTURES: dict[str, type[nn.Module]] = {
    "musicnn": Musicnn,
    "musicnn_vgg": MusicnnVGG,
    "am23_resnet": AM23ResNet,
    "mlp_head": MLPHead,  # heads on another bundle's stored embedding (training.head_bundle)
    "ova_mlp_heads": OneVsAllHeads,
}


def register_architecture(name: str, cls: type[nn.Module]) -> None:
    """Make ``cls`` available to bundle manifests under ``name``."""
    ARCHITECTURES[name] = cls


def build_model(architecture: str, params: dict | None = None) -> nn.Module:
    """Instantiate the architecture ``architecture`` with manifest ``params``."""
    try:
        cls = ARCHITECTURES[architecture]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ConfigError(f"unknown model architecture {architecture!r} (known: {known})") from None
    try:
        return cls(**(params or {}))
    except TypeError as err:
        raise ConfigError(f"bad parameters for architecture {architecture!r}: {err}") from None


__all__ = [
    "AM23ResNet",
    "ARCHITECTURES",
    "Musicnn",
    "MusicnnVGG",
    "build_model",
    "register_architecture",
]
