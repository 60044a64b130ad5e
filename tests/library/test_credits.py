"""Performer credits and the INSTRUMENTS field, read from real tagged files of each format."""

from __future__ import annotations

from pathlib import Path

import pytest
from audio_files import HAVE_FFMPEG, make_audio
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TMCL, TXXX
from mutagen.mp4 import MP4, MP4FreeForm
from mutagen.oggvorbis import OggVorbis

from tagger_core.labels.instrument_names import load_instrument_normalizer
from tagger_core.library.file_tags import read_tags


def test_id3v24_tmcl_credits_and_txxx_instruments(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "a.mp3")
    tags = ID3()
    tags.add(TMCL(encoding=3, people=[["violin", "Anne"], ["alto saxophone", "Bob"]]))
    tags.add(TXXX(encoding=3, desc="INSTRUMENTS", text=["organ"]))
    tags.save(path, v2_version=4)
    info = read_tags(path)
    assert info.raw["TMCL"] == ["Anne (violin)", "Bob (alto saxophone)"]
    assert sorted(info.instruments) == ["alto saxophone", "organ", "violin"]
    assert load_instrument_normalizer().match(info.instruments).families == (
        "organ", "reed", "string",
    )  # fmt: skip


@pytest.mark.parametrize("ext", [".flac", ".ogg"])
def test_vorbis_performer_credits(tmp_path: Path, ext: str) -> None:
    path = make_audio(tmp_path / f"a{ext}")
    audio = FLAC(path) if ext == ".flac" else OggVorbis(path)
    audio["PERFORMER"] = ["Carla (Hammond organ)", "Dan (guest violin)", "The Band"]
    audio["INSTRUMENTS"] = ["brass; vocal"]
    audio.save()
    info = read_tags(path)
    assert sorted(info.instruments) == ["Hammond organ", "brass; vocal", "guest violin"]
    match = load_instrument_normalizer().match(info.instruments)
    assert match.families == ("brass", "organ", "string", "vocal")
    assert match.unknown == ()


def test_mp4_freeform_performer_and_instruments(tmp_path: Path) -> None:
    if not HAVE_FFMPEG:
        pytest.skip("ffmpeg is needed to encode MP4")
    path = make_audio(tmp_path / "a.m4a")
    audio = MP4(path)
    audio["----:com.apple.iTunes:PERFORMER"] = [MP4FreeForm(b"Eve (cello)")]
    audio["----:com.apple.iTunes:INSTRUMENTS"] = [MP4FreeForm(b"guitar")]
    audio.save()
    info = read_tags(path)
    assert info.raw["----:com.apple.iTunes:PERFORMER"] == ["Eve (cello)"]
    assert sorted(info.instruments) == ["cello", "guitar"]


def test_file_without_credits_names_no_instruments(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "a.flac")
    audio = FLAC(path)
    audio["PERFORMER"] = ["Just A Name"]
    audio.save()
    assert read_tags(path).instruments == []
