"""The calibration report: one self-contained HTML page with its diagrams inlined.

Why in ``trust``: the page shows the state of calibration and review (metrics before and
after, reliability diagrams, the flag policy); ``music-tagger report`` only writes it.
"""

from __future__ import annotations

import base64
import datetime as dt
import html

from tagger_core.db import Library
from tagger_core.db.models import Calibration
from tagger_core.trust.album_report import album_report_html
from tagger_core.trust.archive_calibration import REPORTED_METRICS, list_calibrations
from tagger_core.trust.metrics import ReliabilityDiagram
from tagger_core.trust.plots import render_reliability_comparison, render_temperature_curve
from tagger_core.trust.predictions import load_policy
from tagger_core.trust.review import review_counts
from tagger_core.trust.scaling import TemperatureCurve


def _img(png: bytes) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _calibration_section(c: Calibration) -> str:
    before, after = c.metrics_before, c.metrics_after
    parts = [
        f"<h2>{html.escape(c.bundle_id)}: calibration {c.id} ({html.escape(c.method)}, "
        f"fit by {html.escape(c.fit_criterion)}, {after.get('folds', '?')}-fold)</h2>"
    ]
    diagrams = [ReliabilityDiagram.from_dict(m["diagram"]) for m in (before, after)]
    parts.append(_img(render_reliability_comparison(diagrams)))
    if "temperature_curve" in after:
        parts.append(
            _img(render_temperature_curve(TemperatureCurve.from_dict(after["temperature_curve"])))
        )
    head = "".join(f"<th>{c_}</th>" for c_ in REPORTED_METRICS)
    rows = ["<tr><th>label</th><th>positives</th>" + head + "</tr>"]
    counts = after.get("label_counts", {})
    for name in ["(all)", *before.get("per_class", {})]:
        b = before["pooled"] if name == "(all)" else before["per_class"][name]
        a = after["pooled"] if name == "(all)" else after["per_class"][name]
        pos = "" if name == "(all)" else counts.get(name, {}).get("positives", "")
        cells = "".join(f"<td>{b[k]:.4f} → {a[k]:.4f}</td>" for k in REPORTED_METRICS)
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{pos}</td>{cells}</tr>")
    parts.append("<table>" + "".join(rows) + "</table>")
    skipped = c.params.get("skipped", {})
    if skipped:
        items = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in skipped.items())
        parts.append(f"<p>Not calibrated (uncalibrated output kept):</p><ul>{items}</ul>")
    return "\n".join(parts)


def calibration_report_html(library: Library) -> str:
    """One self-contained HTML page: review queue, flag policy, every active calibration."""
    with library.session() as s:
        active = [c for c in list_calibrations(s) if c.active]
        counts = review_counts(s)
        policy = load_policy(s)
        albums = album_report_html(s)
    sections = [_calibration_section(c) for c in active] or [
        "<p>No active calibration: confidences are the models' raw ensemble outputs.</p>"
    ]
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Music Archive Tagger: calibration report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}} img{{max-width:100%}}
table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}</style>
</head><body><h1>Calibration report</h1>
<p>Library {html.escape(str(library.path))}, {dt.datetime.now():%Y-%m-%d %H:%M}.</p>
<h2>Review queue</h2><p>{counts["flagged"]} tracks flagged, {counts["reviewed"]} reviewed,
{counts["waiting"]} waiting. Policy: uncertain band
{policy.uncertain_low:.2f}–{policy.uncertain_high:.2f}, accept threshold
{policy.accept_threshold:.2f}, member disagreement limit {policy.disagreement_limit:.2f}.</p>
{"".join(sections)}
{albums}
</body></html>"""
    return page
