from __future__ import annotations

from pathlib import Path

import pytest
from album_files import MB_BLUE, make_albums, make_track
from audio_files import HAVE_FFMPEG
from sqlalchemy import select

from tagger_core.db.models import Track
from tagger_core.library.album_identity import album_key
from tagger_core.library.file_tags import read_tags
from tagger_core.library.scan import scan

MB_EXTS = [".mp3", ".flac", ".ogg", ".opus", ".wav", ".m4a", ".wma", ".wv"]


@pytest.mark.parametrize("ext", MB_EXTS)
def test_musicbrainz_album_id_is_read_in_every_format(tmp_path: Path, ext: str) -> None:
    if ext in (".m4a", ".wma", ".wv") and not HAVE_FFMPEG:
        pytest.skip("ffmpeg is needed to encode this format")
    path = make_track(
        tmp_path / f"t{ext}",
        title="T",
        artist="A",
        album="Alb",
        genres=["Jazz"],
        track=1,
        album_artist="The Band",
        mb_album_id=MB_BLUE.upper(),
    )
    info = read_tags(path)
    assert info.mb_album_id is not None and info.mb_album_id.lower() == MB_BLUE
    assert info.album_artist == "The Band"


def test_mp4_freeform_text_is_readable_in_the_raw_dump(tmp_path: Path) -> None:
    if not HAVE_FFMPEG:
        pytest.skip("ffmpeg is needed to encode MP4")
    path = make_track(
        tmp_path / "t.m4a", title="T", artist="A", album="B", genres=[], track=1,
        mb_album_id=MB_BLUE,
    )  # fmt: skip
    assert read_tags(path).raw["----:com.apple.iTunes:MusicBrainz Album Id"] == [MB_BLUE]


@pytest.mark.parametrize("ext,fmt", [(".m4b", "mp4"), (".m4r", "mp4"), (".oga", "ogg")])
def test_audiobook_ringtone_and_oga_are_scanned(
    library, tmp_path: Path, ext: str, fmt: str
) -> None:
    if ext != ".oga" and not HAVE_FFMPEG:
        pytest.skip("ffmpeg is needed to encode MP4")
    music = tmp_path / "music"
    make_track(music / f"book{ext}", title="Ch 1", artist="Reader", album="Book", genres=["Spoken"],
               track=1)  # fmt: skip
    report = scan(library, [music])
    assert report.new == 1 and report.unreadable == 0
    with library.session() as s:
        track = s.scalars(select(Track)).one()
        assert (track.format, track.title, track.album) == (fmt, "Ch 1", "Book")
        assert track.note is None  # the extension matches the content
        assert track.album_key == album_key(None, "Book", None, track.path_text)


def test_scan_groups_tracks_into_albums(library, tmp_path: Path) -> None:
    files = make_albums(tmp_path / "music")
    scan(library, [tmp_path / "music"])
    with library.session() as s:
        keys = {t.path_text.rsplit("/", 1)[-1]: t.album_key for t in s.scalars(select(Track))}
        by_path = {t.path_text: t.album_key for t in s.scalars(select(Track))}
    blue = {by_path[str(p)] for p in files["blue"]}
    kind = {by_path[str(p)] for p in files["kind"]}
    assert blue == {f"mb:{MB_BLUE}"}  # the MusicBrainz id, across four formats
    assert len(kind) == 1 and next(iter(kind)).startswith("tag:")  # many artists, one album
    assert keys["loose.oga"] is None


def test_same_album_name_in_two_folders_is_two_albums() -> None:
    a = album_key(None, "Greatest Hits", None, "/m/Queen/Greatest Hits/01.flac")
    b = album_key(None, "Greatest Hits", None, "/m/ABBA/Greatest Hits/01.flac")
    assert a != b
    assert album_key("  ", "", None, "/m/x.flac") is None
