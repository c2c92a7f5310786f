"""gmmfast.GaussianMixture against scikit-learn's GaussianMixture.

Both libraries start from the same initial parameters (weights_init,
means_init, precisions_init), so EM must follow the same path: the lower
bound, the iteration count, the parameters and every prediction must agree
up to rounding.  Tolerances:

* float64: lower bounds within 1e-7 relative; parameters, probabilities and
  scores within 1e-6 relative (EM amplifies rounding a little over ~100
  iterations of a slowly converging fit).
* float32: lower bounds within 1e-4 relative; parameters within 2e-3
  relative (plus an absolute floor scaled to the data), probabilities
  within 5e-4, against scikit-learn run in float64 on the same (widened)
  values; the dtypes returned are compared with scikit-learn's float32 run.

Independent references are used where scikit-learn is not needed: scipy's
multivariate normal for densities, and plain NumPy for the float32
cancellation case.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import gmmfast
from gmmfast import GaussianMixture

sklearn_mixture = pytest.importorskip("sklearn.mixture")
SkGaussianMixture = sklearn_mixture.GaussianMixture

COV_TYPES = ("full", "tied", "diag", "spherical")
DTYPES = (np.float64, np.float32)

FITTED = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
    "converged_",
    "n_iter_",
    "lower_bound_",
    "lower_bounds_",
    "n_features_in_",
)
PARAM_ATTRS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


# --------------------------------------------------------------------------- data


def make_mixture_data(seed: int, n: int, d: int, k: int, separation: float):
    """Samples of a random Gaussian mixture: k components in d dimensions.

    ``separation`` scales the spread of the true means relative to the
    (unit-ish) component widths: 8 gives well-separated clusters, 1.5
    strongly overlapping ones.
    """
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=separation, size=(k, d))
    weights = rng.dirichlet(np.full(k, 4.0))
    counts = rng.multinomial(n, weights)
    parts = []
    for j in range(k):
        a = rng.normal(size=(d, d)) / np.sqrt(d)
        cov = a @ a.T + 0.2 * np.eye(d)
        parts.append(rng.multivariate_normal(means[j], cov, size=counts[j]))
    x = np.concatenate(parts)
    rng.shuffle(x)
    return x


def make_inits(x: np.ndarray, k: int, covariance_type: str, seed: int):
    """Initial parameters computed in float64 from the data (not from either library)."""
    rng = np.random.default_rng(seed + 1000)
    x64 = x.astype(np.float64)
    n, d = x64.shape
    idx = rng.choice(n, size=k, replace=False)
    means = x64[idx] + 0.05 * rng.normal(size=(k, d)) * x64.std(axis=0)
    weights = rng.dirichlet(np.full(k, 10.0))
    cov = np.atleast_2d(np.cov(x64, rowvar=False)) * 0.5 + 1e-3 * np.eye(d)
    prec = np.linalg.inv(cov)
    if covariance_type == "full":
        precisions = np.stack([prec * (1.0 + 0.1 * j) for j in range(k)])
    elif covariance_type == "tied":
        precisions = prec
    elif covariance_type == "diag":
        precisions = np.stack([(1.0 + 0.1 * j) / np.diag(cov) for j in range(k)])
    else:
        precisions = np.array([(1.0 + 0.1 * j) / np.mean(np.diag(cov)) for j in range(k)])
    return weights, means, precisions


# (seed, n, d, k, separation): d in {1, 2, 3, 4, 5, 9}, separated and overlapping (each of
# d = 1-4 has its own transpose and fused loops); k = 10 takes the kernels' path for more
# than 8 components (the fused normalisation stops at 8), d = 9 the blocked loops for more
# than 4 features with d not a multiple of 4; n = 2999 leaves a partial last block; every
# K <= 8 has its own unrolled normalisation loop (K = 2, and K = 8 in float64, once fell out of
# vectorisation)
CASES = {
    "d1-overlap": (1, 2500, 1, 3, 1.5),
    "d2-separated": (2, 3000, 2, 4, 8.0),
    "d3-overlap": (3, 3000, 3, 3, 1.5),
    "d3-k2-overlap": (8, 2500, 3, 2, 2.0),
    "d2-k8-separated": (9, 4000, 2, 8, 6.0),
    "d4-overlap": (7, 2999, 4, 4, 2.0),
    "d5-separated": (4, 2000, 5, 3, 8.0),
    "d3-k10-separated": (5, 5000, 3, 10, 10.0),
    "d9-separated": (6, 3000, 9, 3, 8.0),
}


def tolerances(dtype):
    if dtype == np.float64:
        return dict(lb=1e-7, param=1e-6, proba=1e-6, score=1e-6, tie=1e-5)
    return dict(lb=1e-4, param=2e-3, proba=5e-4, score=1e-4, tie=1e-2)


def fit_pair(case: str, covariance_type: str, dtype, **extra):
    """Fit gmmfast and scikit-learn from the same initial parameters.

    The reference is scikit-learn in float64 on exactly the same values (a float32
    dataset is widened losslessly), so for float32 the comparison measures gmmfast's
    float32 error alone.  (scikit-learn's own float32 path is less accurate: its diag
    and tied covariances lose up to 1e-4 relative on these data.)
    """
    seed, n, d, k, sep = CASES[case]
    x = make_mixture_data(seed, n, d, k, sep).astype(dtype)
    w0, m0, p0 = make_inits(x, k, covariance_type, seed)
    kwargs = dict(
        n_components=k,
        covariance_type=covariance_type,
        weights_init=w0,
        means_init=m0,
        precisions_init=p0,
        init_params="random_from_data",  # overridden by the three inits; avoids a k-means
        max_iter=200,
        tol=1e-3,
        random_state=0,
    )
    kwargs.update(extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = GaussianMixture(**kwargs).fit(x)
        ref = SkGaussianMixture(**kwargs).fit(x.astype(np.float64))
    return x, ours, ref


def fit_sklearn_same_dtype(case: str, covariance_type: str, dtype):
    """scikit-learn on the data in its own dtype, initial parameters in that dtype too
    (scikit-learn keeps the dtype of the *_init arrays): what dtypes it returns."""
    seed, n, d, k, sep = CASES[case]
    x = make_mixture_data(seed, n, d, k, sep).astype(dtype)
    w0, m0, p0 = make_inits(x, k, covariance_type, seed)
    w0 = w0.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SkGaussianMixture(k, covariance_type=covariance_type, weights_init=w0 / w0.sum(),
                                 means_init=m0.astype(dtype), precisions_init=p0.astype(dtype),
                                 init_params="random_from_data", max_iter=200).fit(x)


_CACHE: dict = {}


def cached_pair(case, covariance_type, dtype):
    key = (case, covariance_type, np.dtype(dtype).name)
    if key not in _CACHE:
        _CACHE[key] = fit_pair(case, covariance_type, dtype)
    return _CACHE[key]


def assert_params_close(ours, ref, x, tol, what=""):
    scale = float(np.abs(x).max()) + 1.0
    for name in PARAM_ATTRS:
        a, b = np.asarray(getattr(ours, name), dtype=np.float64), np.asarray(getattr(ref, name), dtype=np.float64)
        assert a.shape == b.shape, f"{what}{name}: shape {a.shape} != scikit-learn's {b.shape}"
        # absolute floor relative to the size of the entries of this array
        atol = tol * max(1.0, float(np.abs(b).max())) if name != "means_" else tol * scale
        assert_allclose(a, b, rtol=tol, atol=atol, err_msg=f"{what}{name}")


# --------------------------------------------------------------------------- vs scikit-learn


def compared_pair(case, covariance_type, dtype):
    """Data, our fit, scikit-learn's fit, the tolerances and a label for messages."""
    x, ours, ref = cached_pair(case, covariance_type, dtype)
    return x, ours, ref, tolerances(dtype), f"[{case} {covariance_type} {np.dtype(dtype).name}] "


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_fit_matches_sklearn(case, covariance_type, dtype):
    x, ours, ref, tol, what = compared_pair(case, covariance_type, dtype)
    assert ours.converged_ == ref.converged_, what + "converged_"
    assert ours.n_iter_ == ref.n_iter_, what + f"n_iter_ {ours.n_iter_} != scikit-learn's {ref.n_iter_}"
    assert_allclose(float(ours.lower_bound_), float(ref.lower_bound_), rtol=tol["lb"], atol=tol["lb"],
                    err_msg=what + "lower_bound_")
    assert len(ours.lower_bounds_) == len(ref.lower_bounds_), what + "len(lower_bounds_)"
    assert_allclose(np.asarray(ours.lower_bounds_, dtype=np.float64), np.asarray(ref.lower_bounds_, dtype=np.float64),
                    rtol=tol["lb"], atol=tol["lb"], err_msg=what + "lower_bounds_")
    assert_params_close(ours, ref, x, tol["param"], what)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_predictions_match_sklearn(case, covariance_type, dtype):
    x, ours, ref, tol, what = compared_pair(case, covariance_type, dtype)

    p_ours, p_ref = ours.predict_proba(x), ref.predict_proba(x.astype(np.float64))
    assert p_ours.shape == p_ref.shape
    assert_allclose(p_ours, p_ref, rtol=0, atol=tol["proba"], err_msg=what + "predict_proba")

    lab_ours, lab_ref = ours.predict(x), ref.predict(x)
    assert lab_ours.shape == (x.shape[0],)
    assert np.issubdtype(lab_ours.dtype, np.integer)
    top2 = np.sort(p_ref, axis=1)[:, -2:] if p_ref.shape[1] > 1 else np.c_[np.zeros(len(x)), p_ref]
    clear = (top2[:, 1] - top2[:, 0]) > tol["tie"]
    assert clear.mean() > 0.5  # the test would be vacuous otherwise
    assert_array_equal(lab_ours[clear], lab_ref[clear], err_msg=what + "predict")

    x64 = x.astype(np.float64)
    s_ours, s_ref = ours.score_samples(x), ref.score_samples(x64)
    assert s_ours.shape == (x.shape[0],)
    assert_allclose(s_ours, s_ref, rtol=tol["score"], atol=tol["score"], err_msg=what + "score_samples")
    assert_allclose(ours.score(x), ref.score(x64), rtol=tol["score"], atol=tol["score"], err_msg=what + "score")
    assert_allclose(ours.bic(x), ref.bic(x64), rtol=tol["score"], err_msg=what + "bic")
    assert_allclose(ours.aic(x), ref.aic(x64), rtol=tol["score"], err_msg=what + "aic")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_fitted_attributes_like_sklearn(covariance_type, dtype):
    x, ours, _ = cached_pair("d3-overlap", covariance_type, dtype)
    ref = fit_sklearn_same_dtype("d3-overlap", covariance_type, dtype)
    for name in FITTED:
        assert hasattr(ours, name), f"missing fitted attribute {name}"
        a, b = getattr(ours, name), getattr(ref, name)
        assert np.shape(a) == np.shape(b), f"{name}: shape {np.shape(a)} != scikit-learn's {np.shape(b)}"
        if isinstance(b, np.ndarray) and b.ndim > 0:
            assert isinstance(a, np.ndarray), name
            assert a.dtype == b.dtype, f"{name}: dtype {a.dtype} != scikit-learn's {b.dtype}"
    for method in ("predict_proba", "score_samples"):
        a, b = getattr(ours, method)(x), getattr(ref, method)(x)
        assert a.dtype == b.dtype, f"{method}: dtype {a.dtype} != scikit-learn's {b.dtype}"
    assert isinstance(ours.n_iter_, (int, np.integer))
    assert isinstance(ours.converged_, (bool, np.bool_))
    assert ours.n_features_in_ == x.shape[1]
    assert np.ndim(ours.lower_bound_) == 0
    assert len(ours.lower_bounds_) == ours.n_iter_
    assert_allclose(float(ours.lower_bounds_[-1]), float(ours.lower_bound_))
    # precisions_ is the inverse of covariances_, and precisions_cholesky_ its factor
    if covariance_type in ("full", "tied"):
        cov = np.atleast_3d(ours.covariances_).reshape(-1, x.shape[1], x.shape[1]).astype(np.float64)
        prec = np.asarray(ours.precisions_, dtype=np.float64).reshape(cov.shape)
        chol = np.asarray(ours.precisions_cholesky_, dtype=np.float64).reshape(cov.shape)
        rtol = 1e-8 if dtype == np.float64 else 1e-3
        for c, p, l in zip(cov, prec, chol):
            assert_allclose(c @ p, np.eye(len(c)), atol=rtol * np.linalg.cond(c))
            assert_allclose(l @ l.T, p, rtol=rtol, atol=rtol * np.abs(p).max())
    else:
        rtol = 1e-10 if dtype == np.float64 else 1e-5
        assert_allclose(np.asarray(ours.precisions_, dtype=np.float64) * ours.covariances_, 1.0, rtol=rtol)
        assert_allclose(np.asarray(ours.precisions_cholesky_, dtype=np.float64) ** 2, ours.precisions_, rtol=rtol)


def full_covariances(model):
    """(K, d, d) covariance matrices of a fitted model, whatever its covariance_type."""
    k, d = model.means_.shape
    cov = model.covariances_
    return {"full": lambda: cov, "tied": lambda: np.repeat(cov[None], k, axis=0),
            "diag": lambda: np.stack([np.diag(c) for c in cov]),
            "spherical": lambda: np.stack([c * np.eye(d) for c in cov])}[model.covariance_type]()


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_score_samples_against_scipy(covariance_type):
    """Densities from the model's own parameters, evaluated by scipy (independent of both libraries)."""
    stats = pytest.importorskip("scipy.stats")
    special = pytest.importorskip("scipy.special")
    x, ours, _ = cached_pair("d3-overlap", covariance_type, np.float64)
    k, d = ours.means_.shape
    covs = full_covariances(ours)
    logp = np.stack(
        [np.log(ours.weights_[j]) + stats.multivariate_normal(ours.means_[j], covs[j]).logpdf(x) for j in range(k)],
        axis=1,
    )
    expected = special.logsumexp(logp, axis=1)
    assert_allclose(ours.score_samples(x), expected, rtol=1e-9, atol=1e-9)
    assert_allclose(ours.predict_proba(x), np.exp(logp - expected[:, None]), atol=1e-9)
    assert_allclose(ours.score(x), expected.mean(), rtol=1e-10)
    n_params = {"full": k * d * (d + 1) / 2, "tied": d * (d + 1) / 2, "diag": k * d, "spherical": k}[covariance_type]
    n_params += k * d + k - 1
    assert_allclose(ours.bic(x), -2 * expected.sum() + n_params * np.log(len(x)), rtol=1e-10)
    assert_allclose(ours.aic(x), -2 * expected.sum() + 2 * n_params, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_sample_statistics(covariance_type):
    x, ours, _ = cached_pair("d2-separated", covariance_type, np.float64)
    k, d = ours.means_.shape
    n = 40000
    xs, ys = ours.sample(n)
    assert xs.shape == (n, d)
    assert ys.shape == (n,)
    assert np.issubdtype(ys.dtype, np.integer)
    assert set(np.unique(ys)) <= set(range(k))
    assert np.all(np.isfinite(xs))
    # component counts: binomial, 6 sigma
    freq = np.bincount(ys, minlength=k) / n
    sigma = np.sqrt(ours.weights_ * (1 - ours.weights_) / n)
    assert np.all(np.abs(freq - ours.weights_) <= 6 * sigma + 1e-12), (freq, ours.weights_)
    # per-component empirical mean and covariance against the model's
    covs = full_covariances(ours)
    for j in range(k):
        xj = xs[ys == j]
        nj = len(xj)
        assert nj > 100
        sd = np.sqrt(np.diag(covs[j]))
        assert np.all(np.abs(xj.mean(axis=0) - ours.means_[j]) <= 6 * sd / np.sqrt(nj)), j
        emp = np.atleast_2d(np.cov(xj, rowvar=False))
        # sampling sd of a covariance entry <= sqrt(2/n) * sd_i * sd_j
        bound = 6 * np.sqrt(2.0 / nj) * np.outer(sd, sd)
        assert np.all(np.abs(emp - covs[j]) <= bound), (j, emp, covs[j])
    # sample(n) for the mixture as a whole: overall mean matches
    mix_mean = ours.weights_ @ ours.means_
    total_sd = np.sqrt(np.var(xs, axis=0))
    assert np.all(np.abs(xs.mean(axis=0) - mix_mean) <= 6 * total_sd / np.sqrt(n))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)
def test_sample_with_float32_model(dtype):
    x, ours, _ = cached_pair("d5-separated", "full", dtype)
    xs, ys = ours.sample(7)
    assert xs.shape == (7, x.shape[1]) and ys.shape == (7,)
    assert np.all(np.isfinite(xs))


# --------------------------------------------------------------------------- estimator protocol


def test_get_set_params_and_clone():
    base = pytest.importorskip("sklearn.base")
    gm = GaussianMixture(n_components=3, covariance_type="diag", tol=1e-4, n_threads=1, random_state=7)
    params = gm.get_params()
    expected = set(SkGaussianMixture().get_params()) | {"n_threads", "learning_decay", "learning_offset"}
    assert set(params) == expected
    assert params["n_components"] == 3 and params["covariance_type"] == "diag"
    assert params["n_threads"] == 1 and params["random_state"] == 7 and params["tol"] == 1e-4
    # defaults as scikit-learn's
    defaults = GaussianMixture().get_params()
    for name, value in SkGaussianMixture().get_params().items():
        assert defaults[name] == value, name
    assert defaults["n_threads"] is None

    assert gm.set_params(n_components=2, max_iter=5) is gm
    assert gm.n_components == 2 and gm.max_iter == 5
    with pytest.raises(ValueError):
        gm.set_params(no_such_parameter=1)

    means_init = np.zeros((2, 2))
    gm = GaussianMixture(n_components=2, means_init=means_init, n_threads=1)
    assert gm.means_init is means_init  # constructor stores, does not copy/validate
    twin = base.clone(gm)
    assert twin is not gm
    assert twin.get_params()["n_threads"] == 1
    assert not hasattr(twin, "means_")
    x = make_mixture_data(0, 300, 2, 2, 8.0)
    gm.fit(x)
    assert not hasattr(base.clone(gm), "means_")


def test_constructor_does_no_validation():
    # scikit-learn convention: bad parameters are reported by fit, not __init__
    gm = GaussianMixture(n_components=-3, covariance_type="bogus", n_threads=0)
    assert gm.n_components == -3
    with pytest.raises((ValueError, TypeError)):
        gm.fit(np.random.default_rng(0).normal(size=(20, 2)))


def test_fit_returns_self_and_fit_predict_equals_fit_predict():
    x = make_mixture_data(5, 1500, 3, 4, 3.0)
    for covariance_type in COV_TYPES:
        gm = GaussianMixture(n_components=4, covariance_type=covariance_type, random_state=3, max_iter=7)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert gm.fit(x) is gm
            labels_after_fit = gm.predict(x)
            labels = GaussianMixture(n_components=4, covariance_type=covariance_type, random_state=3,
                                     max_iter=7).fit_predict(x)
        assert_array_equal(labels, labels_after_fit, err_msg=covariance_type)


def test_fit_predict_uses_final_e_step():
    # after max_iter=1 the parameters moved since the last E-step: fit_predict must reflect the
    # final E-step (scikit-learn's guarantee fit_predict(X) == fit(X).predict(X))
    x = make_mixture_data(6, 2000, 2, 3, 2.0)
    w0, m0, p0 = make_inits(x, 3, "full", 6)
    kw = dict(n_components=3, weights_init=w0, means_init=m0, precisions_init=p0, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = GaussianMixture(**kw).fit_predict(x)
        b = GaussianMixture(**kw).fit(x).predict(x)
        c = SkGaussianMixture(**kw).fit_predict(x)
    assert_array_equal(a, b)
    assert_array_equal(a, c)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_warm_start_like_sklearn(covariance_type):
    x = make_mixture_data(7, 2000, 2, 3, 2.0)
    w0, m0, p0 = make_inits(x, 3, covariance_type, 7)
    kw = dict(n_components=3, covariance_type=covariance_type, weights_init=w0, means_init=m0,
              precisions_init=p0, max_iter=2, tol=0.0, warm_start=True, init_params="random_from_data")
    ours, ref = GaussianMixture(**kw), SkGaussianMixture(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(4):
            ours.fit(x)
            ref.fit(x)
            assert ours.n_iter_ == ref.n_iter_ == 2
            assert_allclose(ours.lower_bound_, ref.lower_bound_, rtol=1e-9)
            assert_params_close(ours, ref, x, 1e-7, "warm start: ")
        # 4 warm-started fits of 2 iterations == one fit of 8 iterations
        cold = GaussianMixture(**{**kw, "max_iter": 8, "warm_start": False}).fit(x)
    assert_params_close(ours, cold, x, 1e-7, "warm vs cold: ")


def test_warm_start_false_restarts():
    x = make_mixture_data(8, 1000, 2, 3, 4.0)
    w0, m0, p0 = make_inits(x, 3, "full", 8)
    kw = dict(n_components=3, weights_init=w0, means_init=m0, precisions_init=p0, max_iter=3, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(**kw)
        first = gm.fit(x).means_.copy()
        second = gm.fit(x).means_.copy()
    assert_allclose(first, second, rtol=1e-12)


def test_n_init_with_given_inits_equals_single_init():
    # every initialisation is the same when all three *_init are given (scikit-learn behaviour)
    x = make_mixture_data(9, 1500, 3, 3, 3.0)
    w0, m0, p0 = make_inits(x, 3, "full", 9)
    kw = dict(n_components=3, weights_init=w0, means_init=m0, precisions_init=p0, init_params="random_from_data")
    one = GaussianMixture(**kw, n_init=1).fit(x)
    three = GaussianMixture(**kw, n_init=3).fit(x)
    ref = SkGaussianMixture(**kw, n_init=3).fit(x)
    assert_allclose(three.lower_bound_, one.lower_bound_, rtol=1e-12)
    assert_allclose(three.means_, one.means_, rtol=1e-12)
    assert three.n_iter_ == one.n_iter_ == ref.n_iter_
    assert_allclose(three.lower_bound_, ref.lower_bound_, rtol=1e-7)


def test_n_init_keeps_best():
    # data with several local optima; random initialisations often land in poor ones
    rng = np.random.default_rng(10)
    centers = np.array([[0, 0], [6, 0], [0, 6], [6, 6], [3, 12], [12, 3]], float)
    x = np.concatenate([c + rng.normal(scale=0.7, size=(150, 2)) for c in centers])
    kw = dict(n_components=6, init_params="random_from_data", max_iter=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        singles = [GaussianMixture(**kw, random_state=s).fit(x).lower_bound_ for s in range(10)]
        best = GaussianMixture(**kw, n_init=10, random_state=0).fit(x)
    assert best.lower_bound_ >= np.median(singles) - 1e-9
    # the reported attributes belong to the kept initialisation
    assert_allclose(float(best.lower_bounds_[-1]), float(best.lower_bound_))
    assert best.n_iter_ == len(best.lower_bounds_)
    assert_allclose(best.score(x), best.lower_bound_, rtol=1e-3)
    # with this many tries the global optimum (one component per cluster) is found
    assert best.lower_bound_ >= max(singles) - 1e-3 * abs(max(singles))


def test_random_state_reproducible():
    x = make_mixture_data(11, 400, 2, 3, 3.0)
    for init in ("kmeans", "k-means++", "random", "random_from_data"):
        a = GaussianMixture(3, init_params=init, random_state=42).fit(x)
        b = GaussianMixture(3, init_params=init, random_state=42).fit(x)
        assert_array_equal(a.means_, b.means_, err_msg=init)
        assert np.all(np.isfinite(a.means_))


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data"])
def test_each_init_finds_separated_clusters(init_params):
    # separated clusters: these initialisations + EM recover the true means ('random' starts
    # every component at the global mean and may legitimately stay in a poor optimum)
    rng = np.random.default_rng(12)
    centers = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0]], float)
    x = np.concatenate([c + rng.normal(size=(400, 3)) for c in centers])
    gm = GaussianMixture(3, init_params=init_params, random_state=0, n_init=3).fit(x)
    found = gm.means_[np.argsort(gm.means_[:, 0] + 2 * gm.means_[:, 1])]
    assert_allclose(found, centers[[0, 1, 2]], atol=0.3)
    assert_allclose(np.sort(gm.weights_), [1 / 3] * 3, atol=0.02)


def _initial_model(covariance_type, init_params, x, k, **kw):
    """A model fitted with max_iter=0: its parameters are the initialisation's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: no EM iteration ran
        return GaussianMixture(k, covariance_type=covariance_type, init_params=init_params,
                               max_iter=0, **kw).fit(x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_kmeans_initial_parameters_match_numpy(covariance_type, dtype):
    # well separated clusters: the k-means partition is the true one, so the initial
    # parameters are each cluster's sample statistics (computed here in float64 NumPy)
    rng = np.random.default_rng(21)
    centers = np.array([[0, 0, 0], [30, 0, 0], [0, 30, 0]], float)
    scales = np.array([[1.0, 2.0, 0.5], [0.7, 0.7, 3.0], [2.0, 1.0, 1.0]])
    labels = rng.integers(0, 3, size=3000)
    x = (100.0 + centers[labels] + rng.normal(size=(3000, 3)) * scales[labels]).astype(dtype)
    reg = 1e-6
    gm = _initial_model(covariance_type, "kmeans", x, 3, reg_covar=reg, random_state=0)
    order = np.argsort(gm.means_[:, 0] + 2 * gm.means_[:, 1])
    x64 = x.astype(np.float64)
    parts = [x64[labels == j] for j in range(3)]
    weights = np.array([len(p) for p in parts]) / len(x64)
    means = np.stack([p.mean(axis=0) for p in parts])
    covs = np.stack([np.cov(p, rowvar=False, bias=True) for p in parts])
    if covariance_type == "full":
        expected = covs + reg * np.eye(3)
    elif covariance_type == "tied":
        expected = np.einsum("k,kij->ij", weights, covs) + reg * np.eye(3)
    elif covariance_type == "diag":
        expected = np.diagonal(covs, axis1=1, axis2=2) + reg
    else:
        expected = np.diagonal(covs, axis1=1, axis2=2).mean(axis=1) + reg
    rtol = 1e-9 if dtype == np.float64 else 1e-4
    assert_allclose(gm.weights_[order], weights, rtol=rtol)
    assert_allclose(gm.means_[order], means, rtol=rtol)
    cov = np.asarray(gm.covariances_, dtype=np.float64)
    assert_allclose(cov if covariance_type == "tied" else cov[order], expected, rtol=rtol * 10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_random_initial_parameters_match_sklearn(covariance_type, dtype):
    # 'random' draws the same soft responsibilities as scikit-learn from the same seed
    x = make_mixture_data(22, 2500, 3, 3, 4.0).astype(dtype)
    ours = _initial_model(covariance_type, "random", x, 3, random_state=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SkGaussianMixture(3, covariance_type=covariance_type, init_params="random",
                                max_iter=0, random_state=5).fit(x)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    assert_allclose(ours.weights_, ref.weights_, rtol=rtol)
    assert_allclose(ours.means_, ref.means_, rtol=rtol, atol=rtol * np.abs(ref.means_).max())
    assert_allclose(ours.covariances_, ref.covariances_, rtol=rtol * 10)


# --------------------------------------------------------------------------- convergence


def _convergence_warning_count(record):
    return sum(1 for w in record if type(w.message).__name__ == "ConvergenceWarning")


def test_convergence_warning_when_max_iter_too_small():
    x = make_mixture_data(13, 1000, 2, 3, 1.5)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        gm = GaussianMixture(3, max_iter=2, tol=1e-12, random_state=0).fit(x)
    assert not gm.converged_
    assert gm.n_iter_ == 2
    assert _convergence_warning_count(rec) == 1, [str(w.message) for w in rec]
    warning = next(w for w in rec if type(w.message).__name__ == "ConvergenceWarning")
    assert issubclass(warning.category, UserWarning)


def test_no_convergence_warning_when_converged():
    x = make_mixture_data(14, 1000, 2, 3, 8.0)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        gm = GaussianMixture(3, random_state=0).fit(x)
    assert gm.converged_
    assert _convergence_warning_count(rec) == 0, [str(w.message) for w in rec]


def test_max_iter_zero_like_sklearn():
    # max_iter=0: initialisation only, no ConvergenceWarning (scikit-learn's condition is max_iter > 0)
    # (without precisions_init: scikit-learn 1.9 fails on max_iter=0 with precisions_init)
    x = make_mixture_data(15, 500, 2, 2, 4.0)
    w0, m0, _ = make_inits(x, 2, "full", 15)
    kw = dict(n_components=2, weights_init=w0, means_init=m0, max_iter=0, random_state=0)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        gm = GaussianMixture(**kw).fit(x)
        ref = SkGaussianMixture(**kw).fit(x)
    assert _convergence_warning_count(rec) == 0
    assert gm.n_iter_ == ref.n_iter_ == 0
    assert gm.converged_ == ref.converged_
    assert_allclose(gm.means_, ref.means_)
    assert_allclose(gm.weights_, ref.weights_)


# --------------------------------------------------------------------------- dtypes and accuracy


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_float32_stays_float32_and_int_converted(covariance_type):
    x = make_mixture_data(16, 800, 3, 2, 6.0)
    x32 = x.astype(np.float32)
    gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(x32)
    ref = SkGaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(x32)
    for name in PARAM_ATTRS:
        assert getattr(gm, name).dtype == getattr(ref, name).dtype == np.float32, name
    assert gm.predict_proba(x32).dtype == ref.predict_proba(x32).dtype
    assert gm.score_samples(x32).dtype == ref.score_samples(x32).dtype

    xi = np.round(x * 10).astype(np.int32)
    gi = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(xi)
    ri = SkGaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(xi)
    for name in PARAM_ATTRS:
        assert getattr(gi, name).dtype == getattr(ri, name).dtype == np.float64, name
    # both found the same two (separated) clusters
    order_g, order_r = np.argsort(gi.means_[:, 0]), np.argsort(ri.means_[:, 0])
    assert_allclose(gi.means_[order_g], ri.means_[order_r], rtol=1e-6, atol=1e-6)
    # and a list input is accepted like an array
    gl = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(xi.tolist())
    assert_allclose(gl.means_, gi.means_)


def _numpy_gmm_full_reference(x64, resp_hard, reg_covar):
    """Per-cluster weights, means and covariances in float64 for a hard assignment."""
    k = resp_hard.max() + 1
    weights = np.bincount(resp_hard, minlength=k) / len(x64)
    means = np.stack([x64[resp_hard == j].mean(axis=0) for j in range(k)])
    covs = np.stack([np.atleast_2d(np.cov(x64[resp_hard == j], rowvar=False, bias=True)) for j in range(k)])
    covs = covs + reg_covar * np.eye(x64.shape[1])
    return weights, means, covs


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_float32_large_offset_covariances(covariance_type):
    """scikit-learn issue #30382: E[x^2] - mu^2 in float32 loses everything at a large offset.

    Data: two well separated clusters around 1e4 with noise of standard deviation ~0.1,
    stored in float32.  The reference is computed in float64 NumPy from the same float32
    values (the clusters are 100 standard deviations apart, so the responsibilities are
    exactly 0/1 and the EM fixed point is the per-cluster sample statistics).
    """
    rng = np.random.default_rng(17)
    d, n = 3, 4000
    offset = 1.0e4
    centers = np.array([[0.0, 0.0, 0.0], [15.0, -15.0, 15.0]])
    stds = np.array([[0.1, 0.2, 0.05], [0.15, 0.1, 0.3]])
    labels = rng.integers(0, 2, size=n)
    a = rng.normal(size=(2, d, d)) * 0.3 + np.eye(d)
    noise = np.einsum("nij,nj->ni", a[labels], rng.normal(size=(n, d)) * stds[labels])
    x32 = (offset + centers[labels] + noise).astype(np.float32)
    x64 = x32.astype(np.float64)  # exactly the float32 values
    reg = 1e-6
    w_ref, m_ref, c_ref = _numpy_gmm_full_reference(x64, labels, reg)
    if covariance_type == "tied":
        c_ref = np.einsum("k,kij->ij", w_ref, c_ref - reg * np.eye(d)) + reg * np.eye(d)
    elif covariance_type == "diag":
        c_ref = np.stack([np.diag(c) for c in c_ref])
    elif covariance_type == "spherical":
        c_ref = np.array([np.mean(np.diag(c)) for c in c_ref])

    gm = GaussianMixture(2, covariance_type=covariance_type, means_init=m_ref.astype(np.float32),
                         reg_covar=reg, random_state=0).fit(x32)
    assert gm.means_.dtype == np.float32
    assert np.all(np.isfinite(gm.covariances_))
    order = np.argsort(gm.means_[:, 0])
    assert_allclose(gm.weights_[order], w_ref, atol=1e-6)
    assert_allclose(gm.means_[order], m_ref, rtol=1e-6)
    cov = np.asarray(gm.covariances_, dtype=np.float64)
    if covariance_type != "tied":
        cov = cov[order]
    # variances are ~0.003-0.1; the cancellation gives errors of order 1e8 * 6e-8 = 6
    assert_allclose(cov, c_ref, rtol=2e-3, atol=2e-3 * np.abs(c_ref).max())
    assert np.all(np.isfinite(gm.score_samples(x32)))


def test_float32_large_offset_single_component():
    # K=1: the covariance is the sample covariance, exactly
    rng = np.random.default_rng(18)
    x32 = (1.0e4 + rng.normal(scale=[0.1, 0.3], size=(5000, 2))).astype(np.float32)
    x64 = x32.astype(np.float64)
    for covariance_type in COV_TYPES:
        gm = GaussianMixture(1, covariance_type=covariance_type).fit(x32)
        c = np.cov(x64, rowvar=False, bias=True) + 1e-6 * np.eye(2)
        expected = {"full": c[None], "tied": c, "diag": np.diag(c)[None], "spherical": np.array([np.diag(c).mean()])}
        assert_allclose(np.asarray(gm.covariances_, np.float64), expected[covariance_type], rtol=2e-3,
                        err_msg=covariance_type)


def test_package_exports():
    assert gmmfast.GaussianMixture is GaussianMixture
    assert GaussianMixture.__doc__ and len(GaussianMixture.__doc__) > 100


# --------------------------------------------------------------------------- input layouts and partial inits


@pytest.mark.parametrize("layout", ["fortran", "strided", "readonly", "bigendian", "list"])
def test_input_layouts_give_same_fit(layout):
    x = make_mixture_data(19, 1200, 3, 3, 4.0)
    w0, m0, p0 = make_inits(x, 3, "full", 19)
    kw = dict(n_components=3, weights_init=w0, means_init=m0, precisions_init=p0, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = GaussianMixture(**kw).fit(x)
    if layout == "fortran":
        xv = np.asfortranarray(x)
    elif layout == "strided":
        wide = np.zeros((x.shape[0] * 2, x.shape[1] * 2))
        wide[::2, ::2] = x
        xv = wide[::2, ::2]
    elif layout == "readonly":
        xv = x.copy()
        xv.flags.writeable = False
    elif layout == "bigendian":
        xv = x.astype(">f8")
    else:
        xv = x.tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = GaussianMixture(**kw).fit(xv)
    assert_params_close(other, base, x, 1e-12, f"{layout}: ")
    xa = np.asarray(xv)
    assert_allclose(other.predict_proba(xv), base.predict_proba(x), atol=1e-12)
    assert_allclose(other.score_samples(xv), base.score_samples(x), rtol=1e-12)
    if layout == "readonly":
        assert_array_equal(xa, x)  # input untouched


def test_input_not_modified():
    x = make_mixture_data(20, 800, 2, 2, 5.0)
    for dtype in (np.float64, np.float32):
        xd = x.astype(dtype)
        before = xd.copy()
        gm = GaussianMixture(2, random_state=0).fit(xd)
        gm.predict_proba(xd)
        gm.score_samples(xd)
        assert_array_equal(xd, before)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_means_init_only_reaches_sklearn_optimum(covariance_type):
    # only means_init given: the other initial parameters come from the (random) initial
    # responsibilities, but on separated clusters both libraries converge to the same optimum
    x = make_mixture_data(21, 3000, 2, 3, 10.0)
    _, m0, _ = make_inits(x, 3, covariance_type, 21)
    rng = np.random.default_rng(0)
    # start near the true cluster centres (found by a quick float64 Lloyd) so both converge to the same fixed point
    labels = np.argmin(((x[:, None] - m0[None]) ** 2).sum(2), axis=1)
    start = np.stack([x[labels == j].mean(0) for j in range(3)]) + 0.1 * rng.normal(size=(3, 2))
    kw = dict(n_components=3, covariance_type=covariance_type, means_init=start, tol=1e-8, max_iter=500,
              random_state=0)
    ours = GaussianMixture(**kw).fit(x)
    ref = SkGaussianMixture(**kw).fit(x)
    assert_allclose(ours.lower_bound_, ref.lower_bound_, rtol=1e-6)
    assert_params_close(ours, ref, x, 1e-4, "means_init only: ")


def test_predict_other_dtype_than_fit():
    x = make_mixture_data(22, 1000, 3, 2, 6.0)
    gm32 = GaussianMixture(2, random_state=0).fit(x.astype(np.float32))
    gm64 = GaussianMixture(2, random_state=0).fit(x)
    p = gm32.predict_proba(x)  # float64 input to a float32 model
    assert np.all(np.isfinite(p))
    assert_allclose(p, gm64.predict_proba(x), atol=1e-3)
    assert_array_equal(gm64.predict(x.astype(np.float32))[:50], gm64.predict(x)[:50])


def test_verbose_prints_progress(capsys):
    x = make_mixture_data(23, 500, 2, 2, 5.0)
    GaussianMixture(2, random_state=0, verbose=0).fit(x)
    assert capsys.readouterr().out == ""
    GaussianMixture(2, random_state=0, verbose=2, verbose_interval=1).fit(x)
    out = capsys.readouterr().out
    assert out.strip(), "verbose=2 printed nothing"
