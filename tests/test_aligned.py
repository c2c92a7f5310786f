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
    assert m.state_["state"].ctypes.data % 64 == 0 and m.state_["nmodes"].ctypes.data % 64 == 0


@pytest.mark.parametrize("shape", [(48, 64, 3), (64, 64, 1), (37, 53, 3)])
def test_mog2_modes_are_padded_apart_and_the_kernel_follows_the_strides(shape):
    # modes start an odd number of cache lines past a multiple of 4096 bytes from each other
    # (at 48x64 each mode's 5 planes would otherwise all share one set of cache lines), and
    # the kernel gives the same masks and state on a padded state as on a contiguous copy
    import gmmfast
    from gmmfast._dispatch import load

    h, w, c = shape
    rng = np.random.default_rng(sum(shape))
    frames = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(6)]
    frames += [np.clip(frames[0].astype(int) + rng.integers(-4, 5, shape), 0, 255).astype(np.uint8)
               for _ in range(6)]
    m = gmmfast.BackgroundSubtractorMOG2(n_threads=1)
    m.apply(frames[0])
    st = m.state_["state"]
    assert st.strides[1] == h * w * 4 and st.strides[2] == w * 4
    assert st.strides[0] % 64 == 0 and (st.strides[0] // 64) % 2 == 1
    k = load("_mog2")
    flat_state, flat_nmodes = np.ascontiguousarray(st), m.state_["nmodes"].copy()
    params = (np.array([0.05]), 16.0, 9.0, 0.9, 15.0, 4.0, 75.0, 0.05, True, 127, 0.5, 1)
    for f in frames[1:]:
        a, b = np.empty((1, h, w), np.uint8), np.empty((1, h, w), np.uint8)
        k.apply(f[None], None, st, m.state_["nmodes"], a, *params)
        k.apply(f[None], None, flat_state, flat_nmodes, b, *params)
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(st, flat_state)
    np.testing.assert_array_equal(m.state_["nmodes"], flat_nmodes)
