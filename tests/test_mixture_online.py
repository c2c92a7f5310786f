"""GaussianMixture.partial_fit: stepwise (online) EM on the E-step statistics.

The step is checked against the same recursion written with the public
statistics API (EMStatistics, m_step), the starting statistics S_0 against
the parameters they must reproduce, and the result against batch EM on the
issue's stream: 10M samples of a known mixture seen once in batches of 10k,
whose held-out log-likelihood per sample must be within 1 % of batch EM's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from gmmfast import EMStatistics, GaussianMixture

COV_TYPES = ("full", "tied", "diag", "spherical")


def known_mixture(seed=0, d=3, k=5):
    """A sampler of a fixed Gaussian mixture (overlapping components, unequal weights)."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=3.0, size=(k, d))
    chol = []
    for _ in range(k):
        a = rng.normal(size=(d, d)) / np.sqrt(d)
        chol.append(np.linalg.cholesky(a @ a.T + 0.3 * np.eye(d)))
    chol = np.array(chol)
    weights = rng.dirichlet(np.full(k, 3.0))

    def draw(n, r):
        z = r.choice(k, size=n, p=weights)
        return (means[z] + np.einsum("nij,nj->ni", chol[z], r.standard_normal((n, d)))).astype(np.float32)

    return draw


@pytest.mark.parametrize("n_batches", [pytest.param(1000, marks=pytest.mark.slow, id="10M"),
                                       pytest.param(200, id="2M")])
def test_stream_seen_once_is_within_1_percent_of_batch_em(n_batches):
    """The issue's stream is 10M samples (GMMFAST_SLOW_TESTS=1, ~2.5 min); the default run streams 2M."""
    draw = known_mixture()
    rng = np.random.default_rng(42)
    held_out = draw(200_000, rng)
    online = GaussianMixture(5, random_state=0)
    seen = []
    for i in range(n_batches):                  # batches of 10k samples, each seen once
        batch = draw(10_000, rng)
        online.partial_fit(batch)
        seen.append(batch)
    assert online.n_steps_ == n_batches and online.n_samples_seen_ == 10_000 * n_batches
    batch_em = GaussianMixture(5, random_state=0, tol=1e-4, max_iter=500).fit(np.concatenate(seen))
    ref = batch_em.score(held_out)
    gap = (ref - online.score(held_out)) / abs(ref)
    assert gap < 0.01, f"online is {100 * gap:.3f} % below batch EM"


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_step_is_the_documented_recursion(covariance_type):
    """kappa = 1, tau0 = 0: eta_1 = 1, eta_2 = 1/2, so S_2 is the mean of the two batches' statistics."""
    draw = known_mixture(seed=1)
    rng = np.random.default_rng(0)
    b0, b1 = draw(3000, rng), draw(2000, rng)
    gm = GaussianMixture(5, covariance_type=covariance_type, random_state=0, learning_decay=1.0,
                         learning_offset=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.partial_fit(b0)                      # initialise on b0, then step 1 on b0 (eta = 1)
        ref = GaussianMixture(5, covariance_type=covariance_type, random_state=0, max_iter=0).fit(b0)
    s1 = ref.e_step_statistics(b0)
    ref.m_step(s1)
    for name in ("weights_", "means_", "covariances_"):
        assert_allclose(getattr(gm, name), getattr(ref, name), rtol=1e-6, atol=1e-6)
    gm.partial_fit(b1)                          # eta_2 = 1/2
    s2 = ref.e_step_statistics(b1)
    mean = 0.5 * s1.recentred(s2.reference).sums / s1.n_samples + 0.5 * s2.sums / s2.n_samples
    ref.m_step(EMStatistics(covariance_type, s2.reference, mean * s2.n_samples, s2.log_likelihood,
                            s2.n_samples))
    for name in ("weights_", "means_", "covariances_"):
        assert_allclose(getattr(gm, name), getattr(ref, name), rtol=1e-5, atol=1e-5)
    assert gm.lower_bound_ == pytest.approx(s2.lower_bound, rel=1e-6)
    assert gm.n_steps_ == 2 and gm.n_samples_seen_ == 5000


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_starting_statistics_reproduce_the_parameters(covariance_type):
    """S_0 (from a fitted model) fed to the M-step gives back the model's parameters."""
    X = known_mixture(seed=2)(20_000, np.random.default_rng(1)).astype(np.float64)
    gm = GaussianMixture(5, covariance_type=covariance_type, random_state=0, max_iter=20).fit(X)
    s0 = gm._parameter_statistics()
    n = 1000
    twin = GaussianMixture(5, covariance_type=covariance_type, random_state=0, max_iter=0).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        setattr(twin, name, getattr(gm, name).copy())
    twin.m_step(EMStatistics(covariance_type, gm.means_, s0.sums * n, -1.0 * n, n))
    for name in ("weights_", "means_", "covariances_"):
        assert_allclose(getattr(twin, name), getattr(gm, name), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_partial_fit_continues_a_fitted_model_with_its_weight(covariance_type):
    """A model fitted on n rows counts as n / m steps of m-row batches: with kappa = 1 a
    batch of m rows then has eta = m / (n + m), and the step is one EM step on X and the
    batch pooled, from the fitted model -- scikit-learn's EM with max_iter=1 started from
    the fitted parameters is the reference.  (It used to have eta = 1: the batch replaced
    the fitted model.)"""
    sklearn = pytest.importorskip("sklearn.mixture")
    draw = known_mixture(seed=3)
    rng = np.random.default_rng(2)
    X = draw(20_000, rng).astype(np.float64)
    batch = X[:50] + 0.5                       # a small, shifted batch
    gm = GaussianMixture(5, covariance_type=covariance_type, random_state=0, tol=1e-10, max_iter=2000,
                         reg_covar=1e-6, learning_decay=1.0).fit(X)
    assert gm.converged_ and gm.n_samples_seen_ == 20_000
    ref = sklearn.GaussianMixture(5, covariance_type=covariance_type, max_iter=1, reg_covar=1e-6,
                                  weights_init=gm.weights_, means_init=gm.means_,
                                  precisions_init=gm.precisions_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # scikit-learn: one iteration does not converge
        ref.fit(np.concatenate([X, batch]))
    fitted = {name: getattr(gm, name).copy() for name in ("weights_", "means_", "covariances_")}
    gm.partial_fit(batch)
    assert gm.n_steps_ == 20_000 // 50 + 1 and gm.n_samples_seen_ == 20_050
    # tolerance: the fit stops near, not at, EM's fixed point (relative differences ~1e-5);
    # the batch moves the parameters by 5e-4 or more, 20 times the tolerance
    for name in ("weights_", "means_", "covariances_"):
        assert_allclose(getattr(gm, name), getattr(ref, name), rtol=1e-4, atol=2e-5, err_msg=name)
    assert max(np.abs(getattr(gm, n) - fitted[n]).max() for n in fitted) > 5e-4


def test_m_step_then_partial_fit_continues_and_fit_restarts():
    draw = known_mixture(seed=3)
    rng = np.random.default_rng(2)
    X = draw(20_000, rng)
    gm = GaussianMixture(5, random_state=0, max_iter=0).fit(X)
    assert gm.n_samples_seen_ == 0                      # only initialised: no weight
    gm.m_step(gm.e_step_statistics(X))
    assert gm.n_samples_seen_ == 20_000
    gm.partial_fit(draw(10_000, rng))
    assert gm.n_steps_ == 3 and gm.converged_ is False
    gm.set_params(max_iter=100).fit(X)
    assert gm._online is None and gm.n_steps_ == 0
    gm.partial_fit(X[:5000])
    assert gm.n_steps_ == 5 and gm.n_samples_seen_ == 25_000


def test_stream_saved_and_loaded_continues_as_it_would_have(tmp_path):
    draw = known_mixture(seed=4)
    rng = np.random.default_rng(3)
    batches = [draw(2000, rng) for _ in range(6)]
    a = GaussianMixture(5, random_state=0)
    for b in batches[:4]:
        a.partial_fit(b)
    a.save(tmp_path / "stream.npz")
    b = GaussianMixture.load(tmp_path / "stream.npz")
    for batch in batches[4:]:
        a.partial_fit(batch)
        b.partial_fit(batch)
    assert b.n_steps_ == a.n_steps_ == 6
    for name in ("weights_", "means_", "covariances_"):
        assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-12, err_msg=name)


def test_small_later_batches_warn():
    from gmmfast import DegenerateDataWarning

    X = known_mixture()(1000, np.random.default_rng(0))
    gm = GaussianMixture(5, random_state=0).partial_fit(X)
    with pytest.warns(DegenerateDataWarning, match="fewer than n_components") as caught:
        gm.partial_fit(X[:2])
    assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm.partial_fit(X[:5])
    # the first partial_fit of a fitted model continues it: a small batch moves it as any later one
    fitted = GaussianMixture(5, random_state=0).fit(X)
    with pytest.warns(DegenerateDataWarning, match="fewer than n_components"):
        fitted.partial_fit(X[:2])


def test_partial_fit_errors():
    X = known_mixture()(1000, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixture(5).partial_fit(X[:3])
    gm = GaussianMixture(5).partial_fit(X)
    with pytest.raises(ValueError, match="features"):
        gm.partial_fit(X[:, :2])
    for bad in (0.5, 1.5):
        with pytest.raises(ValueError, match="learning_decay"):
            GaussianMixture(2, learning_decay=bad).partial_fit(X)
    with pytest.raises(ValueError, match="learning_offset"):
        GaussianMixture(2, learning_offset=-1).partial_fit(X)
