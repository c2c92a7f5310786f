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


def test_sample_image_seeds_as_the_other_generators():
    # it took seed= (the others random_state=), refused a RandomState, and cached the first image
    # drawn with None (or a Generator) as if the seed were fixed
    a, b = (data.sample_image(40, 60, random_state=0) for _ in range(2))
    np.testing.assert_array_equal(a.image, b.image)
    assert not np.array_equal(a.image, data.sample_image(40, 60, random_state=1).image)
    for seed in (None, np.random.default_rng(0), np.random.RandomState(0)):
        c, d = (data.sample_image(40, 60, random_state=seed) for _ in range(2))
        assert not np.array_equal(c.image, d.image), seed      # a generator advances; None is fresh
    with pytest.raises(TypeError, match="seed"):
        data.sample_image(40, 60, seed=0)
