"""gmmfast._kmeans: Lloyd k-means and k-means++ seeding.

* quality: inertia no worse than scikit-learn's KMeans(n_init=1) by more than 5 %
  (averaged over seeds) on random blobs;
* exactness: from the same initial centres, Lloyd converges to the same centres
  and labels as a plain NumPy Lloyd written here;
* k-means++ returns distinct data points (also when the data has many duplicates).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from gmmfast import DegenerateDataWarning, GrabCut
from gmmfast._kmeans import kmeans, kmeans_plusplus


def blobs(seed, n=4000, d=3, k=6, spread=6.0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=spread, size=(k, d))
    labels = rng.integers(0, k, size=n)
    x = centers[labels] + rng.normal(size=(n, d)) * rng.uniform(0.5, 1.5, size=(k, 1))[labels]
    return x.astype(dtype)


def numpy_lloyd(x, centers, max_iter=1000):
    """Reference Lloyd iteration in float64 until the labels stop changing."""
    x = x.astype(np.float64)
    c = centers.astype(np.float64).copy()
    labels = None
    for _ in range(max_iter):
        d2 = ((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
        new = np.argmin(d2, axis=1)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        for j in range(len(c)):
            members = x[labels == j]
            assert len(members) > 0, "reference Lloyd hit an empty cluster; choose other data"
            c[j] = members.mean(axis=0)
    inertia = ((x - c[labels]) ** 2).sum()
    return c, labels, inertia


def inertia_of(x, centers):
    d2 = ((x[:, None, :].astype(np.float64) - centers[None].astype(np.float64)) ** 2).sum(axis=2)
    return d2.min(axis=1).sum()


# --------------------------------------------------------------------------- result object


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_result_fields_consistent(dtype):
    x = blobs(0, dtype=dtype)
    res = kmeans(x, 6, random_state=0, tol=0.0)  # tol=0: run to the fixed point (labels stable)
    assert res.centers.shape == (6, 3)
    assert res.centers.dtype == dtype
    assert res.labels.shape == (len(x),)
    assert np.issubdtype(res.labels.dtype, np.integer)
    assert res.labels.min() >= 0 and res.labels.max() < 6
    assert isinstance(res.n_iter, (int, np.integer)) and 1 <= res.n_iter <= 300
    # labels are the nearest centres, the inertia is theirs
    d2 = ((x[:, None, :].astype(np.float64) - res.centers[None].astype(np.float64)) ** 2).sum(axis=2)
    nearest = np.argmin(d2, axis=1)
    margin = np.sort(d2, axis=1)[:, 1] - d2.min(axis=1)
    clear = margin > (1e-6 if dtype == np.float32 else 1e-10) * d2.max()
    assert_array_equal(res.labels[clear], nearest[clear])
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    assert_allclose(float(res.inertia), d2[np.arange(len(x)), res.labels].sum(), rtol=rtol)
    # at the fixed point the centres are the means of their members
    for j in range(6):
        assert_allclose(res.centers[j], x[res.labels == j].astype(np.float64).mean(axis=0),
                        rtol=rtol, atol=rtol * 10)


# --------------------------------------------------------------------------- vs references


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lloyd_matches_numpy_from_same_start(seed, dtype):
    x = blobs(seed, n=3000, d=4, k=5, spread=4.0, dtype=dtype)
    rng = np.random.default_rng(seed + 50)
    init = x[rng.choice(len(x), size=5, replace=False)].copy()
    ref_c, ref_labels, ref_inertia = numpy_lloyd(x, init)
    res = kmeans(x, 5, init=init, tol=0.0, max_iter=1000)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    assert_allclose(res.centers.astype(np.float64), ref_c, rtol=rtol, atol=rtol)
    mismatch = np.mean(res.labels != ref_labels)
    if dtype == np.float64:
        assert mismatch == 0
    else:
        assert mismatch < 1e-3  # float32 distance ties only
    assert_allclose(float(res.inertia), ref_inertia, rtol=rtol)


def test_lloyd_max_iter_respected():
    x = blobs(4, n=3000, d=2, k=8, spread=1.0)
    init = x[:8].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = kmeans(x, 8, init=init, max_iter=2, tol=0.0)
    assert res.n_iter <= 2
    # two Lloyd steps by hand
    c = init.copy()
    for _ in range(2):
        lab = np.argmin(((x[:, None] - c[None]) ** 2).sum(2), axis=1)
        c = np.stack([x[lab == j].mean(0) for j in range(8)])
    assert_allclose(res.centers, c, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_inertia_not_worse_than_sklearn(dtype):
    cluster = pytest.importorskip("sklearn.cluster")
    ours, theirs = [], []
    for seed in range(4):
        x = blobs(10 + seed, n=3000, d=3, k=8, spread=5.0, dtype=dtype)
        ours.append(float(kmeans(x, 8, random_state=seed).inertia))
        theirs.append(float(cluster.KMeans(8, n_init=1, random_state=seed).fit(x).inertia_))
    assert np.mean(ours) <= 1.05 * np.mean(theirs), (ours, theirs)
    assert max(ours) <= 1.5 * max(theirs)  # no single disaster


def test_inertia_on_image_like_data():
    # dense overlapping colour clusters, like pixels: quality must still match scikit-learn
    cluster = pytest.importorskip("sklearn.cluster")
    rng = np.random.default_rng(20)
    x = np.clip(rng.normal(size=(10000, 3)) @ np.array([[40, 5, 3], [0, 30, 8], [0, 0, 20]]) + 120, 0, 255)
    x = x.astype(np.float32)
    ours = np.mean([float(kmeans(x, 5, random_state=s).inertia) for s in range(3)])
    theirs = np.mean([cluster.KMeans(5, n_init=1, random_state=s).fit(x).inertia_ for s in range(3)])
    assert ours <= 1.05 * theirs


def test_threads_agree(two_threads):
    x = blobs(30, n=50000, d=3, k=5)
    init = x[:5].copy()
    a = kmeans(x, 5, init=init, tol=0.0, n_threads=1)
    with two_threads("_kmeans"):
        b = kmeans(x, 5, init=init, tol=0.0, n_threads=2)
    assert_array_equal(a.labels, b.labels)
    assert_allclose(a.centers, b.centers, rtol=1e-12)
    s1, i1 = kmeans_plusplus(x, 5, random_state=3, n_threads=1)
    with two_threads("_kmeans"):
        s2, i2 = kmeans_plusplus(x, 5, random_state=3, n_threads=2)
    assert_array_equal(i1, i2)


def test_random_state_reproducible():
    x = blobs(31)
    a, b = kmeans(x, 6, random_state=7), kmeans(x, 6, random_state=7)
    assert_array_equal(a.centers, b.centers)
    ca, ia = kmeans_plusplus(x, 6, random_state=np.random.RandomState(5))
    cb, ib = kmeans_plusplus(x, 6, random_state=np.random.RandomState(5))
    assert_array_equal(ia, ib)


# --------------------------------------------------------------------------- k-means++


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_kmeans_plusplus_returns_distinct_data_points(dtype):
    x = blobs(40, n=2000, d=3, k=6, dtype=dtype)
    for seed in range(5):
        centers, indices = kmeans_plusplus(x, 10, random_state=seed)
        assert centers.shape == (10, 3) and indices.shape == (10,)
        assert centers.dtype == dtype
        assert np.issubdtype(indices.dtype, np.integer)
        assert len(np.unique(indices)) == 10
        assert indices.min() >= 0 and indices.max() < len(x)
        assert_array_equal(centers, x[indices])


def test_kmeans_plusplus_with_duplicates():
    # 12 distinct points, each repeated 50 times: 12 seeds must be 12 different points
    rng = np.random.default_rng(41)
    base = rng.normal(size=(12, 2)) * 5
    x = np.repeat(base, 50, axis=0)
    rng.shuffle(x)
    for seed in range(5):
        centers, indices = kmeans_plusplus(x, 12, random_state=seed)
        assert len(np.unique(centers, axis=0)) == 12
        assert_array_equal(centers, x[indices])


def test_kmeans_plusplus_spreads_seeds():
    # well separated blobs: k-means++ puts one seed in (almost) every blob; uniform picks would not
    rng = np.random.default_rng(42)
    centers_true = np.array([[0, 0], [100, 0], [0, 100], [100, 100], [50, 200], [200, 50]], float)
    x = np.concatenate([c + rng.normal(size=(500, 2)) for c in centers_true])
    hits = []
    for seed in range(10):
        c, _ = kmeans_plusplus(x, 6, random_state=seed)
        owner = np.argmin(((c[:, None] - centers_true[None]) ** 2).sum(2), axis=1)
        hits.append(len(np.unique(owner)))
    assert np.mean(hits) >= 5.8


def test_kmeans_on_duplicates_gives_finite_result_and_warns():
    x = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0]]), 100, axis=0)
    with pytest.warns(DegenerateDataWarning, match="only 2 distinct cluster"):
        res = kmeans(x, 4, random_state=0)
    assert np.all(np.isfinite(res.centers))
    assert float(res.inertia) == pytest.approx(0.0, abs=1e-12)
    # as many distinct points as clusters is not degenerate: every cluster gets one
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateDataWarning)
        res = kmeans(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [0.0, 3.0]]), 4, random_state=0)
    assert len(np.unique(res.labels)) == 4


def test_constant_data_warns_once_through_the_public_function_only():
    x = np.zeros((100, 3))
    with pytest.warns(DegenerateDataWarning, match="only 1 distinct cluster") as record:
        kmeans(x, 3, random_state=0)
    assert len(record) == 1
    # GrabCut's k-means seeding of a flat region handles it itself: no warning reaches the user
    img = np.full((40, 40, 3), 90, np.uint8)
    img[10:30, 10:30] = 200
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateDataWarning)
        GrabCut(box_prior=True, n_threads=1).fit(img, rect=(5, 5, 30, 30))


@pytest.mark.parametrize("k", [0, -1, 2.5])
def test_bad_n_clusters(k):
    x = blobs(50, n=100)
    with pytest.raises((ValueError, TypeError), match="n_clusters"):
        kmeans(x, k)
    with pytest.raises((ValueError, TypeError), match="n_clusters"):
        kmeans_plusplus(x, k)


def test_more_clusters_than_samples():
    x = blobs(51, n=5)
    with pytest.raises(ValueError, match=r"n_clusters|n_samples"):
        kmeans(x, 6)
    with pytest.raises(ValueError, match=r"n_clusters|n_samples"):
        kmeans_plusplus(x, 6)


def test_bad_init_shape():
    x = blobs(52, n=100)
    with pytest.raises(ValueError, match="init"):
        kmeans(x, 3, init=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="init"):
        kmeans(x, 3, init="bogus")


def test_draw_by_potential_matches_a_global_cumulative_sum():
    # integer-valued potentials: every partial sum is exact, so the two-level draw must pick
    # exactly what np.searchsorted on the cumulative sum of all samples picks
    from gmmfast._kmeans import _draw_by_potential, _k

    rng = np.random.default_rng(5)
    size = _k.chunk_size()
    for n in (1, 7, size, size + 1, 5 * size + 37):
        closest = rng.integers(0, 20, n).astype(np.float64)
        if n > 2:
            closest[0] = closest[-1] = 0.0      # chosen centres at the ends: draws must skip them
        closest[rng.integers(1, n) if n > 2 else 0] = 3.0   # at least some mass
        chunk_pot = np.add.reduceat(closest, np.arange(0, n, size))
        total = closest.sum()
        draws = np.concatenate([rng.uniform(size=50) * total, [0.0, 1e-9, total]])
        expected = np.searchsorted(np.cumsum(closest), draws, side="right")
        # a draw at the total (rounding) goes to the last sample with mass
        last = np.flatnonzero(closest > 0)[-1]
        expected[expected >= n] = last
        got = _draw_by_potential(closest, chunk_pot, draws)
        assert_array_equal(got, expected)
        assert np.all(closest[got] > 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 3), (7, 2), (1000, 1), (5000, 3), (3000, 17)])
def test_column_variances_match_numpy(dtype, shape):
    from gmmfast._kmeans import _k

    rng = np.random.default_rng(sum(shape))
    X = (rng.normal(size=shape) * rng.uniform(0.1, 10, shape[1]) + 1e4).astype(dtype)
    ref = np.var(X.astype(np.float64), axis=0)
    tol = 1e-5 if dtype == np.float32 else 1e-10     # float32: each chunk is summed in float32
    for nt in (1, 2):
        assert_allclose(_k.column_variances(X, nt), ref, rtol=tol, atol=1e-12)
    with pytest.raises(ValueError, match="empty"):
        _k.column_variances(np.empty((0, 3), dtype), 1)


def test_overflowing_distances_are_refused_not_infinite():
    """float32 values near its maximum square to infinity in the kernel: a clear error (found by
    the long fuzz profile), never an infinite inertia; float64 holds the same values."""
    X = np.array([[1.7014117e38], [0.0]], dtype=np.float32)
    with pytest.raises(ValueError, match="float64"):
        kmeans(X, 1, random_state=0)
    res = kmeans(X.astype(np.float64), 1, random_state=0)
    ref = pytest.importorskip("sklearn.cluster").KMeans(1, n_init=1, random_state=0).fit(X.astype(np.float64))
    assert np.isfinite(res.inertia)
    np.testing.assert_allclose(res.inertia, ref.inertia_, rtol=1e-12)
