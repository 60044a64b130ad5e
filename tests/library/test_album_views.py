"""Albums and artists grouped and paged in SQL: on scanned generated albums and in bulk."""

from __future__ import annotations

from pathlib import Path

from album_files import MB_BLUE, make_albums
from library_rows import fill_library

from tagger_core.library.album_views import (
    VARIOUS_ARTISTS,
    album_page,
    album_row,
    album_track_ids,
    artist_counts,
    count_albums,
)
from tagger_core.library.scan import scan
from tagger_core.library.track_views import count_tracks, page_ids, rows_for


def test_albums_of_a_scanned_archive(library, tmp_path: Path) -> None:
    files = make_albums(tmp_path / "music")
    scan(library, [tmp_path / "music"])
    with library.session() as s:
        albums = album_page(s)
        assert [(a.artist, a.album, a.tracks) for a in albums] == [
            ("John Coltrane", "Blue Train", 4),
            (VARIOUS_ARTISTS, "Kind of Blue", 3),  # three artists, no album artist tag
        ]
        assert count_albums(s) == 2 and count_albums(s, "miles") == 1
        assert [a.album for a in album_page(s, "cannonball")] == ["Kind of Blue"]
        blue = album_row(s, f"mb:{MB_BLUE}")
        assert blue is not None and blue.folder.endswith("Coltrane/Blue Train")
        ids = album_track_ids(s, blue.key)
        assert [r.title for r in rows_for(s, ids)] == ["Blue 1", "Blue 2", "Blue 3", "Blue 4"]
        assert count_tracks(s, blue.view) == len(files["blue"])
        miles = page_ids(s, "artist:Miles Davis")
        assert [r.album for r in rows_for(s, miles)] == ["Kind of Blue"]
        assert ("Nobody", 1) in artist_counts(s)


def test_album_pages_over_a_big_library(tmp_path: Path) -> None:
    library = fill_library(tmp_path / "big.db", n=20_000)
    with library.session() as s:
        assert count_albums(s) == 2000
        page = album_page(s, offset=100, limit=50)
        assert len(page) == 50 and all(a.tracks == 10 for a in page)
        by_tracks = album_page(s, sort="tracks", limit=1)
        assert by_tracks[0].tracks == 10
        assert count_albums(s, "Album 0007") == 1
    library.close()
