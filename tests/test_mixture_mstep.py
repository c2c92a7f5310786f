"""The M-step kernel (``_gmm.m_step``) against scikit-learn's M-step.

em_pass turns parameters into per-block statistics; m_step turns those into
the next parameters and em_pass's arrays.  The reference is scikit-learn's
own M-step (``_estimate_gaussian_parameters`` and
``_compute_precision_cholesky``) applied to responsibilities computed here
with plain NumPy from the same parameters.  Tolerance: 1e-9 relative
(float64 throughout; the two differ only in summation order).

Statuses other than OK must leave the kernel arrays untouched, so that the
caller can re-seed an empty component or regularise a covariance and then
build them with ``pack_params`` (checked here against scikit-learn too).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from gmmfast._dispatch import load

sk_gm = pytest.importorskip("sklearn.mixture._gaussian_mixture")

_k = load("_gmm")
COV_SHAPES = {"full": lambda K, d: (K, d, d), "tied": lambda K, d: (d, d),
              "diag": lambda K, d: (K, d), "spherical": lambda K, d: (K,)}


def random_problem(seed, covariance_type, n=5000, d=3, K=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d) + rng.normal(size=d) * 10
    means = X[rng.choice(n, K, replace=False)] + rng.normal(scale=0.1, size=(K, d))
    weights = rng.dirichlet(np.ones(K) * 5)
    if covariance_type in ("full", "tied"):
        A = rng.normal(size=(K, d, d))
        cov = A @ A.transpose(0, 2, 1) + np.eye(d) * 2.0
        if covariance_type == "tied":
            cov = cov[0]
    elif covariance_type == "diag":
        cov = rng.uniform(0.5, 4.0, size=(K, d))
    else:
        cov = rng.uniform(0.5, 4.0, size=K)
    return X, weights, means, cov


def kernel_arrays(weights, means, cov, covariance_type):
    """em_pass's arrays, built here independently of gmmfast.mixture."""
    K, d = means.shape
    pchol = sk_gm._compute_precision_cholesky(cov, covariance_type)
    if covariance_type == "full":
        prec, logdet = pchol.reshape(-1), np.log(np.diagonal(pchol, axis1=1, axis2=2)).sum(1)
    elif covariance_type == "tied":
        prec = np.broadcast_to(pchol, (K, d, d)).reshape(-1)
        logdet = np.full(K, np.log(np.diag(pchol)).sum())
    elif covariance_type == "diag":
        prec, logdet = pchol.reshape(-1), np.log(pchol).sum(1)
    else:
        prec, logdet = pchol, d * np.log(pchol)
    log_const = np.log(weights) - 0.5 * d * np.log(2 * np.pi) + logdet
    kind = {"full": _k.FULL, "tied": _k.TIED, "diag": _k.DIAG, "spherical": _k.SPHERICAL}[covariance_type]
    return means.copy(), np.ascontiguousarray(prec), log_const, kind, pchol


def problem_arrays(seed, covariance_type):
    """A random problem's data, em_pass arrays, sizes and block counts."""
    X, weights, means, cov = random_problem(seed, covariance_type)
    km, kp, klc, kind, _ = kernel_arrays(weights, means, cov, covariance_type)
    K, d = km.shape
    return X, km, kp, klc, kind, K, d, _k.n_blocks(X.shape[0]), _k.n_stats(d, kind)


def run_m_step(X, km, kp, klc, kind, covariance_type, reg_covar=1e-6):
    n, d = X.shape
    K = km.shape[0]
    nb, ns = _k.n_blocks(n), _k.n_stats(d, kind)
    block_stats, block_ll, stats = np.empty((nb, K * ns)), np.empty(nb), np.empty((K, ns))
    _k.em_pass(X, km, kp, klc, kind, block_stats, block_ll, 2)
    shape = COV_SHAPES[covariance_type](K, d)
    out = dict(weights=np.empty(K), means=np.empty((K, d)), cov=np.empty(shape), pchol=np.empty(shape))
    status, total = _k.m_step(block_stats, block_ll, n, km, _k.COVARIANCE_CODES[covariance_type],
                              reg_covar, np.finfo(np.float64).eps, stats, out["weights"], out["means"],
                              out["cov"].reshape(-1), out["pchol"].reshape(-1), km, kp, klc)
    return status, total, out, stats


def numpy_log_resp(X, weights, means, cov, covariance_type):
    """Weighted log densities (n, K) from scipy-free NumPy, for the reference."""
    n, d = X.shape
    K = means.shape[0]
    out = np.empty((n, K))
    for k in range(K):
        if covariance_type == "full":
            C = cov[k]
        elif covariance_type == "tied":
            C = cov
        elif covariance_type == "diag":
            C = np.diag(cov[k])
        else:
            C = np.eye(d) * cov[k]
        diff = X - means[k]
        sol = np.linalg.solve(C, diff.T).T
        out[:, k] = (np.log(weights[k]) - 0.5 * (d * np.log(2 * np.pi) + np.linalg.slogdet(C)[1])
                     - 0.5 * np.einsum("ij,ij->i", diff, sol))
    return out


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_m_step_matches_sklearn(covariance_type, seed):
    X, weights, means, cov = random_problem(seed, covariance_type)
    km, kp, klc, kind, _ = kernel_arrays(weights, means, cov, covariance_type)
    status, total, out, _ = run_m_step(X, km, kp, klc, kind, covariance_type)
    assert status == _k.M_STEP_OK

    wlp = numpy_log_resp(X, weights, means, cov, covariance_type)
    lse = np.logaddexp.reduce(wlp, axis=1)
    resp = np.exp(wlp - lse[:, None])
    assert_allclose(total, lse.sum(), rtol=1e-9)
    nk, ref_means, ref_cov = sk_gm._estimate_gaussian_parameters(X, resp, 1e-6, covariance_type)
    ref_pchol = sk_gm._compute_precision_cholesky(ref_cov, covariance_type)
    assert_allclose(out["weights"], nk / nk.sum(), rtol=1e-9)
    assert_allclose(out["means"], ref_means, rtol=1e-9)
    assert_allclose(out["cov"], ref_cov, rtol=1e-9, atol=1e-12)
    assert_allclose(out["pchol"], ref_pchol, rtol=1e-9, atol=1e-12)
    # the kernel arrays for the next pass are those of the new parameters
    nkm, nkp, nklc, _, _ = kernel_arrays(nk / nk.sum(), ref_means, ref_cov, covariance_type)
    assert_allclose(km, nkm, rtol=1e-9)
    assert_allclose(kp, nkp, rtol=1e-9, atol=1e-12)
    assert_allclose(klc, nklc, rtol=1e-9)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_m_step_float32_kernel_arrays(covariance_type):
    """float32 data: statistics in float64, next arrays rounded to float32."""
    X, weights, means, cov = random_problem(3, covariance_type)
    X32 = X.astype(np.float32)
    km, kp, klc, kind, _ = kernel_arrays(weights, means.astype(np.float32).astype(np.float64), cov,
                                         covariance_type)
    km, kp, klc = (a.astype(np.float32) for a in (km, kp, klc))
    status, _, out, _ = run_m_step(X32, km, kp, klc, kind, covariance_type)
    assert status == _k.M_STEP_OK
    assert km.dtype == kp.dtype == klc.dtype == np.float32
    assert_allclose(km, out["means"], rtol=1e-6)
    nkm, nkp, nklc, _, _ = kernel_arrays(out["weights"], out["means"], out["cov"], covariance_type)
    assert_allclose(kp, nkp, rtol=1e-6)
    assert_allclose(klc, nklc, rtol=1e-6, atol=1e-6)


def _snapshot(*arrays):
    return [a.copy() for a in arrays]


def test_m_step_reports_an_empty_component_and_leaves_the_kernel_arrays():
    X, weights, means, cov = random_problem(4, "full")
    means[2] = X.max(axis=0) + 1e3          # far from every sample: it gets no responsibility
    km, kp, klc, kind, _ = kernel_arrays(weights, means, cov, "full")
    before = _snapshot(km, kp, klc)
    status, total, out, stats = run_m_step(X, km, kp, klc, kind, "full")
    assert status == _k.M_STEP_EMPTY
    assert stats[2, 0] <= 1e-10 * X.shape[0]
    assert np.isfinite(total)
    for a, b in zip(before, (km, kp, klc)):
        assert_array_equal(a, b)
    # the other components' parameters are written (the caller re-seeds component 2)
    wlp = numpy_log_resp(X, weights, means, cov, "full")
    resp = np.exp(wlp - np.logaddexp.reduce(wlp, axis=1)[:, None])
    _, ref_means, ref_cov = sk_gm._estimate_gaussian_parameters(X, resp, 1e-6, "full")
    keep = [0, 1, 3]
    assert_allclose(out["means"][keep], ref_means[keep], rtol=1e-9)
    assert_allclose(out["cov"][keep], ref_cov[keep], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pack_params_matches_sklearn(covariance_type, dtype):
    _, weights, means, cov = random_problem(7, covariance_type)
    K, d = means.shape
    pchol = np.empty(cov.shape)
    km, kp, klc = np.empty((K, d), dtype), np.empty(kernel_arrays(weights, means, cov, covariance_type)[1].size,
                                                    dtype), np.empty(K, dtype)
    status = _k.pack_params(_k.COVARIANCE_CODES[covariance_type], weights, means, cov.reshape(-1),
                            pchol.reshape(-1), km, kp, klc)
    assert status == _k.M_STEP_OK
    assert_allclose(pchol, sk_gm._compute_precision_cholesky(cov, covariance_type), rtol=1e-10, atol=1e-14)
    ref_m, ref_p, ref_lc, _, _ = kernel_arrays(weights, means, cov, covariance_type)
    rtol = 1e-6 if dtype == np.float32 else 1e-10
    assert_allclose(km, ref_m, rtol=rtol)
    assert_allclose(kp, ref_p, rtol=rtol, atol=1e-7)
    assert_allclose(klc, ref_lc, rtol=rtol)
    bad = cov.copy()
    bad.reshape(-1)[0] = -1.0                # not positive definite
    assert _k.pack_params(_k.COVARIANCE_CODES[covariance_type], weights, means, bad.reshape(-1),
                          pchol.reshape(-1), km, kp, klc) == _k.M_STEP_NOT_PD


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_m_step_reports_a_covariance_that_is_not_positive_definite(covariance_type):
    # every sample (and mean) identical in the constant features: zero variance, reg_covar=0
    X, weights, means, cov = random_problem(5, covariance_type)
    constant = slice(None) if covariance_type == "spherical" else slice(0, 1)
    X[:, constant] = 1.0
    means[:, constant] = 1.0
    km, kp, klc, kind, _ = kernel_arrays(weights, means, cov, covariance_type)
    before = _snapshot(km, kp, klc)
    status, _, _, _ = run_m_step(X, km, kp, klc, kind, covariance_type, reg_covar=0.0)
    assert status == _k.M_STEP_NOT_PD
    for a, b in zip(before, (km, kp, klc)):
        assert_array_equal(a, b)


def test_m_step_reports_non_finite_statistics():
    X, km, kp, klc, kind, K, d, nb, ns = problem_arrays(6, "diag")
    block_stats, block_ll = np.ones((nb, K * ns)), np.zeros(nb)
    block_stats[0, 5] = np.nan
    out = (np.empty(K), np.empty((K, d)), np.empty(K * d), np.empty(K * d))
    status, _ = _k.m_step(block_stats, block_ll, X.shape[0], km, _k.COVARIANCE_CODES["diag"], 1e-6,
                          1e-16, np.empty((K, ns)), *out, km, kp, klc)
    assert status == _k.M_STEP_NONFINITE
    block_stats[0, 5] = 1.0
    block_ll[1] = np.inf
    status, _ = _k.m_step(block_stats, block_ll, X.shape[0], km, _k.COVARIANCE_CODES["diag"], 1e-6,
                          1e-16, np.empty((K, ns)), *out, km, kp, klc)
    assert status == _k.M_STEP_NONFINITE


def test_m_step_rejects_inconsistent_shapes():
    X, km, kp, klc, kind, K, d, nb, ns = problem_arrays(7, "full")
    args = [np.zeros((nb, K * ns)), np.zeros(nb), X.shape[0], km, _k.COVARIANCE_CODES["full"], 1e-6,
            1e-16, np.empty((K, ns)), np.empty(K), np.empty((K, d)), np.empty(K * d * d),
            np.empty(K * d * d), km, kp, klc]
    bad = list(args)
    bad[10] = np.empty(K * d)          # covariances sized for 'diag'
    with pytest.raises(ValueError, match="inconsistent shapes"):
        _k.m_step(*bad)
    bad = list(args)
    bad[4] = 7
    with pytest.raises(ValueError, match="covariance type"):
        _k.m_step(*bad)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [1, 2, 3, 4, 6])
def test_tied_kernel_equals_full_kernel_with_the_factor_repeated(d, dtype):
    # TIED transforms each sample once (z = P^T x); FULL computes P^T (x - mean) per
    # component: the two must give the same log-likelihood and statistics
    X, weights, means, cov = random_problem(8 + d, "tied", n=3001, d=d)
    km, kp, klc, kind, _ = kernel_arrays(weights, means, cov, "tied")
    assert kind == _k.TIED
    X, km, kp, klc = (np.ascontiguousarray(a, dtype=dtype) for a in (X, km, kp, klc))
    K = km.shape[0]
    nb = _k.n_blocks(X.shape[0])
    assert _k.n_stats(d, _k.TIED) == _k.n_stats(d, _k.FULL)
    out = {}
    for name in ("FULL", "TIED"):
        ns = _k.n_stats(d, getattr(_k, name))
        block_stats, block_ll = np.empty((nb, K * ns)), np.empty(nb)
        _k.em_pass(X, km, kp, klc, getattr(_k, name), block_stats, block_ll, 2)
        lpn = np.empty(X.shape[0], dtype=dtype)
        _k.e_step(X, km, kp, klc, getattr(_k, name), 2, log_prob_norm=lpn)
        out[name] = (block_stats.sum(axis=0), block_ll.sum(), lpn)
    rtol = 1e-10 if dtype == np.float64 else 2e-5
    assert_allclose(out["TIED"][1], out["FULL"][1], rtol=rtol)
    assert_allclose(out["TIED"][2], out["FULL"][2], rtol=rtol, atol=rtol * np.abs(out["FULL"][2]).max())
    s_full = out["FULL"][0]
    assert_allclose(out["TIED"][0], s_full, rtol=rtol * 10, atol=rtol * 10 * np.abs(s_full).max())
    labels = np.arange(X.shape[0]) % K
    hard = {}
    for name in ("FULL", "TIED"):
        hard[name] = np.empty((_k.n_chunks(X.shape[0]), K * _k.n_stats(d, _k.FULL)))
        _k.hard_stats(X, labels, km, getattr(_k, name), hard[name], 1)
    assert_array_equal(hard["TIED"], hard["FULL"])


def test_kernels_reject_an_unknown_kind_and_wrong_precision_lengths():
    X, km, kp, klc, kind, K, d, nb, ns = problem_arrays(9, "spherical")
    stats, ll = np.empty((nb, K * ns)), np.empty(nb)
    with pytest.raises(ValueError, match="unknown covariance kind"):
        _k.em_pass(X, km, kp, klc, 7, stats, ll, 1)
    with pytest.raises(ValueError, match="unknown covariance kind"):
        _k.hard_stats(X, np.zeros(X.shape[0], dtype=np.intp), km, -1,
                      np.empty((_k.n_chunks(X.shape[0]), K * ns)), 1)
    with pytest.raises(ValueError, match="spherical precisions"):
        _k.em_pass(X, km, np.repeat(kp, d), klc, _k.SPHERICAL, stats, ll, 1)
    with pytest.raises(ValueError, match="tied precision"):
        _k.e_step(X, km, kp, klc, _k.TIED, 1, log_prob_norm=np.empty(X.shape[0]))
