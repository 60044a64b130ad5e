"""Which album a track belongs to: one opaque key per album, stored on the track.

Why a stored key: grouping 100,000 tracks by album must be one indexed SQL
``GROUP BY``, and the rule has to be the same for the scanner, the migration that
fills older databases and every view. The MusicBrainz release id wins when the file
carries one (it survives renamed folders and retitled albums); otherwise an album is
its album artist, its album name and the folder it lies in, so two different "Greatest
Hits" never merge, and a compilation without an album artist stays one album even
though its tracks name many artists. Tracks without an album name belong to no album.
"""

from __future__ import annotations

import hashlib

MB_PREFIX = "mb:"
TAG_PREFIX = "tag:"


def folder_of(path_text: str) -> str:
    """The folder part of a stored, '/'-separated path (``""`` for a bare name)."""
    return path_text.rsplit("/", 1)[0] if "/" in path_text else ""


def album_key(
    mb_album_id: str | None, album: str | None, album_artist: str | None, path_text: str
) -> str | None:
    """The album key of one track (None when the track names no album).

    >>> album_key("8A0E6F3C-1D3B-4C0B-9E57-2C1A43D1E001", "X", None, "/a/b.flac")
    'mb:8a0e6f3c-1d3b-4c0b-9e57-2c1a43d1e001'
    >>> album_key(None, "Blue", "Joni", "/m/Blue/01.flac") == album_key(
    ...     None, "blue ", "JONI", "/m/Blue/02.flac")
    True
    """
    if mb_album_id and mb_album_id.strip():
        return MB_PREFIX + mb_album_id.strip().lower()
    name = (album or "").strip()
    if not name:
        return None
    parts = (folder_of(path_text), (album_artist or "").strip().casefold(), name.casefold())
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return TAG_PREFIX + digest[:20]
