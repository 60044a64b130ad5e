"""A short account of stored predictions: labels found per bundle, tracks flagged.

Why here: ``music-tagger run`` ends with this summary; counting confident labels
and flags is a question about predictions, so the CLI only prints the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagger_core.db.models import Prediction

CONFIDENT = 0.5


@dataclass
class PredictionSummary:
    """``found[bundle_id][label]`` = tracks with confidence ≥ ``CONFIDENT``; flagged tracks."""

    found: dict[str, dict[str, int]] = field(default_factory=dict)
    flagged: int = 0
    tracks: int = 0


def summarize_predictions(session: Session, track_ids: Sequence[int]) -> PredictionSummary:
    """Count confident labels per bundle and flagged tracks among ``track_ids``."""
    preds = list(session.scalars(select(Prediction).where(Prediction.track_id.in_(track_ids))))
    summary = PredictionSummary(tracks=len(track_ids))
    for p in preds:
        tally = summary.found.setdefault(p.bundle_id, {})
        for label, conf in (p.confidences or {}).items():
            if conf >= CONFIDENT:
                tally[label] = tally.get(label, 0) + 1
    summary.flagged = len({p.track_id for p in preds if p.flagged})
    return summary
