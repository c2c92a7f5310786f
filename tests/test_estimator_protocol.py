"""The estimator protocol: scikit-learn's own checks, and the same protocol without scikit-learn.

The reference is scikit-learn itself: ``check_estimator`` run on
``sklearn.mixture.GaussianMixture`` gives the checks a mixture estimator is
expected to pass, and ours must pass every one of them.  Without
scikit-learn (hidden from the import system in a subprocess) the package must
import, fit and offer the same parameter protocol.
"""

from __future__ import annotations

import importlib.util
import inspect
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import gmmfast

ESTIMATORS = [
    lambda: gmmfast.GaussianMixture(),
    lambda: gmmfast.PixelGMM(),
    lambda: gmmfast.BackgroundSubtractorMOG2(),
    lambda: gmmfast.BackgroundSubtractorKNN(),
    lambda: gmmfast.BackgroundSubtractor(),
    lambda: gmmfast.GrabCut(),
]


def _check_results(estimator):
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, on_fail=None)
    return {r["check_name"]: r for r in results}


def test_check_estimator_passes_every_check_sklearns_own_mixture_passes():
    sk_mixture = pytest.importorskip("sklearn.mixture")
    theirs = _check_results(sk_mixture.GaussianMixture())
    ours = _check_results(gmmfast.GaussianMixture())
    expected = {name for name, r in theirs.items() if r["status"] == "passed"}
    assert len(expected) >= 35
    passed = {name for name, r in ours.items() if r["status"] == "passed"}
    failures = {name: str(ours[name]["exception"])[:300] for name in expected - passed if name in ours}
    assert not failures, failures
    assert expected <= passed


def test_pipeline_grid_search_clone_pickle_and_html():
    pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _, _ = gmmfast.data.sample_mixture(3000, random_state=1)
    pipe = make_pipeline(StandardScaler(), gmmfast.GaussianMixture(3, random_state=0)).fit(X)
    assert pipe.predict(X).shape == (3000,)
    search = GridSearchCV(gmmfast.GaussianMixture(random_state=0), {"n_components": [1, 2, 3]}, cv=3).fit(X)
    assert search.best_params_["n_components"] == 3          # the data has three components
    gm = gmmfast.GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    twin = clone(gm)
    assert twin.get_params() == gm.get_params() and not hasattr(twin, "means_")
    again = pickle.loads(pickle.dumps(gm))
    np.testing.assert_array_equal(again.predict(X), gm.predict(X))
    html = gm._repr_html_()
    assert "GaussianMixture" in html and "diag" in html


@pytest.mark.parametrize("make", ESTIMATORS)
def test_params_come_from_the_init_signature(make):
    est = make()
    sig = inspect.signature(type(est).__init__)
    names = [p for p in sig.parameters if p != "self"]
    params = est.get_params()
    assert sorted(params) == sorted(names)
    assert all(params[n] == sig.parameters[n].default for n in names)
    first = names[0]
    est.set_params(**{first: params[first]})
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(not_a_parameter=1)
    assert repr(est) == f"{type(est).__name__}()"


@pytest.mark.parametrize("make", ESTIMATORS)
def test_not_fitted_error_everywhere(make):
    est = make()
    method, args = {
        gmmfast.GaussianMixture: ("predict", (np.zeros((4, 3)),)),
        gmmfast.PixelGMM: ("predict", (np.zeros((8, 8), np.uint8),)),
        gmmfast.GrabCut: ("refine", ()),
    }.get(type(est), ("background_image", ()))
    with pytest.raises(gmmfast.NotFittedError):
        getattr(est, method)(*args)
    sk_exceptions = pytest.importorskip("sklearn.exceptions")
    with pytest.raises(sk_exceptions.NotFittedError):   # scikit-learn's handlers catch ours
        getattr(est, method)(*args)


def _offset_data():
    """Two tight clusters far from the origin: float32 keeps ~3 of their 7 significant digits."""
    rng = np.random.RandomState(0)
    return np.r_[rng.randn(3000, 2) * 0.01 + 5000.0, rng.randn(3000, 2) * 0.01 + 5000.05]


def test_a_model_set_by_hand_scores_as_scikit_learns(tmp_path):
    # scikit-learn's recipe: set weights_, means_, covariances_, precisions_cholesky_ and use the
    # model; here every method but sample raised AttributeError (no n_features_in_)
    mixture = pytest.importorskip("sklearn.mixture")
    X = _offset_data()
    ref = mixture.GaussianMixture(2, random_state=0).fit(X)
    ours = gmmfast.GaussianMixture(2)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        setattr(ours, name, getattr(ref, name))
    # a float64 model asked about float32 data answers in float64, as scikit-learn's does (it
    # computed in float32: 0.09 off in log-likelihood here).  The exact reference is the density
    # in long double; scikit-learn's own X @ P - mu @ P is 5e-7 off it on the float32 copy
    for data in (X, X.astype(np.float32)):
        np.testing.assert_array_equal(ours.predict(data), ref.predict(data))
        np.testing.assert_allclose(ours.predict_proba(data), ref.predict_proba(data), atol=1e-6)
        np.testing.assert_allclose(ours.score_samples(data), _exact_log_density(ref, data), rtol=1e-12)
        assert ours.score_samples(data).dtype == np.float64
        n_parameters = 1 + 2 * 2 + 2 * 3             # weights, means, full 2 x 2 covariances
        exact_bic = -2 * _exact_log_density(ref, data).sum() + n_parameters * np.log(len(data))
        assert ours.bic(data) == pytest.approx(exact_bic, rel=1e-12)
    np.save(tmp_path / "x32.npy", X.astype(np.float32))         # read in chunks, converted as read
    np.testing.assert_allclose(ours.score_samples(tmp_path / "x32.npy"),
                               _exact_log_density(ref, X.astype(np.float32)), rtol=1e-12)
    # and it takes EM steps: one m_step is scikit-learn's warm-started iteration from the same model
    ours.m_step(ours.e_step_statistics(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.set_params(warm_start=True, max_iter=1).fit(X)
    np.testing.assert_allclose(ours.means_, ref.means_, rtol=1e-10)
    np.testing.assert_allclose(ours.covariances_, ref.covariances_, rtol=1e-6)
    assert ours.n_iter_ == 1
    ours.partial_fit(X[:500])


def _exact_log_density(model, X):
    """log p(x) of a full-covariance mixture, in long double."""
    X = X.astype(np.longdouble)
    logs = []
    for w, mu, P in zip(model.weights_, model.means_, model.precisions_cholesky_):
        P = P.astype(np.longdouble)
        y = (X - mu.astype(np.longdouble)) @ P
        logs.append(np.log(np.longdouble(w)) - 0.5 * (y * y).sum(axis=1) - 0.5 * X.shape[1] * np.log(2 * np.pi)
                    + np.log(np.diag(P)).sum())
    logs = np.array(logs)
    top = logs.max(axis=0)
    return (top + np.log(np.exp(logs - top).sum(axis=0))).astype(np.float64)


def test_a_float64_model_stays_float64_on_float32_data_wherever_it_is_used():
    # partial_fit and a warm-started fit turned a float64 model into a float32 one, and a warm
    # fit's iteration then differed from e_step_statistics + m_step (2.3e-4 in the means here)
    X = _offset_data()
    X32 = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gmmfast.ConvergenceWarning)
        streamed = gmmfast.GaussianMixture(2, random_state=0).fit(X).partial_fit(X32)
        warm = gmmfast.GaussianMixture(2, random_state=0, max_iter=1, warm_start=True).fit(X).fit(X32)
        by_hand = gmmfast.GaussianMixture(2, random_state=0, max_iter=1).fit(X)
    by_hand.m_step(by_hand.e_step_statistics(X32))
    assert streamed.means_.dtype == warm.means_.dtype == by_hand.means_.dtype == np.float64
    np.testing.assert_allclose(warm.means_, by_hand.means_, rtol=1e-12)
    assert warm.lower_bound_ == pytest.approx(by_hand.lower_bound_, rel=1e-12)


def test_scikit_learns_verbose_and_warning_filters_work():
    sk_exceptions = pytest.importorskip("sklearn.exceptions")
    X = _offset_data()
    gmmfast.GaussianMixture(2, verbose=True, random_state=0).fit(X)        # was a TypeError
    with warnings.catch_warnings():
        warnings.simplefilter("error", sk_exceptions.ConvergenceWarning)   # scikit-learn's filter
        with pytest.raises(sk_exceptions.ConvergenceWarning):
            gmmfast.GaussianMixture(2, max_iter=1, random_state=0).fit(X)
    with pytest.warns(gmmfast.ConvergenceWarning):                        # and ours
        gmmfast.GaussianMixture(2, max_iter=1, random_state=0).fit(X)


_WITHOUT_SKLEARN = textwrap.dedent("""
    import importlib.abc, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "sklearn" or name.startswith("sklearn."):
                raise ImportError("scikit-learn is hidden for this test")
            return None

    sys.meta_path.insert(0, Block())
    import pickle
    import numpy as np
    import gmmfast
    from gmmfast._base import SKLEARN_AVAILABLE
    assert not SKLEARN_AVAILABLE
    X, _, _ = gmmfast.data.sample_mixture(5000, random_state=0)
    gm = gmmfast.GaussianMixture(3, random_state=0)
    assert repr(gm) == "GaussianMixture(n_components=3, random_state=0)", repr(gm)
    assert gm.get_params()["n_components"] == 3
    gm.set_params(covariance_type="diag")
    try:
        gm.set_params(bogus=1)
    except ValueError as exc:
        assert "Invalid parameter" in str(exc)
    else:
        raise AssertionError("set_params accepted an unknown name")
    try:
        gm.predict(X)
    except gmmfast.NotFittedError:
        pass
    else:
        raise AssertionError("predict before fit did not raise")
    gm.fit(X)
    assert gm.means_.shape == (3, 3) and gm.converged_
    assert "<pre>" in gm._repr_html_()
    assert np.array_equal(pickle.loads(pickle.dumps(gm)).predict(X), gm.predict(X))
    seg = gmmfast.segment(gmmfast.data.sample_image().image, 3)
    assert seg.labels.shape == (320, 480)
    print("ok")
""")


def test_package_works_without_scikit_learn():
    out = subprocess.run([sys.executable, "-c", _WITHOUT_SKLEARN], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


def test_import_does_not_load_scikit_learn_or_the_estimators():
    code = ("import sys, gmmfast; print(sorted(m for m in ('sklearn', 'gmmfast._mixture', "
            "'gmmfast._segmentation', 'gmmfast.video') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    code = "import gmmfast; print(gmmfast.video.read_video.__name__, gmmfast.io.read_image.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["read_video", "read_image"], out.stderr
    # the README's gmmfast.web.create_app() after a plain import gmmfast (was an AttributeError)
    if importlib.util.find_spec("flask") is not None:
        code = "import gmmfast; print(gmmfast.web.create_app.__name__, 'web' in dir(gmmfast))"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert out.stdout.split() == ["create_app", "True"], out.stderr


def test_scikit_learn_sees_a_fitted_grabcut_as_fitted():
    # check_is_fitted raised NotFittedError on a fitted GrabCut (its state is not in attributes ending
    # in "_"), and the notebook display said "Not fitted"
    validation = pytest.importorskip("sklearn.utils.validation")
    img = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    cut = gmmfast.GrabCut(max_iter=1)
    with pytest.raises(validation.NotFittedError):
        validation.check_is_fitted(cut)
    validation.check_is_fitted(cut.fit(img, rect=(5, 5, 25, 18)))


def test_the_top_level_offers_every_public_name_and_only_those():
    # InvalidParameterError (raised everywhere) and ColourModel (GrabCutResult.background_model's
    # type) were not importable from gmmfast; dir() listed the module's own helpers (Any, importlib)
    for name in gmmfast.__all__:
        assert getattr(gmmfast, name) is not None, name
    assert gmmfast.InvalidParameterError is gmmfast.exceptions.InvalidParameterError
    public = [n for n in dir(gmmfast) if not n.startswith("__")]
    assert {"ColourModel", "InvalidParameterError", "web"} <= set(public)
    assert not {"Any", "TYPE_CHECKING", "annotations", "importlib"} & set(public)


def test_grabcut_results_are_frozen_values():
    import dataclasses

    img = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    res = gmmfast.grabcut(img, rect=(5, 5, 25, 18), max_iter=1)
    assert isinstance(res.background_model, gmmfast.ColourModel)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.mask = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.background_model.weights = None
    assert res == res and res != gmmfast.grabcut(img, rect=(5, 5, 25, 18), max_iter=1)   # no array ==
