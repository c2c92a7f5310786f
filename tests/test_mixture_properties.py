"""Property tests (hypothesis) for gmmfast.GaussianMixture on random shapes, K, dtypes, covariance types.

* responsibilities (predict_proba) are probabilities that sum to 1;
* the lower bound never decreases over EM iterations, beyond rounding;
* 1 and 2 threads give the same fit up to rounding.

Data are Gaussian blobs drawn from a seed hypothesis chooses (raw hypothesis
floats would mostly test the degenerate-data paths, which
test_mixture_errors.py covers on purpose).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from gmmfast import GaussianMixture

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

COV_TYPES = ("full", "tied", "diag", "spherical")

SETTINGS = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,  # reproducible in CI
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def problems(draw, max_n=600, min_per_component=3):
    k = draw(st.integers(1, 5))
    d = draw(st.integers(1, 5))
    n = draw(st.integers(max(2, min_per_component * k), max(max_n, min_per_component * k)))
    seed = draw(st.integers(0, 2**31 - 1))
    spread = draw(st.sampled_from([0.5, 2.0, 8.0]))
    scale = draw(st.sampled_from([1e-2, 1.0, 1e3]))
    offset = draw(st.sampled_from([0.0, 100.0]))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    covariance_type = draw(st.sampled_from(COV_TYPES))
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=spread, size=(k, d))
    labels = rng.integers(0, k, size=n)
    widths = rng.uniform(0.3, 1.5, size=(k, d))
    x = (offset + scale * (centers[labels] + widths[labels] * rng.normal(size=(n, d)))).astype(dtype)
    return x, k, covariance_type, seed, scale


def _fit(x, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(**kw).fit(x)


@SETTINGS
@given(problems())
def test_responsibilities_are_probabilities(problem):
    x, k, covariance_type, seed, scale = problem
    gm = _fit(x, n_components=k, covariance_type=covariance_type, random_state=seed % 1000, max_iter=30)
    proba = gm.predict_proba(x)
    assert proba.shape == (len(x), k)
    assert proba.dtype == x.dtype
    assert np.all(np.isfinite(proba))
    assert np.all(proba >= 0) and np.all(proba <= 1 + 1e-6)
    rtol = 1e-10 if x.dtype == np.float64 else 1e-5
    assert_allclose(proba.sum(axis=1), 1.0, rtol=rtol, atol=rtol)
    # predict is the argmax of the responsibilities (ties aside)
    labels = gm.predict(x)
    top = proba[np.arange(len(x)), labels]
    assert np.all(top >= proba.max(axis=1) - 10 * rtol)
    # score_samples is finite and score its mean
    s = gm.score_samples(x).astype(np.float64)
    assert np.all(np.isfinite(s))
    assert_allclose(gm.score(x), s.mean(), rtol=1e-4 if x.dtype == np.float32 else 1e-10, atol=1e-6)


@SETTINGS
@given(problems(max_n=1000, min_per_component=100))
def test_lower_bound_never_decreases(problem):
    x, k, covariance_type, seed, scale = problem
    # EM is monotone for the exact M-step; reg_covar makes the M-step inexact (a drop of order
    # reg_covar / variance is legitimate), so it is made small here relative to the data scale,
    # and enough samples per component keep components from collapsing onto a few points.
    reg = (1e-10 if x.dtype == np.float64 else 1e-6) * scale**2
    gm = _fit(x, n_components=k, covariance_type=covariance_type, random_state=seed % 1000,
              max_iter=40, tol=0.0, init_params="random_from_data", reg_covar=reg)
    lb = np.asarray(gm.lower_bounds_, dtype=np.float64)
    assert len(lb) == gm.n_iter_ == 40
    assert np.all(np.isfinite(lb))
    # rounding of an average log-likelihood: relative to its magnitude and to the log-density scale
    eps = 1e-9 if x.dtype == np.float64 else 2e-4
    slack = eps * (np.abs(lb[:-1]) + x.shape[1])
    drops = lb[:-1] - lb[1:]
    assert np.all(drops <= slack), f"lower bound decreased: max drop {drops.max()} at {np.argmax(drops)}; {lb}"


@SETTINGS
@given(problems(max_n=1500))
def test_one_and_two_threads_agree(problem):
    x, k, covariance_type, seed, scale = problem
    kw = dict(n_components=k, covariance_type=covariance_type, random_state=seed % 1000, max_iter=25)
    one = _fit(x, n_threads=1, **kw)
    two = _fit(x, n_threads=2, **kw)
    f64 = x.dtype == np.float64
    rtol = 1e-9 if f64 else 1e-4
    assert one.n_iter_ == two.n_iter_ or not f64
    assert_allclose(float(one.lower_bound_), float(two.lower_bound_), rtol=rtol, atol=rtol)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        a = np.asarray(getattr(one, name), np.float64)
        b = np.asarray(getattr(two, name), np.float64)
        assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(), err_msg=name)
    assert_allclose(one.predict_proba(x), two.predict_proba(x), atol=1e-7 if f64 else 1e-3)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_threads_on_many_chunks(covariance_type, dtype, two_threads):
    # enough samples for many chunks per thread, so the parallel reduction really runs
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(size=(20000, 3)) + c for c in ([0, 0, 0], [4, 0, 0], [0, 4, 0])])
    x = x.astype(dtype)
    kw = dict(n_components=3, covariance_type=covariance_type, random_state=0, max_iter=15, tol=0.0)
    one = _fit(x, n_threads=1, **kw)
    with two_threads("_gmm"):
        two = _fit(x, n_threads=2, **kw)
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    for name in ("weights_", "means_", "covariances_"):
        a, b = np.asarray(getattr(one, name), np.float64), np.asarray(getattr(two, name), np.float64)
        assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(), err_msg=name)
    assert_allclose(one.score_samples(x), two.score_samples(x), rtol=rtol, atol=rtol)
