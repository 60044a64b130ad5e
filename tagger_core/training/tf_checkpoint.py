"""Read TensorFlow checkpoint tensor bundles without TensorFlow.

Why: the only permissively licensed pretrained music taggers reachable offline
(musicnn 0.1.0) ship as TF1 checkpoints, and TensorFlow is neither a runtime
dependency of this project nor installable everywhere. A checkpoint "bundle" is
two files:

* ``<prefix>.index`` — an SSTable in the LevelDB table format. Keys are tensor
  names; values are ``BundleEntryProto`` protobuf messages (dtype, shape, shard,
  byte offset and size in the data file). The empty key holds a header.
* ``<prefix>.data-00000-of-0000N`` — the raw little-endian tensor bytes.

Only the parts of both formats that checkpoints use are implemented: data blocks
without compression (Snappy-compressed blocks raise ``TaggerError``), prefix-
compressed keys with restart points, and protobuf varint/fixed32/length-delimited
fields.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagger_core.errors import TaggerError

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_BLOCK_TRAILER_SIZE = 5

# tensorflow DataType enum -> numpy dtype (the numeric types checkpoints use)
_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),
    2: np.dtype("<f8"),
    3: np.dtype("<i4"),
    4: np.dtype("<u1"),
    5: np.dtype("<i2"),
    6: np.dtype("<i1"),
    9: np.dtype("<i8"),
    10: np.dtype("?"),
    17: np.dtype("<u2"),
    19: np.dtype("<f2"),
    22: np.dtype("<u4"),
    23: np.dtype("<u8"),
}


class BundleFormatError(TaggerError):
    """A checkpoint file that is not a readable TensorFlow tensor bundle."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; return (value, next position)."""
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise BundleFormatError("truncated varint in checkpoint index")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _proto_fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """Split a protobuf message into (field number, value) pairs."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            fields.append((number, value))
        elif wire == 1:
            fields.append((number, struct.unpack_from("<Q", buf, pos)[0]))
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            fields.append((number, buf[pos : pos + length]))
            pos += length
        elif wire == 5:
            fields.append((number, struct.unpack_from("<I", buf, pos)[0]))
            pos += 4
        else:
            raise BundleFormatError(f"unsupported protobuf wire type {wire} in checkpoint index")
    return fields


def _read_block(data: bytes, offset: int, size: int) -> bytes:
    """Return the contents of one table block (checking it is uncompressed)."""
    end = offset + size
    if end + _BLOCK_TRAILER_SIZE > len(data):
        raise BundleFormatError("checkpoint index block runs past the end of the file")
    compression = data[end]
    if compression != 0:
        raise BundleFormatError(f"compressed checkpoint index blocks (type {compression})")
    return data[offset:end]


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """Decode the (key, value) entries of one block (prefix-compressed keys)."""
    if len(block) < 4:
        raise BundleFormatError("checkpoint index block too short")
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * num_restarts
    entries: list[tuple[bytes, bytes]] = []
    pos = 0
    last_key = b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = last_key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        entries.append((key, block[pos : pos + value_len]))
        pos += value_len
        last_key = key
    return entries


def read_table(path: str | Path) -> list[tuple[bytes, bytes]]:
    """All (key, value) entries of a LevelDB-format SSTable file, in key order."""
    data = Path(path).read_bytes()
    if len(data) < _FOOTER_SIZE:
        raise BundleFormatError(f"{path}: too short to be a checkpoint index")
    footer = data[-_FOOTER_SIZE:]
    if struct.unpack_from("<Q", footer, 40)[0] != _TABLE_MAGIC:
        raise BundleFormatError(f"{path}: not a checkpoint index (bad table magic)")
    pos = 0
    _meta_offset, pos = _varint(footer, pos)
    _meta_size, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    entries: list[tuple[bytes, bytes]] = []
    for _last_key, handle in _block_entries(_read_block(data, index_offset, index_size)):
        offset, hpos = _varint(handle, 0)
        size, _ = _varint(handle, hpos)
        entries.extend(_block_entries(_read_block(data, offset, size)))
    return entries


@dataclass(frozen=True)
class BundleEntry:
    """Where one tensor lives in the data shards."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int


def _parse_entry(name: str, value: bytes) -> BundleEntry:
    dtype_code = 0
    shape: list[int] = []
    shard_id = offset = size = 0
    for number, field in _proto_fields(value):
        if number == 1:
            dtype_code = int(field)  # type: ignore[arg-type]
        elif number == 2:
            for dim_number, dim in _proto_fields(field):  # type: ignore[arg-type]
                if dim_number == 2:
                    dim_size = 0
                    for sub_number, sub in _proto_fields(dim):  # type: ignore[arg-type]
                        if sub_number == 1:
                            dim_size = int(sub)  # type: ignore[arg-type]
                    shape.append(dim_size)
        elif number == 3:
            shard_id = int(field)  # type: ignore[arg-type]
        elif number == 4:
            offset = int(field)  # type: ignore[arg-type]
        elif number == 5:
            size = int(field)  # type: ignore[arg-type]
        elif number == 7:
            raise BundleFormatError(f"tensor {name!r} is stored in slices (unsupported)")
    if dtype_code not in _DTYPES:
        raise BundleFormatError(f"tensor {name!r} has unsupported dtype code {dtype_code}")
    return BundleEntry(name, _DTYPES[dtype_code], tuple(shape), shard_id, offset, size)


def _num_shards(header: bytes) -> int:
    for number, field in _proto_fields(header):
        if number == 1:
            return int(field)  # type: ignore[arg-type]
    return 1


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Read every tensor of the checkpoint ``prefix`` (``prefix.index`` + data shards).

    ``prefix`` may end with a path separator when the files are named
    ``.index`` / ``.data-00000-of-00001`` (as in musicnn's wheel).
    """
    prefix_text = str(prefix)
    index_path = Path(prefix_text + ".index")
    if not index_path.is_file():
        raise BundleFormatError(f"no checkpoint index at {index_path}")
    shards = 1
    entries: list[BundleEntry] = []
    for key, value in read_table(index_path):
        if key == b"":
            shards = _num_shards(value)
        else:
            entries.append(_parse_entry(key.decode("utf-8"), value))
    shard_data = []
    for shard in range(shards):
        shard_path = Path(f"{prefix_text}.data-{shard:05d}-of-{shards:05d}")
        if not shard_path.is_file():
            raise BundleFormatError(f"missing checkpoint data shard {shard_path}")
        shard_data.append(shard_path.read_bytes())
    tensors: dict[str, np.ndarray] = {}
    for entry in entries:
        blob = shard_data[entry.shard_id]
        count = int(np.prod(entry.shape, dtype=np.int64)) if entry.shape else 1
        if count * entry.dtype.itemsize != entry.size or entry.offset + entry.size > len(blob):
            raise BundleFormatError(f"tensor {entry.name!r} has inconsistent size/offset")
        array = np.frombuffer(blob, dtype=entry.dtype, count=count, offset=entry.offset)
        tensors[entry.name] = array.reshape(entry.shape).copy()
    return tensors
