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
