"""Saving trained heads as a model bundle, and applying one to stored embeddings.

Why a bundle: the result of ``train heads`` must travel like any other model
(``tagger_core.labels.bundles``: ``manifest.json`` + one safetensors file per member),
so listing, sha256 checks and ``Bundle.load_members`` work unchanged. What the
patch-model format cannot say is that the members read *another bundle's
stored embedding* rather than log-mel patches; the manifest says it with an
``input`` block, and this module implements that load path::

    "input": {"embedding_of": "genre", "embedding_version": "1.0.0",
              "embedding_members": ["MSD_musicnn", ...], "columns": [0, 1, ...]}

``columns`` selects the used entries of the flattened ``[members × D]``
stored embedding (NaN padding of narrower members is dropped). The
preprocessing and patch fields are copied from the base bundle, so a reader
that ignores ``input`` still finds a well-formed manifest. The calibration
fitted on the validation part is kept under ``calibration`` (a scaler's
``to_dict``), and the labels' identity taxonomy in ``taxonomy.toml``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from tagger_core.labels.bundles import MANIFEST, Bundle, BundleError, load_bundle_dir
from tagger_core.listening.weights import load_members, sha256_of
from tagger_core.training.heads import HeadEnsemble
from tagger_core.trust.scaling import EnsembleProbabilities, Scaler, scaler_from_dict

TAXONOMY_FILE = "taxonomy.toml"


def flatten_embeddings(embeddings: np.ndarray) -> np.ndarray:
    """Stored ``[N, members, D]`` embeddings → ``[N, members·D]`` (float32)."""
    e = np.asarray(embeddings, dtype=np.float32)
    if e.ndim == 2:
        return e
    if e.ndim != 3:
        raise BundleError(f"embeddings must be tracks x members x dims, got shape {e.shape}")
    return e.reshape(e.shape[0], -1)


def usable_columns(flat: np.ndarray) -> np.ndarray:
    """Columns of a flattened embedding that are finite for every track."""
    return np.flatnonzero(np.isfinite(flat).all(axis=0))


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def write_identity_taxonomy(path: Path, task: str, labels: Sequence[str]) -> None:
    """A taxonomy in which each label is its own (only) tag."""
    lines = [f"[{task}]", 'rule = "max"', "", f"[{task}.labels]"]
    lines += [f"{_toml_string(label)} = [{_toml_string(label)}]" for label in labels]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def save_head_bundle(
    ensemble: HeadEnsemble,
    scaler: Scaler,
    directory: str | Path,
    *,
    bundle_id: str,
    task: str,
    base: Bundle,
    columns: Sequence[int],
    version: str = "1.0.0",
    description: str = "",
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write ``directory`` (created; must not hold another bundle) and return it."""
    out = Path(directory)
    if (out / MANIFEST).exists():
        raise BundleError(f"{out} already holds a bundle; choose another output folder")
    out.mkdir(parents=True, exist_ok=True)
    members = []
    for m, model in enumerate(ensemble.members):
        name = f"{ensemble.config.design}_{m}"
        weights = out / f"{name}.safetensors"
        state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        save_file(state, str(weights))
        members.append(
            {
                "name": name,
                "architecture": ensemble.architecture,
                "params": ensemble.params,
                "weights": weights.name,
                "sha256": sha256_of(weights),
                "embedding_dim": ensemble.config.hidden_units,
                "seed": ensemble.histories[m].seed,
                "best_epoch": ensemble.histories[m].best_epoch,
            }
        )
    write_identity_taxonomy(out / TAXONOMY_FILE, task, ensemble.class_names)
    (out / "LICENSE.txt").write_text(
        "Weights trained by the user of Music Archive Tagger on their own archive's "
        f"embeddings from the bundle '{base.id}'; they inherit whatever terms apply "
        "to that archive and to the base bundle.\n",
        encoding="utf-8",
    )
    manifest = {
        "format": 1,
        "id": bundle_id,
        "version": version,
        "task": task,
        "description": description
        or f"{ensemble.config.design} MLP heads on the '{base.id}' embedding",
        "raw_labels": list(ensemble.class_names),
        "preprocessing": base.frontend_config.to_dict(),
        "patch_frames": base.patch_frames,
        "patch_hop_frames": base.patch_hop_frames,
        "taxonomy_file": TAXONOMY_FILE,
        "input": {
            "embedding_of": base.id,
            "embedding_version": base.version,
            "embedding_members": list(base.member_names),
            "columns": [int(c) for c in columns],
        },
        "members": members,
        "calibration": scaler.to_dict(),
        "licence": {"name": "user-trained", "file": "LICENSE.txt", "attribution": ""},
        "provenance": {
            "trained_by": "music-tagger train heads",
            "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "design": ensemble.config.design,
            "config": ensemble.config.to_dict(),
            **(provenance or {}),
        },
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return out


@dataclass
class HeadBundle:
    """A loaded head bundle: its manifest, members and the calibration it was trained with."""

    bundle: Bundle
    members: list[nn.Module]
    scaler: Scaler | None

    @property
    def embedding_of(self) -> str:
        return str(self.bundle.manifest["input"]["embedding_of"])

    @property
    def columns(self) -> np.ndarray:
        return np.asarray(self.bundle.manifest["input"]["columns"], dtype=np.int64)

    @torch.no_grad()
    def member_logits(self, embeddings: np.ndarray) -> np.ndarray:
        """Logits ``(members, N, C)`` from stored base embeddings ``[N, members, D]``."""
        flat = flatten_embeddings(embeddings)
        cols = self.columns
        if cols.size and cols.max() >= flat.shape[1]:
            raise BundleError(
                f"bundle {self.bundle.id!r} expects a wider '{self.embedding_of}' embedding "
                f"than the stored one ({flat.shape[1]} values)"
            )
        x = torch.from_numpy(np.ascontiguousarray(flat[:, cols]))
        if not torch.isfinite(x).all():
            raise BundleError(f"stored '{self.embedding_of}' embeddings hold missing values")
        return np.stack([m(x)["logits"].numpy() for m in self.members]).astype(np.float64)

    def predict(self, embeddings: np.ndarray) -> EnsembleProbabilities:
        """Calibrated ensemble probabilities and member spread for stored embeddings."""
        logits = self.member_logits(embeddings)
        if self.scaler is None:
            from tagger_core.trust.scaling import IdentityScaler

            return IdentityScaler().transform(logits)
        return self.scaler.transform(logits)


def is_head_bundle(bundle: Bundle) -> bool:
    """Whether ``bundle`` reads another bundle's embedding instead of audio patches."""
    return bundle.reads_embedding


def load_head_bundle(directory: str | Path) -> HeadBundle:
    """Load a head bundle from its folder (weights verified against their sha256)."""
    directory = Path(directory)
    bundle = load_bundle_dir(directory)
    if not is_head_bundle(bundle):
        raise BundleError(f"{directory} is not a head bundle (its manifest has no input block)")
    taxonomy = directory / bundle.manifest.get("taxonomy_file", TAXONOMY_FILE)
    if taxonomy.is_file():  # the bundle's own labels, not the app's default taxonomy
        bundle = Bundle(directory, bundle.manifest, taxonomy)
    calibration = bundle.manifest.get("calibration")
    scaler = scaler_from_dict(calibration) if calibration else None
    return HeadBundle(bundle=bundle, members=load_members(bundle, "cpu"), scaler=scaler)
