"""Run a job's function in a child process, so the UI thread never waits for the GIL.

Model inference holds Python's GIL for long stretches (model preparation,
first forward passes), which stalls a UI running in the same process for
hundreds of milliseconds. A spawned child has its own interpreter: the UI
process only relays its progress messages, and cancel becomes a
``multiprocessing.Event`` the child checks as it would a ``threading.Event``.
"""

from __future__ import annotations

import multiprocessing
import queue
import traceback
from collections.abc import Callable
from typing import Any

from app.workers import JobFn, Report
from tagger_core.errors import TaggerError

POLL_S = 0.05
#: Run jobs in child processes. Tests that do not measure responsiveness switch it off
#: to save the child's start-up (seconds: it imports torch), running in the worker thread.
ISOLATE = True


def _child(target: Callable[..., Any], args: tuple[Any, ...], out: Any, stop: Any) -> None:
    def report(done: int, total: int, text: str) -> None:
        out.put(("progress", (int(done), int(total), str(text))))

    try:
        result = target(*args, report, stop)
    except TaggerError as err:
        out.put(("user_error", str(err)))
    except BaseException:  # noqa: BLE001 - everything must reach the parent
        out.put(("bug", traceback.format_exc()))
    else:
        out.put(("done", result))


def in_child_process(target: Callable[..., Any], *args: Any) -> JobFn:
    """A job function that runs ``target(*args, report, cancel)`` in a spawned process.

    ``target`` and ``args`` must be picklable (a module-level function and plain
    values); so must its result.
    """

    def run(report: Report, cancel: Any) -> Any:
        if not ISOLATE:
            return target(*args, report, cancel)
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        stop = ctx.Event()
        proc = ctx.Process(target=_child, args=(target, args, out, stop), daemon=True)
        proc.start()
        try:
            while True:
                if cancel.is_set():
                    stop.set()
                # looked at *before* reading: a child seen dead here had flushed all it
                # sent, so an empty read then means it really ended without a result. (Looked
                # at after a read that timed out, a child that sent its result and exited
                # while this thread was descheduled looked like a crash.)
                alive = proc.is_alive()
                try:
                    kind, payload = out.get(timeout=POLL_S)
                except queue.Empty:
                    if not alive:
                        raise RuntimeError(
                            f"the worker process ended unexpectedly (exit code {proc.exitcode})"
                        ) from None
                    continue
                if kind == "progress":
                    report(*payload)
                elif kind == "done":
                    return payload
                elif kind == "user_error":
                    raise TaggerError(payload)
                else:
                    raise RuntimeError(f"worker process failed:\n{payload}")
        finally:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join()

    return run
