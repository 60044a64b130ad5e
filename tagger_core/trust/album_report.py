"""The albums section of the calibration report: album calibration and disagreeing albums.

Why in ``trust``: it reports the state of album-level confidences (pooling compared,
held-out figures before and after, whether the fit is applied) and which albums'
tracks disagree; the report command only places it on the page.
"""

from __future__ import annotations

import html

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tagger_core.db.models import Track
from tagger_core.labels.bundles import BundleError
from tagger_core.labels.tasks import task_bundles
from tagger_core.trust.albums import album_predictions, load_album_calibration, state_text
from tagger_core.trust.predictions import load_policy

MAX_LISTED = 100


def _names(session: Session, keys: list[str]) -> dict[str, str]:
    rows = session.execute(
        select(
            Track.album_key,
            func.coalesce(func.max(Track.album_artist), func.max(Track.artist), "?"),
            func.min(Track.album),
        )
        .where(Track.album_key.in_(keys))
        .group_by(Track.album_key)
    )
    return {key: f"{artist} – {album}" for key, artist, album in rows}


def album_report_html(session: Session) -> str:
    """An HTML fragment: per shown bundle, the album calibration and the disagreeing albums."""
    shown = task_bundles(session)
    threshold = load_policy(session).accept_threshold
    parts = ["<h2>Albums</h2>"]
    for task, bundle_id in (("genre", shown.genre), ("instruments", shown.instruments)):
        try:
            found = album_predictions(session, bundle_id)
        except BundleError:
            continue
        if not found:
            continue
        state = load_album_calibration(session, bundle_id)
        parts.append(
            f"<h3>{html.escape(bundle_id)} ({task}): {len(found)} albums</h3>"
            f"<p>{html.escape(state_text(state))}</p>"
        )
        if state is not None:
            head = "<th>pooling</th><th>NLL before → after</th><th>ECE before → after</th>"
            rows = [f"<tr>{head}</tr>"]
            for pooling, c in state["comparison"].items():
                kept = " (kept)" if pooling == state["pooling"] else ""
                rows.append(
                    f"<tr><td>{pooling}{kept}</td>"
                    f"<td>{c['before']['nll']:.4f} → {c['after']['nll']:.4f}</td>"
                    f"<td>{c['before']['ece']:.4f} → {c['after']['ece']:.4f}</td></tr>"
                )
            parts.append("<table>" + "".join(rows) + "</table>")
        flagged = [a for a in found.values() if a.flagged]
        parts.append(f"<p>{len(flagged)} albums whose tracks disagree.</p>")
        if flagged:
            names = _names(session, [a.key for a in flagged[:MAX_LISTED]])
            items = "".join(
                f"<li><b>{html.escape(names.get(a.key, a.key))}</b>: "
                f"{html.escape(a.summary(threshold) or '—')}. "
                f"{html.escape('; '.join(a.reasons))}</li>"
                for a in flagged[:MAX_LISTED]
            )
            parts.append(f"<ul>{items}</ul>")
    return "\n".join(parts) if len(parts) > 1 else ""
