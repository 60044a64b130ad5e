"""Dumping the library database to CSV or JSON for use outside the app.

One record per track: where it is, the tags it carries, the calibrated
confidences, spreads and flags of every bundle, and the effective review
decisions. JSON keeps the nesting; CSV flattens it into stable columns
(``conf:<bundle>:<label>``) so spreadsheets can sort and filter.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagger_core.db import Library
from tagger_core.db.models import Prediction, Track
from tagger_core.errors import TaggerError
from tagger_core.trust.review import TASKS, reviews

FORMATS = ("csv", "json")
_TRACK_COLUMNS = (
    "id", "path", "status", "format", "codec", "duration", "title", "artist", "album",
    "album_artist", "year", "track_no", "disc_no",
)  # fmt: skip


def track_records(session: Session) -> Iterator[dict[str, Any]]:
    """One JSON-safe record per track, in path order."""
    preds: dict[int, list[Prediction]] = {}
    for p in session.scalars(select(Prediction).order_by(Prediction.bundle_id)):
        preds.setdefault(p.track_id, []).append(p)
    states = {task: reviews(session, task) for task in TASKS}
    for t in session.scalars(select(Track).order_by(Track.path)):
        record: dict[str, Any] = {
            name: getattr(t, name) for name in _TRACK_COLUMNS if name != "path"
        }
        record["path"] = t.path_text
        record["genres"] = list(t.genres or [])
        record["predictions"] = {
            p.bundle_id: {
                "confidences": dict(p.confidences),
                "spread": dict(p.spread),
                "flagged": bool(p.flagged),
                "flag_reasons": list(p.flag_reasons),
                "uncertainty": p.uncertainty,
                "calibration_id": p.calibration_id,
            }
            for p in preds.get(t.id, [])
        }
        record["decisions"] = {}
        for task in TASKS:
            state = states[task].get(t.id)
            if state is not None:
                record["decisions"][task] = {
                    "accepted": sorted(state.accepted),
                    "rejected": sorted(state.rejected),
                    "reviewed": state.reviewed,
                }
        yield record


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    row = {name: record.get(name) for name in _TRACK_COLUMNS}
    row["genres"] = json.dumps(record["genres"], ensure_ascii=False)
    for bundle, pred in record["predictions"].items():
        for label, conf in pred["confidences"].items():
            row[f"conf:{bundle}:{label}"] = conf
        row[f"flagged:{bundle}"] = int(pred["flagged"])
        row[f"flag_reasons:{bundle}"] = json.dumps(pred["flag_reasons"], ensure_ascii=False)
    for task, state in record["decisions"].items():
        row[f"accepted:{task}"] = json.dumps(state["accepted"], ensure_ascii=False)
        row[f"rejected:{task}"] = json.dumps(state["rejected"], ensure_ascii=False)
        row[f"reviewed:{task}"] = int(state["reviewed"])
    return row


def dump(library: Library, fmt: str, out: TextIO) -> int:
    """Write every track to ``out`` as ``csv`` or ``json``; returns the number of tracks."""
    if fmt not in FORMATS:
        raise TaggerError(f"unknown dump format {fmt!r}; expected csv or json")
    with library.session() as s:
        records = list(track_records(s))
    if fmt == "json":
        json.dump(records, out, indent=2, ensure_ascii=False, default=str)
        out.write("\n")
        return len(records)
    rows = [_flatten(r) for r in records]
    extra = sorted({k for r in rows for k in r} - set(_TRACK_COLUMNS) - {"genres"})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*_TRACK_COLUMNS, "genres", *extra])
    writer.writeheader()
    writer.writerows(rows)
    out.write(buf.getvalue())
    return len(records)
