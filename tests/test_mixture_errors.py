"""Bad input to gmmfast.GaussianMixture: each case a clear exception; degenerate data: finite results.

Messages are matched on a key word so that a reworded message still passes but
an unrelated exception (or a crash deep inside NumPy) does not.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gmmfast
from gmmfast import GaussianMixture

COV_TYPES = ("full", "tied", "diag", "spherical")


@pytest.fixture(scope="module")
def x():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(size=(60, 3)), rng.normal(size=(60, 3)) + 6])


@pytest.fixture(scope="module")
def fitted(x):
    return GaussianMixture(2, random_state=0).fit(x)


def _fit(x, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(**kw).fit(x)


# --------------------------------------------------------------------------- data


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_non_finite_data(x, bad, dtype):
    xb = x.astype(dtype)
    xb[7, 1] = bad
    with pytest.raises(ValueError, match=r"(?i)nan|inf|finite"):
        _fit(xb, n_components=2)


def test_non_finite_data_at_predict(fitted, x):
    xb = x.copy()
    xb[3, 0] = np.nan
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(ValueError, match=r"(?i)nan|inf|finite"):
            getattr(fitted, method)(xb)


@pytest.mark.parametrize("shape", [(0, 3), (0, 0), (5, 0)])
def test_empty(shape):
    with pytest.raises(ValueError, match=r"(?i)empty|0 sample|0 feature|zero|at least|minimum|n_samples|n_features"):
        _fit(np.zeros(shape), n_components=1)


def test_one_dimensional(x):
    with pytest.raises(ValueError, match=r"(?i)2-?d|dim|reshape"):
        _fit(x[:, 0], n_components=2)


def test_three_dimensional(x):
    with pytest.raises(ValueError, match=r"(?i)2-?d|dim|reshape"):
        _fit(x.reshape(20, 6, 3), n_components=2)


def test_scalar_input():
    with pytest.raises(ValueError, match=r"(?i)2-?d|dim|reshape|scalar"):
        _fit(np.float64(3.0), n_components=1)


def test_non_numeric_input():
    with pytest.raises((ValueError, TypeError), match=r"(?i)numeric|float|convert|dtype|string"):
        _fit(np.array([["a", "b"], ["c", "d"], ["e", "f"]]), n_components=1)


def test_complex_input(x):
    with pytest.raises((ValueError, TypeError), match=r"(?i)complex|real|dtype|float"):
        _fit(x.astype(np.complex128), n_components=2)


def test_fewer_samples_than_components(x):
    with pytest.raises(ValueError, match=r"n_components|n_samples"):
        _fit(x[:4], n_components=5)


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("k", [0, -1, -5])
def test_bad_n_components_value(x, k):
    with pytest.raises(ValueError, match="n_components"):
        _fit(x, n_components=k)


@pytest.mark.parametrize("k", [2.5, "3", None, True])
def test_bad_n_components_type(x, k):
    with pytest.raises((TypeError, ValueError), match="n_components"):
        _fit(x, n_components=k)


def test_unknown_covariance_type(x):
    with pytest.raises(ValueError, match="covariance_type"):
        _fit(x, n_components=2, covariance_type="banana")


def test_unknown_init_params(x):
    with pytest.raises(ValueError, match="init_params"):
        _fit(x, n_components=2, init_params="kmeans+++")


@pytest.mark.parametrize(
    "name, value",
    [("tol", -1.0), ("reg_covar", -1e-6), ("max_iter", -1), ("n_init", 0), ("max_iter", 2.5)],
)
def test_bad_numeric_parameters(x, name, value):
    with pytest.raises((ValueError, TypeError), match=name):
        _fit(x, n_components=2, **{name: value})


@pytest.mark.parametrize("n_threads", [0, -2, 1.5, "2", True])
def test_bad_n_threads(x, n_threads):
    with pytest.raises((ValueError, TypeError), match="n_threads"):
        _fit(x, n_components=2, n_threads=n_threads)


def test_good_n_threads_accepted(x):
    for n_threads in (None, -1, 1, 2, 64):
        gm = _fit(x, n_components=2, n_threads=n_threads, random_state=0)
        assert np.all(np.isfinite(gm.means_))


def test_weights_init_wrong_shape(x):
    with pytest.raises(ValueError, match=r"weights"):
        _fit(x, n_components=2, weights_init=np.array([0.2, 0.3, 0.5]))
    with pytest.raises(ValueError, match=r"weights"):
        _fit(x, n_components=2, weights_init=np.array([[0.5, 0.5]]))


def test_weights_init_not_summing_to_one(x):
    with pytest.raises(ValueError, match=r"(?i)sum|normali"):
        _fit(x, n_components=2, weights_init=np.array([0.2, 0.3]))


def test_weights_init_out_of_range(x):
    with pytest.raises(ValueError, match=r"weights"):
        _fit(x, n_components=2, weights_init=np.array([-0.5, 1.5]))


def test_means_init_wrong_shape(x):
    for bad in (np.zeros((3, 3)), np.zeros((2, 2)), np.zeros(6), np.zeros((2, 3, 1))):
        with pytest.raises(ValueError, match=r"means"):
            _fit(x, n_components=2, means_init=bad)


@pytest.mark.parametrize("name", ["weights_init", "means_init", "precisions_init"])
@pytest.mark.parametrize("dtype", [complex, object, "U3"])
def test_init_arrays_must_be_real(x, name, dtype):
    # a complex means_init lost its imaginary part with only NumPy's ComplexWarning
    good = {"weights_init": np.full(2, 0.5), "means_init": np.zeros((2, 3)),
            "precisions_init": np.stack([np.eye(3)] * 2)}[name]
    with pytest.raises(TypeError, match=f"{name} must hold real numbers"):
        _fit(x, n_components=2, **{name: good.astype(dtype)})


def test_means_init_non_finite(x):
    m = np.zeros((2, 3))
    m[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"(?i)nan|inf|finite"):
        _fit(x, n_components=2, means_init=m)


@pytest.mark.parametrize(
    "covariance_type, shape",
    [
        ("full", (2, 3)),
        ("full", (3, 3, 3)),
        ("full", (2, 2, 2)),
        ("tied", (2, 3, 3)),
        ("tied", (2, 2)),
        ("diag", (2, 3, 3)),
        ("diag", (3, 3)),
        ("diag", (2,)),
        ("spherical", (2, 3)),
        ("spherical", (3,)),
    ],
)
def test_precisions_init_wrong_shape(x, covariance_type, shape):
    with pytest.raises(ValueError, match=r"precision"):
        _fit(x, n_components=2, covariance_type=covariance_type, precisions_init=np.ones(shape))


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_precisions_init_not_positive_definite(x, covariance_type):
    d = x.shape[1]
    bad_matrix = np.eye(d)
    bad_matrix[1, 1] = -1.0  # symmetric, indefinite
    bad = {
        "full": np.stack([np.eye(d), bad_matrix]),
        "tied": bad_matrix,
        "diag": np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0]]),
        "spherical": np.array([1.0, -2.0]),
    }[covariance_type]
    with pytest.raises(ValueError, match=r"(?i)positive|definite"):
        _fit(x, n_components=2, covariance_type=covariance_type, precisions_init=bad)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_precisions_init_not_symmetric(x, covariance_type):
    m = np.eye(3)
    m[0, 1] = 0.5  # positive definite quadratic form, but not symmetric
    bad = np.stack([np.eye(3), m]) if covariance_type == "full" else m
    with pytest.raises(ValueError, match=r"(?i)symmetric|positive|definite"):
        _fit(x, n_components=2, covariance_type=covariance_type, precisions_init=bad)


# --------------------------------------------------------------------------- fitted state


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score", "bic", "aic"])
def test_not_fitted(x, method):
    gm = GaussianMixture(2)
    with pytest.raises(ValueError, match=r"(?i)fit"):
        getattr(gm, method)(x)
    with pytest.raises(AttributeError):
        getattr(gm, method)(x)


def test_sample_not_fitted():
    with pytest.raises(ValueError, match=r"(?i)fit"):
        GaussianMixture(2).sample(5)


def test_not_fitted_error_class(x):
    import gmmfast.exceptions as exc

    assert issubclass(exc.NotFittedError, ValueError)
    assert issubclass(exc.NotFittedError, AttributeError)
    with pytest.raises(exc.NotFittedError):
        GaussianMixture(2).predict(x)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score", "bic", "aic"])
def test_other_feature_count(fitted, x, method):
    with pytest.raises(ValueError, match=r"(?i)feature"):
        getattr(fitted, method)(x[:, :2])
    with pytest.raises(ValueError, match=r"(?i)feature"):
        getattr(fitted, method)(np.c_[x, x[:, :1]])


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score", "bic"])
@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "tied", "ful"])
def test_covariance_type_changed_after_the_fit_is_named(x, method, covariance_type):
    # set_params(covariance_type=...) after fit gave NumPy's "operands could not be broadcast"
    gm = GaussianMixture(2, random_state=0).fit(x)
    gm.set_params(covariance_type=covariance_type)
    with pytest.raises(ValueError, match="covariance_type"):
        getattr(gm, method)(x)
    gm.set_params(covariance_type="full")
    getattr(gm, method)(x)


def test_predict_one_dimensional_input(fitted, x):
    with pytest.raises(ValueError, match=r"(?i)2-?d|dim|reshape"):
        fitted.predict(x[0])


def test_predict_empty(fitted):
    with pytest.raises(ValueError, match=r"(?i)empty|0 sample|zero|at least|minimum|n_samples"):
        fitted.predict(np.zeros((0, 3)))


@pytest.mark.parametrize("n", [0, -1, 2.5])
def test_bad_sample_count(fitted, n):
    with pytest.raises((ValueError, TypeError), match=r"(?i)n_samples|sample"):
        fitted.sample(n)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_parameters_past_float32_are_refused_not_stored_as_inf(covariance_type):
    """A one-point component at 1.5e25 gets a variance (10 eps x)^2 ~ 1e21 in the float64 M-step, past
    float32's range (eps is float32's, as in scikit-learn): covariances_ was inf (found by the long fuzz
    profile).  The float64 fit, as the message advises, is finite."""
    X = np.array([[1.5474278e+25], [0.0]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)        # (no NumPy overflow warning either)
        with pytest.raises(ValueError, match="overflow float32.*pass X as float64"):
            GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    ok = _fit(X.astype(np.float64), n_components=2, covariance_type=covariance_type, random_state=0)
    assert all(np.isfinite(getattr(ok, a)).all() for a in ("means_", "covariances_", "precisions_cholesky_"))


def test_failed_refit_does_not_crash_later(x):
    # a failed fit must raise, not leave NaN state that a later call returns silently
    gm = _fit(x, n_components=2, random_state=0)
    xb = x.copy()
    xb[0, 0] = np.nan
    with pytest.raises(ValueError):
        gm.fit(xb)
    out = gm.predict_proba(x) if hasattr(gm, "means_") else None
    if out is not None:
        assert np.all(np.isfinite(out))


# --------------------------------------------------------------------------- degenerate data


def _assert_finite_model(gm, x):
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        value = np.asarray(getattr(gm, name))
        assert np.all(np.isfinite(value)), f"{name} not finite: {value}"
    assert np.isfinite(gm.lower_bound_)
    assert np.all(np.asarray(gm.weights_) >= 0)
    np.testing.assert_allclose(np.sum(gm.weights_), 1.0, rtol=1e-5)
    proba = gm.predict_proba(x)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-4)
    assert np.all(np.isfinite(gm.score_samples(x)))
    labels = gm.predict(x)
    assert labels.min() >= 0 and labels.max() < gm.n_components


def _fit_recording(x, **kw):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        gm = GaussianMixture(**kw).fit(x)
    return gm, rec


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("value", [0.0, 1.0e4])
def test_constant_dataset(covariance_type, dtype, value):
    x = np.full((200, 3), value, dtype=dtype)
    gm, rec = _fit_recording(x, n_components=3, covariance_type=covariance_type, random_state=0)
    _assert_finite_model(gm, x)
    # scikit-learn's nk = sum(resp) + 10 * eps (kept for exact agreement with it) pulls the mean of
    # a component holding ~1 sample towards 0 by 10 * eps / nk: 1.2e-6 relative in float32.
    np.testing.assert_allclose(gm.means_, value, rtol=1e-5, atol=1e-6)
    assert len(rec) >= 1, "a constant dataset with 3 components should be reported with a warning"


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_constant_dataset_single_component(covariance_type):
    x = np.full((50, 2), 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(1, covariance_type=covariance_type).fit(x)
    _assert_finite_model(gm, x)
    # covariance collapses to the regularisation (possibly escalated, never zero)
    cov = np.asarray(gm.covariances_)
    variances = {"full": lambda c: np.diagonal(c, axis1=1, axis2=2), "tied": np.diag}.get(covariance_type, lambda c: c)
    assert np.all(variances(cov) > 0)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data", "random"])
def test_duplicated_points(covariance_type, init_params):
    # 3 distinct points, each repeated: more components than distinct points
    base = np.array([[0.0, 0.0], [5.0, 1.0], [-2.0, 7.0]])
    x = np.repeat(base, 40, axis=0)
    gm, rec = _fit_recording(x, n_components=5, covariance_type=covariance_type, init_params=init_params,
                             random_state=0)
    _assert_finite_model(gm, x)
    assert len(rec) >= 1, "5 components on 3 distinct points should be reported with a warning"


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_more_components_than_distinct_points_converges_as_scikit_learn_does(covariance_type):
    # ratings-like data, 25 distinct points, K = 30: an empty component was re-seeded onto a point
    # another held, emptied again, and EM ran all 100 iterations with ~50 warnings, unconverged
    mixture = pytest.importorskip("sklearn.mixture")
    Z = np.random.RandomState(0).randint(1, 6, size=(2000, 2)).astype(float)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm = GaussianMixture(30, covariance_type=covariance_type, random_state=0).fit(Z)
    ref = mixture.GaussianMixture(30, covariance_type=covariance_type, random_state=0).fit(Z)
    assert gm.converged_ and gm.n_iter_ <= 10
    assert len(caught) <= 3
    assert gm.score(Z) == pytest.approx(ref.score(Z), abs=1e-3)
    _assert_finite_model(gm, Z)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_component_that_empties(covariance_type, dtype):
    # two tight clusters; two of four initial means are so far away that they get no responsibility
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(scale=0.1, size=(300, 2)), rng.normal(scale=0.1, size=(300, 2)) + 3])
    x = x.astype(dtype)
    means_init = np.array([[0.0, 0.0], [3.0, 3.0], [1e3, 1e3], [-1e3, 1e3]], dtype=dtype)
    gm, rec = _fit_recording(x, n_components=4, covariance_type=covariance_type, means_init=means_init,
                             random_state=0)
    _assert_finite_model(gm, x)
    assert len(rec) >= 1, "an emptied component should be reported with a warning"


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_more_components_than_clusters(covariance_type):
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(scale=0.01, size=(100, 3)) + c for c in (0.0, 10.0)])
    gm, _ = _fit_recording(x, n_components=8, covariance_type=covariance_type, random_state=0)
    _assert_finite_model(gm, x)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_n_samples_equals_n_components(covariance_type, dtype):
    x = np.array([[0.0, 1.0], [2.0, -1.0], [5.0, 5.0]], dtype=dtype)
    gm, _ = _fit_recording(x, n_components=3, covariance_type=covariance_type, random_state=0)
    _assert_finite_model(gm, x)


def test_single_feature_and_many_features():
    rng = np.random.default_rng(3)
    for d in (1, 40):
        x = rng.normal(size=(300, d))
        gm, _ = _fit_recording(x, n_components=2, random_state=0)
        _assert_finite_model(gm, x)


def test_huge_and_tiny_scale():
    rng = np.random.default_rng(4)
    for scale in (1e-8, 1e8):
        x = rng.normal(size=(400, 2)) * scale
        x[:200] += 10 * scale
        for dtype in (np.float64, np.float32):
            gm, _ = _fit_recording(x.astype(dtype), n_components=2, random_state=0)
            _assert_finite_model(gm, x.astype(dtype))


@pytest.mark.parametrize("method", ["fit", "fit_predict"])
def test_warnings_name_the_callers_line(method):
    # the degenerate-data and convergence warnings are raised at different depths inside
    # gmmfast; each must point at the user's call, not at the package
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(scale=0.1, size=(300, 2)), rng.normal(scale=0.1, size=(300, 2)) + 3])
    means_init = np.array([[0.0, 0.0], [3.0, 3.0], [1e3, 1e3], [-1e3, 1e3]])
    gm = GaussianMixture(n_components=4, means_init=means_init, max_iter=2, random_state=0)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        getattr(gm, method)(x)
    assert {type(w.message).__name__ for w in rec} >= {"DegenerateDataWarning", "ConvergenceWarning"}
    for w in rec:
        assert w.filename == __file__, (w.filename, str(w.message))


@pytest.mark.parametrize("params", [{"n_components": 2.0}, {"n_components": "3"}, {"warm_start": "yes"},
                                    {"covariance_type": "ful"}, {"n_components": 0}, {"random_state": "x"},
                                    {"n_threads": 1.5}])
def test_a_bad_parameter_is_caught_as_scikit_learn_users_catch_theirs(x, params):
    # scikit-learn's InvalidParameterError is a ValueError and a TypeError; a wrong type was a plain
    # TypeError here, so `except ValueError` (scikit-learn's advice) let n_components=2.0 through
    from gmmfast.exceptions import InvalidParameterError

    for catch in (ValueError, TypeError, InvalidParameterError):
        with pytest.raises(catch, match=next(iter(params))):
            GaussianMixture(**params).fit(x)
    image = np.zeros((10, 12, 3), np.uint8)
    for bad in ({"n_components": 2.0}, {"n_components": 2, "bogus": 1}):    # segment's own checks too
        with pytest.raises(InvalidParameterError):
            gmmfast.segment(image, **bad)


@pytest.mark.parametrize("method", ["score_samples", "predict_proba", "score", "bic", "aic", "predict"])
def test_scoring_data_whose_distances_overflow_is_refused_as_fit_refuses_it(x, method):
    # fit refused such data; scoring it gave -inf densities and NaN responsibilities (as scikit-learn
    # does), and predict label 0 (scikit-learn too) however far the row was from component 0
    gm = GaussianMixture(2, random_state=0).fit(x)
    with pytest.raises(ValueError, match="overflow float64"):
        getattr(gm, method)(x * 1e300)
    far = x.copy()
    far[-1] = 1e300
    with pytest.raises(ValueError, match="overflow float64"):
        getattr(gm, method)(far)
    assert np.isfinite(getattr(gm, method)(x)).all()


def test_statistics_of_data_whose_distances_overflow_are_refused(x):
    # e_step_statistics returned NaN counts and sums with a -inf log-likelihood, for m_step to take
    gm = GaussianMixture(2, random_state=0).fit(x)
    far = x.copy()
    far[-1] = 1e300
    with pytest.raises(ValueError, match="overflow float64"):
        gm.e_step_statistics(far)
    assert np.isfinite(gm.e_step_statistics(x).counts).all()


def test_n_components_changed_after_the_fit_is_refused_where_fitting_continues():
    # set_params(n_components=3) on a fitted model: partial_fit failed in a reshape, and a warm fit
    # returned 2 means; predict and the rest go on with the fitted components, as scikit-learn's do
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (60, 2)), rng.normal(6, 1, (60, 2))])
    gm = GaussianMixture(2, random_state=0).fit(X)
    labels = gm.predict(X)
    st = gm.e_step_statistics(X)
    gm.set_params(n_components=3)
    np.testing.assert_array_equal(gm.predict(X), labels)
    for call in (lambda: gm.partial_fit(X), lambda: gm.m_step(st), lambda: gm.set_params(warm_start=True).fit(X)):
        with pytest.raises(ValueError, match="n_components is 3, but the model was fitted with 2"):
            call()
    np.testing.assert_array_equal(gm.predict(X), labels)          # nothing was changed by the refusals
    gm.set_params(warm_start=False)
    assert gm.fit(X).means_.shape == (3, 2)                        # a fresh fit takes the new value
