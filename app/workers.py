"""Long work off the UI thread: one job at a time in a QThread, with progress and cancel.

A job is a plain function ``fn(report, cancel)`` that calls ``report(done, total,
text)`` now and then and stops when the ``threading.Event`` ``cancel`` is set.
The functions are the core's own (scan, analyse, fit, export); this module
only moves them to a thread and turns their callbacks into Qt signals.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from tagger_core.errors import TaggerError

Report = Callable[[int, int, str], None]
JobFn = Callable[[Report, threading.Event], Any]


class _Worker(QObject):
    progress = Signal(int, int, str)
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: JobFn, cancel: threading.Event) -> None:
        super().__init__()
        self.fn = fn
        self.cancel = cancel
        self.returned = threading.Event()  # set once ``fn`` is over and its signal sent

    @Slot()
    def run(self) -> None:
        try:
            result = self.fn(self.progress.emit, self.cancel)
        except TaggerError as err:
            self.failed.emit(str(err))
        except Exception as err:  # a bug must reach the user, not kill the thread silently
            traceback.print_exc()
            self.failed.emit(f"unexpected error: {type(err).__name__}: {err}")
        else:
            self.done.emit(result)
        finally:
            self.returned.set()


class Job(QObject):
    """One piece of work running in its own thread.

    Signals: ``progress(done, total, text)``, ``finished(result)``, ``failed(message)``;
    exactly one of the last two is emitted, then ``ended``.
    """

    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str)
    ended = Signal()

    def __init__(self, title: str, fn: JobFn, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.cancel_event = threading.Event()
        self.started_at = 0.0
        self._thread = QThread()
        self._thread.setObjectName(f"job: {title}")
        self._worker = _Worker(fn, self.cancel_event)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self.progress)
        self._worker.done.connect(self._on_done)
        self._worker.failed.connect(self._on_failed)

    def start(self) -> None:
        self.started_at = time.perf_counter()
        self._thread.start()

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, ms: int = 30000) -> bool:
        """Block until the work has returned and the thread has stopped (shutdown, tests).

        Why it quits the thread itself: normally the UI thread's handler of the
        result quits it, but a UI thread blocked here cannot run that handler, so
        the thread would run on until the wait timed out, and Qt aborts the process
        when a running thread's object is destroyed (seen on closing the window
        while a spectrogram was being computed).
        """
        if not self._thread.isRunning():
            return True
        started = time.monotonic()
        if not self._worker.returned.wait(ms / 1000):
            return False
        self._thread.quit()
        left = max(0, int(ms - 1000 * (time.monotonic() - started)))
        return self._thread.wait(left)

    @Slot(object)
    def _on_done(self, result: object) -> None:
        self._finish_then(lambda: self.finished.emit(result))

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._finish_then(lambda: self.failed.emit(message))

    def _finish_then(self, emit: Callable[[], None]) -> None:
        self._thread.quit()
        self._thread.wait()
        emit()
        self.ended.emit()
