"""Closing while a job's result is still undelivered: the wait ends, nothing aborts."""

from __future__ import annotations

import threading

from app.workers import Job


def test_a_blocked_ui_thread_can_wait_for_a_finished_job(qtbot) -> None:
    """The UI thread waits (as closeEvent does) without handling the queued result.

    Before, the job's thread ran on until the wait timed out (its event loop is
    quit by the result handler, which the blocked UI thread cannot run), and
    destroying it then aborted the process.
    """
    ran = threading.Event()

    def work(report, cancel) -> str:
        ran.set()
        return "done"

    job = Job("quick", work)
    delivered: list[object] = []
    job.finished.connect(delivered.append)
    job.start()
    assert job.wait(3000) is True  # no event processing in between
    assert ran.is_set() and not job.is_running()
    qtbot.waitUntil(lambda: delivered == ["done"])  # the result still arrives afterwards


def test_waiting_for_a_job_that_never_started_returns_at_once(qtbot) -> None:
    job = Job("idle", lambda report, cancel: None)
    assert job.wait(10) is True and not job.is_running()
