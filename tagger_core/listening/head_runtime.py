"""Head bundles at run time: loading one, and analysing tracks with its base's embeddings.

Why no audio: a head bundle (``manifest["input"]["embedding_of"]``) reads the
embedding the analysis engine already stored for its base bundle, so
analysing a library with trained heads is a pass over database rows. The
results go to the ``analyses`` table like any bundle's (member logits
``[members, labels]``, hidden-layer embedding), keyed by the base row's
fingerprint, so calibration, review and export treat them alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sqlalchemy.orm import Session
from torch import nn

from tagger_core.db.analysis_store import load_outputs, save_analysis
from tagger_core.db.models import Analysis
from tagger_core.errors import TaggerError
from tagger_core.labels.bundles import Bundle, BundleError, load_bundle_dir
from tagger_core.listening.weights import load_members
from tagger_core.trust.scaling import (
    EnsembleProbabilities,
    IdentityScaler,
    Scaler,
    scaler_from_dict,
)

TAXONOMY_FILE = "taxonomy.toml"


def flatten_embeddings(embeddings: np.ndarray) -> np.ndarray:
    """Stored ``[N, members, D]`` embeddings → ``[N, members·D]`` (float32)."""
    e = np.asarray(embeddings, dtype=np.float32)
    if e.ndim == 2:
        return e
    if e.ndim != 3:
        raise BundleError(f"embeddings must be tracks x members x dims, got shape {e.shape}")
    return e.reshape(e.shape[0], -1)


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


def analyze_with_heads(session: Session, head: HeadBundle) -> int:
    """Store the head bundle's outputs for every track its base bundle has analysed.

    Returns how many tracks were written. Refuses when the stored embeddings
    come from another version of the base bundle than the heads were trained on.
    """
    spec = head.bundle.manifest["input"]
    outputs = load_outputs(session, spec["embedding_of"], spec.get("embedding_version"))
    if outputs.embeddings.size == 0:
        raise TaggerError(
            f"no stored embeddings of bundle {spec['embedding_of']!r} "
            f"version {spec.get('embedding_version')}: analyse the library with it first"
        )
    logits = head.member_logits(outputs.embeddings)  # (members, N, C)
    x = torch.from_numpy(
        np.ascontiguousarray(flatten_embeddings(outputs.embeddings)[:, head.columns])
    )
    with torch.no_grad():
        hidden = [m(x)["embedding"].numpy() for m in head.members]
    keys = dict(
        session.query(Analysis.track_id, Analysis.fingerprint).filter(
            Analysis.bundle_id == outputs.bundle_id, Analysis.bundle_version == outputs.version
        )
    )
    base_rows = {
        r.track_id: r
        for r in session.query(Analysis).filter(
            Analysis.bundle_id == outputs.bundle_id, Analysis.bundle_version == outputs.version
        )
    }
    for i, track_id in enumerate(outputs.track_ids.tolist()):
        base = base_rows[track_id]
        save_analysis(
            session,
            track_id=track_id,
            bundle_id=head.bundle.id,
            version=head.bundle.version,
            key=keys.get(track_id) or "",
            members=list(head.bundle.member_names),
            member_logits=logits[:, i, :].astype(np.float32),
            embeddings=[h[i] for h in hidden],
            n_patches=base.n_patches,
            seconds=base.seconds_analysed,
        )
    return len(outputs.track_ids)
