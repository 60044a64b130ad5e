"""Hashes of the audio a tag write must never change, per container.

``tagger_core.library.audio_fingerprint.payload_digest`` covers byte ranges (MP3, FLAC, WAV,
AIFF, MP4 ``mdat``, trailing APEv2). Two containers need more care: a tag
write to Ogg rewrites the header pages and renumbers (and re-checksums) every
later page, so Ogg is hashed by its packets (all but the tag packet) and the
granule positions of audio pages; ASF keeps all tags in the Header Object, so
the hash covers what follows it.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib

from tagger_core.errors import UnreadableFileError
from tagger_core.library.audio_fingerprint import payload_digest, payload_span

_ASF_HEADER = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


def _header_packets(first: bytes) -> int:
    """How many header packets (which tag writes may rewrite) open an Ogg stream."""
    if first.startswith(b"\x01vorbis") or first.startswith(b"\x80theora"):
        return 3
    if first.startswith(b"OpusHead"):
        return 2
    if first.startswith(b"\x7fFLAC") and len(first) >= 9:
        return 1 + int.from_bytes(first[7:9], "big")
    if first.startswith(b"Speex   ") and len(first) >= 72:
        return 2 + struct.unpack("<I", first[68:72])[0]
    return 0  # unknown codec: hash everything, so any change is refused


def _is_tag_packet(first: bytes, index: int, packet: bytes) -> bool:
    """Whether packet ``index`` of a stream opened by ``first`` carries tags (or padding)."""
    if index == 0:
        return False
    if first.startswith(b"\x01vorbis"):
        return packet.startswith(b"\x03vorbis")
    if first.startswith(b"OpusHead"):
        return packet.startswith(b"OpusTags")
    if first.startswith(b"\x80theora"):
        return packet.startswith(b"\x81theora")
    if first.startswith(b"Speex   "):
        return index == 1
    if first.startswith(b"\x7fFLAC"):
        return index < _header_packets(first) and bool(packet) and packet[0] & 0x7F in (1, 4)
    return False


_BIT_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def ogg_page_crc(page: bytes) -> int:
    """The Ogg checksum of ``page`` (its CRC field zeroed): CRC-32, polynomial
    0x04c11db7, not reflected, start 0; computed with zlib on bit-reversed bytes."""
    raw = ~zlib.crc32(page.translate(_BIT_REVERSED), 0xFFFFFFFF) & 0xFFFFFFFF
    return int.from_bytes(raw.to_bytes(4, "little").translate(_BIT_REVERSED), "big")


def ogg_digest(path: str | os.PathLike[str]) -> str:
    """Hash of every packet except the tag packets, and of audio pages' granule positions.

    Codec set-up headers are hashed (damaging them breaks decoding); the
    comment packet, page sequence numbers and CRCs are not. A page whose
    checksum is wrong is refused: a tag write renumbers and re-checksums every
    later page, which would turn damage a decoder skips into audio it plays.
    """
    h = hashlib.blake2b(digest_size=32)
    partial: dict[int, bytearray] = {}
    seen: dict[int, int] = {}
    firsts: dict[int, bytes] = {}
    with open(path, "rb") as f:
        while True:
            head = f.read(27)
            if not head:
                break
            if len(head) < 27 or head[:4] != b"OggS":
                raise UnreadableFileError("damaged Ogg page")
            granule = head[6:14]
            serial = struct.unpack("<I", head[14:18])[0]
            lacing = f.read(head[26])
            body = f.read(sum(lacing))
            if len(body) < sum(lacing):
                raise UnreadableFileError("truncated Ogg page")
            stored = struct.unpack("<I", head[22:26])[0]
            if ogg_page_crc(head[:22] + bytes(4) + head[26:] + lacing + body) != stored:
                raise UnreadableFileError(
                    f"damaged Ogg page at byte {f.tell() - len(body) - len(lacing) - 27} "
                    "(checksum does not match): writing tags would hide the damage"
                )
            buf = partial.setdefault(serial, bytearray())
            pos, audio_page = 0, False
            for lv in lacing:
                buf += body[pos : pos + lv]
                pos += lv
                if lv == 255:
                    continue
                index = seen.get(serial, 0)
                packet = bytes(buf)
                if index == 0:
                    firsts[serial] = packet
                seen[serial] = index + 1
                if not _is_tag_packet(firsts[serial], index, packet):
                    h.update(struct.pack("<IQ", serial, len(packet)))
                    h.update(packet)
                    audio_page = audio_page or index >= _header_packets(firsts[serial])
                buf.clear()
            if audio_page:
                h.update(struct.pack("<I", serial) + granule)
    for serial, rest in sorted(partial.items()):
        if rest:
            h.update(struct.pack("<IQ", serial, len(rest)) + rest)
    return h.hexdigest()


def asf_digest(path: str | os.PathLike[str]) -> str:
    """Hash of everything after the ASF Header Object (data and index objects)."""
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        head = f.read(30)
        if len(head) < 30 or head[:16] != _ASF_HEADER:
            raise UnreadableFileError("not an ASF file")
        f.seek(struct.unpack("<Q", head[16:24])[0])
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def wavpack_digest(path: str | os.PathLike[str]) -> str:
    """The payload hash, once every WavPack block is found whole where the previous ends.

    The tag goes after the last block: were that block cut short, a decoder
    would read the new tag as the rest of it, and the audio would change.
    """
    start, end = payload_span(path, "wavpack")
    pos = start
    with open(path, "rb") as f:
        while pos < end:
            f.seek(pos)
            head = f.read(8)
            if len(head) < 8 or head[:4] != b"wvpk":
                raise UnreadableFileError(
                    f"damaged WavPack block at byte {pos}: writing tags could change what plays"
                )
            pos += 8 + struct.unpack("<I", head[4:8])[0]
    if pos != end:
        raise UnreadableFileError(
            "WavPack file is cut short (its last block is incomplete): "
            "writing tags after it would change what plays"
        )
    return payload_digest(path, "wavpack")


def audio_digest(path: str | os.PathLike[str], fmt: str | None) -> str:
    """The hash that must be equal before and after a tag write of a ``fmt`` file."""
    if fmt in ("ogg", "opus"):
        return ogg_digest(path)
    if fmt == "wma":
        return asf_digest(path)
    if fmt == "wavpack":
        return wavpack_digest(path)
    return payload_digest(path, fmt)
