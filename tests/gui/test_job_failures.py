"""A job that fails (the child dies, a user error) is shown, and the window keeps working."""

from __future__ import annotations

import pytest
from audio_files import make_audio
from db_writer import exit_now

from app.process_job import in_child_process

pytest.importorskip("tagger_core.listening.engine")


def test_child_death_then_user_error_are_shown_and_the_next_job_runs(qtbot, window, tmp_path):
    window.start_job("Analysing", in_child_process(exit_now, 3))
    qtbot.waitUntil(lambda: window.job is None, timeout=60000)
    assert "ended unexpectedly (exit code 3)" in window.status_text.text()
    assert "\n" not in window.status_text.text()
    assert window.failures.isVisible() and window.failures.text() == "⚠ 1 error"
    assert window.act_analyse_all.isEnabled() and window.act_add.isEnabled()
    assert not window.act_cancel.isEnabled()

    music = tmp_path / "music"
    music.mkdir()
    make_audio(music / "a.wav", seconds=1.0, seed=2)
    window.scan_folders([str(music)])
    qtbot.waitUntil(lambda: window.job is None, timeout=60000)
    assert "1 new" in window.status_text.text() and window.last_error is None

    # A user error from the real analysis child: a model that does not exist.
    window.analysis_options = {"bundles": ["no-such-model"], "workers": 1}
    assert window.analyse_all() is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=120000)
    assert window.status_text.text().startswith("Analysing failed:")
    assert "no-such-model" in window.status_text.text()
    assert window.failures.text() == "⚠ 2 errors"
    window.failures.click()
    assert window.failures.log.isVisible() and not window.failures.log.isModal()
    log = window.failures.log_text.toPlainText()
    assert "exit code 3" in log and "no-such-model" in log
    assert window.act_analyse_all.isEnabled()


def test_a_result_sent_just_before_the_child_ended_is_not_taken_for_a_crash(monkeypatch):
    """The UI process may be descheduled between a read that found nothing and its look at
    the child (as under load in CI); a child that sent its result and ended in between
    must still deliver it. The slow ``is_alive`` stands in for that pause."""
    import multiprocessing.process
    import threading
    import time

    from child_targets import return_soon

    from app import process_job

    original = multiprocessing.process.BaseProcess.is_alive

    def paused_is_alive(self) -> bool:
        time.sleep(0.3)
        return original(self)

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "is_alive", paused_is_alive)
    monkeypatch.setattr(process_job, "POLL_S", 0.001)
    for value in (1, 2, 3):
        reports: list[tuple] = []
        job = in_child_process(return_soon, value)
        assert job(lambda *a, into=reports: into.append(a), threading.Event()) == value
        assert reports == [(0, 1, "working")]
