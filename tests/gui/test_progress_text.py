"""Status-bar wording: counts and time left."""

from __future__ import annotations

from app.progress_text import eta_seconds, format_duration, progress_message


def test_eta_from_the_average_rate():
    assert eta_seconds(25, 100, 10.0) == 30.0
    assert eta_seconds(0, 100, 10.0) is None
    assert eta_seconds(100, 100, 10.0) is None


def test_durations_and_messages():
    assert format_duration(42) == "42 s"
    assert format_duration(185) == "3 min 05 s"
    assert format_duration(3720) == "1 h 02 min"
    assert progress_message("Analysing", 25, 100, 10.0) == ("Analysing: 25 / 100 — about 30 s left")
    assert progress_message("Scanning", 2000, 0, 1.0) == "Scanning: 2,000 found…"
