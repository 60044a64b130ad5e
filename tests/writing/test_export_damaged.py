"""Damaged files the export must leave alone, and names at the file-system limits.

A tag write can turn damage a decoder skips into audio it plays: Ogg pages are
renumbered and re-checksummed after a tag write (a page whose checksum was wrong
becomes "valid"), and a WavPack tag goes right after the last block (a block
cut short would swallow it). Such files are refused in one line, untouched.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from tagger_core.db.models import ExportItem
from tagger_core.library.audio_fingerprint import payload_span
from tagger_core.writing import ExportOptions, run_export
from tagger_core.writing.safe_write import TEMP_MARK, temp_path_for

from .helpers import AVAILABLE, scan_and_decide


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _messages(library, batch_id: int) -> list[tuple[str, str | None]]:
    with library.session() as s:
        items = s.scalars(select(ExportItem).where(ExportItem.batch_id == batch_id))
        return [(i.status, i.message) for i in items]


@pytest.mark.parametrize("ext", [".ogg", ".opus"])
def test_an_ogg_page_with_a_wrong_checksum_is_not_written(library, tmp_path, make_files, ext):
    (path,) = make_files(tmp_path / "music", [ext])
    data = bytearray(path.read_bytes())
    last = data.rfind(b"OggS")
    data[last + 27 + data[last + 26] + 2] ^= 0x10  # one bit of audio in the last page's body
    path.write_bytes(bytes(data))
    scan_and_decide(library, tmp_path / "music")
    before = sha(path)

    report = run_export(library, ExportOptions())

    assert report.written == 0 and report.failed == 1, report.problems
    ((status, message),) = _messages(library, report.batch_id)
    assert status == "failed" and "checksum does not match" in message
    assert f"at byte {last}" in message and "\n" not in message
    assert sha(path) == before


def test_the_ogg_checksum_matches_the_one_every_page_carries(make_files, tmp_path) -> None:
    from tagger_core.writing.digest import ogg_page_crc

    for ext in (".ogg", ".opus"):
        (path,) = make_files(tmp_path / ext.lstrip("."), [ext])
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            segments = data[pos + 26]
            size = 27 + segments + sum(data[pos + 27 : pos + 27 + segments])
            page = data[pos : pos + size]
            stored = int.from_bytes(page[22:26], "little")
            assert ogg_page_crc(page[:22] + bytes(4) + page[26:]) == stored
            pos += size


def test_a_wavpack_file_cut_short_is_not_written(library, tmp_path, make_files) -> None:
    if ".wv" not in AVAILABLE:
        pytest.skip("cannot make WavPack files here (no ffmpeg)")
    (path,) = make_files(tmp_path / "music", [".wv"])
    start, end = payload_span(path, "wavpack")
    path.write_bytes(path.read_bytes()[: (start + end) // 2])  # the tag and half the audio gone
    scan_and_decide(library, tmp_path / "music")
    before = sha(path)

    report = run_export(library, ExportOptions())

    assert report.written == 0 and report.failed == 1, report.problems
    ((status, message),) = _messages(library, report.batch_id)
    assert status == "failed" and message.startswith("WavPack file is cut short")
    assert sha(path) == before


def test_a_whole_wavpack_file_is_still_written(library, tmp_path, make_files) -> None:
    if ".wv" not in AVAILABLE:
        pytest.skip("cannot make WavPack files here (no ffmpeg)")
    make_files(tmp_path / "music", [".wv"])
    scan_and_decide(library, tmp_path / "music")
    report = run_export(library, ExportOptions())
    assert report.written == 1 and not report.problems


def test_a_name_near_the_255_byte_limit_is_written(library, tmp_path, make_files) -> None:
    """The safe copy's name adds a mark; near NAME_MAX it is named by a hash instead."""
    music = tmp_path / "music"
    paths = make_files(music, [".flac", ".mp3"])
    long_paths = []
    for p in paths:
        target = p.with_name("é" * 60 + "x" * (250 - 120 - len(p.suffix)) + p.suffix)
        assert len(os.fsencode(target.name)) == 250
        p.rename(target)
        long_paths.append(target)
    scan_and_decide(library, music)

    report = run_export(library, ExportOptions())

    assert report.written == 2 and not report.problems, report.problems
    for p in long_paths:
        temp = temp_path_for(str(p))
        assert len(os.fsencode(os.path.basename(temp))) <= 255 and temp.endswith(TEMP_MARK)
    assert not list(music.glob(f".*{TEMP_MARK}"))
