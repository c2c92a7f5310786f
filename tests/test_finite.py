"""gmmfast._finite.all_finite against np.isfinite(a).all()."""

import numpy as np
import pytest

from gmmfast._finite import all_finite


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.complex64])
def test_all_finite_matches_numpy(dtype):
    rng = np.random.default_rng(0)
    for trial in range(200):
        a = rng.normal(size=rng.integers(0, 50, size=rng.integers(1, 4))).astype(dtype)
        if a.size and trial % 2:
            a.flat[rng.integers(a.size)] = rng.choice([np.nan, np.inf, -np.inf])
        assert all_finite(a) == bool(np.isfinite(a).all())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_when_the_sum_overflows(dtype):
    big = np.finfo(dtype).max
    a = np.full(10, big / 2, dtype=dtype)        # finite values whose sum overflows
    assert all_finite(a)
    a[3] = np.nan
    assert not all_finite(a)
    b = np.array([np.inf, -np.inf], dtype=dtype)  # sum is NaN
    assert not all_finite(b)


def test_all_finite_non_contiguous_and_integer():
    a = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    assert all_finite(a)
    a[1, 1] = np.inf
    assert not all_finite(a)
    assert all_finite(np.arange(10))
