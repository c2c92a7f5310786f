"""The built-in sample data (gmmfast.data)."""

from __future__ import annotations

import numpy as np
import pytest

from gmmfast import data


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sample_mixture_draws_from_its_stated_mixture(dtype):
    X, labels, params = data.sample_mixture(60_000, random_state=2, dtype=dtype)
    assert X.dtype == dtype and X.shape == (60_000, 3) and labels.shape == (60_000,)
    counts = np.bincount(labels, minlength=len(params["weights"])) / len(labels)
    np.testing.assert_allclose(counts, params["weights"], atol=0.01)
    for k, (mean, std) in enumerate(zip(params["means"], params["stds"])):
        np.testing.assert_allclose(X[labels == k].mean(axis=0), mean, atol=0.1 * np.max(std))
        np.testing.assert_allclose(X[labels == k].std(axis=0), std, rtol=0.05)
    np.testing.assert_array_equal(data.sample_mixture(60_000, random_state=2, dtype=dtype)[0], X)   # same seed


def test_sample_mixture_refuses_integer_dtypes():
    # int32 was accepted and returned truncated samples
    with pytest.raises(ValueError, match="float32 or float64"):
        data.sample_mixture(10, dtype=np.int32)
