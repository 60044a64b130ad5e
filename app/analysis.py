"""Analysis from the GUI: the worker job around the core's ``tagger_core.inference.analyze``.

The GUI does no science itself; it runs the core's analysis in a worker
thread. While that core is not installed, the Analyse actions are disabled
and their tooltip says so (see ``analysis_problem``).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

from tagger_core.db import Library

CORE_MODULE = "tagger_core.inference"


def _installed(module: str) -> bool:
    """Whether ``module`` exists, without importing it (torch takes seconds to import)."""
    return importlib.util.find_spec(module) is not None


def _refresh_predictions() -> Callable[..., Any] | None:
    """The core's calibrated-prediction refresh, once it is installed."""
    if not _installed("tagger_core.predictions"):
        return None
    module = importlib.import_module("tagger_core.predictions")
    return getattr(module, "refresh_predictions", None)


def analysis_problem() -> str | None:
    """Why analysis is unavailable, in one sentence; None when it can run."""
    if not _installed(CORE_MODULE):
        return (
            "Analysis is not available in this build yet: the analysis core "
            f"({CORE_MODULE}.analyze) is not installed."
        )
    return None


def _progress_adapter(report: Callable[[int, int, str], None]) -> Callable[..., None]:
    def progress(*args: Any) -> None:
        if len(args) == 1:
            p = args[0]
            report(
                int(getattr(p, "done", 0)),
                int(getattr(p, "total", 0)),
                str(getattr(p, "path", "") or ""),
            )
        else:
            report(int(args[0]), int(args[1]), str(args[2]) if len(args) > 2 else "")

    return progress


def analysis_job(library: Library, track_ids: list[int] | None) -> Any:
    """Work for a thread: analyse ``track_ids`` (None: every track not analysed yet)."""
    problem = analysis_problem()
    if problem is not None:
        raise RuntimeError(problem)

    def run(report: Callable[[int, int, str], None], cancel: Any) -> Any:
        core = importlib.import_module(CORE_MODULE)  # in the worker: torch loads off the UI
        result = core.analyze(
            library, track_ids=track_ids, progress=_progress_adapter(report), cancel=cancel
        )
        refresh = _refresh_predictions()
        analysed = list(getattr(result, "analysed_track_ids", []) or [])
        if refresh is not None and analysed:
            report(0, 0, "calibrating")
            refresh(library, analysed)
        return result

    return run


def describe_result(result: Any) -> str:
    """One status-bar line about a finished analysis."""
    if result is None:
        return "Analysis finished."
    done = getattr(result, "tracks_done", None)
    if done is None:
        return f"Analysis finished: {result}"
    errors = len(getattr(result, "errors", []) or [])
    skipped = getattr(result, "tracks_skipped", 0)
    rate = getattr(result, "realtime_factor", 0.0)
    text = (
        f"Analysed {done:,} tracks ({rate:.1f}× realtime), {errors:,} errors, "
        f"{skipped:,} already up to date."
    )
    if getattr(result, "cancelled", False):
        text = "Analysis cancelled; finished tracks are kept and the next run resumes. " + text
    return text
