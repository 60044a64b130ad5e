"""Building a bundle's members and loading their weights (safetensors, sha256-checked).

Why apart from the manifest (``labels.bundles``): reading what a bundle is must not
import torch, so calibration, export and the GUI can list bundles cheaply; only the
stages that run models come here.
"""

from __future__ import annotations

import torch
from safetensors.torch import load_file
from torch import nn

from tagger_core.labels.bundles import Bundle, BundleError, sha256_of
from tagger_core.listening.models import build_model


def load_members(
    bundle: Bundle, device: str | torch.device = "cpu", *, verify: bool = True
) -> list[nn.Module]:
    """Build every member, load its weights (checking sha256), in eval mode on ``device``."""
    models: list[nn.Module] = []
    for spec in bundle.members:
        weights = bundle.path / spec.weights
        if not weights.is_file():
            raise BundleError(f"bundle {bundle.id!r}: missing weights file {weights.name}")
        if verify and spec.sha256 and sha256_of(weights) != spec.sha256:
            raise BundleError(f"bundle {bundle.id!r}: {weights.name} does not match its sha256")
        model = build_model(spec.architecture, spec.params)
        try:
            model.load_state_dict(load_file(str(weights)), strict=True)
        except (RuntimeError, OSError) as err:
            first = str(err).strip().splitlines()[0]
            message = f"bundle {bundle.id!r}: bad weights {weights.name}: {first}"
            raise BundleError(message) from None
        models.append(model.to(device).eval())
    return models
