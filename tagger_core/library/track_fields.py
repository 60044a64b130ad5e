"""The fields ``tracks --fields/--format`` can print, one flat text record per track.

Why a flat record: a format string in the spirit of ``beet ls -f`` names fields
(``'{artist} - {title}: {genres}'``); every field is text, already summarised (the
predicted genres as the table shows them), so the CLI only fills the template.
"""

from __future__ import annotations

import string
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagger_core.db.models import Track
from tagger_core.errors import TaggerError
from tagger_core.labels.tasks import TaskBundles
from tagger_core.library.track_views import rows_for

#: Field name → what it holds (``tracks --help`` and docs/cli.md list these).
FIELDS: dict[str, str] = {
    "id": "track id",
    "path": "file path",
    "title": "title (the file name when untitled)",
    "artist": "artist",
    "album": "album",
    "album_artist": "album artist",
    "year": "year",
    "track": "track number",
    "format": "container format",
    "status": "ok, missing, unreadable…",
    "existing": "genres the file's tags carry",
    "genres": "predicted genres that clear the accept threshold, with confidences",
    "instruments": "predicted instrument families, with confidences",
    "flag": "flagged (waiting for review), reviewed, or empty",
    "problem": "why the file or its analysis failed (empty when all is well)",
    "outdated": "which predictions come from an earlier model version (empty when current)",
}
DEFAULT_FORMAT = (
    "{id:>6}  {artist} – {title}  ({existing})  heard: [{genres}] [{instruments}]  {flag}"
    "  {problem}  {outdated}"
)


def check_template(template: str) -> None:
    """Refuse, in one line, a template naming an unknown field or malformed."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError as err:
        raise TaggerError(f"bad --format template: {err}") from err
    unknown = sorted({n for n in names if n not in FIELDS})
    if unknown:
        raise TaggerError(
            f"unknown field(s) {', '.join(unknown)} in --format; fields: {', '.join(FIELDS)}"
        )


def fields_template(fields: str) -> str:
    """``--fields artist,title,genres`` as a tab-separated template."""
    names = [f.strip() for f in fields.split(",") if f.strip()]
    template = "\t".join(f"{{{n}}}" for n in names)
    check_template(template)
    return template


def track_records(
    session: Session, ids: list[int], bundles: TaskBundles
) -> list[dict[str, Any]]:
    """The flat text record of each of ``ids`` (in that order)."""
    shown = {r.id: r for r in rows_for(session, ids, bundles)}
    tracks = {
        t.id: t
        for t in session.scalars(select(Track).where(Track.id.in_(ids)))
    }
    out: list[dict[str, Any]] = []
    for tid in ids:
        t, row = tracks.get(tid), shown.get(tid)
        if t is None or row is None:
            continue
        out.append(
            {
                "id": t.id,
                "path": t.path_text,
                "title": row.title,
                "artist": t.artist or "",
                "album": t.album or "",
                "album_artist": t.album_artist or "",
                "year": "" if t.year is None else str(t.year),
                "track": "" if t.track_no is None else str(t.track_no),
                "format": t.format or "",
                "status": row.status_text,
                "existing": "; ".join(t.genres or []),
                "genres": row.predicted,
                "instruments": row.instruments,
                "flag": row.flag,
                "problem": row.status_text if row.status != "ok" or row.error else "",
                "outdated": "; ".join(row.outdated.values()),
            }
        )
    return out


def render(record: dict[str, Any], template: str) -> str:
    """``template`` filled from one record (the template was checked first)."""
    return template.format(**record)
