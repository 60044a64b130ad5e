from __future__ import annotations

from pathlib import Path

import pytest
from audio_files import ALL_EXTS, FFMPEG_EXTS, HAVE_FFMPEG, make_audio, noise_bytes, tag_file
from mutagen.id3 import ID3, TCON

from tagger_core.errors import UnreadableFileError
from tagger_core.library.file_tags import read_tags, split_genres

EXPECTED_FORMAT = {
    ".mp3": "mp3",
    ".flac": "flac",
    ".ogg": "ogg",
    ".opus": "opus",
    ".wav": "wav",
    ".aiff": "aiff",
    ".m4a": "mp4",
    ".wma": "wma",
    ".wv": "wavpack",
}


@pytest.mark.parametrize("ext", ALL_EXTS)
def test_every_format_reads_tags_and_stream_facts(tmp_path: Path, ext: str) -> None:
    if ext in FFMPEG_EXTS and not HAVE_FFMPEG:
        pytest.skip("ffmpeg is needed to encode this format")
    path = make_audio(tmp_path / f"clip{ext}", seconds=1.5)
    tag_file(
        path,
        title="Título",
        artist="Ærtist",
        album="Alb",
        year="2003-04-05",
        track="7/12",
        genres=["Jazz", "Blues"],
    )
    info = read_tags(path)
    assert info.format == EXPECTED_FORMAT[ext]
    assert (info.title, info.artist, info.album) == ("Título", "Ærtist", "Alb")
    assert info.year == 2003
    assert info.track_no == 7
    assert info.genres == ["Jazz", "Blues"]
    assert info.duration == pytest.approx(1.5, abs=0.15)
    assert info.sample_rate
    assert info.channels == 1 or (ext == ".m4a" and info.channels == 2)  # AAC signals stereo
    assert info.raw, "the raw tag dump must not be empty"
    assert info.note is None


def test_split_genres_player_conventions() -> None:
    assert split_genres(["Rock\x00Pop"]) == ["Rock", "Pop"]
    assert split_genres(["Rock/Pop", "Jazz; Blues", "rock"]) == ["Rock", "Pop", "Jazz", "Blues"]
    assert split_genres(["Drum & Bass | Jungle"]) == ["Drum & Bass", "Jungle"]
    assert split_genres(["  Folk  ", ""]) == ["Folk"]
    assert split_genres(["Classical / Baroque"]) == ["Classical", "Baroque"]


def test_id3_numeric_and_v23_slash_genres(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "a.mp3")
    tags = ID3()
    tags.add(TCON(encoding=0, text="(17)(9)"))
    tags.save(path, v2_version=3)
    assert read_tags(path).genres == ["Rock", "Metal"]
    tags = ID3(path)
    tags.add(TCON(encoding=0, text="Rock/Alternative"))
    tags.save(path, v2_version=3)
    assert read_tags(path).genres == ["Rock", "Alternative"]


def test_untagged_file_has_stream_facts_only(tmp_path: Path) -> None:
    info = read_tags(make_audio(tmp_path / "plain.flac", seconds=2.0))
    assert info.format == "flac" and info.title is None and info.genres == []
    assert info.duration == pytest.approx(2.0, abs=0.01)


def test_mislabelled_file_is_read_by_content_and_noted(tmp_path: Path) -> None:
    flac = make_audio(tmp_path / "real.flac")
    fake = tmp_path / "fake.mp3"
    fake.write_bytes(flac.read_bytes())
    info = read_tags(fake)
    assert info.format == "flac"
    assert info.note == "extension .mp3 but content is FLAC"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (noise_bytes(4096), "corrupt or unsupported file|not a recognised audio file"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.mp3"
    path.write_bytes(content)
    with pytest.raises(UnreadableFileError, match=message):
        read_tags(path)


def test_truncated_flac_header_is_an_error(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "t.flac")
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(UnreadableFileError):
        read_tags(path)


def test_reading_never_modifies_the_file(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "x.ogg")
    tag_file(path)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    read_tags(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_a_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    """Opening a FIFO blocks until a writer comes: it is refused from its stat alone, and
    said to be what it is (its size of 0 used to make it "an empty file")."""
    import os
    import threading

    fifo = tmp_path / "pipe.flac"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            read_tags(fifo)
            outcome.append(None)
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            outcome.append(err)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=30)
    if reader.is_alive():  # blocked in open(): release it, then fail
        with open(fifo, "wb"):
            pass
        reader.join(timeout=30)
        pytest.fail("read_tags opened the FIFO and waited for a writer")
    (err,) = outcome
    assert isinstance(err, UnreadableFileError) and str(err) == "not a regular file (never opened)"
