"""Which tag system writes which file format (the ``format`` column of a track)."""

from __future__ import annotations

from tagger_core.errors import TaggerError
from tagger_core.writing.apev2 import APEv2System
from tagger_core.writing.asf import ASFSystem
from tagger_core.writing.id3 import ID3System
from tagger_core.writing.mp4 import MP4System
from tagger_core.writing.options import ExportOptions
from tagger_core.writing.system import TagSystem
from tagger_core.writing.vorbis import VorbisSystem

SUPPORTED_FORMATS = ("mp3", "wav", "aiff", "flac", "ogg", "opus", "mp4", "wma", "ape", "wavpack")


def system_for(fmt: str | None, options: ExportOptions) -> TagSystem:
    """The writer for a track's format; ``TaggerError`` for formats we cannot tag."""
    if fmt == "mp3" and options.apev2_for_mp3:
        return APEv2System()
    if fmt in ("mp3", "wav", "aiff"):
        return ID3System(fmt)
    if fmt in ("flac", "ogg", "opus"):
        return VorbisSystem(fmt)
    if fmt == "mp4":
        return MP4System()
    if fmt in ("ape", "wavpack"):
        return APEv2System()
    if fmt == "wma":
        return ASFSystem()
    raise TaggerError(f"cannot write tags to {fmt or 'unknown'} files")
