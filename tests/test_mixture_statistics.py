"""gmmfast.EMStatistics and GaussianMixture.e_step_statistics / m_step / partial_fit.

References are independent of the kernels: responsibilities and moments
computed in float64 NumPy/SciPy from the model's parameters, and the
in-memory ``fit`` for the by-hand EM loop.  Tolerances:

* statistics against the NumPy reference: 1e-9 relative in float64, 2e-4 in
  float32 (the kernel's log-probabilities and responsibilities are float32);
* regrouping sums: the bound EMStatistics documents,
  (m - 1) * 2**-52 * sum(|terms|) per entry;
* a by-hand EM loop against ``fit`` from the same start: lower bounds 1e-10
  relative, parameters 1e-8 (float64); 1e-5 (float32, whose by-hand loop
  rounds the parameters to float32 at every iteration, as the fitted
  attributes are).
"""

from __future__ import annotations

import multiprocessing
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import gmmfast
from gmmfast import EMStatistics, GaussianMixture
from gmmfast.exceptions import DegenerateDataWarning, NotFittedError

scipy_stats = pytest.importorskip("scipy.stats")

COV_TYPES = ("full", "tied", "diag", "spherical")
EPS52 = 2.0 ** -52


def mixture_data(seed=0, n=6000, d=3, k=3, dtype=np.float64):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=4.0, size=(k, d))
    parts = [rng.multivariate_normal(m, np.diag(rng.uniform(0.5, 2.0, d)), size=n // k) for m in means]
    X = np.concatenate(parts)
    rng.shuffle(X)
    return (X + 100.0).astype(dtype)   # an offset: raw moments would cancel badly in float32


def fitted(X, ct, k=3, max_iter=3):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(k, covariance_type=ct, max_iter=max_iter, random_state=0).fit(X)


def numpy_statistics(gm, X, ref, absolute=False):
    """Statistics of X about ``ref`` with responsibilities from SciPy densities (float64).

    ``absolute``: the same sums of absolute values (the scale rounding errors are relative to).
    """
    X = X.astype(np.float64)
    ct, K, d = gm.covariance_type, gm.n_components, X.shape[1]
    cov = gm.covariances_.astype(np.float64)
    covs = {"full": lambda k: cov[k], "tied": lambda k: cov, "diag": lambda k: np.diag(cov[k]),
            "spherical": lambda k: cov[k] * np.eye(d)}[ct]
    logp = np.stack([np.log(gm.weights_[k]) + scipy_stats.multivariate_normal(gm.means_[k], covs(k)).logpdf(X)
                     for k in range(K)], axis=1)
    ll = np.logaddexp.reduce(logp, axis=1)
    r = np.exp(logp - ll[:, None])
    rows = []
    for k in range(K):
        y = X - ref[k]
        if absolute:
            y = np.abs(y)
        s2 = {"full": lambda: (r[:, k, None] * y).T @ y, "tied": lambda: (r[:, k, None] * y).T @ y,
              "diag": lambda: r[:, k] @ (y * y), "spherical": lambda: np.atleast_1d(r[:, k] @ (y * y).sum(1))}[ct]()
        if ct in ("full", "tied"):
            s2 = s2[np.triu_indices(d)]
        rows.append(np.concatenate([[r[:, k].sum()], r[:, k] @ y, s2]))
    return np.array(rows), ll.sum()


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_statistics_match_numpy(covariance_type, dtype):
    X = mixture_data(dtype=dtype)
    gm = fitted(X, covariance_type)
    st = gm.e_step_statistics(X)
    assert isinstance(st, EMStatistics) and st.n_samples == len(X) and st.dtype == dtype
    assert_array_equal(st.reference, gm.means_.astype(dtype))
    ref_sums, ref_ll = numpy_statistics(gm, X, st.reference.astype(np.float64))
    rtol = 1e-9 if dtype == np.float64 else 2e-4
    # first moments about a near mean are sums that cancel: relative to sums of |x - ref|
    scale, _ = numpy_statistics(gm, X, st.reference.astype(np.float64), absolute=True)
    assert np.all(np.abs(st.sums - ref_sums) <= rtol * scale)
    assert st.log_likelihood == pytest.approx(ref_ll, rel=rtol)
    assert st.lower_bound == pytest.approx(ref_ll / len(X), rel=rtol)
    assert_allclose(st.counts, ref_sums[:, 0], rtol=rtol)


def _regroup_bound(parts):
    """Largest change regrouping may make per entry: (m - 1) * 2**-52 * sum |terms|."""
    m = len(parts)
    return (m - 1) * EPS52 * sum(np.abs(p.sums) for p in parts)


def _tree(parts):
    while len(parts) > 1:
        parts = [parts[i] + parts[i + 1] if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
    return parts[0]


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_statistics_add_up_in_any_grouping(covariance_type, dtype):
    X = mixture_data(seed=3, n=9000, dtype=dtype)
    gm = fitted(X, covariance_type)
    rng = np.random.default_rng(1)
    # uneven chunks, including single samples and chunks smaller than n_components
    cuts = np.sort(np.concatenate([rng.choice(np.arange(1, len(X)), 25, replace=False), [5, 6, 8, 9]]))
    chunks = np.split(X, np.unique(cuts))
    parts = [gm.e_step_statistics(c) for c in chunks]
    loop, rev, tree, builtin = parts[0], parts[-1], _tree(parts), sum(parts)
    for p in parts[1:]:
        loop = loop + p
    for p in parts[-2::-1]:
        rev = p + rev
    bound = _regroup_bound(parts)
    for other in (rev, tree, builtin):
        assert np.all(np.abs(other.sums - loop.sums) <= bound)
        assert other.n_samples == loop.n_samples == len(X)
        assert abs(other.log_likelihood - loop.log_likelihood) <= (len(parts) - 1) * EPS52 * sum(
            abs(p.log_likelihood) for p in parts)
    # The whole array in one call: another grouping of the same sums; in float32 the kernel
    # folds each chunk of <= 512 samples in float32 lanes before adding it in float64, so
    # moving chunk boundaries changes a sum by up to 512 * 2**-24 relative to its |terms|.
    whole = gm.e_step_statistics(X)
    n_terms = len(parts) + len(X) // 4096 + 1
    rel = n_terms * EPS52 if dtype == np.float64 else 2 * 512 * 2.0 ** -24
    assert np.all(np.abs(whole.sums - loop.sums) <= rel * sum(np.abs(p.sums) for p in parts))


def test_statistics_pickle_and_validate():
    X = mixture_data()
    gm = fitted(X, "full")
    st = gm.e_step_statistics(X[:100])
    back = pickle.loads(pickle.dumps(st))
    assert_array_equal(back.sums, st.sums)
    assert_array_equal(back.reference, st.reference)
    assert (back.log_likelihood, back.n_samples, back.covariance_type) == (st.log_likelihood, 100, "full")
    assert "n_samples=100" in repr(st)
    with pytest.raises(ValueError, match="shape"):
        EMStatistics("full", st.reference, st.sums[:, :-1], 0.0, 1)
    with pytest.raises(ValueError, match="covariance_type"):
        EMStatistics("round", st.reference, st.sums, 0.0, 1)
    with pytest.raises(ValueError, match="n_samples"):
        EMStatistics("full", st.reference, st.sums, 0.0, -1)
    with pytest.raises(TypeError, match="model_key"):
        EMStatistics("full", st.reference, st.sums, 0.0, 1, 12345)
    assert gmmfast.EMStatistics is EMStatistics


def test_adding_statistics_of_different_models_is_refused():
    X = mixture_data()
    a = fitted(X, "full", max_iter=2)
    b = fitted(X, "full", max_iter=3)
    sa, sb = a.e_step_statistics(X[:50]), b.e_step_statistics(X[50:100])
    with pytest.raises(ValueError, match="different models"):
        sa + sb
    with pytest.raises(ValueError, match="covariance_type"):
        sa + fitted(X, "diag").e_step_statistics(X[:50])
    # a float64 model computes float32 rows in float64, so their statistics add up with the others
    assert (sa + a.e_step_statistics(X[50:100].astype(np.float32))).dtype == np.float64
    a32 = fitted(X.astype(np.float32), "full", max_iter=2)
    # (the message said "5 components x 3 features (float64) to 5 x 3 (float32)": shapes that match)
    with pytest.raises(ValueError, match=r"computed in float64 to ones computed in float32: .* one dtype"):
        a32.e_step_statistics(X[:50].astype(np.float32)) + a32.e_step_statistics(X[50:100])
    with pytest.raises(TypeError):
        sa + 1.5
    # the same means, other weights and precisions: refused too (only the means were compared)
    init = dict(means_init=a.means_, max_iter=0, random_state=0)
    c = GaussianMixture(a.n_components, weights_init=a.weights_, precisions_init=a.precisions_, **init).fit(X)
    d = GaussianMixture(a.n_components, precisions_init=a.precisions_ * 2, **init).fit(X)
    sc, sd = c.e_step_statistics(X[:50]), d.e_step_statistics(X[50:100])
    np.testing.assert_array_equal(sc.reference, sd.reference)
    with pytest.raises(ValueError, match="other weights or covariances"):
        sc + sd
    with pytest.raises(ValueError, match="another model"):
        c.m_step(sd)
    both = sc + c.e_step_statistics(X[50:100])
    assert both.model_key == sc.model_key
    c.m_step(both)                                     # the same model's statistics are taken


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_recentred_statistics_match_numpy(covariance_type):
    X = mixture_data(seed=5)
    gm = fitted(X, covariance_type)
    st = gm.e_step_statistics(X)
    new_ref = st.reference + np.random.default_rng(0).normal(scale=0.5, size=st.reference.shape)
    moved = st.recentred(new_ref)
    ref_sums, _ = numpy_statistics(gm, X, new_ref)
    assert_allclose(moved.sums, ref_sums, rtol=1e-9, atol=1e-9 * np.abs(ref_sums).max())
    assert_array_equal(moved.reference, new_ref)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_data_variance_from_statistics(covariance_type):
    X = mixture_data(seed=6)
    st = fitted(X, covariance_type).e_step_statistics(X)
    var = np.var(X, axis=0)
    want = np.full(3, var.mean()) if covariance_type == "spherical" else var
    assert_allclose(st.data_variance(), want, rtol=1e-9)


def by_hand_em(X, ct, n_iter, n_chunks, dtype):
    """EM with e_step_statistics over chunks and m_step, from fit's initial parameters."""
    X = X.astype(dtype)
    gm = GaussianMixture(3, covariance_type=ct, max_iter=0, random_state=0).fit(X)
    chunks = np.array_split(X, n_chunks)
    for _ in range(n_iter):
        gm.m_step(sum(gm.e_step_statistics(c) for c in chunks))
    return gm


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_by_hand_em_equals_fit(covariance_type, dtype):
    X = mixture_data(seed=7, n=12000, dtype=dtype)
    ref = GaussianMixture(3, covariance_type=covariance_type, max_iter=15, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(X)
    gm = by_hand_em(X, covariance_type, 15, 7, dtype)
    rtol_lb, rtol_p = (1e-10, 1e-8) if dtype == np.float64 else (1e-5, 1e-5)
    assert gm.n_iter_ == 15 and len(gm.lower_bounds_) == 15
    assert_allclose(gm.lower_bounds_, ref.lower_bounds_, rtol=rtol_lb)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        got, want = getattr(gm, name), getattr(ref, name)
        assert got.dtype == want.dtype
        assert_allclose(got, want, rtol=rtol_p, atol=rtol_p * np.abs(want).max())


def test_m_step_sets_convergence_and_refuses_stale_statistics():
    X = mixture_data(seed=8)
    gm = GaussianMixture(3, max_iter=0, tol=1e-3, random_state=0).fit(X)
    with pytest.raises(NotFittedError, match="call 'fit'"):
        GaussianMixture(3).m_step(gm.e_step_statistics(X))
    stale = gm.e_step_statistics(X)
    gm.m_step(stale)
    with pytest.raises(ValueError, match="other means"):
        gm.m_step(stale)
    with pytest.raises(TypeError, match="EMStatistics"):
        gm.m_step(stale.sums)
    with pytest.raises(ValueError, match="covariance_type"):
        gm.m_step(fitted(X, "diag").e_step_statistics(X))
    for _ in range(200):
        gm.m_step(gm.e_step_statistics(X))
        if gm.converged_:
            break
    assert gm.converged_ and abs(gm.lower_bounds_[-1] - gm.lower_bounds_[-2]) < 1e-3


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("with_rows", [False, True])
def test_m_step_reseeds_an_empty_component(covariance_type, with_rows):
    X = mixture_data(seed=9)
    gm = fitted(X, covariance_type)
    gm.means_ = gm.means_.copy()
    gm.means_[2] = 1e4                      # far from every sample: it gets no responsibility
    st = gm.e_step_statistics(X)
    assert st.counts[2] < 1e-10 * len(X)
    with pytest.warns(DegenerateDataWarning, match="empty"):
        gm.m_step(st, reseed_from=X if with_rows else None)
    assert np.all(np.isfinite(gm.means_)) and np.all(np.isfinite(gm.covariances_))
    assert np.abs(gm.means_[2]).max() < 1e3
    if with_rows:
        assert np.any(np.all(X == gm.means_[2], axis=1))
    gm.m_step(gm.e_step_statistics(X))     # and EM goes on from there
    assert np.all(np.isfinite(gm.means_)) and gm.e_step_statistics(X).counts.min() > 0


def test_readme_multiprocessing_example(tmp_path):
    """The README's by-hand example: statistics of files computed in worker processes.

    The workers run a library method (the README's script defines its own function; a function of this
    test module could not be imported by a spawned child under pytest's importlib mode, and Pool.map
    would wait for ever), and a result that does not come is a failure after two minutes, not a hang.
    """
    X = mixture_data(seed=10, n=9000)
    paths = []
    for i, part in enumerate(np.array_split(X, 3)):
        paths.append(tmp_path / f"part{i}.npy")
        np.save(paths[-1], part)
    gm = GaussianMixture(3, max_iter=0, random_state=0).fit(np.load(paths[0]))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        for _ in range(5):
            jobs = [(gm, str(p)) for p in paths]          # an .npy path is read as a memmap
            gm.m_step(sum(pool.starmap_async(GaussianMixture.e_step_statistics, jobs).get(timeout=120)))
    local = GaussianMixture(3, max_iter=0, random_state=0).fit(np.load(paths[0]))
    for _ in range(5):
        local.m_step(sum(local.e_step_statistics(np.load(p)) for p in paths))
    assert_allclose(gm.lower_bounds_, local.lower_bounds_, rtol=1e-12)
    assert_allclose(gm.means_, local.means_, rtol=1e-12)
