"""Where a file's audio payload lies, and a fingerprint of it.

Tag blocks sit at known places in each container (ID3v2 at the start of MP3,
ID3v1/APEv2 at the end, FLAC metadata blocks before the frames, RIFF/AIFF
chunks, MP4 ``mdat``). Hashing only the payload lets a moved or re-tagged file
be recognised, and lets an export prove the audio was not touched.
"""

from __future__ import annotations

import hashlib
import os
import struct
from typing import BinaryIO

SAMPLE = 64 * 1024


def _id3v2_size(head: bytes) -> int:
    """Bytes taken by an ID3v2 tag at the start of ``head`` (0 when absent)."""
    if len(head) < 10 or head[:3] != b"ID3":
        return 0
    size = 0
    for byte in head[6:10]:
        size = (size << 7) | (byte & 0x7F)
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


def _trailing_tags(f: BinaryIO, end: int) -> int:
    """New end offset once an ID3v1 tag and an APEv2 tag at the end are excluded."""
    if end >= 128:
        f.seek(end - 128)
        if f.read(3) == b"TAG":
            end -= 128
    if end >= 32:
        f.seek(end - 32)
        footer = f.read(32)
        if footer[:8] == b"APETAGEX":
            size = struct.unpack("<I", footer[12:16])[0]
            flags = struct.unpack("<I", footer[20:24])[0]
            header = 32 if flags & 0x80000000 else 0
            end = max(0, end - size - header)
    return end


def _flac_start(f: BinaryIO, offset: int) -> int:
    f.seek(offset)
    if f.read(4) != b"fLaC":
        return offset
    pos = offset + 4
    while True:
        header = f.read(4)
        if len(header) < 4:
            return pos
        last = header[0] & 0x80
        length = int.from_bytes(header[1:4], "big")
        pos += 4 + length
        f.seek(pos)
        if last:
            return pos


def _chunk_span(
    f: BinaryIO, size: int, big_endian: bool, wanted: tuple[bytes, ...]
) -> tuple[int, int] | None:
    """Span of the first RIFF/AIFF sub-chunk whose id is in ``wanted``."""
    fmt = ">I" if big_endian else "<I"
    pos = 12
    while pos + 8 <= size:
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            break
        cid, length = head[:4], struct.unpack(fmt, head[4:])[0]
        if cid in wanted:
            return pos + 8, min(size, pos + 8 + length)
        pos += 8 + length + (length & 1)
    return None


def _mp4_span(f: BinaryIO, size: int) -> tuple[int, int] | None:
    """Span of the largest top-level ``mdat`` atom."""
    pos, best = 0, None
    while pos + 8 <= size:
        f.seek(pos)
        head = f.read(16)
        if len(head) < 8:
            break
        length, kind = struct.unpack(">I", head[:4])[0], head[4:8]
        header = 8
        if length == 1 and len(head) >= 16:
            length, header = struct.unpack(">Q", head[8:16])[0], 16
        elif length == 0:
            length = size - pos
        if length < header:
            break
        if kind == b"mdat" and (best is None or length > best[1] - best[0]):
            best = (pos + header, min(size, pos + length))
        pos += length
    return best


def payload_span(path: str | os.PathLike[str], fmt: str | None = None) -> tuple[int, int]:
    """Byte range ``[start, end)`` of the audio payload, tag blocks excluded.

    Formats without a known layout (Ogg, ASF, APE, WavPack) fall back to the
    whole file minus trailing ID3v1/APEv2 tags.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(16)
        start, end = 0, size
        if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
            return _chunk_span(f, size, False, (b"data",)) or (0, size)
        if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            return _chunk_span(f, size, True, (b"SSND",)) or (0, size)
        if head[4:8] == b"ftyp":
            return _mp4_span(f, size) or (0, size)
        f.seek(0)
        start = _id3v2_size(f.read(10))
        start = _flac_start(f, start)
        end = _trailing_tags(f, size)
        return (start, end) if end > start else (0, size)


def fingerprint(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """Fast identity of the audio payload: its length and three 64 KiB samples.

    Cheap enough for every scanned file; the same recording moved or re-tagged
    keeps the same fingerprint.
    """
    start, end = payload_span(path, fmt)
    length = end - start
    h = hashlib.blake2b(digest_size=16)
    h.update(length.to_bytes(8, "little"))
    with open(path, "rb") as f:
        if length <= 3 * SAMPLE:
            f.seek(start)
            h.update(f.read(length))
        else:
            for offset in (start, start + (length - SAMPLE) // 2, end - SAMPLE):
                f.seek(offset)
                h.update(f.read(SAMPLE))
    return h.hexdigest()


def payload_digest(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """Full hash of the audio payload (for verifying that a tag write left audio intact)."""
    start, end = payload_span(path, fmt)
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        f.seek(start)
        remaining = end - start
        while remaining > 0:
            block = f.read(min(remaining, 1 << 20))
            if not block:
                break
            h.update(block)
            remaining -= len(block)
    return h.hexdigest()
