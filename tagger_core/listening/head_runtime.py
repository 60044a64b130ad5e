"""Analysing tracks with a head bundle: its base bundle's stored embeddings in, raw outputs out.

Why no audio: a head bundle (``manifest["input"]["embedding_of"]``) reads the
embedding the analysis engine already stored for its base bundle, so
analysing a library with trained heads is a pass over database rows. The
results go to the ``analyses`` table like any bundle's (member logits
``[members, labels]``, hidden-layer embedding), keyed by the base row's
fingerprint, so calibration, review and export treat them alike.
"""

from __future__ import annotations

import numpy as np
import torch
from sqlalchemy.orm import Session

from tagger_core.db.analysis_store import load_outputs, save_analysis
from tagger_core.db.models import Analysis
from tagger_core.errors import TaggerError
from tagger_core.training.head_bundle import HeadBundle, flatten_embeddings


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
