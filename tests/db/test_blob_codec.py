"""Array blobs: exact round trips, fixed little-endian layout, clear errors on damage."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tagger_core.db.blob_codec import ArrayBlobError, pack, unpack

DTYPES = st.sampled_from([np.float16, np.float32, np.float64, np.int32, np.int64, np.uint8, bool])


@given(
    arrays(
        dtype=DTYPES,
        shape=st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple),
    )
)
def test_round_trip_is_exact(array: np.ndarray) -> None:
    back = unpack(pack(array))
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_layout_is_little_endian_whatever_the_input_order() -> None:
    big = np.array([[1.5, -2.0]], dtype=">f4")
    blob = pack(big)
    assert blob[:3] == b"TA1" and len(blob) == 3 + 2 + 2 * 4 + 2 * 4
    assert blob[-8:] == np.array([1.5, -2.0], dtype="<f4").tobytes()
    np.testing.assert_array_equal(unpack(blob), [[1.5, -2.0]])
    assert unpack(blob).flags.writeable


def test_damaged_blobs_raise() -> None:
    blob = pack(np.zeros((2, 3), np.float32))
    with pytest.raises(ArrayBlobError):
        unpack(blob[:-1])
    with pytest.raises(ArrayBlobError):
        unpack(b"XYZ" + blob[3:])
    with pytest.raises(ValueError):
        pack(np.array(["text"]))
