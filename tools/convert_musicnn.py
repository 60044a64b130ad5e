"""Convert musicnn 0.1.0's TF1 checkpoints into this project's model bundles.

Usage (no TensorFlow needed; see ``resources/models/README.md``)::

    pip download --no-deps musicnn==0.1.0 -d /tmp/musicnn
    .venv/bin/python tools/convert_musicnn.py /tmp/musicnn/musicnn-0.1.0-py3-none-any.whl

Reads the four checkpoints with ``tagger_core.training.tf_checkpoint`` (a pure-Python
reader of the tensor-bundle format), maps them onto the torch ports in
``tagger_core.listening.models``, and writes two bundles under ``resources/models/``:
``genre`` (MSD_musicnn + MSD_vgg) and ``instruments`` (MTT_musicnn + MTT_vgg),
each with float32 safetensors weights, ``manifest.json`` and the ISC licence.
With ``--check-fixtures`` it also reports how far float16 weights would move
the probabilities on the reference inputs (the reason the weights stay float32).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tagger_core.labels.bundles import sha256_of  # noqa: E402
from tagger_core.labels.frontend_config import FrontendConfig  # noqa: E402
from tagger_core.listening.models import Musicnn, MusicnnVGG  # noqa: E402
from tagger_core.training.tf_checkpoint import read_checkpoint  # noqa: E402

MTT_LABELS = [
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
    "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
    "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
    "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
    "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats",
    "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
]  # fmt: skip
MSD_LABELS = [
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s",
    "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock",
    "60s", "rnb", "indie pop", "sad", "House", "happy",
]  # fmt: skip

# reported test ROC-AUC (experiment.result / README of the wheel)
REPORTED_ROC_AUC = {
    "MSD_musicnn": 0.880,
    "MSD_vgg": 0.877,
    "MTT_musicnn": 0.907,
    "MTT_vgg": 0.903,
}
ARCH = {"musicnn": ("musicnn", Musicnn), "vgg": ("musicnn_vgg", MusicnnVGG)}
ATTRIBUTION = (
    "Pretrained weights from musicnn 0.1.0 (https://github.com/jordipons/musicnn), "
    "Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019, code by Jordi Pons; "
    "ISC licence. Converted to safetensors, numerically unchanged (float32)."
)
BUNDLES = {
    "genre": {
        "task": "genre",
        "dataset": "Million Song Dataset, last.fm top-50 tags",
        "members": ["MSD_musicnn", "MSD_vgg"],
        "labels": MSD_LABELS,
        "description": "Genre tags: ensemble of musicnn and VGG trained on the MSD top-50 tags.",
    },
    "instruments": {
        "task": "instruments",
        "dataset": "MagnaTagATune, top-50 tags",
        "members": ["MTT_musicnn", "MTT_vgg"],
        "labels": MTT_LABELS,
        "description": "Instrument (and style) tags: musicnn and VGG trained on MagnaTagATune.",
    },
}


def convert_member(pkg: Path, name: str) -> tuple[dict, dict]:
    """Return (architecture entry for the manifest, torch state dict)."""
    kind = "vgg" if name.endswith("_vgg") else "musicnn"
    arch_name, cls = ARCH[kind]
    tensors = read_checkpoint(str(pkg / name) + "/")
    state = cls.state_dict_from_tf(tensors)
    model = cls()
    model.load_state_dict(state, strict=True)  # proves every tensor found its place
    config = json.loads((pkg / name / "config.json").read_text())
    assert config["n_frames"] == 187 and config["audio_rep"]["n_mels"] == 96
    params = {"n_classes": 50, "n_mels": 96}
    if kind == "vgg":
        params["n_frames"] = config["n_frames"]
    embedding_dim = 200 if kind == "musicnn" else 256
    entry = {
        "name": name,
        "architecture": arch_name,
        "params": params,
        "weights": f"{name}.safetensors",
        "embedding_dim": embedding_dim,
        "reported_test_roc_auc": REPORTED_ROC_AUC[name],
        "source_checkpoint": f"musicnn/{name}/",
    }
    return entry, {k: v.contiguous() for k, v in state.items()}


def float16_effect(state: dict, cls: type, params: dict, inputs: np.ndarray) -> float:
    """Max |Δ probability| on ``inputs`` when weights are rounded to float16."""
    full = cls(**params)
    full.load_state_dict(state)
    half = cls(**params)
    half.load_state_dict(
        {k: v.half().float() if v.is_floating_point() else v for k, v in state.items()}
    )
    x = torch.from_numpy(inputs.astype(np.float32))
    with torch.no_grad():
        return float((full(x)["probabilities"] - half(x)["probabilities"]).abs().max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="musicnn-0.1.0-py3-none-any.whl")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "models")
    parser.add_argument(
        "--check-fixtures",
        type=Path,
        default=ROOT / "tests" / "fixtures" / "musicnn" / "inputs.npy",
        help="reference inputs used to report the float16 effect",
    )
    args = parser.parse_args(argv)
    wheel_sha = sha256_of(args.wheel)
    inputs = np.load(args.check_fixtures) if args.check_fixtures.is_file() else None
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(args.wheel) as zf:
            zf.extractall(tmp)
        pkg = Path(tmp) / "musicnn"
        licence_text = next(Path(tmp).glob("musicnn-*.dist-info/LICENSE*")).read_text()
        for bundle_id, spec in BUNDLES.items():
            out = args.out / bundle_id
            out.mkdir(parents=True, exist_ok=True)
            members = []
            for name in spec["members"]:
                entry, state = convert_member(pkg, name)
                weights_path = out / entry["weights"]
                save_file(state, str(weights_path), metadata={"source": f"musicnn 0.1.0 {name}"})
                weights_path.chmod(0o644)
                entry["sha256"] = sha256_of(weights_path)
                members.append(entry)
                if inputs is not None:
                    cls = ARCH["vgg" if name.endswith("_vgg") else "musicnn"][1]
                    delta = float16_effect(state, cls, entry["params"], inputs)
                    print(f"{name}: float16 weights move probabilities by up to {delta:.2e}")
                print(f"{name}: {weights_path.stat().st_size / 1e6:.2f} MB")
            manifest = {
                "format": 1,
                "id": bundle_id,
                "version": "1.0.0",
                "task": spec["task"],
                "description": spec["description"],
                "raw_labels": spec["labels"],
                "preprocessing": FrontendConfig.musicnn().to_dict(),
                "patch_frames": 187,
                "patch_hop_frames": 187,
                "taxonomy": "default.toml",
                "members": members,
                "licence": {"name": "ISC", "file": "LICENSE.txt", "attribution": ATTRIBUTION},
                "provenance": {
                    "source": "PyPI package musicnn 0.1.0",
                    "wheel": args.wheel.name,
                    "wheel_sha256": wheel_sha,
                    "dataset": spec["dataset"],
                    "converted_by": "tools/convert_musicnn.py",
                },
            }
            (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            (out / "LICENSE.txt").write_text(licence_text.rstrip() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
