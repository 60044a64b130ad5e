from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from audio_files import make_audio, tag_file

from tagger_core.cli import main


@pytest.fixture
def music(tmp_path: Path) -> Path:
    root = tmp_path / "music"
    root.mkdir()
    for i, (name, genres) in enumerate([("a.flac", ["Jazz"]), ("b.mp3", ["Rock", "Pop"])]):
        tag_file(make_audio(root / name, seconds=0.5, seed=i), title=f"T{i}", genres=genres)
    (root / "broken.ogg").write_bytes(b"OggS garbage")
    return root


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_status_tracks_show(tmp_path: Path, music: Path, capsys) -> None:
    db = str(tmp_path / "lib.db")
    code, out, _ = run_cli(capsys, "--db", db, "scan", str(music))
    assert code == 0 and "3 new" in out and "1 unreadable" in out and "broken.ogg" in out

    code, out, _ = run_cli(capsys, "--db", db, "status", "--json")
    counts = json.loads(out)
    assert counts["status"] == {"ok": 2, "unreadable": 1}

    code, out, _ = run_cli(capsys, "--db", db, "tracks", "--json", "--query", "rock")
    rows = json.loads(out)
    assert [r["title"] for r in rows] == ["T1"] and rows[0]["genres"] == ["Rock", "Pop"]

    code, out, _ = run_cli(capsys, "--db", db, "show", str(music / "a.flac"))
    assert code == 0 and "title: T0" in out and "  genre: Jazz" in out

    code, out, _ = run_cli(capsys, "--db", db, "show", str(rows[0]["id"]), "--json")
    assert json.loads(out)["format"] == "mp3"


def test_status_on_either_backend(db_location: str, music: Path, capsys) -> None:
    assert run_cli(capsys, "--db", db_location, "scan", str(music))[0] == 0
    code, out, _ = run_cli(capsys, "--db", db_location, "status", "--json")
    counts = json.loads(out)
    assert code == 0 and counts["status"] == {"ok": 2, "unreadable": 1}
    assert counts["format"]["flac"] == 1 and counts["format"]["mp3"] == 1
    assert counts["outdated"] == {}
    code, out, _ = run_cli(capsys, "--db", db_location, "status")
    assert code == 0 and "3 tracks" in out and "  unreadable   1" in out


@pytest.mark.postgres
def test_status_masks_the_server_password(pg_url: str, music: Path, capsys) -> None:
    """The test server trusts local connections, so a password in the URL is accepted
    and ignored; status must not print it."""
    with_password = pg_url.replace("@", ":s3cret-pw@", 1)
    assert run_cli(capsys, "--db", with_password, "scan", str(music))[0] == 0
    for args in (("status",), ("status", "--json")):
        code, out, _ = run_cli(capsys, "--db", with_password, *args)
        assert code == 0 and "s3cret-pw" not in out and "***" in out


def test_user_errors_print_one_line_and_exit_nonzero(tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "lib.db")
    code, out, err = run_cli(capsys, "--db", db, "scan", str(tmp_path / "absent"))
    assert code == 2 and err.count("\n") == 1 and "folder not found" in err
    code, out, err = run_cli(capsys, "--db", db, "show", "12345")
    assert code == 2 and "no track" in err and "Traceback" not in err
    code, out, err = run_cli(capsys, "--db", str(tmp_path), "status")
    assert code == 2 and "is a directory" in err


def test_console_script_end_to_end(tmp_path: Path, music: Path) -> None:
    exe = Path(sys.executable).with_name("music-tagger")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "tagger_core.cli"]
    db = str(tmp_path / "e2e.db")
    done = subprocess.run([*cmd, "--db", db, "scan", str(music)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Scanned 3 files" in done.stdout
    done = subprocess.run([*cmd, "--db", db, "tracks"], capture_output=True, text=True)
    assert "T0" in done.stdout and "unreadable" in done.stdout


def test_run_uses_demo_library_when_nothing_else(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LIBRARY", raising=False)
    monkeypatch.setenv("MUSIC_TAGGER_DEMO_DIR", str(tmp_path / "demo"))
    code, out, _ = run_cli(capsys, "--db", str(tmp_path / "lib.db"), "run", "--no-analyze")
    assert code == 0
    assert f"Library: {tmp_path / 'demo'}" in out
    made = sorted(p.suffix for p in (tmp_path / "demo").iterdir())
    assert {".mp3", ".flac", ".ogg", ".wav", ".opus", ".aiff"} <= set(made)
    assert "0 unreadable" in out


def test_run_analyses_and_summarises(tmp_path: Path, music: Path, capsys) -> None:
    code, out, _ = run_cli(capsys, "--db", str(tmp_path / "lib.db"), "run", str(music))
    assert code == 0
    assert "Analysed 2 tracks" in out
    assert "tracks flagged for review" in out
    assert "genre:" in out and "instruments:" in out


def test_version(capsys) -> None:
    from tagger_core import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"music-tagger {__version__}"
