"""Saving trained heads as a model bundle (loading and applying one: ``listening.head_runtime``).

Why a bundle: the result of ``train heads`` must travel like any other model
(``tagger_core.labels.bundles``: ``manifest.json`` + one safetensors file per member),
so listing, sha256 checks and ``listening.weights.load_members`` work unchanged. What the
patch-model format cannot say is that the members read *another bundle's
stored embedding* rather than log-mel patches; the manifest says it with an
``input`` block, and ``listening.head_runtime`` implements that load path::

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
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.torch import save_file

from tagger_core.labels.bundles import MANIFEST, Bundle, BundleError, sha256_of
from tagger_core.listening.head_runtime import TAXONOMY_FILE
from tagger_core.training.heads import HeadEnsemble
from tagger_core.trust.scaling import Scaler


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
