"""GaussianMixture with more than 4 features against scikit-learn, one thread each.

The issue's workload (bench_mixture.py) has 3 features, which the fused kernels
cover; wider feature vectors take the general loops.  Workload: 200,000 samples of
d = 5, 8 and 16 features (5 shifted Gaussian clusters), K = 5, full covariances,
20 EM iterations with tol=0, ``init_params='random_from_data'`` with the same
``random_state`` for both libraries.  gmmfast: best of 3 fits; scikit-learn: one.

    python bench/bench_mixture_dims.py           # prints the ratios for RESULTS.md
    pytest bench/bench_mixture_dims.py --benchmark-only -p no:cacheprovider
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

import gmmfast

DIMS = (5, 8, 16)
KWARGS = dict(n_components=5, covariance_type="full", max_iter=20, tol=0,
              random_state=0, init_params="random_from_data")


def data(d: int, n: int = 200_000) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, d)) + rng.integers(0, 5, (n, 1)) * 3.0


def fit_gmmfast(x: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gmmfast.GaussianMixture(**KWARGS, n_threads=1).fit(x)


def fit_sklearn(x: np.ndarray) -> None:
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        GaussianMixture(**KWARGS).fit(x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("d", DIMS)
def test_gmmfast_fit(benchmark, d, dtype):
    x = data(d).astype(dtype)
    benchmark.group = f"full fit, d={d}, {np.dtype(dtype).name}"
    benchmark.pedantic(fit_gmmfast, args=(x,), rounds=3, iterations=1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("d", DIMS)
def test_sklearn_fit(benchmark, d, dtype):
    pytest.importorskip("sklearn")
    pytest.importorskip("threadpoolctl")
    x = data(d).astype(dtype)
    benchmark.group = f"full fit, d={d}, {np.dtype(dtype).name}"
    benchmark.pedantic(fit_sklearn, args=(x,), rounds=1, iterations=1)


def _seconds(fn, x, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - t0)
    return best


if __name__ == "__main__":
    for d in DIMS:
        for dtype in (np.float64, np.float32):
            x = data(d).astype(dtype)
            ours, theirs = _seconds(fit_gmmfast, x, 3), _seconds(fit_sklearn, x, 1)
            print(f"d={d:2d} {np.dtype(dtype).name}: gmmfast {ours:.3f} s, scikit-learn {theirs:.3f} s, "
                  f"{theirs / ours:.1f}x")
