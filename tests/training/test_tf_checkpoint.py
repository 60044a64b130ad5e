"""The pure-Python TensorFlow tensor-bundle reader, on bundles written here.

The writer below follows the LevelDB table and BundleEntryProto layouts
independently of the reader (prefix-compressed keys, block trailers, footer).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tagger_core.training.tf_checkpoint import BundleFormatError, read_checkpoint, read_table

MAGIC = 0xDB4775248B80FB57


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def field_bytes(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def block(entries: list[tuple[bytes, bytes]], restart_every: int = 2) -> bytes:
    out, restarts, last = bytearray(), [], b""
    for i, (key, value) in enumerate(entries):
        shared = 0
        if i % restart_every == 0:
            restarts.append(len(out))
        else:
            while shared < min(len(key), len(last)) and key[shared] == last[shared]:
                shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value))
        out += key[shared:] + value
        last = key
    out += b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))
    return bytes(out)


def write_table(path: Path, entries: list[tuple[bytes, bytes]], compression: int = 0) -> None:
    data = bytearray()

    def add(blk: bytes) -> bytes:
        handle = varint(len(data)) + varint(len(blk))
        data.extend(blk + bytes([compression]) + b"\0\0\0\0")
        return handle

    half = len(entries) // 2
    handles = [(entries[half - 1][0], add(block(entries[:half]))),
               (entries[-1][0], add(block(entries[half:])))]  # fmt: skip
    meta = add(block([]))
    index = add(block(handles, restart_every=1))
    footer = (meta + index).ljust(40, b"\0") + struct.pack("<Q", MAGIC)
    path.write_bytes(bytes(data) + footer)


def write_checkpoint(prefix: str, tensors: dict[str, np.ndarray]) -> None:
    codes = {np.dtype("float32"): 1, np.dtype("int32"): 3, np.dtype("int64"): 9}
    blob = bytearray()
    entries = [(b"", field_varint(1, 1))]  # header: one shard
    for name in sorted(tensors):
        array = np.asarray(tensors[name], order="C")
        shape = b"".join(field_bytes(2, field_varint(1, d)) for d in array.shape)
        proto = field_varint(1, codes[array.dtype]) + field_bytes(2, shape)
        proto += field_varint(4, len(blob)) + field_varint(5, array.nbytes)
        proto += varint(6 << 3 | 5) + b"\0\0\0\0"  # crc32c (fixed32), unchecked
        entries.append((name.encode(), proto))
        blob += array.tobytes()
    write_table(Path(prefix + ".index"), entries)
    Path(prefix + ".data-00000-of-00001").write_bytes(bytes(blob))


def test_reads_tensors_of_several_dtypes_and_shapes(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    tensors = {
        "conv2d/kernel": rng.standard_normal((7, 3, 1, 5)).astype(np.float32),
        "conv2d/bias": rng.standard_normal(5).astype(np.float32),
        "conv2d_1/kernel": rng.standard_normal((2, 2)).astype(np.float32),
        "global_step": np.array(1234, dtype=np.int64),
        "counts": np.arange(6, dtype=np.int32).reshape(2, 3),
    }
    prefix = str(tmp_path / "model") + "/"
    (tmp_path / "model").mkdir()
    write_checkpoint(prefix, tensors)
    got = read_checkpoint(prefix)
    assert set(got) == set(tensors)
    for name, array in tensors.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape
        np.testing.assert_array_equal(got[name], array)


def test_prefix_compressed_keys_are_rebuilt(tmp_path: Path) -> None:
    entries = [(f"layer/{i:03d}/kernel".encode(), bytes([i])) for i in range(9)]
    write_table(tmp_path / "t.index", entries)
    assert read_table(tmp_path / "t.index") == entries


def test_bad_files_raise_format_errors(tmp_path: Path) -> None:
    (tmp_path / "x.index").write_bytes(b"\0" * 100)
    with pytest.raises(BundleFormatError, match="magic"):
        read_checkpoint(tmp_path / "x")
    write_table(tmp_path / "c.index", [(b"a", b"1"), (b"b", b"2")], compression=1)
    with pytest.raises(BundleFormatError, match="compressed"):
        read_table(tmp_path / "c.index")
    with pytest.raises(BundleFormatError, match="no checkpoint index"):
        read_checkpoint(tmp_path / "absent")
    write_checkpoint(str(tmp_path / "m"), {"w": np.zeros(3, np.float32)})
    (tmp_path / "m.data-00000-of-00001").write_bytes(b"\0" * 4)  # truncated data
    with pytest.raises(BundleFormatError, match="size"):
        read_checkpoint(tmp_path / "m")
