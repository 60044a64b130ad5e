"""Generated albums on disk: several formats, album tags, MusicBrainz ids, one mis-tagged track."""

from __future__ import annotations

import shutil
from pathlib import Path

import mutagen
from audio_files import HAVE_FFMPEG, make_audio, tag_file
from mutagen.apev2 import APEv2
from mutagen.asf import ASF
from mutagen.id3 import TPE2, TXXX
from mutagen.mp4 import MP4, MP4FreeForm

MB_BLUE = "5c8b6a0e-7f1d-4f0e-9d1a-2b6c4e8f0a11"
MP4_MB_KEY = "----:com.apple.iTunes:MusicBrainz Album Id"


def set_album_tags(path: Path, album_artist: str | None, mb_album_id: str | None) -> None:
    """Write the album artist and the MusicBrainz album id the way Picard does per format."""
    ext = path.suffix.lower()
    if ext in (".mp3", ".wav", ".aiff"):
        audio = mutagen.File(path)
        if album_artist:
            audio.tags.add(TPE2(encoding=3, text=album_artist))
        if mb_album_id:
            audio.tags.add(TXXX(encoding=3, desc="MusicBrainz Album Id", text=mb_album_id))
        audio.save()
    elif ext in (".m4a", ".m4b", ".m4r"):
        audio = MP4(path)
        if album_artist:
            audio["aART"] = album_artist
        if mb_album_id:
            audio[MP4_MB_KEY] = [MP4FreeForm(mb_album_id.encode())]
        audio.save()
    elif ext == ".wma":
        audio = ASF(path)
        if album_artist:
            audio["WM/AlbumArtist"] = [album_artist]
        if mb_album_id:
            audio["MusicBrainz/Album Id"] = [mb_album_id]
        audio.save()
    elif ext in (".wv", ".ape"):
        tags = APEv2(path)
        if album_artist:
            tags["Album Artist"] = album_artist
        if mb_album_id:
            tags["MUSICBRAINZ_ALBUMID"] = mb_album_id
        tags.save(path)
    else:
        audio = mutagen.File(path)
        if album_artist:
            audio["albumartist"] = album_artist
        if mb_album_id:
            audio["MUSICBRAINZ_ALBUMID"] = mb_album_id
        audio.save()


def make_track(
    path: Path,
    *,
    title: str,
    artist: str,
    album: str,
    genres: list[str],
    track: int,
    album_artist: str | None = None,
    mb_album_id: str | None = None,
    seed: int = 0,
) -> Path:
    """One short tagged clip; ``.m4b``/``.m4r``/``.oga`` are made as their twins and renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    twin = {".m4b": ".m4a", ".m4r": ".m4a", ".oga": ".ogg"}.get(path.suffix.lower())
    made = make_audio(path.with_suffix(twin) if twin else path, seconds=1.0, seed=seed)
    tag_file(made, title=title, artist=artist, album=album, track=str(track), genres=genres)
    set_album_tags(made, album_artist, mb_album_id)
    if twin:
        shutil.move(made, path)
    return path


def make_albums(root: Path) -> dict[str, list[Path]]:
    """Two jazz albums (one with a MusicBrainz id, one without) and a loose track.

    "Blue Train" mixes formats and has one mis-tagged track (tagged Rock, not Jazz).
    """
    blue_exts = [".mp3", ".flac", ".ogg", ".m4a" if HAVE_FFMPEG else ".opus"]
    blue = [
        make_track(
            root / "Coltrane" / "Blue Train" / f"{i + 1:02d}{ext}",
            title=f"Blue {i + 1}",
            artist="John Coltrane",
            album="Blue Train",
            genres=["Rock"] if i == 3 else ["Jazz"],
            track=i + 1,
            album_artist="John Coltrane",
            mb_album_id=MB_BLUE,
            seed=i,
        )
        for i, ext in enumerate(blue_exts)
    ]
    kind = [
        make_track(
            root / "Various" / "Kind of Blue" / f"{i + 1:02d}.flac",
            title=f"Kind {i + 1}",
            artist=("Miles Davis", "Bill Evans", "Cannonball Adderley")[i],
            album="Kind of Blue",
            genres=["Jazz"],
            track=i + 1,
            seed=10 + i,
        )
        for i in range(3)
    ]
    loose = [
        make_track(
            root / "loose.oga", title="Loose", artist="Nobody", album="", genres=["Folk"], track=1
        )
    ]
    return {"blue": blue, "kind": kind, "loose": loose}
