"""Analysis from the GUI: the worker job around the core's main job.

The job is ``tagger_core.listening.analyze_and_predict``: analyse, then refresh the
calibrated predictions, as ``music-tagger analyze`` and ``run`` do.

The GUI does no science itself; it runs the core's analysis in a worker
thread. While that core is not installed, the Analyse actions are disabled
and their tooltip says so (see ``analysis_problem``).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

from app.process_job import in_child_process
from tagger_core.db import Library

CORE_MODULE = "tagger_core.listening.main_job"
PARTIAL_REFRESH_S = 3.0


def _installed(module: str) -> bool:
    """Whether ``module`` exists, without importing it (torch takes seconds to import)."""
    return importlib.util.find_spec(module) is not None


def analysis_problem() -> str | None:
    """Why analysis is unavailable, in one sentence; None when it can run."""
    if not _installed(CORE_MODULE):
        return (
            "Analysis is not available in this build yet: the analysis core "
            f"({CORE_MODULE}.analyze_and_predict) is not installed."
        )
    return None


def _progress_adapter(report: Callable[[int, int, str], None]) -> Callable[..., None]:
    def progress(*args: Any) -> None:
        if len(args) == 1 and getattr(args[0], "phase", "") == "predictions":
            report(0, 0, "calibrating")
        elif len(args) == 1:
            p = args[0]
            report(
                int(getattr(p, "done", 0)),
                int(getattr(p, "total", 0)),
                str(getattr(p, "path", "") or ""),
            )
        else:
            report(int(args[0]), int(args[1]), str(args[2]) if len(args) > 2 else "")

    return progress


def run_analysis(
    db_path: str,
    track_ids: list[int] | None,
    options: dict[str, Any],
    report: Callable[[int, int, str], None],
    cancel: Any,
) -> Any:
    """Run the core's main job in this process (the child): raw outputs, then predictions.

    A refresh failure is reported, not raised: the raw outputs are already stored.
    """
    from tagger_core.db import open_library

    core = importlib.import_module(CORE_MODULE)
    library = open_library(db_path)
    try:
        result = core.analyze_and_predict(
            library,
            track_ids,
            partial_refresh_s=PARTIAL_REFRESH_S,
            progress=_progress_adapter(report),
            cancel=cancel,
            **options,
        )
        result.predictions_note = (
            f" Predictions not refreshed: {result.predictions_error}"
            if result.predictions_error
            else ""
        )
        return result
    finally:
        library.close()


def analysis_job(library: Library, track_ids: list[int] | None, **options: Any) -> Any:
    """Work for a job: analyse ``track_ids`` (None: every track not analysed yet).

    It runs in a child process (see ``app.process_job``); ``options`` go to
    ``analyze`` as they are (bundles by id, batch_size, workers…).
    """
    problem = analysis_problem()
    if problem is not None:
        raise RuntimeError(problem)
    return in_child_process(run_analysis, str(library.path), track_ids, dict(options))


def describe_result(result: Any, selected: bool = False) -> str:
    """One status-bar line about a finished analysis (``selected``: of chosen tracks)."""
    if result is None:
        return "Analysis finished."
    done = getattr(result, "tracks_done", None)
    if done is None:
        return f"Analysis finished: {result}"
    errors = len(getattr(result, "errors", []) or [])
    skipped = getattr(result, "tracks_skipped", 0)
    if done == 0 and errors == 0 and not getattr(result, "cancelled", False):
        if not skipped:
            text = "No tracks to analyse."
        else:
            which = "selected" if selected else "library"
            plural = "All" if skipped != 1 else "The"
            text = (
                f"{plural} {skipped:,} {which} track{'s are' if skipped != 1 else ' is'} "
                "already analysed; nothing to do."
            )
    else:
        rate = getattr(result, "realtime_factor", 0.0)
        text = (
            f"Analysed {done:,} tracks ({rate:.1f}× realtime), {errors:,} errors, "
            f"{skipped:,} already up to date."
        )
        if getattr(result, "cancelled", False):
            text = "Analysis cancelled; finished tracks are kept and the next run resumes. " + text
        text += str(getattr(result, "predictions_note", ""))
    # calibrating from tags runs even when nothing was new: the tags may have changed
    fits = getattr(result, "auto_calibration", None) or {}
    lines = [str(f["summary"]) for f in fits.values() if f]
    if lines:
        text += " " + "; ".join(f"{line[0].upper()}{line[1:]}" for line in lines) + "."
    if getattr(result, "auto_calibration_error", ""):
        text += f" Not calibrated from tags: {result.auto_calibration_error}"
    # a shifted collection is the one thing here the librarian must act on: it comes last
    shifts = getattr(result, "shift", None) or {}
    text += "".join(f" ⚠ {s['warning']}" for s in shifts.values() if s and s.get("warning"))
    return text
