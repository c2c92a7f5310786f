"""gmmfast._aligned: cache-line aligned arrays (checked against plain NumPy)."""

import numpy as np
import pytest

from gmmfast._aligned import aligned_copy, aligned_empty, aligned_zeros


@pytest.mark.parametrize("shape", [(0,), (1,), (3, 5), (2, 3, 7, 11), 17])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_aligned_arrays(shape, dtype):
    for align in (64, 4096):
        if np.prod(shape) == 0:
            align = 1     # an empty array has no data to align
        a = aligned_empty(shape, dtype, align)
        expected = np.empty(shape, dtype)
        assert a.shape == expected.shape and a.dtype == expected.dtype
        assert a.flags.c_contiguous and a.flags.writeable
        assert a.ctypes.data % align == 0
        z = aligned_zeros(shape, dtype, align)
        assert z.ctypes.data % align == 0 and not z.any()
        src = np.random.default_rng(0).random(expected.shape).astype(dtype)
        c = aligned_copy(src, align)
        assert c.ctypes.data % align == 0
        np.testing.assert_array_equal(c, src)
        c[...] = 0          # a copy, not a view of the source
        assert np.array_equal(src, np.random.default_rng(0).random(expected.shape).astype(dtype))


def test_mog2_state_and_mask_are_line_aligned():
    import gmmfast

    m = gmmfast.BackgroundSubtractorMOG2()
    mask = m.apply(np.zeros((48, 64, 3), np.uint8))
    assert mask.ctypes.data % 64 == 0
    assert m._state["state"].ctypes.data % 64 == 0 and m._state["nmodes"].ctypes.data % 64 == 0
