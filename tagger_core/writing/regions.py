"""A file's tag regions: what a tag write may change, kept so the original can be rebuilt.

A byte-exact undo of a large file need not copy its audio: the export keeps
the audio payload intact (checked by ``digest``), so the original file is
its old bytes before the payload + the current payload + its old bytes after
the payload. ``tagger_core.library.audio_fingerprint.payload_span`` gives that span for byte-range
containers; ASF keeps every tag in the Header Object, so its payload is all
that follows; an Ogg tag write may renumber (and re-checksum) the pages after
the tag packet, so for Ogg the kept region also holds each audio page's
sequence number and CRC. The rebuilt file is checked against the recorded
sha256 of the original; a layout this cannot describe is refused up front.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from tagger_core.errors import TaggerError
from tagger_core.library.audio_fingerprint import payload_span
from tagger_core.writing.digest import _ASF_HEADER, _header_packets

OGG_PATCH = slice(18, 26)  # page sequence number and CRC inside a 27-byte page header
BLOCK = 1 << 20


class NoRegions(TaggerError):
    """The file's tags cannot be told apart from its audio, so only a full copy restores it."""


@dataclass(frozen=True)
class Split:
    """Where a file's payload lies, and (Ogg) the offsets of the pages inside it."""

    start: int
    end: int
    pages: tuple[int, ...] = ()


def _ogg_pages(f: BinaryIO, size: int) -> list[tuple[int, bytes, int]]:
    """(offset, 27-byte header, body length + lacing) of every page; one stream only."""
    pages = []
    serial = None
    pos = 0
    while pos < size:
        f.seek(pos)
        head = f.read(27)
        if len(head) < 27 or head[:4] != b"OggS":
            raise NoRegions("damaged Ogg page")
        page_serial = struct.unpack("<I", head[14:18])[0]
        if serial is None:
            serial = page_serial
        elif page_serial != serial:
            raise NoRegions("Ogg file with several streams")
        lacing = f.read(head[26])
        length = 27 + len(lacing) + sum(lacing)
        pages.append((pos, head + lacing, length))
        pos += length
    return pages


def _ogg_split(f: BinaryIO, size: int) -> Split:
    """The audio pages start after the page that completes the last header packet."""
    pages = _ogg_pages(f, size)
    if not pages:
        raise NoRegions("empty Ogg file")
    f.seek(pages[0][0] + len(pages[0][1]))
    first_packet = f.read(min(pages[0][2] - len(pages[0][1]), 4096))
    wanted = _header_packets(first_packet)
    if wanted == 0:
        raise NoRegions("unknown Ogg codec")
    done = 0
    for n, (_offset, header, _length) in enumerate(pages):
        done += sum(1 for lv in header[27:] if lv < 255)
        if done >= wanted:
            audio = pages[n + 1 :]
            start = audio[0][0] if audio else size
            return Split(start, size, tuple(p[0] for p in audio))
    raise NoRegions("Ogg headers incomplete")


def split(path: str, fmt: str | None) -> Split:
    """Where the payload of ``path`` lies (``NoRegions`` when that cannot be told)."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(0)
        if fmt in ("ogg", "opus"):
            return _ogg_split(f, size)
        if fmt == "wma":
            head = f.read(30)
            if len(head) < 30 or head[:16] != _ASF_HEADER:
                raise NoRegions("not an ASF file")
            return Split(min(size, struct.unpack("<Q", head[16:24])[0]), size)
    start, end = payload_span(path, fmt)
    return Split(start, end)


def page_patches(path: str, where: Split) -> bytes:
    """The sequence number and CRC of every audio page (empty for non-Ogg files)."""
    out = bytearray()
    with open(path, "rb") as f:
        for offset in where.pages:
            f.seek(offset + OGG_PATCH.start)
            out += f.read(OGG_PATCH.stop - OGG_PATCH.start)
    return bytes(out)


def payload_blocks(path: str, where: Split, patches: bytes) -> Iterator[bytes]:
    """The current payload of ``path`` in blocks, Ogg pages with their original numbers back.

    ``patches`` are the original file's :func:`page_patches`; the page count must match.
    """
    width = OGG_PATCH.stop - OGG_PATCH.start
    if len(patches) != width * len(where.pages):
        raise NoRegions("Ogg page count changed since the export")
    with open(path, "rb") as f:
        if not where.pages:
            f.seek(where.start)
            left = where.end - where.start
            while left > 0:
                block = f.read(min(left, BLOCK))
                if not block:
                    raise NoRegions("file shorter than its payload")
                left -= len(block)
                yield block
            return
        ends = [*where.pages[1:], where.end]
        for n, (offset, end) in enumerate(zip(where.pages, ends, strict=True)):
            f.seek(offset)
            page = bytearray(f.read(end - offset))
            page[OGG_PATCH] = patches[n * width : (n + 1) * width]
            yield bytes(page)
