"""``calibrate`` (fit on the archive, list, activate, check shift) and ``report`` (one HTML page).

``calibrate --json`` is a contract scripts rely on: ``source``, ``activated`` and
``before``/``after`` objects with ``mae``, ``weighted_mae``, ``ece``, ``brier``,
``nll``, each with a sibling ``<name>_ci95: [lo, hi]`` (bootstrap over tracks);
``--conformal 0.9`` adds ``conformal``. ``calibrate --check-shift --json``
prints a list of ``{"bundle", "statistic", "p_value", "shifted", …}``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
from pathlib import Path
from typing import Any

from tagger_core.cli.common import library_from_args, print_json
from tagger_core.db.models import Calibration
from tagger_core.trust.archive_calibration import (
    FITS,
    METHODS,
    activate_calibration,
    deactivate_calibrations,
    fit_calibration,
    list_calibrations,
    worse_text,
)
from tagger_core.trust.metrics import ReliabilityDiagram
from tagger_core.trust.plots import render_reliability_comparison, render_temperature_curve
from tagger_core.trust.predictions import load_policy
from tagger_core.trust.review import review_counts
from tagger_core.trust.scaling import TemperatureCurve
from tagger_core.trust.uncertainty import caption

COLUMNS = ("mae", "weighted_mae", "ece", "nll", "brier")
DEFAULT_MODEL = "genre"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("calibrate", help="fit a calibration on reviewed tracks (k-fold checked)")
    p.add_argument("--model", help="model bundle id (default: genre; --check-shift: all)")
    p.add_argument("--method", choices=METHODS, default="per-class")
    p.add_argument("--fit", choices=FITS, default="nll", help="NLL (L-BFGS) or AM'23's MAE grid")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--use-tags", action="store_true", help="trust existing genre tags as labels")
    p.add_argument("--no-activate", action="store_true", help="store it without making it active")
    p.add_argument(
        "--force",
        action="store_true",
        help="activate even a calibration that did worse on held-out tracks",
    )
    p.add_argument(
        "--conformal",
        type=float,
        nargs="?",
        const=0.9,
        metavar="COVERAGE",
        help="also fit conformal label sets holding all true labels this often (default 0.9)",
    )
    p.add_argument(
        "--check-shift",
        action="store_true",
        help="test whether the library resembles each bundle's calibration data, and stop",
    )
    p.add_argument("--out", default=".", help="folder for the PNG diagrams (default: here)")
    p.add_argument("--list", action="store_true", help="list stored calibrations and stop")
    p.add_argument("--activate", type=int, metavar="ID", help="make a stored calibration active")
    p.add_argument("--off", action="store_true", help="use uncalibrated outputs for --model")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("report", help="one HTML page: calibration state, diagrams, flags")
    p.add_argument("-o", "--output", default="calibration-report.html")
    p.set_defaults(func=cmd_report)


def _row(name: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    cells = "".join(f" {before[c]:>7.4f} → {after[c]:<7.4f}" for c in COLUMNS)
    return f"{name:<14}{cells}"


def _ci(values: dict[str, Any], name: str) -> str:
    lo, hi = values.get(f"{name}_ci95") or (None, None)
    return "[  —  ]" if lo is None or hi is None else f"[{lo:.4f}, {hi:.4f}]"


def _print_intervals(intervals: dict[str, Any]) -> None:
    """The 95 % intervals under the table, and the tracks an ECE of ±0.01 would take."""
    before, after = intervals["before"], intervals["after"]
    print("95 % intervals (bootstrap over tracks, 1,000 resamples), before → after:")
    for name in COLUMNS:
        print(f"  {name:<13} {_ci(before, name)} → {_ci(after, name)}")
    more = intervals["more_tracks_for_ece_pm_0_01"]
    if more:
        print(
            f"  About {more:,} more labelled tracks would narrow the ECE interval to ±0.01 "
            "(an estimate: the half-width shrinks roughly as 1/√tracks)."
        )
    else:
        print("  The ECE interval is already within ±0.01.")


def cmd_check_shift(library: Any, args: Any) -> int:
    from tagger_core.trust.shift import check_shifts

    results = check_shifts(library, [args.model] if args.model else None)
    if args.json:
        print_json([r.to_dict() for r in results])
        return 0
    if not results:
        print("No analysed tracks: analyse the library first.")
    for r in results:
        if r.statistic is None:
            print(f"{r.bundle}: not checked: {r.reason}")
        elif r.shifted:
            print(f"⚠ {r.warning}")
        else:
            print(
                f"{r.bundle}: like its calibration data ({r.reference}; MMD² {r.statistic:.3g}, "
                f"p = {r.p_value:.3g}, {r.n_library} vs {r.n_reference} tracks)"
            )
    return 0


def cmd_calibrate(args: Any) -> int:
    library = library_from_args(args)
    if args.check_shift:
        return cmd_check_shift(library, args)
    args.model = args.model or DEFAULT_MODEL
    if args.list:
        with library.session() as s:
            rows = list_calibrations(s, None)
        for c in rows:
            mark = "*" if c.active else " "
            ece = c.metrics_after.get("pooled", {}).get("ece")
            print(
                f"{mark} {c.id:>4}  {c.bundle_id:<18} {c.method:<12} {c.fit_criterion:<4} "
                f"ECE after {ece:.4f}  {c.created_at:%Y-%m-%d %H:%M}"
            )
        if not rows:
            print("No calibrations yet: review some tracks, then run `music-tagger calibrate`.")
        return 0
    if args.activate is not None:
        activate_calibration(library, args.activate, force=args.force)
        print(f"Calibration {args.activate} is active; predictions recomputed.")
        return 0
    if args.off:
        deactivate_calibrations(library, args.model)
        print(f"{args.model}: using uncalibrated outputs; predictions recomputed.")
        return 0
    result = fit_calibration(
        library,
        args.model,
        args.method,
        args.fit,
        args.folds,
        args.use_tags,
        activate=not args.no_activate,
        force=args.force,
        conformal=args.conformal,
    )
    intervals = result.intervals.to_dict()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    diagram_png = out / f"calibration-{args.model}-{result.calibration_id}-reliability.png"
    curve_png = out / f"calibration-{args.model}-{result.calibration_id}-temperature.png"
    render_reliability_comparison(
        [result.diagram_before, result.diagram_after],
        (
            caption("Before calibration (held out)", intervals["before"]),
            caption(f"After {args.method} scaling (held out)", intervals["after"]),
        ),
        path=diagram_png,
    )
    render_temperature_curve(result.curve, path=curve_png)
    if args.json:
        data = {
            "calibration_id": result.calibration_id,
            "source": result.source,
            "activated": result.activated,
            "not_activated_because": result.not_activated_because or None,
            "before": intervals["before"],
            "after": intervals["after"],
            "change_ci95": intervals["change_ci95"],
            "more_tracks_for_ece_pm_0_01": intervals["more_tracks_for_ece_pm_0_01"],
            "report": result.report.to_dict(),
            "skipped": result.skipped,
            "pngs": [str(diagram_png), str(curve_png)],
        }
        if result.conformal is not None:
            data["conformal"] = result.conformal.to_dict()
        print_json(data)
        return 0
    rep = result.report
    print(
        f"Calibration {result.calibration_id} of {args.model!r}: {args.method}, fit by {args.fit}, "
        f"{rep.k}-fold cross-validated on {rep.before.n_tracks} tracks "
        f"({result.from_review} reviewed, {result.from_tags} from existing tags)"
    )
    print(f"{'':<14}" + "".join(f" {c:>17}" for c in COLUMNS))
    print(_row("all labels", rep.before.to_dict(), rep.after.to_dict()))
    for c in rep.per_class:
        print(_row(f"{c.name} ({c.positives}+)", c.before.to_dict(), c.after.to_dict()))
    for name, why in result.skipped.items():
        print(f"  not calibrated: {name} {why}")
    _print_intervals(intervals)
    if result.conformal is not None:
        c = result.conformal
        print(
            f"Conformal label sets: labels with confidence ≥ {c.threshold:.3f} hold all of a "
            f"track's labels on {c.coverage_held_out:.1%} of held-out tracks (target "
            f"{c.target:.0%}), {c.mean_set_size:.2f} labels per track on average"
        )
    if result.activated:
        state = "active"
    elif result.not_activated_because:
        state = (
            f"stored, not active: {result.not_activated_because}; to use it anyway: "
            f"music-tagger calibrate --activate {result.calibration_id} --force"
        )
    else:
        state = "stored, not active"
    print(f"{state}; diagrams: {diagram_png}, {curve_png}")
    return 0


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
    head = "".join(f"<th>{c_}</th>" for c_ in COLUMNS)
    rows = ["<tr><th>label</th><th>positives</th>" + head + "</tr>"]
    counts = after.get("label_counts", {})
    for name in ["(all)", *before.get("per_class", {})]:
        b = before["pooled"] if name == "(all)" else before["per_class"][name]
        a = after["pooled"] if name == "(all)" else after["per_class"][name]
        pos = "" if name == "(all)" else counts.get(name, {}).get("positives", "")
        cells = "".join(f"<td>{b[k]:.4f} → {a[k]:.4f}</td>" for k in COLUMNS)
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{pos}</td>{cells}</tr>")
        if name == "(all)" and "ci95" in after:
            cis = "".join(
                f"<td>{_ci(before['ci95'], k)} → {_ci(after['ci95'], k)}</td>" for k in COLUMNS
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
    """The report's sentences on intervals, "never worse" and conformal sets, when stored."""
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


def _shift_section(library: Any) -> str:
    """Each analysed bundle's shift check: a warning with the action, or that it holds."""
    from tagger_core.trust.shift import check_shifts

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


def cmd_report(args: Any) -> int:
    library = library_from_args(args)
    with library.session() as s:
        active = [c for c in list_calibrations(s) if c.active]
        counts = review_counts(s)
        policy = load_policy(s)
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
{_shift_section(library)}
{"".join(sections)}
</body></html>"""
    Path(args.output).write_text(page, encoding="utf-8")
    print(f"Report written to {args.output}")
    return 0
