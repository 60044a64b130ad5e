"""Faults during an export: full disk, read-only folder, files changed under it.

Every file ends up wholly old or wholly new, the batch says what happened to
each, and a rerun and an undo work afterwards. Real small filesystems (tmpfs)
are used when the tests run as root; otherwise ENOSPC is injected where a
safe write first writes (``copy_original``) and the folder is made read-only
with chmod.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from tagger_core.db.models import ExportItem
from tagger_core.library.file_tags import read_tags
from tagger_core.library.scan import scan
from tagger_core.writing import BackupSettings, ExportOptions, batch, run_export, undo_batch
from tagger_core.writing.backups import make_backup
from tagger_core.writing.registry import system_for
from tagger_core.writing.safe_write import (
    TEMP_MARK,
    FileSkipped,
    WriteRefused,
    check_file,
    safe_write,
)

from .helpers import AVAILABLE, scan_and_decide

PAGE = 4096


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _statuses(library, batch_id: int) -> dict[str, tuple[str, str | None]]:
    with library.session() as s:
        items = s.scalars(select(ExportItem).where(ExportItem.batch_id == batch_id))
        return {os.fsdecode(i.path): (i.status, i.message) for i in items}


class Tmpfs:
    """A small tmpfs mounted for one test (root only), unmounted afterwards."""

    def __init__(self, point: Path) -> None:
        self.point = point
        self.mounted = False

    def mount(self, size: int) -> Path:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("mounting a small filesystem needs root")
        self.point.mkdir(exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(self.point)],
            capture_output=True,
        )
        if done.returncode:
            pytest.skip(f"cannot mount tmpfs: {done.stderr.decode().strip()}")
        self.mounted = True
        return self.point

    def remount(self, flag: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{flag}", str(self.point)], check=True)

    def fill(self, leave: int) -> Path:
        """Allocate a filler file so that exactly ``leave`` bytes (whole pages) stay free."""
        filler = self.point / "filler.bin"
        st = os.statvfs(self.point)
        with open(filler, "wb") as f:
            os.posix_fallocate(f.fileno(), 0, st.f_bavail * st.f_frsize - leave)
        st = os.statvfs(self.point)
        assert st.f_bavail * st.f_frsize == leave
        return filler


@pytest.fixture
def tmpfs(tmp_path: Path):
    fs = Tmpfs(tmp_path / "fs")
    yield fs
    if fs.mounted:
        subprocess.run(["umount", "-l", str(fs.point)], check=False)


def _export_rerun_undo(library, music: Path, before: dict[Path, str], first_batch: int) -> None:
    """Rerun the export (writes every file now), then undo both batches: all bytes as before."""
    rerun = run_export(library, ExportOptions())
    assert rerun.failed == rerun.skipped == 0, rerun.problems
    assert rerun.written == len(before)
    assert not list(music.glob(f"*{TEMP_MARK}"))
    undo_batch(library, rerun.batch_id)
    undone = undo_batch(library, first_batch)
    assert undone.inexact == 0
    assert {p: sha(p) for p in before} == before


def test_disk_full_real_filesystem(library, tmp_path, make_files, tmpfs) -> None:
    music = tmpfs.mount(4 << 20) / "music"
    paths = make_files(music, AVAILABLE)
    scan_and_decide(library, music)
    before = {p: sha(p) for p in paths}
    filler = tmpfs.fill(0)

    report = run_export(library, ExportOptions())

    assert report.written == 0 and report.failed == len(paths), report.problems
    assert {p: sha(p) for p in paths} == before
    assert not list(music.glob(f"*{TEMP_MARK}"))
    statuses = _statuses(library, report.batch_id)
    assert {status for status, _ in statuses.values()} == {"failed"}
    for _, message in statuses.values():
        assert message.startswith("no space left on the device for the safe copy")
    filler.unlink()
    _export_rerun_undo(library, music, before, report.batch_id)


@pytest.mark.parametrize("ext", [".mp3", ".flac", ".m4a"])
def test_disk_full_while_tags_grow(library, tmp_path, make_files, tmpfs, ext) -> None:
    """Room for the copy, none for the bigger tag: mutagen's write fails half-way, in the copy."""
    if ext not in AVAILABLE:
        pytest.skip(f"cannot make {ext} files here")
    music = tmpfs.mount(2 << 20) / "music"
    (path,) = make_files(music, [ext])
    scan_and_decide(library, music, genres=("A long genre " * 700,))
    before = {path: sha(path)}
    filler = tmpfs.fill(-(-path.stat().st_size // PAGE) * PAGE)

    report = run_export(library, ExportOptions())

    assert report.failed == 1, report.problems
    ((status, message),) = _statuses(library, report.batch_id).values()
    assert status == "failed" and message.startswith("no space left"), message
    assert "(tag writer)" in message
    assert sha(path) == before[path]
    assert not list(music.glob(f"*{TEMP_MARK}"))
    filler.unlink()
    _export_rerun_undo(library, music, before, report.batch_id)


def test_disk_full_for_the_backups(library, tmp_path, make_files, tmpfs) -> None:
    """No room to keep the undo backup: the file is not written at all."""
    root = tmpfs.mount(1 << 20)
    music = tmp_path / "music"
    paths = make_files(music, [".mp3", ".flac"])
    scan_and_decide(library, music)
    before = {p: sha(p) for p in paths}
    settings = BackupSettings(root=root)
    filler = tmpfs.fill(0)
    report = run_export(library, ExportOptions(), backups=settings)
    assert report.written == 0 and report.skipped == 2
    for status, message in _statuses(library, report.batch_id).values():
        assert (status, message) == ("skipped", "no space left for the undo backup; file untouched")
    assert {p: sha(p) for p in paths} == before
    filler.unlink()
    _export_rerun_undo(library, music, before, report.batch_id)


def test_disk_full_injected_at_the_copy(library, tmp_path, make_files, monkeypatch) -> None:
    """Where no filesystem can be mounted: the first write of each safe copy fails half-way."""
    import tagger_core.writing.safe_write as sw

    music = tmp_path / "music"
    paths = make_files(music, [".mp3", ".flac", ".ogg"])
    scan_and_decide(library, music)
    before = {p: sha(p) for p in paths}

    def full(path: str, tmp: str) -> None:
        with open(path, "rb") as src, open(tmp, "wb") as out:
            out.write(src.read(os.path.getsize(path) // 2))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), tmp)

    monkeypatch.setattr(sw, "copy_original", full)
    report = run_export(library, ExportOptions())
    monkeypatch.undo()

    assert report.failed == len(paths)
    assert {p: sha(p) for p in paths} == before
    assert not list(music.glob(f"*{TEMP_MARK}"))
    assert all(s == "failed" for s, _ in _statuses(library, report.batch_id).values())
    _export_rerun_undo(library, music, before, report.batch_id)


def test_read_only_folder(library, tmp_path, make_files, tmpfs) -> None:
    if os.geteuid() == 0:
        folder = tmpfs.mount(4 << 20)
        music = folder / "music"
    else:
        music = folder = tmp_path / "music"
    paths = make_files(music, [".mp3", ".flac", ".ogg", ".wav"])
    scan_and_decide(library, music)
    before = {p: sha(p) for p in paths}
    if tmpfs.mounted:
        tmpfs.remount("ro")
    else:
        os.chmod(music, 0o555)

    report = run_export(library, ExportOptions())

    assert report.written == 0 and report.skipped == len(paths)
    for status, message in _statuses(library, report.batch_id).values():
        assert status == "skipped" and "read-only" in message
    assert {p: sha(p) for p in paths} == before
    if tmpfs.mounted:
        tmpfs.remount("rw")
    else:
        os.chmod(music, 0o755)
    _export_rerun_undo(library, music, before, report.batch_id)


def test_files_replaced_deleted_or_made_read_only_after_planning(
    library, tmp_path, make_files, monkeypatch
) -> None:
    """Changes made while earlier chunks are written: each file reported, none half-written."""
    monkeypatch.setattr(batch, "CHUNK", 2)
    music = tmp_path / "music"
    paths = make_files(music, AVAILABLE)
    scan_and_decide(library, music)
    before = {p: sha(p) for p in paths}
    replacement = tmp_path / "replacement.bin"
    shutil.copyfile(paths[0], replacement)
    with open(replacement, "ab") as f:
        f.write(b"\0" * 100)  # another version of a file
    victims: dict[str, Path] = {}

    def meddle(done: int, total: int, text: str) -> None:
        if victims:
            return
        with library.session() as s:
            pending = s.scalars(
                select(ExportItem.path)
                .where(ExportItem.status == "pending")
                .order_by(ExportItem.id.desc())
            ).all()
        replaced, deleted, readonly = (Path(os.fsdecode(p)) for p in pending[:3])
        shutil.copyfile(replacement, replaced.with_name("incoming"))
        os.replace(replaced.with_name("incoming"), replaced)
        deleted.unlink()
        os.chmod(readonly, 0o444)
        victims.update(replaced=replaced, deleted=deleted, readonly=readonly)

    report = run_export(library, ExportOptions(), progress=meddle)

    assert report.written == len(paths) - 3 and report.skipped == 3, report.problems
    statuses = _statuses(library, report.batch_id)
    reasons = {
        "replaced": "file changed since the last scan; rescan first",
        "deleted": "file vanished",
        "readonly": "file is read-only",
    }
    for name, path in victims.items():
        assert statuses[str(path)] == ("skipped", reasons[name])
    assert sha(victims["replaced"]) == sha(replacement)
    assert sha(victims["readonly"]) == before[victims["readonly"]]
    assert not victims["deleted"].exists()
    for path in paths:
        if path not in victims.values():
            assert statuses[str(path)][0] == "written"
    assert not list(music.glob(f"*{TEMP_MARK}"))

    os.chmod(victims["readonly"], 0o644)
    scan(library, [music])
    rerun = run_export(library, ExportOptions())
    assert rerun.written == 2 and rerun.failed == 0, rerun.problems
    undo_batch(library, rerun.batch_id)
    assert undo_batch(library, report.batch_id).inexact == 0
    before[victims["replaced"]] = sha(replacement)
    del before[victims["deleted"]]
    assert {p: sha(p) for p in before} == before


def _writer(path: Path):
    fmt = read_tags(path).format
    options = ExportOptions()
    system = system_for(fmt, options)
    key = system.native_key("genre", options)
    return fmt, lambda tmp: system.write(tmp, {key: ["Jazz"]}, options)


def test_permissions_changed_between_check_and_write(tmp_path, make_files) -> None:
    (path,) = make_files(tmp_path, [".flac"])
    state = check_file(str(path))
    fmt, write = _writer(path)
    original = path.read_bytes()
    os.chmod(path, 0o600)
    with pytest.raises(FileSkipped, match="permissions changed"):
        safe_write(str(path), fmt, write, state=state)
    assert path.read_bytes() == original
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob(f"*{TEMP_MARK}"))


def test_file_replaced_or_deleted_between_check_and_write(tmp_path, make_files) -> None:
    replaced, deleted = make_files(tmp_path, [".mp3", ".ogg"])
    fmt, write = _writer(replaced)
    states = {p: check_file(str(p)) for p in (replaced, deleted)}
    (tmp_path / "new.mp3").write_bytes(replaced.read_bytes() + b"\0")
    os.replace(tmp_path / "new.mp3", replaced)
    newer = replaced.read_bytes()
    deleted.unlink()
    for path in (replaced, deleted):
        with pytest.raises(FileSkipped, match="changed between plan and write|vanished"):
            make_backup(str(path), fmt, str(tmp_path), "x", 1 << 30, states[path])
    with pytest.raises(WriteRefused, match="file changed while"):
        safe_write(str(replaced), fmt, write, state=states[replaced])
    assert replaced.read_bytes() == newer
    with pytest.raises(FileSkipped, match="vanished"):
        safe_write(str(deleted), "ogg", write, state=states[deleted])
    assert not list(tmp_path.glob(f"*{TEMP_MARK}")) and not list(tmp_path.glob("x.*"))
