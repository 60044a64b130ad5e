"""Round trips of exported tags in every format, read back by mutagen and an independent reader."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import mutagen
import pytest

from tagger_core.library.file_tags import read_tags
from tagger_core.writing import ExportOptions, run_export
from tagger_core.writing.digest import audio_digest
from tagger_core.writing.registry import system_for

from .helpers import AVAILABLE, ape_items, scan_and_decide, tinytag_genres

EXPECTED = ["Duo Cello/Klavier", "Rock", "Jazz", "Blues"]


def _managed(path: Path, options: ExportOptions) -> tuple[list[str] | None, list[str] | None]:
    fmt = read_tags(path).format
    system = system_for(fmt, options)
    fields = system.read_all(str(path))
    genre = fields.get(system.fold(system.native_key("genre", options)))
    instruments = fields.get(system.fold(system.native_key("instruments", options)))
    return genre, instruments


@pytest.mark.parametrize("ext", AVAILABLE)
def test_separate_genres_round_trip(library, tmp_path: Path, make_files, ext: str) -> None:
    (path,) = make_files(tmp_path / "music", [ext])
    before = read_tags(path)
    digest = audio_digest(path, before.format)
    scan_and_decide(library, tmp_path / "music")

    report = run_export(library, ExportOptions())

    assert (report.written, report.failed, report.skipped) == (1, 0, 0), report.problems
    genre, instruments = _managed(path, ExportOptions())
    assert genre == EXPECTED
    assert instruments == ["bass"]
    after = read_tags(path)
    assert {"Jazz", "Blues"} <= set(after.genres)
    for name in ("title", "artist", "album", "year", "track_no"):
        assert getattr(after, name) == getattr(before, name), name
    assert audio_digest(path, after.format) == digest
    assert mutagen.File(path) is not None
    # A second reader, independent of mutagen, must see the genres as separate values.
    if ext == ".wv":
        assert ape_items(path)["genre"] == EXPECTED
    elif ext == ".wma":
        assert sorted(tinytag_genres(path)) == sorted(EXPECTED)
    else:
        assert tinytag_genres(path) == EXPECTED


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
@pytest.mark.parametrize("ext", [e for e in AVAILABLE if e in (".flac", ".ogg", ".opus")])
def test_ffprobe_sees_repeated_vorbis_genres(library, tmp_path: Path, make_files, ext) -> None:
    (path,) = make_files(tmp_path / "music", [ext])
    scan_and_decide(library, tmp_path / "music")
    run_export(library, ExportOptions())
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format_tags:stream_tags", "-of", "json", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    tags = {**data.get("format", {}).get("tags", {})}
    for stream in data.get("streams", []):
        tags.update(stream.get("tags", {}))
    genre = next(v for k, v in tags.items() if k.lower() == "genre")
    assert genre.split(";") == EXPECTED  # ffmpeg joins repeated fields with ";"


@pytest.mark.parametrize("ext", [e for e in (".mp3", ".wav", ".aiff") if e in AVAILABLE])
def test_id3v23_mode_joins_with_the_chosen_separator(library, tmp_path, make_files, ext) -> None:
    (path,) = make_files(tmp_path / "music", [ext])
    scan_and_decide(library, tmp_path / "music")
    options = ExportOptions(id3_version=3, id3v23_separator=" | ")

    report = run_export(library, options)

    assert report.written == 1, report.problems
    audio = mutagen.File(path)
    assert audio.tags.version[:2] == (2, 3)
    # The template's two values were written by a v2.4 tag; v2.3 holds one joined value.
    assert audio.tags["TCON"].text == [" | ".join(EXPECTED)]
    assert _managed(path, options)[1] == ["bass"]


def test_mp4_joined_style(library, tmp_path: Path, make_files) -> None:
    if ".m4a" not in AVAILABLE:
        pytest.skip("ffmpeg needed for M4A")
    (path,) = make_files(tmp_path / "music", [".m4a"])
    scan_and_decide(library, tmp_path / "music")
    run_export(library, ExportOptions(mp4_genre_style="joined", mp4_separator="; "))
    tags = mutagen.File(path).tags
    assert tags["©gen"] == ["; ".join(EXPECTED)]
    assert bytes(tags["----:com.apple.iTunes:INSTRUMENTS"][0]) == b"bass"


def test_apev2_on_mp3_when_asked(library, tmp_path: Path, make_files) -> None:
    (path,) = make_files(tmp_path / "music", [".mp3"])
    id3_before = mutagen.File(path).tags["TCON"].text
    scan_and_decide(library, tmp_path / "music")

    report = run_export(library, ExportOptions(apev2_for_mp3=True))

    assert report.written == 1, report.problems
    items = ape_items(path)
    assert items["genre"] == ["Jazz", "Blues"]  # APEv2 had no genre to merge with
    assert items["instruments"] == ["bass"]
    assert mutagen.File(path).tags["TCON"].text == id3_before  # ID3 untouched


def test_replace_policy_and_custom_fields(library, tmp_path: Path, make_files) -> None:
    paths = make_files(tmp_path / "music", [".flac", ".mp3"])
    scan_and_decide(library, tmp_path / "music")
    options = ExportOptions(policy="replace", instruments_field="INSTRUMENT_FAMILIES")

    run_export(library, options)

    for path in paths:
        genre, instruments = _managed(path, options)
        assert genre == ["Jazz", "Blues"]
        assert instruments == ["bass"]
    assert mutagen.File(paths[1]).tags.getall("TXXX:INSTRUMENT_FAMILIES")[0].text == ["bass"]
