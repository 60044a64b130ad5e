"""``calibrate`` (fit on the archive, list, activate, check shift) and ``report`` (one HTML page).

``calibrate --json`` is a contract scripts rely on: ``source``, ``activated`` and
``before``/``after`` objects with ``mae``, ``weighted_mae``, ``ece``, ``brier``,
``nll``, each with a sibling ``<name>_ci95: [lo, hi]`` (bootstrap over tracks);
``--conformal 0.9`` adds ``conformal``. ``calibrate --check-shift --json``
prints a list of ``{"bundle", "statistic", "p_value", "shifted", …}``.
"""

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
    cells = "".join(f" {before[c]:>7.4f} → {after[c]:<7.4f}" for c in REPORTED_METRICS)
    return f"{name:<14}{cells}"


def _print_intervals(intervals: dict[str, Any]) -> None:
    """The 95 % intervals under the table, and the tracks an ECE of ±0.01 would take."""
    from tagger_core.trust.uncertainty import interval_text

    before, after = intervals["before"], intervals["after"]
    print("95 % intervals (bootstrap over tracks, 1,000 resamples), before → after:")
    for name in REPORTED_METRICS:
        print(f"  {name:<13} {interval_text(before, name)} → {interval_text(after, name)}")
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
    from tagger_core.trust.plots import render_reliability_comparison, render_temperature_curve
    from tagger_core.trust.uncertainty import caption

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
    print(f"{'':<14}" + "".join(f" {c:>17}" for c in REPORTED_METRICS))
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


def cmd_report(args: Any) -> int:
    from tagger_core.trust.report_page import calibration_report_html  # matplotlib

    page = calibration_report_html(library_from_args(args))
    Path(args.output).write_text(page, encoding="utf-8")
    print(f"Report written to {args.output}")
    return 0
