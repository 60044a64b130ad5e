"""Calibrating album-level confidences on the albums whose labels are known.

An album's labels are known when every readable track of it has known labels (marked
reviewed: its accepted labels; or, when the librarian trusts tags, the labels its genre
tags map to) and all its tracks carry the *same* set: an album-wide genre. Albums with
mixed labels are left out rather than guessed. Both poolings of ``trust.albums`` are
cross-validated with the same scaler and folds; the one with the lower held-out NLL is
kept. The never-worse rule of the track calibration holds: a fit whose held-out NLL or
ECE did not go down (``CrossValReport.worse``) is stored for the report but not made
active, so album confidences stay the raw pooled ensemble.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from tagger_core.db import Library
from tagger_core.db.models import Setting, utcnow
from tagger_core.errors import CalibrationError
from tagger_core.trust.albums import POOLINGS, SETTING_PREFIX, AlbumOutputs, album_outputs
from tagger_core.trust.archive_calibration import CalibrationSet, eligible_labels, make_scaler
from tagger_core.trust.crossval import CrossValReport, cross_validate
from tagger_core.trust.predictions import existing_label_matrix
from tagger_core.trust.review import reviews
from tagger_core.trust.scaling import scaler_from_dict


def known_album_labels(
    session: Session, outputs: AlbumOutputs, use_tags: bool
) -> tuple[list[int], np.ndarray, int, int]:
    """(album rows, 0/1 labels, albums known by review, by tags) of the album-wide labels."""
    ids = sorted({t for ts in outputs.tracks.values() for t in ts})
    state = reviews(session, outputs.task, ids)
    tags = (
        existing_label_matrix(session, outputs.task, outputs.labels, np.array(ids, np.int64))
        if use_tags
        else None
    )
    tag_of = {t: tags[i] for i, t in enumerate(ids)} if tags is not None else {}
    rows: list[int] = []
    ys: list[np.ndarray] = []
    by_review = by_tags = 0
    for a, key in enumerate(outputs.keys):
        sets: list[np.ndarray] = []
        reviewed_all = True
        for tid in outputs.tracks[key]:
            review = state.get(tid)
            if review is not None and review.reviewed:
                sets.append(np.array([n in review.accepted for n in outputs.labels]))
            elif tid in tag_of and tag_of[tid].any():
                sets.append(tag_of[tid])
                reviewed_all = False
            else:
                break
        else:
            if sets and all(np.array_equal(sets[0], s) for s in sets[1:]):
                rows.append(a)
                ys.append(sets[0].astype(np.float64))
                by_review += int(reviewed_all)
                by_tags += int(not reviewed_all)
    y = np.stack(ys) if ys else np.zeros((0, len(outputs.labels)))
    return rows, y, by_review, by_tags


def fit_album_calibration(
    library: Library,
    bundle_id: str,
    method: str = "per-class",
    fit: str = "nll",
    folds: int = 5,
    use_tags: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare the poolings, fit the better one, store it; active only if never worse."""
    scaler = make_scaler(method, fit)
    with library.session() as s:
        pooled = album_outputs(s, bundle_id, None, POOLINGS)
        first = pooled[POOLINGS[0]]
        rows, y, by_review, by_tags = known_album_labels(s, first, use_tags)
    if not rows:
        hint = "" if use_tags else " or trust existing genre tags (--use-tags)"
        raise CalibrationError(
            f"no album of {bundle_id!r} has known album-wide labels: review every track of "
            f"some albums{hint}"
        )
    cal_set = CalibrationSet(
        bundle_id=bundle_id, version=first.version, task=first.task, labels=first.labels,
        track_ids=np.array(rows), logits=first.logits[:, rows, :], y=y,
    )  # fmt: skip
    keep, skipped = eligible_labels(cal_set, folds)
    if not keep:
        raise CalibrationError(
            f"no label has enough albums for {folds}-fold cross-validation "
            f"({len(rows)} albums with known labels so far)"
        )
    labels = tuple(first.labels[c] for c in keep)
    y = y[:, keep]
    reports: dict[str, CrossValReport] = {}
    for pooling in POOLINGS:
        z = pooled[pooling].logits[:, rows, :][:, :, keep]
        reports[pooling] = cross_validate(z, y, scaler, k=folds, seed=seed, class_names=labels)
    best = min(POOLINGS, key=lambda p: reports[p].after.nll)
    report = reports[best]
    z = pooled[best].logits[:, rows, :][:, :, keep]
    fitted = scaler_from_dict(scaler.to_dict()).fit(z, y)
    worse = report.worse()
    state = {
        "bundle_id": bundle_id,
        "version": first.version,
        "method": method,
        "fit_criterion": fit,
        "pooling": best,
        "labels": list(labels),
        "scaler": fitted.to_dict(),
        "skipped": skipped,
        "active": not worse,
        "worse": [list(w) for w in worse],
        "albums": len(rows),
        "from_review": by_review,
        "from_tags": by_tags,
        "comparison": {
            p: {"before": r.before.to_dict(), "after": r.after.to_dict()}
            for p, r in reports.items()
        },
        "report": report.to_dict(),
        "fitted_at": utcnow().isoformat(timespec="seconds"),
    }

    def store(s: Session) -> None:
        row = s.get(Setting, SETTING_PREFIX + bundle_id)
        if row is None:
            s.add(Setting(key=SETTING_PREFIX + bundle_id, value=state))
        else:
            row.value, row.updated_at = state, utcnow()

    library.write(store, "saving the album calibration")
    return state
