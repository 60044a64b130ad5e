"""Small, randomly initialised model bundles of the real architectures, for fast tests."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from tagger_core.labels.bundles import Bundle, load_bundle_dir
from tagger_core.listening.models import build_model

TINY_FRONTEND = {
    "sr": 16000,
    "n_fft": 512,
    "hop_length": 256,
    "n_mels": 96,
    "fmin": 0.0,
    "fmax": None,
    "log_mode": "logC",
    "log_c": 10000.0,
    "log_eps": 1e-10,
    "center": True,
}
PATCH_FRAMES = 128  # about 2 s at hop 256


def make_tiny_bundle(
    root: Path,
    bundle_id: str,
    *,
    n_classes: int = 6,
    seed: int = 0,
    version: str = "1.0.0",
    task: str = "genre",
) -> Bundle:
    """A two-member bundle (musicnn + VGG architectures) in ``root / bundle_id``."""
    folder = root / bundle_id
    folder.mkdir(parents=True, exist_ok=True)
    specs = [
        ("tiny_musicnn", "musicnn", {"n_classes": n_classes, "n_mels": 96,
                                      "num_filt_frontend": 0.25, "num_filt_midend": 8,
                                      "num_units_backend": 12}),
        ("tiny_vgg", "musicnn_vgg", {"n_classes": n_classes, "n_mels": 96,
                                      "n_frames": PATCH_FRAMES, "num_filters": 4}),
    ]  # fmt: skip
    members = []
    torch.manual_seed(seed)
    for name, arch, params in specs:
        model = build_model(arch, params)
        with torch.no_grad():
            for key, tensor in model.state_dict().items():
                if key.endswith("running_var"):
                    tensor.uniform_(0.5, 2.0)
                elif key.endswith("running_mean"):
                    tensor.normal_(0.0, 0.3)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / f"{name}.st")
        members.append(
            {"name": name, "architecture": arch, "params": params, "weights": f"{name}.st"}
        )
    manifest = {
        "format": 1,
        "id": bundle_id,
        "version": version,
        "task": task,
        "raw_labels": [f"tag{i}" for i in range(n_classes)],
        "preprocessing": TINY_FRONTEND,
        "patch_frames": PATCH_FRAMES,
        "patch_hop_frames": PATCH_FRAMES,
        "members": members,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return load_bundle_dir(folder)
