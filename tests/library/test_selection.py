"""Paths → track ids: folders by prefix (not by name likeness), files exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from audio_files import make_audio

from tagger_core.errors import ConfigError
from tagger_core.library.scan import scan
from tagger_core.library.selection import (
    track_ids_for_paths,
    track_ids_under,
    tracks_by_id,
    tracks_matching,
)


def test_folders_select_by_prefix_and_files_exactly(library, tmp_path: Path) -> None:
    for folder in ("rock", "rock-live", "jazz"):
        (tmp_path / folder).mkdir()
        make_audio(tmp_path / folder / "a.wav", seconds=0.5)
    (tmp_path / "jazz" / "broken.wav").write_bytes(b"not audio")
    scan(library, [tmp_path])
    with library.session() as s:
        rock = track_ids_under(s, tmp_path / "rock")
        jazz_ok = track_ids_under(s, tmp_path / "jazz")
        jazz_any = track_ids_under(s, tmp_path / "jazz", status=None)
        both = track_ids_for_paths(s, [tmp_path / "rock"], [tmp_path / "jazz" / "a.wav"])
        with pytest.raises(ConfigError, match="not in the library"):
            track_ids_for_paths(s, [], [tmp_path / "elsewhere.wav"])
    assert len(rock) == 1  # "rock-live" is not below "rock"
    assert len(jazz_ok) == 1 and len(jazz_any) == 2
    assert sorted(both) == sorted(rock + jazz_ok)


def test_tracks_by_text_and_by_id(library, tmp_path: Path) -> None:
    for name in ("blue.wav", "green.wav", "bluegrass.wav"):
        make_audio(tmp_path / name, seconds=0.5)
    scan(library, [tmp_path])
    with library.session() as s:
        blue = tracks_matching(s, "blue")
        first = tracks_matching(s, None, limit=1)
        by_id = tracks_by_id(s, [blue[0].id, 999])
    assert [t.path_text.rsplit("/", 1)[-1] for t in blue] == ["blue.wav", "bluegrass.wav"]
    assert len(first) == 1 and list(by_id) == [blue[0].id]
