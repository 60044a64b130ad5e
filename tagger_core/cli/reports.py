"""Printing the reports of the library scan and of the main job, for the terminal.

Why one module: ``scan``, ``analyze`` and ``run`` print the same reports; keeping the
printers here lets those command modules stay independent of each other.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from tagger_core.errors import one_line

if TYPE_CHECKING:  # the commands import these when they run; printing needs only the types
    from tagger_core.library.scan import ScanReport
    from tagger_core.listening.report import AnalysisReport
    from tagger_core.trust.summary import PredictionSummary
    from tagger_core.trust.track_predictions import TaskPrediction


def print_scan_report(report: ScanReport) -> None:
    rate = report.seen / report.seconds if report.seconds else 0.0
    print(
        f"Scanned {report.seen} files in {report.seconds:.1f} s ({rate:.0f} files/s): "
        f"{report.new} new, {report.changed} changed, {report.unchanged} unchanged, "
        f"{report.moved} moved, {report.missing} missing, {report.unreadable} unreadable"
    )
    for line in report.errors[:20]:
        print(f"  ! {one_line(line)}")
    if len(report.errors) > 20:
        print(
            f"  … and {len(report.errors) - 20} more problems (see `music-tagger tracks --query`)"
        )
    if report.cancelled:
        print("Scan cancelled; everything read so far is stored.")


def print_analysis_report(report: AnalysisReport) -> None:
    if report.tracks_total == 0 and not report.cancelled:
        print(f"Nothing to analyse: {report.tracks_skipped} tracks already up to date")
        return
    hours = report.audio_seconds / 3600
    print(
        f"Analysed {report.tracks_done} tracks ({hours:.2f} h of audio) in "
        f"{report.seconds:.1f} s: {report.realtime_factor:.1f}× realtime on {report.device}; "
        f"{len(report.errors)} errors, {report.tracks_skipped} already up to date"
    )
    if report.tracks_sampled:
        print(f"  {report.tracks_sampled} long tracks were sampled evenly")
    for line in report.errors[:20]:
        print(f"  ! {one_line(line)}")
    if len(report.errors) > 20:
        print(f"  … and {len(report.errors) - 20} more errors")
    if report.cancelled:
        print("Analysis stopped; finished tracks are stored and the next run resumes.")
    for warning in report.shift_warnings():
        print(f"  ⚠ {warning}")


def print_predictions_error(report: AnalysisReport) -> None:
    """A failed refresh, in one line on stderr (the raw outputs are stored regardless)."""
    if report.predictions_error:
        message = f"music-tagger: predictions not refreshed: {report.predictions_error}"
        print(message, file=sys.stderr)
    if report.auto_calibration_error:
        message = f"music-tagger: not calibrated from tags: {report.auto_calibration_error}"
        print(message, file=sys.stderr)


def print_auto_calibration(report: AnalysisReport) -> None:
    """What calibrating from the archive's tags did, one line per bundle, and hints."""
    for line in report.auto_calibration_lines():
        print(line)


def analysis_json(report: AnalysisReport) -> dict[str, Any]:
    """``analyze --json``: the report, with ``auto_calibration`` and ``shift`` per bundle."""
    data = report.to_dict()
    data.pop("predictions_error")
    failed = bool(report.predictions_error)
    data["predictions_refreshed"] = None if failed else report.predictions_refreshed
    return data


def print_prediction_summary(summary: PredictionSummary) -> None:
    for bundle_id, tally in sorted(summary.found.items()):
        found = ", ".join(f"{k} {v}" for k, v in sorted(tally.items(), key=lambda kv: -kv[1]))
        print(f"{bundle_id}: {found or 'nothing above 0.5'}")
    print(
        f"{summary.flagged} of {summary.tracks} tracks flagged for review "
        "(see `music-tagger review`)."
    )


def print_outdated(counts: dict[str, int], installed: dict[str, str]) -> None:
    """Tracks analysed only by an earlier bundle version, and the command that updates them."""
    if not counts:
        return
    print("Outdated analyses (predictions shown from an earlier model version):")
    for bundle_id, n in counts.items():
        print(f"  {bundle_id:<18} {n} tracks (installed version {installed[bundle_id]})")
    print("  Update them with `music-tagger analyze --outdated` (or `analyze --all`).")


def print_track_predictions(predictions: list[TaskPrediction]) -> None:
    """Per task: calibration state, every label best first with its spread, flag reasons."""
    if not predictions:
        print("predictions: none (not analysed yet)")
        return
    print("predictions:")
    for p in predictions:
        print(f"  {p.task} ({p.bundle_id}): {p.calibration}")
        if p.note:
            print(f"    {p.note}")
        for c in p.labels:
            mark = "calibrated" if c.calibrated else "uncalibrated"
            print(f"    {c.label:<16} {c.confidence:.3f} ± {c.spread:.3f}  {mark}")
        if p.flagged:
            print("    ⚑ flagged: " + "; ".join(p.reasons))
