"""The GUI's helper children start from a checkout and from a frozen bundle alike."""

from __future__ import annotations

import json
import sys

from app.child_programs import child_command, run_if_child


def test_child_command_uses_python_m_or_the_frozen_flag(monkeypatch):
    assert child_command("app.file_picker", "folder") == (
        sys.executable, ["-m", "app.file_picker", "folder"],
    )  # fmt: skip
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert child_command("app.core_info") == (sys.executable, ["--core-info"])


def test_run_if_child_runs_the_named_helper_only(capsys):
    assert run_if_child(["--db", "x.db"]) is None
    assert run_if_child([]) is None
    assert run_if_child(["--core-info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert "genre" in {b["id"] for b in info["bundles"]} and info["devices"][-1] == "cpu"
