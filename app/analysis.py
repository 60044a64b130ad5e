"""Analysis from the GUI: the worker job around the core's ``tagger_core.inference.analyze``.

The GUI does no science itself; it runs the core's analysis in a worker
thread. While that core is not installed, the Analyse actions are disabled
and their tooltip says so (see ``analysis_problem``).
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import Callable
from typing import Any

from app.process_job import in_child_process
from tagger_core.db import Library
from tagger_core.errors import TaggerError

CORE_MODULE = "tagger_core.inference"
PARTIAL_REFRESH_S = 3.0


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


class _PartialRefresh:
    """Refreshes predictions of tracks analysed so far, every few seconds, during a run.

    So the table shows calibrated predictions as analyses are committed rather
    than only at the end; the final refresh still covers every analysed track.
    """

    def __init__(self, library: Library, refresh: Callable[..., Any] | None) -> None:
        from sqlalchemy import func, select

        from tagger_core.db.models import Analysis

        self.library, self.refresh = library, refresh
        self.last = time.monotonic()
        with library.session() as s:
            self.max_id = int(s.scalar(select(func.max(Analysis.id))) or 0)

    def maybe(self) -> None:
        if self.refresh is None or time.monotonic() - self.last < PARTIAL_REFRESH_S:
            return
        from sqlalchemy import select

        from tagger_core.db.models import Analysis

        self.last = time.monotonic()
        with self.library.session() as s:
            rows = s.execute(
                select(Analysis.id, Analysis.track_id).where(
                    Analysis.id > self.max_id, Analysis.status == "ok"
                )
            ).all()
        if not rows:
            return
        self.max_id = max(r.id for r in rows)
        try:
            self.refresh(self.library, sorted({r.track_id for r in rows}))
        except TaggerError:
            pass  # the final refresh reports it


def run_analysis(
    db_path: str,
    track_ids: list[int] | None,
    options: dict[str, Any],
    report: Callable[[int, int, str], None],
    cancel: Any,
) -> Any:
    """Analyse in this process (the child): raw outputs, then calibrated predictions.

    A refresh failure is reported, not raised: the raw outputs are already stored.
    """
    from tagger_core.db import open_library

    core = importlib.import_module(CORE_MODULE)
    library = open_library(db_path)
    try:
        refresh = _refresh_predictions()
        partial = _PartialRefresh(library, refresh)
        relay = _progress_adapter(report)

        def progress(*args: Any) -> None:
            relay(*args)
            partial.maybe()

        result = core.analyze(
            library, track_ids=track_ids, progress=progress, cancel=cancel, **options
        )
        analysed = list(getattr(result, "analysed_track_ids", []) or [])
        result.predictions_note = ""
        if refresh is not None and analysed:
            report(0, 0, "calibrating")
            try:
                refresh(library, analysed)
            except TaggerError as err:
                result.predictions_note = f" Predictions not refreshed: {err}"
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
            return "No tracks to analyse."
        which = "selected" if selected else "library"
        plural = "All" if skipped != 1 else "The"
        return (
            f"{plural} {skipped:,} {which} track{'s are' if skipped != 1 else ' is'} "
            "already analysed; nothing to do."
        )
    rate = getattr(result, "realtime_factor", 0.0)
    text = (
        f"Analysed {done:,} tracks ({rate:.1f}× realtime), {errors:,} errors, "
        f"{skipped:,} already up to date."
    )
    if getattr(result, "cancelled", False):
        text = "Analysis cancelled; finished tracks are kept and the next run resumes. " + text
    return text + str(getattr(result, "predictions_note", ""))
