from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from audio_files import make_audio, noise_bytes, tag_file
from sqlalchemy import func, select

from tagger_core.db import open_library
from tagger_core.db.models import LibraryRoot, Track
from tagger_core.errors import TaggerError
from tagger_core.library.scan import scan


def tracks(library) -> dict[str, Track]:
    with library.session() as s:
        return {Path(os.fsdecode(t.path)).name: t for t in s.scalars(select(Track))}


@pytest.fixture
def music(tmp_path: Path) -> Path:
    root = tmp_path / "music"
    (root / "Album A").mkdir(parents=True)
    (root / "Album B" / "CD1").mkdir(parents=True)
    for i, name in enumerate(
        ["Album A/01.mp3", "Album A/02.flac", "Album B/CD1/03.ogg", "Album B/04.wav"]
    ):
        path = make_audio(root / name, seconds=0.6, seed=i)
        tag_file(path, title=f"Song {i}", genres=["Rock", "Pop"] if i == 0 else ["Jazz"])
    (root / "cover.jpg").write_bytes(b"\xff\xd8 not audio")
    return root


def test_first_scan_stores_every_audio_file(library, music: Path) -> None:
    report = scan(library, [music])
    assert (report.seen, report.new, report.unreadable) == (4, 4, 0)
    found = tracks(library)
    assert set(found) == {"01.mp3", "02.flac", "03.ogg", "04.wav"}
    mp3 = found["01.mp3"]
    assert (mp3.status, mp3.format, mp3.title, mp3.genres) == (
        "ok",
        "mp3",
        "Song 0",
        ["Rock", "Pop"],
    )
    assert mp3.fingerprint and mp3.duration == pytest.approx(0.6, abs=0.1)
    with library.session() as s:
        assert s.scalar(select(func.count()).select_from(LibraryRoot)) == 1


def test_rescan_of_unchanged_files_reads_nothing(library, music: Path) -> None:
    scan(library, [music])
    report = scan(library, [music])
    assert (report.unchanged, report.new, report.changed) == (4, 0, 0)


def test_changed_file_is_reread(library, music: Path) -> None:
    scan(library, [music])
    path = music / "Album A/02.flac"
    tag_file(path, title="Retitled", genres=["Folk"])
    report = scan(library, [music])
    assert (report.changed, report.unchanged) == (1, 3)
    assert tracks(library)["02.flac"].title == "Retitled"
    assert tracks(library)["02.flac"].genres == ["Folk"]


def test_moved_file_keeps_its_identity(library, music: Path) -> None:
    scan(library, [music])
    before = tracks(library)["03.ogg"]
    (music / "Moved").mkdir()
    shutil.move(music / "Album B/CD1/03.ogg", music / "Moved/renamed.ogg")
    report = scan(library, [music])
    assert (report.moved, report.missing, report.new) == (1, 0, 0)
    after = tracks(library)["renamed.ogg"]
    assert after.id == before.id and after.first_seen == before.first_seen
    assert after.path_text.endswith("Moved/renamed.ogg")


def test_retagged_and_moved_file_keeps_identity(library, music: Path) -> None:
    scan(library, [music])
    old_id = tracks(library)["01.mp3"].id
    target = music / "elsewhere.mp3"
    shutil.move(music / "Album A/01.mp3", target)
    tag_file(target, title="New title")
    scan(library, [music])
    assert tracks(library)["elsewhere.mp3"].id == old_id


def test_vanished_file_is_marked_missing_not_deleted(library, music: Path) -> None:
    scan(library, [music])
    (music / "Album B/04.wav").unlink()
    report = scan(library, [music])
    assert report.missing == 1
    gone = tracks(library)["04.wav"]
    assert gone.status == "missing" and gone.title == "Song 3"
    make_audio(music / "Album B/04.wav", seconds=0.6, seed=3)
    tag_file(music / "Album B/04.wav", title="Song 3", genres=["Jazz"])
    scan(library, [music])
    assert tracks(library)["04.wav"].status == "ok"


def test_bad_files_are_recorded_and_the_scan_goes_on(library, music: Path) -> None:
    bad = music / "bad"
    bad.mkdir()
    (bad / "empty.flac").write_bytes(b"")
    (bad / "noise.mp3").write_bytes(noise_bytes(5000))
    truncated = make_audio(bad / "truncated.ogg", seconds=0.5)
    truncated.write_bytes(truncated.read_bytes()[:30])
    flac = make_audio(bad / "real.flac")
    mislabelled = bad / "mislabelled.mp3"
    mislabelled.write_bytes(flac.read_bytes())
    os.symlink(bad / "does-not-exist.flac", bad / "dangling.flac")
    report = scan(library, [music])
    found = tracks(library)
    assert found["01.mp3"].status == "ok"
    assert found["empty.flac"].status == "unreadable"
    assert "empty file" in found["empty.flac"].error
    assert found["noise.mp3"].status == "unreadable"
    assert found["truncated.ogg"].status == "unreadable"
    assert found["mislabelled.mp3"].status == "ok"
    assert found["mislabelled.mp3"].note == "extension .mp3 but content is FLAC"
    assert any("dangling.flac" in e for e in report.errors)
    assert report.unreadable == 3


def test_symlink_loops_are_safe(library, music: Path) -> None:
    os.symlink(music, music / "Album A" / "loop")
    report = scan(library, [music])
    assert report.seen == 4


def test_unreadable_folder_is_reported(library, music: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can read any folder")
    locked = music / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        report = scan(library, [music])
    finally:
        locked.chmod(0o755)
    assert report.seen == 4 and any("locked" in e for e in report.errors)


def test_non_utf8_file_name_is_stored_losslessly(library, tmp_path: Path) -> None:
    root = tmp_path / "odd"
    root.mkdir()
    good = make_audio(root / "x.flac")
    raw_name = os.fsencode(root) + b"/caf\xe9 \xff.flac"
    os.rename(good, raw_name)
    scan(library, [root])
    with library.session() as s:
        track = s.scalars(select(Track)).one()
    assert track.path == raw_name
    assert "caf\ufffd" in track.path_text
    assert os.path.exists(track.path)


def test_scanner_never_modifies_files(library, music: Path) -> None:
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in music.rglob("*") if p.is_file()}
    scan(library, [music])
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in music.rglob("*") if p.is_file()}
    assert before == after


def test_missing_root_is_a_user_error(library, tmp_path: Path) -> None:
    with pytest.raises(TaggerError, match="folder not found"):
        scan(library, [tmp_path / "nope"])


def _many_files(root: Path, n: int) -> None:
    seed = make_audio(root / "seed.flac", seconds=0.3)
    tag_file(seed)
    for i in range(n):
        os.link(seed, root / f"copy{i:04d}.flac")


def test_progress_and_cancel_keep_committed_work(library, tmp_path: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    _many_files(root, 500)
    cancel = threading.Event()
    seen: list[int] = []

    def progress(p) -> None:
        if p.phase == "reading":
            seen.append(p.done)
            if p.done >= 250:
                cancel.set()

    report = scan(library, [root], progress=progress, cancel=cancel, workers=1)
    assert report.cancelled
    assert seen and seen == sorted(seen)
    with library.session() as s:
        stored = s.scalar(select(func.count()).select_from(Track))
    assert 200 <= stored < 501
    report = scan(library, [root])
    assert not report.cancelled
    assert report.new == 501 - stored and report.unchanged == stored


def test_killed_scan_loses_nothing_committed(tmp_path: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    _many_files(root, 1500)
    db = tmp_path / "kill.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tagger_core.cli",
            "--db",
            str(db),
            "scan",
            "--workers",
            "1",
            str(root),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    count = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if db.exists():
            try:
                lib = open_library(db, migrate=False)
                with lib.session() as s:
                    count = s.scalar(select(func.count()).select_from(Track)) or 0
                lib.close()
            except Exception:
                count = 0
            if count > 0:
                break
    assert proc.poll() is None, "the scan finished before it could be killed"
    proc.kill()
    proc.wait()
    assert 0 < count < 1501
    lib = open_library(db)
    report = scan(lib, [root])
    with lib.session() as s:
        assert s.scalar(select(func.count()).select_from(Track)) == 1501
        assert s.scalar(select(func.count()).select_from(Track).where(Track.status != "ok")) == 0
    assert report.new + report.unchanged == 1501
    lib.close()
