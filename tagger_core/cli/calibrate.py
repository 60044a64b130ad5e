"""``calibrate`` (fit on the archive, list, activate) and ``report`` (one HTML page)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tagger_core.cli.common import library_from_args, print_json
from tagger_core.trust.archive_calibration import (
    FITS,
    METHODS,
    REPORTED_METRICS,
    activate_calibration,
    deactivate_calibrations,
    fit_calibration,
    list_calibrations,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("calibrate", help="fit a calibration on reviewed tracks (k-fold checked)")
    p.add_argument("--model", default="genre", help="model bundle id (default: genre)")
    p.add_argument("--method", choices=METHODS, default="per-class")
    p.add_argument("--fit", choices=FITS, default="nll", help="NLL (L-BFGS) or AM'23's MAE grid")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--use-tags", action="store_true", help="trust existing genre tags as labels")
    p.add_argument("--no-activate", action="store_true", help="store it without making it active")
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
    cells = "".join(f" {before[c]:>7.4f} → {after[c]:<7.4f}" for c in REPORTED_METRICS)
    return f"{name:<14}{cells}"


def cmd_calibrate(args: Any) -> int:
    library = library_from_args(args)
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
        activate_calibration(library, args.activate)
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
    )
    from tagger_core.trust.plots import render_reliability_comparison, render_temperature_curve

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    diagram_png = out / f"calibration-{args.model}-{result.calibration_id}-reliability.png"
    curve_png = out / f"calibration-{args.model}-{result.calibration_id}-temperature.png"
    render_reliability_comparison(
        [result.diagram_before, result.diagram_after],
        ("Before calibration (held out)", f"After {args.method} scaling (held out)"),
        path=diagram_png,
    )
    render_temperature_curve(result.curve, path=curve_png)
    if args.json:
        print_json(
            {
                "calibration_id": result.calibration_id,
                "report": result.report.to_dict(),
                "skipped": result.skipped,
                "pngs": [str(diagram_png), str(curve_png)],
            }
        )
        return 0
    rep = result.report
    print(
        f"Calibration {result.calibration_id} of {args.model!r}: {args.method}, fit by {args.fit}, "
        f"{rep.k}-fold cross-validated on {rep.before.n_tracks} tracks "
        f"({result.from_review} reviewed, {result.from_tags} from existing tags)"
    )
    print(f"{'':<14}" + "".join(f" {c:>17}" for c in REPORTED_METRICS))
    print(_row("all labels", rep.before.to_dict(), rep.after.to_dict()))
    for c in rep.per_class:
        print(_row(f"{c.name} ({c.positives}+)", c.before.to_dict(), c.after.to_dict()))
    for name, why in result.skipped.items():
        print(f"  not calibrated: {name} {why}")
    state = "active" if not args.no_activate else "stored, not active"
    print(f"{state}; diagrams: {diagram_png}, {curve_png}")
    return 0


def cmd_report(args: Any) -> int:
    from tagger_core.trust.report_page import calibration_report_html  # matplotlib

    page = calibration_report_html(library_from_args(args))
    Path(args.output).write_text(page, encoding="utf-8")
    print(f"Report written to {args.output}")
    return 0
