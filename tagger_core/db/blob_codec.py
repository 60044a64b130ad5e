"""Compact binary blobs for numpy arrays stored in the database.

Why not ``np.save``: its header is text and version dependent. This format is
fixed and tiny, so blobs written today read back identically anywhere:

``b"TA1" | dtype code (1 byte) | ndim (1 byte) | ndim × uint32 shape | data``,
everything little-endian, data in C order.
"""

from __future__ import annotations

import struct

import numpy as np

from tagger_core.errors import TaggerError

MAGIC = b"TA1"
_CODES: dict[str, int] = {"<f2": 1, "<f4": 2, "<f8": 3, "<i4": 4, "<i8": 5, "|u1": 6, "|b1": 7}
_DTYPES: dict[int, np.dtype] = {code: np.dtype(name) for name, code in _CODES.items()}


class ArrayBlobError(TaggerError):
    """A stored blob that is not an array packed by :func:`pack`."""


def pack(array: np.ndarray) -> bytes:
    """Serialise ``array`` (float16/32/64, int32/64, uint8 or bool) to bytes."""
    arr = np.asarray(array)
    name = arr.dtype.str if arr.dtype.itemsize == 1 else arr.dtype.newbyteorder("<").str
    code = _CODES.get(name)
    if code is None:
        raise ValueError(f"cannot pack arrays of dtype {arr.dtype}")
    if arr.ndim > 255:
        raise ValueError("too many dimensions")
    data = np.ascontiguousarray(arr, dtype=_DTYPES[code]).tobytes()
    header = MAGIC + struct.pack("<BB", code, arr.ndim) + struct.pack(f"<{arr.ndim}I", *arr.shape)
    return header + data


def unpack(blob: bytes) -> np.ndarray:
    """Inverse of :func:`pack`; returns a new writable array."""
    if len(blob) < 5 or blob[:3] != MAGIC:
        raise ArrayBlobError("stored array blob has no valid header")
    code, ndim = struct.unpack_from("<BB", blob, 3)
    dtype = _DTYPES.get(code)
    if dtype is None:
        raise ArrayBlobError(f"stored array blob has unknown dtype code {code}")
    offset = 5 + 4 * ndim
    if len(blob) < offset:
        raise ArrayBlobError("stored array blob header is truncated")
    shape = struct.unpack_from(f"<{ndim}I", blob, 5)
    count = int(np.prod(shape, dtype=np.int64))
    if len(blob) - offset != count * dtype.itemsize:
        raise ArrayBlobError("stored array blob size does not match its shape")
    return np.frombuffer(blob, dtype=dtype, count=count, offset=offset).reshape(shape).copy()
