"""Reading the tags and stream facts a file already carries (mutagen, read-only).

Every container keeps tags its own way; this module turns them into one
normalised record (``TagInfo``) plus a JSON-safe dump of everything raw.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import asdict, dataclass, field
from typing import Any

import mutagen
from mutagen.apev2 import APEv2File
from mutagen.asf import ASF
from mutagen.id3 import ID3FileType
from mutagen.mp4 import MP4, AtomDataType, MP4FreeForm

from tagger_core.errors import UnreadableFileError, reason_of
from tagger_core.labels.instrument_names import credited_instruments
from tagger_core.library.formats import EXTENSIONS, extension_of

# mutagen class name -> (format, codec)
_KINDS: dict[str, tuple[str, str]] = {
    "MP3": ("mp3", "mp3"),
    "EasyMP3": ("mp3", "mp3"),
    "FLAC": ("flac", "flac"),
    "OggVorbis": ("ogg", "vorbis"),
    "OggFLAC": ("ogg", "flac"),
    "OggOpus": ("opus", "opus"),
    "OggSpeex": ("ogg", "speex"),
    "OggTheora": ("ogg", "theora"),
    "MP4": ("mp4", "aac"),
    "AAC": ("aac", "aac"),
    "WAVE": ("wav", "pcm"),
    "AIFF": ("aiff", "pcm"),
    "ASF": ("wma", "wma"),
    "MonkeysAudio": ("ape", "ape"),
    "WavPack": ("wavpack", "wavpack"),
}

# Separators players use to pack several genres into one string. A bare "/" is
# only a separator between two non-empty names ("Rock/Pop"), never inside a
# parenthesised ID3v1 reference.
_GENRE_SPLIT = re.compile(r"\x00|;|\||\s+/\s+|(?<=[^\s/(])/(?=[^\s/)])")


@dataclass
class TagInfo:
    """Normalised tags and stream facts of one file."""

    format: str
    codec: str | None = None
    duration: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    bitrate: int | None = None
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    album_artist: str | None = None
    year: int | None = None
    track_no: int | None = None
    disc_no: int | None = None
    comment: str | None = None
    genres: list[str] = field(default_factory=list)
    #: MusicBrainz release id: the one album identity that survives renames and reissues.
    mb_album_id: str | None = None
    #: instrument names from performer credits and the INSTRUMENTS field, as written
    instruments: list[str] = field(default_factory=list)
    raw: dict[str, list[str]] = field(default_factory=dict)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_genres(values: list[str]) -> list[str]:
    """Split packed genre strings into separate names, trimmed and de-duplicated.

    >>> split_genres(["Rock/Pop", "Jazz; Blues", "Rock"])
    ['Rock', 'Pop', 'Jazz', 'Blues']
    """
    out: list[str] = []
    seen: set[str] = set()
    for value in values:
        for part in _GENRE_SPLIT.split(value):
            name = part.strip()
            if name and name.casefold() not in seen:
                seen.add(name.casefold())
                out.append(name)
    return out


def _first(values: list[str] | None) -> str | None:
    if not values:
        return None
    text = str(values[0]).strip()
    return text or None


def _leading_int(text: str | None) -> int | None:
    """``"2003-05-01"`` -> 2003, ``"3/12"`` -> 3; None when there is no number."""
    if not text:
        return None
    match = re.match(r"\s*(\d+)", text)
    return int(match.group(1)) if match else None


def _text(value: Any) -> str:
    """A JSON-safe text rendering of one raw tag value."""
    if isinstance(value, MP4FreeForm) and value.dataformat == AtomDataType.UTF8:
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, bytes):
        return f"<binary {len(value)} bytes>"
    data = getattr(value, "data", None)
    if isinstance(data, bytes) and not hasattr(value, "text"):
        return f"<binary {len(data)} bytes>"
    if isinstance(value, tuple):
        return "/".join(str(v) for v in value)
    return str(value)


def _raw_id3(tags: Any) -> dict[str, list[str]]:
    raw: dict[str, list[str]] = {}
    for key, frame in tags.items():
        if hasattr(frame, "people"):  # TMCL/TIPL credits, rendered as Picard's Vorbis ones
            values = [f"{name} ({role})" if role else name for role, name in frame.people]
        elif hasattr(frame, "text"):
            values = [str(v) for v in frame.text]
        elif hasattr(frame, "data"):
            values = [f"<binary {len(frame.data)} bytes>"]
        else:
            values = [str(frame)]
        raw.setdefault(key, []).extend(values)
    return raw


def _raw_generic(tags: Any) -> dict[str, list[str]]:
    raw: dict[str, list[str]] = {}
    for key, value in tags.items():
        values = value if isinstance(value, list) else [value]
        raw.setdefault(str(key), []).extend(_text(v) for v in values)
    return raw


def _normalise_id3(info: TagInfo, tags: Any) -> None:
    def text(frame_id: str) -> str | None:
        frame = tags.get(frame_id)
        return _first([str(t) for t in frame.text]) if frame is not None else None

    info.title = text("TIT2")
    info.artist = text("TPE1")
    info.album = text("TALB")
    info.album_artist = text("TPE2")
    info.year = _leading_int(text("TDRC") or text("TYER"))
    info.track_no = _leading_int(text("TRCK"))
    info.disc_no = _leading_int(text("TPOS"))
    comments = tags.getall("COMM")
    info.comment = _first([str(t) for c in comments for t in c.text])
    tcon = tags.get("TCON")
    if tcon is not None:
        info.genres = split_genres(list(tcon.genres))
    info.mb_album_id = text("TXXX:MusicBrainz Album Id")


def _normalise_keyed(info: TagInfo, raw: dict[str, list[str]], keys: dict[str, list[str]]) -> None:
    """Fill ``info`` from a case-insensitive key->values mapping (Vorbis, APE, ASF, MP4)."""
    folded = {k.casefold(): v for k, v in raw.items()}

    def get(field_name: str) -> list[str]:
        for key in keys[field_name]:
            if key.casefold() in folded:
                return folded[key.casefold()]
        return []

    info.title = _first(get("title"))
    info.artist = _first(get("artist"))
    info.album = _first(get("album"))
    info.album_artist = _first(get("album_artist"))
    info.year = _leading_int(_first(get("year")))
    info.track_no = _leading_int(_first(get("track_no")))
    info.disc_no = _leading_int(_first(get("disc_no")))
    info.comment = _first(get("comment"))
    info.genres = split_genres(get("genres"))
    info.mb_album_id = _first(get("mb_album_id"))


_VORBIS_KEYS = {
    "title": ["title"],
    "artist": ["artist"],
    "album": ["album"],
    "album_artist": ["albumartist", "album artist"],
    "year": ["date", "year", "originaldate"],
    "track_no": ["tracknumber"],
    "disc_no": ["discnumber"],
    "comment": ["comment", "description"],
    "genres": ["genre"],
    "mb_album_id": ["musicbrainz_albumid"],
}
_APE_KEYS = {
    "title": ["Title"],
    "artist": ["Artist"],
    "album": ["Album"],
    "album_artist": ["Album Artist", "AlbumArtist"],
    "year": ["Year", "Date"],
    "track_no": ["Track"],
    "disc_no": ["Disc"],
    "comment": ["Comment"],
    "genres": ["Genre"],
    "mb_album_id": ["MUSICBRAINZ_ALBUMID", "MusicBrainz Album Id"],
}
_ASF_KEYS = {
    "title": ["Title"],
    "artist": ["Author", "WM/AlbumArtist"],
    "album": ["WM/AlbumTitle"],
    "album_artist": ["WM/AlbumArtist"],
    "year": ["WM/Year"],
    "track_no": ["WM/TrackNumber"],
    "disc_no": ["WM/PartOfSet"],
    "comment": ["Description"],
    "genres": ["WM/Genre"],
    "mb_album_id": ["MusicBrainz/Album Id"],
}
_MP4_KEYS = {
    "title": ["©nam"],
    "artist": ["©ART"],
    "album": ["©alb"],
    "album_artist": ["aART"],
    "year": ["©day"],
    "track_no": ["trkn"],
    "disc_no": ["disk"],
    "comment": ["©cmt"],
    "genres": ["©gen"],
    "mb_album_id": ["----:com.apple.iTunes:MusicBrainz Album Id"],
}


def _split_ape_values(raw: dict[str, list[str]]) -> dict[str, list[str]]:
    """APEv2 packs several values into one item, NUL-separated."""
    return {k: [p for v in vals for p in v.split("\x00")] for k, vals in raw.items()}


def _stream_facts(info: TagInfo, audio: Any) -> None:
    stream = getattr(audio, "info", None)
    if stream is None:
        return
    length = getattr(stream, "length", None)
    info.duration = float(length) if length else None
    info.sample_rate = getattr(stream, "sample_rate", None) or None
    info.channels = getattr(stream, "channels", None) or None
    bitrate = getattr(stream, "bitrate", None)
    info.bitrate = int(bitrate) if bitrate else None
    codec = getattr(stream, "codec", None)
    if isinstance(codec, str) and codec:
        base = codec.split(".")[0]
        info.codec = {"mp4a": "aac"}.get(base, base)


def read_tags(path: str | os.PathLike[str]) -> TagInfo:
    """Read tags and stream facts of one file, without ever writing to it.

    Raises ``UnreadableFileError`` with a one-line reason for empty, corrupt
    or unrecognised files.
    """
    fspath = os.fspath(path)
    try:
        st = os.stat(fspath)
    except OSError as err:
        raise UnreadableFileError(f"cannot read file: {err.strerror}") from err
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the open; a device never ends
        raise UnreadableFileError("not a regular file (never opened)")
    size = st.st_size
    if size == 0:
        raise UnreadableFileError("empty file (0 bytes)")
    try:
        audio = mutagen.File(fspath)
        failure: Exception | None = None
    except PermissionError as err:
        raise UnreadableFileError(f"permission denied: {err.strerror}") from err
    except OSError as err:
        raise UnreadableFileError(f"cannot read file: {err.strerror or err}") from err
    except Exception as err:  # mutagen raises many types on corrupt input
        audio, failure = None, err
    if audio is None:
        # mutagen trusts the extension; a mislabelled file is retried by its content.
        audio = _load_by_content(fspath)
    if audio is None:
        if failure is not None:
            raise UnreadableFileError(
                f"corrupt or unsupported file: {reason_of(failure)}"
            ) from failure
        raise UnreadableFileError("not a recognised audio file (unknown or corrupt header)")
    kind = type(audio).__name__
    fmt, codec = _KINDS.get(kind, (kind.lower(), kind.lower()))
    info = TagInfo(format=fmt, codec=codec)
    _stream_facts(info, audio)
    if fmt == "opus" and info.sample_rate is None:
        info.sample_rate = 48000  # Opus always decodes at 48 kHz
    expected = EXTENSIONS.get(extension_of(fspath))
    if expected and not _compatible(expected, fmt):
        info.note = f"extension .{extension_of(fspath)} but content is {fmt.upper()}"
    tags = audio.tags
    if tags is None:
        return info
    if isinstance(audio, ID3FileType) or kind in {"WAVE", "AIFF"} or hasattr(tags, "getall"):
        info.raw = _raw_id3(tags)
        _normalise_id3(info, tags)
    elif isinstance(audio, MP4):
        info.raw = _raw_generic(tags)
        _normalise_keyed(info, info.raw, _MP4_KEYS)
    elif isinstance(audio, ASF):
        info.raw = _raw_generic(tags)
        _normalise_keyed(info, info.raw, _ASF_KEYS)
    elif isinstance(audio, APEv2File) or kind in {"MonkeysAudio", "WavPack"}:
        info.raw = _split_ape_values(_raw_generic(tags))
        _normalise_keyed(info, info.raw, _APE_KEYS)
    else:
        info.raw = _raw_generic(tags)
        _normalise_keyed(info, info.raw, _VORBIS_KEYS)
    info.instruments = credited_instruments(info.raw)
    return info


def _compatible(expected: str, actual: str) -> bool:
    same = {frozenset({"mp4", "aac"}), frozenset({"ogg", "opus"})}
    return expected == actual or frozenset({expected, actual}) in same


def _sniff(head: bytes) -> type | None:
    """The mutagen class a file's first bytes announce, ignoring its extension."""
    from mutagen.aiff import AIFF
    from mutagen.flac import FLAC
    from mutagen.monkeysaudio import MonkeysAudio
    from mutagen.mp3 import MP3
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis
    from mutagen.wave import WAVE
    from mutagen.wavpack import WavPack

    if head.startswith(b"fLaC"):
        return FLAC
    if head.startswith(b"OggS"):
        return OggOpus if b"OpusHead" in head else OggVorbis
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAVE
    if head[:4] == b"FORM":
        return AIFF
    if head[4:8] == b"ftyp":
        return MP4
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return ASF
    if head.startswith(b"MAC "):
        return MonkeysAudio
    if head.startswith(b"wvpk"):
        return WavPack
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return MP3
    return None


def _load_by_content(path: str) -> Any:
    with open(path, "rb") as f:
        head = f.read(64)
    kind = _sniff(head)
    if kind is None:
        return None
    try:
        return kind(path)
    except Exception:
        return None
