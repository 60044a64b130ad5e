"""Libraries holding what archives hold besides music files.

File names with newlines, terminal escapes and leading dashes; FIFOs, device
files and symlinks to them (never opened: opening a FIFO blocks until a writer
comes, reading a device never ends, so those commands run in a child process
with a time limit); paths longer than 255 bytes and names near the 255-byte
limit; a library on a read-only mount. Scan, analysis, export and the CLI's
printing go through each, through the ``music-tagger`` command as a user runs it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from audio_files import make_audio, tag_file
from sqlalchemy import select
from tiny_bundle import make_tiny_bundle

from tagger_core.cli import main
from tagger_core.db import open_library
from tagger_core.db.models import Analysis, Track
from tagger_core.trust.review import decide

CHILD_TIMEOUT_S = 300  # generous on a loaded machine; a blocked open never finishes at all
BUNDLE = "tiny-odd"


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundles")
    make_tiny_bundle(root, BUNDLE, seed=7)
    return root


@pytest.fixture
def env(bundles: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("MUSIC_TAGGER_BUNDLES", str(bundles))
    return {**os.environ, "MUSIC_TAGGER_BUNDLES": str(bundles), "QT_QPA_PLATFORM": "offscreen"}


def cli(*args: str) -> tuple[int, str, str]:
    """``music-tagger ARGS`` in this process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def child_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``music-tagger ARGS`` in a child process that must finish within the time limit."""
    return subprocess.run(
        [sys.executable, "-m", "tagger_core.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )


ANALYZE = ("analyze", "--all", "--models", BUNDLE, "--no-optimize", "--workers", "1")


def _clip(path: Path, seed: int, title: str = "A Title") -> Path:
    """A tagged clip at ``path``, made under a short name and moved there (libsndfile
    itself refuses paths over 1,024 bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as staging:
        made = make_audio(Path(staging) / f"made{path.suffix}", seconds=2.5, seed=seed)
        tag_file(made, title=title)
        shutil.move(made, path)
    return path


def _accept_all(db: str) -> list[int]:
    library = open_library(db)
    try:
        with library.session() as s:
            ids = list(s.scalars(select(Track.id).where(Track.status == "ok")))
        for tid in ids:
            decide(library, tid, "genre", "Jazz", "accept", 0.8)
    finally:
        library.close()
    return ids


def _analyses(db: str) -> dict[str, str]:
    """File name → status of its analysis."""
    library = open_library(db)
    try:
        with library.session() as s:
            rows = s.execute(select(Track.path, Analysis.status).join(Analysis)).all()
    finally:
        library.close()
    return {os.path.basename(os.fsdecode(p)): status for p, status in rows}


ODD_NAMES = {
    "line\nbreak.flac": "line\\nbreak.flac",
    "-rf.mp3": "-rf.mp3",
    "--help.ogg": "--help.ogg",
    "tab\there.wav": "tab\\there.wav",
    "\x1b[31mred.flac": "\\x1b[31mred.flac",
}


def test_odd_names_are_scanned_analysed_exported_and_printed_escaped(
    tmp_path, env, monkeypatch
) -> None:
    music = tmp_path / "-music"  # a folder that looks like an option, too
    for i, name in enumerate(ODD_NAMES):
        _clip(music / name, seed=i, title=f"Title\nwith a break {i}")
    (music / "bad\nname.mp3").write_bytes(b"not audio at all" * 10)
    db = str(tmp_path / "library.db")
    monkeypatch.chdir(tmp_path)

    code, out, err = cli("--db", db, "scan", "--", "-music")
    assert code == 0, err
    assert f"Scanned {len(ODD_NAMES) + 1} files" in out and "1 unreadable" in out
    (problem,) = [line for line in out.splitlines() if line.startswith("  ! ")]
    assert problem.startswith(f"  ! {music}/bad\\nname.mp3: ")

    code, out, err = cli("--db", db, *ANALYZE)
    assert code == 0, out + err
    assert _analyses(db) == {name: "ok" for name in ODD_NAMES}

    _accept_all(db)
    code, out, err = cli("--db", db, "export")
    assert code == 0, out + err
    assert f"Exported {len(ODD_NAMES)} files" in out and "\x1b" not in out

    code, out, err = cli("--db", db, "tracks", "--fields", "path,title")
    assert code == 0 and "\x1b" not in out
    lines = out.splitlines()
    assert len(lines) == len(ODD_NAMES) + 1  # one line per track, however it is named
    for shown in ODD_NAMES.values():
        (line,) = [ln for ln in lines if ln.startswith(f"{music}/{shown}\t")]
        assert "\\nwith a break" in line
    code, out, err = cli("--db", db, "show", f"{music}/line\nbreak.flac")
    assert code == 0 and f"{music}/line\\nbreak.flac" in out
    assert "title: Title\\nwith a break 0" in out.splitlines()


def _special_entries(music: Path) -> list[str]:
    """A FIFO, a character device and symlinks to both, all with audio extensions."""
    os.mkfifo(music / "fifo.flac")
    os.symlink(music / "fifo.flac", music / "link-to-fifo.mp3")
    made = ["fifo.flac", "link-to-fifo.mp3"]
    if os.geteuid() == 0:
        os.mknod(music / "device.wav", 0o666 | stat.S_IFCHR, os.makedev(1, 5))  # like /dev/zero
        made.append("device.wav")
    if os.path.exists("/dev/zero"):
        os.symlink("/dev/zero", music / "link-to-zero.ogg")
        made.append("link-to-zero.ogg")
    return made


def test_fifos_devices_and_symlinks_to_them_are_never_opened(tmp_path, env) -> None:
    music = tmp_path / "music"
    regular = [_clip(music / f"{i}.flac", seed=i) for i in range(2)]
    _special_entries(music)
    db = str(tmp_path / "library.db")

    scanned = child_cli(env, "--db", db, "scan", str(music))
    assert scanned.returncode == 0, scanned.stderr
    assert "Scanned 2 files" in scanned.stdout and "0 unreadable" in scanned.stdout

    # a scanned file replaced by a FIFO before analysis and export: refused, never opened
    regular[1].unlink()
    os.mkfifo(regular[1])
    analysed = child_cli(env, "--db", db, *ANALYZE, "--json")
    assert analysed.returncode == 1, analysed.stderr  # a file failed
    report = json.loads(analysed.stdout)
    assert report["tracks_done"] == 1
    (error,) = report["errors"]
    assert error == f"{regular[1]}: not a regular file" and "\n" not in error

    _accept_all(db)
    exported = child_cli(env, "--db", db, "export")
    assert exported.returncode == 0, exported.stderr  # skipped, not failed
    assert "Exported 1 files" in exported.stdout
    assert f"  ! {regular[1]}: skipped: not a regular file" in exported.stdout
    assert stat.S_ISFIFO(os.lstat(regular[1]).st_mode)


def _deep_folder(base: Path, total_bytes: int, name_bytes: int = 200) -> Path:
    """Folders of ``name_bytes``-byte names nested until the path passes ``total_bytes``."""
    folder = base
    level = 0
    while len(os.fsencode(str(folder))) <= total_bytes:
        folder = folder / (f"{level:02d}" + "d" * (name_bytes - 2))
        level += 1
    return folder


def test_long_paths_and_names_near_the_limit(tmp_path, env) -> None:
    music = tmp_path / "music"
    deep = _deep_folder(music, 1000)
    near_limit = "ü" * 100 + "n" * (250 - 200 - len(".flac")) + ".flac"  # 250 bytes
    assert len(os.fsencode(near_limit)) == 250
    files = [_clip(deep / near_limit, seed=1), _clip(deep / "short.mp3", seed=2)]
    assert all(len(os.fsencode(str(p))) > 1000 for p in files)
    db = str(tmp_path / "library.db")

    code, out, err = cli("--db", db, "scan", str(music))
    assert code == 0 and "Scanned 2 files" in out and "0 unreadable" in out, out + err
    code, out, err = cli("--db", db, *ANALYZE)
    assert code == 0, out + err
    assert set(_analyses(db).values()) == {"ok"} and len(_analyses(db)) == 2
    _accept_all(db)
    code, out, err = cli("--db", db, "export")
    assert code == 0 and "Exported 2 files" in out, out + err
    code, out, err = cli("--db", db, "tracks", "--fields", "path")
    assert {line for line in out.splitlines()} == {str(p) for p in files}


def test_a_folder_deeper_than_the_path_limit_is_one_line_and_the_rest_is_scanned(
    tmp_path, env
) -> None:
    music = tmp_path / "music"
    _clip(music / "fine.flac", seed=0)
    # build a tree deeper than PATH_MAX (4096 bytes) relative to each level
    folder = os.open(music, os.O_RDONLY)
    try:
        for level in range(24):
            name = f"{level:02d}" + "z" * 198
            os.mkdir(name, dir_fd=folder)
            inner = os.open(name, os.O_RDONLY, dir_fd=folder)
            os.close(folder)
            folder = inner
    finally:
        os.close(folder)
    db = str(tmp_path / "library.db")

    code, out, err = cli("--db", db, "scan", str(music))

    assert code == 0, err
    assert "Scanned 1 files" in out
    problems = [line for line in out.splitlines() if line.startswith("  ! ")]
    assert len(problems) == 1 and "File name too long" in problems[0]
    shutil.rmtree(music, ignore_errors=True)


@pytest.fixture
def read_only_music(tmp_path: Path):
    """A library folder on a tmpfs remounted read-only (root), else made read-only with chmod."""
    point = tmp_path / "ro"
    point.mkdir()
    mounted = False
    if os.geteuid() == 0 and shutil.which("mount"):
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(point)], capture_output=True
        )
        mounted = done.returncode == 0
    music = point / "music"
    for i, ext in enumerate((".flac", ".mp3", ".ogg")):
        _clip(music / f"{i}{ext}", seed=i)
    if mounted:
        subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
    else:
        for p in music.iterdir():
            p.chmod(0o444)
        music.chmod(0o555)
    yield music, mounted
    if mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)
    else:
        music.chmod(0o755)


def test_a_library_on_a_read_only_mount(tmp_path, env, read_only_music) -> None:
    music, mounted = read_only_music
    before = {p: p.read_bytes() for p in music.iterdir()}
    db = str(tmp_path / "library.db")

    code, out, err = cli("--db", db, "scan", str(music))
    assert code == 0 and "Scanned 3 files" in out and "0 unreadable" in out, out + err
    code, out, err = cli("--db", db, *ANALYZE)
    assert code == 0, out + err
    assert set(_analyses(db).values()) == {"ok"} and len(_analyses(db)) == 3
    _accept_all(db)
    code, out, err = cli("--db", db, "export")

    assert code == 0 and "Exported 0 files" in out and "3 skipped" in out, out + err
    problems = [line for line in out.splitlines() if line.startswith("  ! ")]
    reason = (
        "on a read-only file system (mounted read-only): nothing can be written"
        if mounted
        else "file is read-only"
    )
    assert sorted(problems) == sorted(f"  ! {p}: skipped: {reason}" for p in before)
    assert {p: p.read_bytes() for p in music.iterdir()} == before
