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


def _core() -> Any | None:
    if importlib.util.find_spec(CORE_MODULE) is None:
        return None
    module = importlib.import_module(CORE_MODULE)
    return module if callable(getattr(module, "analyze", None)) else None


def analysis_problem() -> str | None:
    """Why analysis is unavailable, in one sentence; None when it can run."""
    if _core() is None:
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
    core = _core()
    if core is None:
        raise RuntimeError(analysis_problem())

    def run(report: Callable[[int, int, str], None], cancel: Any) -> Any:
        return core.analyze(
            library, track_ids=track_ids, progress=_progress_adapter(report), cancel=cancel
        )

    return run


def describe_result(result: Any) -> str:
    """One status-bar line about a finished analysis."""
    if result is None:
        return "Analysis finished."
    if hasattr(result, "to_dict"):
        data = result.to_dict()
        parts = [f"{k} {v}" for k, v in data.items() if isinstance(v, int | float)]
        prefix = "Analysis cancelled; results so far are kept. " if data.get("cancelled") else ""
        return prefix + "Analysis finished: " + ", ".join(parts[:6])
    return f"Analysis finished: {result}"
