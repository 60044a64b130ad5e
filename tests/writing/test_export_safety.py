"""Safe writing: verified copies, refused corruptions, skipped files, temp files cleaned."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import mutagen
import pytest

from tagger_core.errors import UnreadableFileError
from tagger_core.library.file_tags import read_tags
from tagger_core.writing import ExportOptions, run_export
from tagger_core.writing.digest import audio_digest, ogg_digest
from tagger_core.writing.registry import system_for
from tagger_core.writing.safe_write import (
    TEMP_MARK,
    FileSkipped,
    WriteRefused,
    check_file,
    safe_write,
    temp_path_for,
)

from .helpers import AVAILABLE, scan_and_decide


def _genre_writer(path: Path, values: list[str]):
    fmt = read_tags(path).format
    options = ExportOptions()
    system = system_for(fmt, options)
    key = system.native_key("genre", options)
    return fmt, lambda tmp: system.write(tmp, {key: values}, options)


def _flip_payload_byte(path: str, fmt: str) -> None:
    """Damage one byte in the middle of the file's audio (as a buggy writer might)."""
    from tagger_core.library.audio_fingerprint import payload_span

    start, end = payload_span(path, fmt)
    size = os.path.getsize(path)
    middle = (start + end) // 2 if (start, end) != (0, size) else size // 2
    with open(path, "r+b") as f:
        f.seek(middle)
        byte = f.read(1)
        f.seek(middle)
        f.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize("ext", AVAILABLE)
def test_corrupted_copy_is_refused_and_original_untouched(tmp_path, make_files, ext) -> None:
    (path,) = make_files(tmp_path, [ext])
    original = path.read_bytes()
    mode = os.stat(path).st_mode
    fmt, write = _genre_writer(path, ["Jazz"])

    def write_and_corrupt(tmp: str) -> None:
        write(tmp)
        _flip_payload_byte(tmp, fmt)

    # Ogg: the flipped byte breaks its page's checksum, which is refused first
    with pytest.raises(WriteRefused, match="audio payload|checksum does not match"):
        safe_write(str(path), fmt, write_and_corrupt)

    assert path.read_bytes() == original
    assert os.stat(path).st_mode == mode
    assert not os.path.exists(temp_path_for(str(path)))


@pytest.mark.parametrize("ext", AVAILABLE)
def test_tag_write_keeps_digest_and_audio_change_breaks_it(tmp_path, make_files, ext) -> None:
    (path,) = make_files(tmp_path, [ext])
    fmt, write = _genre_writer(path, ["Jazz", "Blues", "x" * 3000])  # forces a bigger tag
    before = audio_digest(path, fmt)
    write(str(path))
    assert audio_digest(path, fmt) == before
    _flip_payload_byte(str(path), fmt)
    try:
        after = audio_digest(path, fmt)
    except UnreadableFileError as err:  # Ogg: that page's checksum no longer matches
        assert "checksum does not match" in str(err)
        after = None
    assert after != before


def test_ogg_digest_ignores_page_renumbering(tmp_path, make_files) -> None:
    (path,) = make_files(tmp_path, [".ogg"])
    before = ogg_digest(path)
    raw_before = path.read_bytes()
    audio = mutagen.File(path)
    audio["comment"] = ["y" * 70000]  # comment spans several pages: later pages renumbered
    audio.save()
    assert path.read_bytes() != raw_before
    assert ogg_digest(path) == before


def test_failed_read_back_is_refused(tmp_path, make_files) -> None:
    (path,) = make_files(tmp_path, [".flac"])
    original = path.read_bytes()
    fmt, write = _genre_writer(path, ["Jazz"])

    def verify(tmp: str) -> None:
        raise WriteRefused("field GENRE does not read back as intended")

    with pytest.raises(WriteRefused):
        safe_write(str(path), fmt, write, verify=verify)
    assert path.read_bytes() == original
    assert not list(tmp_path.glob(f"*{TEMP_MARK}"))


def test_writer_exception_leaves_no_temp(tmp_path, make_files) -> None:
    (path,) = make_files(tmp_path, [".mp3"])
    original = path.read_bytes()

    def broken(tmp: str) -> None:
        Path(tmp).write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(WriteRefused, match="disk full"):
        safe_write(str(path), "mp3", broken)
    assert path.read_bytes() == original
    assert not list(tmp_path.glob(f"*{TEMP_MARK}"))


def test_permissions_are_kept(tmp_path, make_files) -> None:
    (path,) = make_files(tmp_path, [".flac"])
    os.chmod(path, 0o640)
    fmt, write = _genre_writer(path, ["Jazz"])
    safe_write(str(path), fmt, write)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert mutagen.File(path)["genre"] == ["Jazz"]


def test_check_file_reasons(tmp_path, make_files) -> None:
    (path,) = make_files(tmp_path, [".mp3"])
    st = os.stat(path)
    with pytest.raises(FileSkipped, match="changed since the last scan"):
        check_file(str(path), st.st_size + 1, st.st_mtime_ns)
    with pytest.raises(FileSkipped, match="vanished"):
        check_file(str(tmp_path / "gone.mp3"))
    os.chmod(path, 0o444)
    with pytest.raises(FileSkipped, match="read-only"):
        check_file(str(path))


def test_export_reports_and_skips_unwritable_files(library, tmp_path, make_files) -> None:
    fcntl = pytest.importorskip("fcntl")
    music = tmp_path / "music"
    paths = make_files(music, [".mp3", ".flac", ".ogg", ".wav"])
    scan_and_decide(library, music)
    readonly, vanished, changed, locked = paths
    os.chmod(readonly, 0o444)
    vanished.unlink()
    with open(changed, "ab") as f:
        f.write(b"\0" * 10)
    contents = {p: p.read_bytes() for p in (readonly, changed, locked)}

    with open(locked, "rb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        report = run_export(library, ExportOptions())

    assert report.written == 0
    assert report.skipped == 4
    text = "\n".join(report.problems)
    for reason in ("read-only", "vanished", "changed since the last scan", "locked"):
        assert reason in text
    for p, data in contents.items():
        assert p.read_bytes() == data
    assert not list(music.glob(f"*{TEMP_MARK}"))


def test_leftover_temp_from_a_crash_is_removed(library, tmp_path, make_files) -> None:
    music = tmp_path / "music"
    (path,) = make_files(music, [".mp3"])
    scan_and_decide(library, music)
    Path(temp_path_for(str(path))).write_bytes(b"partial copy from a crash")
    report = run_export(library, ExportOptions())
    assert report.written == 1
    assert not os.path.exists(temp_path_for(str(path)))


@pytest.mark.parametrize("ext", [".mp3", ".flac"])
def test_a_writer_that_touches_other_fields_is_refused(tmp_path, make_files, ext) -> None:
    from tagger_core.writing.batch import _verifier

    (path,) = make_files(tmp_path, [ext])
    original = path.read_bytes()
    fmt = read_tags(path).format
    options = ExportOptions()
    system = system_for(fmt, options)
    key = system.native_key("genre", options)
    title = "TIT2" if ext == ".mp3" else "TITLE"
    intended = {key: ["Jazz"]}

    def sloppy(tmp: str) -> None:  # writes the genre, and also "fixes" the title
        system.write(tmp, {**intended, title: ["Other"]} if ext == ".flac" else intended, options)
        if ext == ".mp3":
            audio = mutagen.File(tmp)
            audio.tags["TIT2"].text = ["Other"]
            audio.save()

    before = system.read_all(str(path))
    with pytest.raises(WriteRefused, match="does not read back"):
        safe_write(str(path), fmt, sloppy, verify=_verifier(system, before, intended))
    assert path.read_bytes() == original
