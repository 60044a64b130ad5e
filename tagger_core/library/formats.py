"""The audio formats the library accepts, keyed by file extension."""

from __future__ import annotations

import os

# extension (lower case, no dot) -> format name used in the database
EXTENSIONS: dict[str, str] = {
    "mp3": "mp3",
    "flac": "flac",
    "ogg": "ogg",
    "oga": "ogg",
    "opus": "opus",
    "m4a": "mp4",
    "m4b": "mp4",  # audiobook: AAC in an MP4 container, like .m4a
    "m4r": "mp4",  # ringtone: the same container
    "mp4": "mp4",
    "aac": "aac",
    "alac": "mp4",
    "wav": "wav",
    "aif": "aiff",
    "aiff": "aiff",
    "wma": "wma",
    "ape": "ape",
    "wv": "wavpack",
}

DEFAULT_EXTENSIONS: frozenset[str] = frozenset(EXTENSIONS)


def extension_of(path: str | bytes) -> str:
    """Lower-case extension without the dot (``""`` when there is none)."""
    name = os.fsdecode(path)
    _, ext = os.path.splitext(name)
    return ext[1:].lower()


def parse_extensions(text: str) -> frozenset[str]:
    """Parse a user's comma-separated extension list (``"mp3, .flac"``)."""
    exts = {part.strip().lstrip(".").lower() for part in text.split(",") if part.strip()}
    return frozenset(exts)
