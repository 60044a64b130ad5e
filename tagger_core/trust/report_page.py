"""The calibration report: one self-contained HTML page with its diagrams inlined.

Why in ``trust``: the page shows the state of calibration and review (metrics before and
after with their 95 % intervals, reliability diagrams, conformal sets, each bundle's
shift check, the flag policy); ``music-tagger report`` only writes it.
"""

from __future__ import annotations

import base64
import datetime as dt
import html

from tagger_core.db import Library
from tagger_core.db.models import Calibration
from tagger_core.trust.album_report import album_report_html
from tagger_core.trust.archive_calibration import (
    REPORTED_METRICS,
    list_calibrations,
    worse_text,
)
from tagger_core.trust.metrics import ReliabilityDiagram
from tagger_core.trust.plots import render_reliability_comparison, render_temperature_curve
from tagger_core.trust.predictions import load_policy
from tagger_core.trust.review import review_counts
from tagger_core.trust.review_conflicts import Conflict, review_conflicts
from tagger_core.trust.scaling import TemperatureCurve
from tagger_core.trust.shift import check_shifts
from tagger_core.trust.uncertainty import caption, interval_text


def _img(png: bytes) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _calibration_section(c: Calibration) -> str:
    before, after = c.metrics_before, c.metrics_after
    parts = [
        f"<h2>{html.escape(c.bundle_id)}: calibration {c.id} ({html.escape(c.method)}, "
        f"fit by {html.escape(c.fit_criterion)}, {after.get('folds', '?')}-fold)</h2>"
    ]
    diagrams = [ReliabilityDiagram.from_dict(m["diagram"]) for m in (before, after)]
    titles = [
        caption(title, m.get("ci95", {}))
        for title, m in (("Before calibration", before), ("After calibration", after))
    ]
    parts.append(_img(render_reliability_comparison(diagrams, titles)))
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
        if name == "(all)" and "ci95" in after:
            cis = "".join(
                f"<td>{interval_text(before['ci95'], k)} → {interval_text(after['ci95'], k)}</td>"
                for k in REPORTED_METRICS
            )
            rows.append(f"<tr><td>(all) 95 % interval</td><td></td>{cis}</tr>")
    parts.append("<table>" + "".join(rows) + "</table>")
    parts.extend(_uncertainty_notes(c))
    skipped = c.params.get("skipped", {})
    if skipped:
        items = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in skipped.items())
        parts.append(f"<p>Not calibrated (uncalibrated output kept):</p><ul>{items}</ul>")
    return "\n".join(parts)


def _uncertainty_notes(c: Calibration) -> list[str]:
    """Sentences on intervals, "never worse" and conformal sets, when the row stores them."""
    notes: list[str] = []
    after = c.metrics_after or {}
    if "ci95" in after:
        more = after.get("uncertainty", {}).get("more_tracks_for_ece_pm_0_01", 0)
        notes.append(
            "<p>Intervals: 95 % bootstrap over tracks (1,000 resamples). "
            + (
                f"About {more:,} more labelled tracks would narrow the ECE interval to ±0.01 "
                "(an estimate: the half-width shrinks roughly as 1/√tracks).</p>"
                if more
                else "The ECE interval is within ±0.01.</p>"
            )
        )
    worse = after.get("worse") or []
    if worse:
        notes.append(
            f"<p>⚠ Activated although {html.escape(worse_text([tuple(w) for w in worse]))}.</p>"
        )
    conformal = (c.params or {}).get("conformal")
    if conformal:
        notes.append(
            f"<p>Conformal label sets (target {conformal['target']:.0%}): labels with confidence "
            f"≥ {conformal['threshold']:.3f}; held-out coverage "
            f"{conformal['coverage_held_out']:.1%}, {conformal['mean_set_size']:.2f} labels per "
            "track on average.</p>"
        )
    return notes


def _shift_section(library: Library) -> str:
    """Each analysed bundle's shift check: a warning with the action, or that it holds."""
    items = []
    for r in check_shifts(library):
        if r.statistic is None:
            text = f"{r.bundle}: not checked: {r.reason}"
        elif r.shifted:
            text = f"⚠ {r.warning}"
        else:
            text = (
                f"{r.bundle}: like its calibration data ({r.reference}; MMD² {r.statistic:.3g}, "
                f"p = {r.p_value:.3g})"
            )
        items.append(f"<li>{html.escape(text)}</li>")
    if not items:
        return ""
    return "<h2>Shift</h2><ul>" + "".join(items) + "</ul>"


def _conflicts_section(conflicts: list[Conflict]) -> str:
    """Labels two librarians decided differently: both people, both decisions, both times."""
    if not conflicts:
        return ""
    head = (
        "<tr><th>track</th><th>task</th><th>label</th><th>wins (later)</th>"
        "<th>overruled (earlier)</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{c.track_id} {html.escape(c.path)}</td><td>{html.escape(c.task)}</td>"
        f"<td>{html.escape(c.label)}</td>"
        f"<td>{html.escape(c.winner)}: {c.winner_action}, {c.winner_at:%Y-%m-%d %H:%M} UTC</td>"
        f"<td>{html.escape(c.overruled)}: {c.overruled_action}, "
        f"{c.overruled_at:%Y-%m-%d %H:%M} UTC</td></tr>"
        for c in conflicts
    )
    return (
        f"<h2>Review conflicts</h2><p>{len(conflicts)} labels decided differently by two "
        "librarians; the later decision counts, both are kept in the history.</p>"
        f"<table>{head}{rows}</table>"
    )


def calibration_report_html(library: Library) -> str:
    """One self-contained HTML page: review queue, flag policy, every active calibration."""
    with library.session() as s:
        active = [c for c in list_calibrations(s) if c.active]
        counts = review_counts(s)
        policy = load_policy(s)
        albums = album_report_html(s)
        conflicts = _conflicts_section(review_conflicts(s))
    sections = [_calibration_section(c) for c in active] or [
        "<p>No active calibration: confidences are the models' raw ensemble outputs.</p>"
    ]
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Music Archive Tagger: calibration report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}} img{{max-width:100%}}
table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}</style>
</head><body><h1>Calibration report</h1>
<p>Library {html.escape(library.location.display)}, {dt.datetime.now():%Y-%m-%d %H:%M}.</p>
<h2>Review queue</h2><p>{counts["flagged"]} tracks flagged, {counts["reviewed"]} reviewed,
{counts["waiting"]} waiting. Policy: uncertain band
{policy.uncertain_low:.2f}–{policy.uncertain_high:.2f}, accept threshold
{policy.accept_threshold:.2f}, member disagreement limit {policy.disagreement_limit:.2f}.</p>
{conflicts}
{_shift_section(library)}
{"".join(sections)}
{albums}
</body></html>"""
    return page
