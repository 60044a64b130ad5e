"""``music-tagger-gui`` without a display says so in one line and exits non-zero."""

from __future__ import annotations

import subprocess
import sys

from app.main import NO_DISPLAY_EXIT, main, no_display_message


def test_no_display_hint(monkeypatch, capsys):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    assert main(["--db", "unused.db"]) == NO_DISPLAY_EXIT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "QT_QPA_PLATFORM=offscreen" in err and "xvfb-run" in err


def test_display_env_counts(monkeypatch):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    assert no_display_message() is None


def test_no_display_in_a_real_process(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "app.main", "--db", str(tmp_path / "x.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == NO_DISPLAY_EXIT
    assert "no display" in proc.stderr and proc.stdout == ""
