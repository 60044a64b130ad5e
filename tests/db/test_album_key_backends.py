"""Album keys and album views on both backends: migration 0003 on old data, grouping in SQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from tagger_core.db import open_library
from tagger_core.db.library import engine_for
from tagger_core.db.location import resolve
from tagger_core.db.migrate import upgrade
from tagger_core.db.models import Track
from tagger_core.library.album_identity import album_key
from tagger_core.library.album_views import (
    VARIOUS_ARTISTS,
    album_page,
    album_track_ids,
    artist_counts,
    count_albums,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ROWS = [  # path, raw tags, album, album artist, artist, track number
    ("/m/A/1.mp3", {"TXXX:MusicBrainz Album Id": ["ABC-123"]}, "Blue", None, "Joni", 2),
    ("/m/C/9.flac", {"MUSICBRAINZ_ALBUMID": ["abc-123"]}, "Blue (disc 2)", None, "Joni", 1),
    ("/m/A/2.flac", {}, "Blue", "Joni", "Joni", 1),
    ("/m/B/1.flac", {}, "Blue", "Joni", "Joni", 1),
    ("/m/V/1.ogg", {}, "Mix", None, "Ann", 1),
    ("/m/V/2.ogg", {}, "Mix", None, "Bob", 2),
    ("/m/loose.flac", {}, None, None, "andy", None),
]


def test_migration_fills_album_keys_and_albums_group_in_sql(db_location: str) -> None:
    engine = engine_for(resolve(db_location))
    upgrade(engine, "0002")
    with engine.begin() as conn:
        for path, raw, album, album_artist, artist, no in ROWS:
            conn.execute(
                Track.__table__.insert(),
                {"path": path.encode(), "path_text": path, "size": 1, "mtime_ns": 1,
                 "status": "ok", "first_seen": T0, "last_seen": T0, "genres": [],
                 "raw_tags": raw, "album": album, "album_artist": album_artist,
                 "artist": artist, "track_no": no},
            )  # fmt: skip
    engine.dispose()
    lib = open_library(db_location)
    with lib.session() as s:
        keys = dict(s.execute(select(Track.path_text, Track.album_key)).all())
        # one MusicBrainz release across two folders, whatever the case of its id
        assert keys["/m/A/1.mp3"] == keys["/m/C/9.flac"] == "mb:abc-123"
        assert keys["/m/A/2.flac"] == album_key(None, "Blue", "Joni", "/m/A/2.flac")
        assert keys["/m/A/2.flac"] != keys["/m/B/1.flac"]  # same tags, other folder
        assert keys["/m/loose.flac"] is None
        albums = album_page(s)
        assert [(a.artist, a.album, a.tracks) for a in albums] == [
            ("Joni", "Blue", 2),  # the release: its key sorts first among Joni's "Blue"s
            ("Joni", "Blue", 1),
            ("Joni", "Blue", 1),
            (VARIOUS_ARTISTS, "Mix", 2),
        ]
        assert albums[0].key == "mb:abc-123"
        assert count_albums(s) == 4 and count_albums(s, "bob") == 1
        ids = dict(s.execute(select(Track.path_text, Track.id)).all())
        assert album_track_ids(s, "mb:abc-123") == [ids["/m/C/9.flac"], ids["/m/A/1.mp3"]]
        # case-blind on both backends: "andy" before "Ann"
        assert artist_counts(s) == [("andy", 1), ("Ann", 1), ("Bob", 1), ("Joni", 4)]
    lib.close()
