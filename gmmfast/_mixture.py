"""Gaussian mixture models fitted by EM, compatible with scikit-learn's.

The arithmetic runs in the Cython kernels of ``src/_gmm.pyx``: one fused pass
per EM iteration computes the responsibilities and the M-step statistics
chunk by chunk (so a fit needs the data plus O(chunk * K) memory), and the
M-step kernel turns the statistics into the next parameters.  This module
validates input, repairs what the M-step cannot (an empty component is
re-seeded, a covariance that is not positive definite regularised) and
reproduces scikit-learn's fitting protocol: initialisation, convergence test,
``n_init``, ``warm_start``, the final E-step and the ``ConvergenceWarning``.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import _gaussian as gauss
from ._base import Estimator, _ConvergenceWarning, exclusive
from ._dispatch import load
from ._em_data import (Chunked, InMemory, check_output, init_sample_rows, is_chunked_input, is_dask_array,
                       open_samples, output_spec, overflow_error)
from ._kmeans import _lloyd, kmeans_plusplus
from ._memory import check_fits_in_memory
from ._statistics import EMStatistics, model_key
from ._threads import threads_for
from ._validation import (check_bool, check_choice, check_feature_names, check_int, check_lazy_samples,
                          check_n_threads, check_out, check_random_state, check_real, check_real_array, check_samples,
                          check_unchanged_since_fit, user_stacklevel, RandomStateLike, SamplesLike)
from .exceptions import DegenerateDataWarning

_k = load("_gmm")

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
# the kernels' statistics layout per covariance type (tied pools full statistics)
_STATS_KIND = {"full": _k.FULL, "tied": _k.FULL, "diag": _k.DIAG, "spherical": _k.SPHERICAL}
_KERNEL_KIND = {"full": _k.FULL, "tied": _k.TIED, "diag": _k.DIAG, "spherical": _k.SPHERICAL}


def _distinct_draws(rng, n: int, k: int) -> np.ndarray:
    """k distinct row indices in [0, n) (repeats only when k > n), in O(k) memory.

    ``rng.choice(n, k, replace=False)`` permutes all n indices: 80 MB at n = 10M.
    """
    picks: list[int] = []
    while len(picks) < k:
        i = int(rng.randint(n))
        if i not in picks or len(picks) >= n:
            picks.append(i)
    return np.array(picks, dtype=np.intp)


def _kmeans_kernels():
    return load("_kmeans")


def _distinct_rows_upto(X: np.ndarray, k: int) -> int:
    """Number of distinct rows of X, counted up to k (cheap when X is not degenerate)."""
    head = X[: max(4 * k, 1024)]
    found = np.unique(head, axis=0)
    if len(found) >= k or len(head) == len(X):
        return min(len(found), k)
    # Few distinct rows at the start: look for new ones in all of X, one at a time.
    distinct = list(found)
    while len(distinct) < k:
        new = np.ones(len(X), dtype=bool)
        for row in distinct:
            new &= np.any(X != row, axis=1)
        idx = np.flatnonzero(new)
        if len(idx) == 0:
            break
        distinct.append(X[idx[0]])
    return len(distinct)


@dataclass
class _Params:
    """Mixture parameters in float64, scikit-learn's shapes."""

    weights: np.ndarray
    means: np.ndarray
    cov: np.ndarray
    pchol: np.ndarray

    @classmethod
    def empty(cls, covariance_type: str, K: int, d: int) -> _Params:
        shape = gauss.cov_shape(covariance_type, K, d)
        return cls(np.empty(K), np.empty((K, d)), np.empty(shape), np.empty(shape))


@dataclass
class _Run:
    """Outcome of EM from one initialisation."""

    params: _Params
    lower_bound: float = -np.inf
    lower_bounds: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False


_FITTED_ARRAYS = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def _fitted_covariance_types(K: int, d: int, pchol_shape: tuple) -> list[str]:
    """The covariance types whose precision factors have ``pchol_shape`` for K components of d
    features (two when K = d: tied and diag)."""
    return [ct for ct in gauss.COVARIANCE_TYPES if tuple(pchol_shape) == gauss.cov_shape(ct, K, d)]


def _check_loaded_model(state: dict, covariance_type: str) -> None:
    """Refuse a model file's fitted arrays unless they make a model (shapes that agree with each
    other, finite values, weights summing to 1, a positive diagonal in each precision factor): an
    edited or foreign file fails here, not at the first predict.  Parameters changed after the
    fit (``set_params``) are kept as saved, as scikit-learn keeps them: ``n_components`` may differ
    from the fitted K, and a ``covariance_type`` changed since is refused when the model is used."""
    present = [name for name in _FITTED_ARRAYS if name in state]
    if not present:
        return                                   # an unfitted model
    if len(present) < len(_FITTED_ARRAYS):
        raise ValueError(f"the model file lacks {', '.join(sorted(set(_FITTED_ARRAYS) - set(present)))}.")
    arrays = {name: np.asarray(state[name]) for name in _FITTED_ARRAYS}
    if any(a.dtype.kind != "f" for a in arrays.values()) or arrays["means_"].ndim != 2:
        raise ValueError("the model file's arrays are not a Gaussian mixture (means_ must be a (K, d) float array).")
    K, d = arrays["means_"].shape
    fitted = _fitted_covariance_types(K, d, arrays["precisions_cholesky_"].shape)
    ct = covariance_type if covariance_type in fitted or not fitted else fitted[0]
    expected = {"weights_": (K,), "means_": (K, d), "covariances_": gauss.cov_shape(ct, K, d),
                "precisions_cholesky_": gauss.cov_shape(ct, K, d)}
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            raise ValueError(f"the model file's {name} has shape {arrays[name].shape}, not {shape} "
                             f"({K} components, {d} features, covariance_type={ct!r}).")
        if not np.isfinite(arrays[name]).all():
            raise ValueError(f"the model file's {name} contains NaN or infinite values.")
    if state.get("n_features_in_", d) != d:
        raise ValueError(f"the model file's n_features_in_ is {state['n_features_in_']!r}, but its means_ "
                         f"have {d} features.")
    w = arrays["weights_"]
    if (w < 0).any() or abs(float(w.sum(dtype=np.float64)) - 1.0) > 1e-4:
        raise ValueError("the model file's weights_ must be >= 0 and sum to 1.")
    pchol = arrays["precisions_cholesky_"]
    diagonal = pchol if ct in ("diag", "spherical") else np.diagonal(pchol, axis1=-2, axis2=-1)
    if not (diagonal > 0).all():
        raise ValueError("the model file's precisions_cholesky_ are not Cholesky factors (a diagonal entry is <= 0).")


class GaussianMixture(Estimator):
    """Gaussian mixture model fitted by expectation-maximisation.

    A drop-in replacement for ``sklearn.mixture.GaussianMixture``: the same
    parameters, fitted attributes and methods, plus ``n_threads`` and, for
    :meth:`partial_fit`, ``learning_decay`` and ``learning_offset``.  float32
    input is computed in float32 (statistics accumulate in float64), float64
    in float64, other numbers are converted to float64; a model fitted in
    float64 computes float32 input in float64 (its precision kept, as
    scikit-learn's); :meth:`sample` returns float64, as scikit-learn's does.

    Parameters
    ----------
    n_components : int, default 1
        Number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default 'full'
        'full': each component has its own covariance matrix; 'tied': all share
        one; 'diag': diagonal covariance per component; 'spherical': one
        variance per component.
    tol : float, default 1e-3
        Convergence threshold on the change of the per-sample average
        log-likelihood between iterations.
    reg_covar : float, default 1e-6
        Added to the diagonal of the covariances so that they stay positive.
    max_iter : int, default 100
        EM iterations per initialisation.
    n_init : int, default 1
        Number of initialisations; the best (highest lower bound) is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default 'kmeans'
        How initial responsibilities are chosen.
    weights_init, means_init, precisions_init : array-like, optional
        User-provided initial parameters (shapes as scikit-learn's).
    random_state : None, int, RandomState or Generator
        Seed for initialisation and :meth:`sample` (None: NumPy's global state).
    warm_start : bool, default False
        Start from the previous fit's parameters on the next ``fit``.
    verbose : int, default 0
        1 prints initialisation progress, 2 also iterations and timings.
    verbose_interval : int, default 10
        Iterations between progress lines.
    learning_decay : float in (0.5, 1], default 0.55
        kappa of :meth:`partial_fit`'s step sizes (t + learning_offset)**-kappa
        (smaller: the running statistics forget old batches faster).
    learning_offset : float >= 0, default 0.0
        tau0 of those step sizes: larger values make the first steps smaller
        (0: the first step takes its batch's statistics alone).
    n_threads : int or None, default None
        OpenMP threads for the kernels (None: all usable cores, resolved at
        each call).

    Attributes
    ----------
    weights_ : (n_components,)
    means_ : (n_components, n_features)
    covariances_, precisions_, precisions_cholesky_ : shape by covariance_type
        'full' (K, d, d), 'tied' (d, d), 'diag' (K, d), 'spherical' (K,).
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Average log-likelihood of the best initialisation at its last E-step.
    lower_bounds_ : list of float
        Lower bound at every iteration of the best initialisation.
    n_samples_seen_ : int
        Rows the parameters were estimated from: ``fit``'s rows (0 with
        ``max_iter=0``, which only initialises), the statistics' rows for
        ``m_step``, and for ``partial_fit`` those plus every batch's.
    n_steps_ : int
        ``partial_fit``: the steps the running statistics stand for (see there).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Column names of a DataFrame ``X`` given to ``fit`` (only then).
    fit_time_ : float
        Seconds ``fit`` took.
    """

    def __init__(self, n_components: int = 1, *,
                 covariance_type: str = "full",
                 tol: float = 1e-3, reg_covar: float = 1e-6, max_iter: int = 100, n_init: int = 1,
                 init_params: str = "kmeans",
                 weights_init: ArrayLike | None = None, means_init: ArrayLike | None = None,
                 precisions_init: ArrayLike | None = None, random_state: RandomStateLike = None,
                 warm_start: bool = False, verbose: int = 0, verbose_interval: int = 10,
                 learning_decay: float = 0.55, learning_offset: float = 0.0, n_threads: int | None = None) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.n_threads = n_threads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "density_estimator"
        return tags

    # ---------------------------------------------------------- parameters
    def _validate_params(self, d: int) -> None:
        check_int(self.n_components, "n_components", low=1)
        check_choice(self.covariance_type, "covariance_type", gauss.COVARIANCE_TYPES)
        check_real(self.tol, "tol", low=0)
        check_real(self.reg_covar, "reg_covar", low=0)
        check_int(self.max_iter, "max_iter", low=0)
        check_int(self.n_init, "n_init", low=1)
        check_choice(self.init_params, "init_params", INIT_PARAMS)
        check_bool(self.warm_start, "warm_start")
        if not isinstance(self.verbose, bool):      # scikit-learn takes True / False too
            check_int(self.verbose, "verbose", low=0)
        check_int(self.verbose_interval, "verbose_interval", low=1)
        check_real(self.learning_decay, "learning_decay", low=0.5, high=1.0, low_open=True)
        check_real(self.learning_offset, "learning_offset", low=0.0)
        check_n_threads(self.n_threads)
        K = self.n_components
        self._weights_init = self._check_weights_init(K)
        self._means_init = self._check_means_init(K, d)
        self._precisions_init = self._check_precisions_init(K, d)

    def _check_weights_init(self, K):
        if self.weights_init is None:
            return None
        w = check_real_array(self.weights_init, "weights_init")
        if w.shape != (K,):
            raise ValueError(f"weights_init must have shape ({K},), got {w.shape}.")
        if not np.isfinite(w).all() or w.min() < 0 or w.max() > 1:
            raise ValueError(f"weights_init must be in [0, 1], got min {w.min():.5g}, max {w.max():.5g}.")
        if not np.isclose(w.sum(), 1.0, rtol=0, atol=1e-6):
            raise ValueError(f"weights_init must sum to 1 (normalised), got sum {w.sum():.6g}.")
        return w

    def _check_means_init(self, K, d):
        if self.means_init is None:
            return None
        m = check_real_array(self.means_init, "means_init")
        if m.shape != (K, d):
            raise ValueError(f"means_init must have shape ({K}, {d}), got {m.shape}.")
        if not np.isfinite(m).all():
            raise ValueError("means_init contains NaN or infinity.")
        return m

    def _check_precisions_init(self, K, d):
        if self.precisions_init is None:
            return None
        p = check_real_array(self.precisions_init, "precisions_init")
        ct = self.covariance_type
        want = gauss.cov_shape(ct, K, d)
        if p.shape != want:
            raise ValueError(f"precisions_init for covariance_type={ct!r} must have shape {want}, got {p.shape}.")
        if not np.isfinite(p).all():
            raise ValueError("precisions_init contains NaN or infinity.")
        if ct in ("full", "tied"):
            mats = p if p.ndim == 3 else p[None]
            if not np.allclose(mats, np.swapaxes(mats, -1, -2)):
                raise ValueError("precisions_init must be symmetric, positive-definite matrices; some are not symmetric.")
            if np.any(np.linalg.eigvalsh(mats) <= 0):
                raise ValueError("precisions_init must be symmetric, positive-definite matrices; some are not positive definite.")
        elif np.any(p <= 0):
            raise ValueError(f"precisions_init for {ct!r} must be positive.")
        return p

    # ------------------------------------------------------------- kernels
    def _kernel_arrays(self, dtype, weights, means, pchol):
        """em_pass's and e_step's arrays in the compute dtype, from float64 parameters.

        Copies: the M-step kernel writes the next iteration's arrays into them in place.
        """
        K, d = means.shape
        ct = self.covariance_type
        prec = np.broadcast_to(pchol, (K, d, d)) if ct == "tied" else pchol
        return (np.array(means, dtype=dtype, order="C"), np.array(prec, dtype=dtype, order="C").reshape(-1),
                np.array(gauss.log_constants(weights, pchol, ct, d), dtype=dtype, order="C"),
                _KERNEL_KIND[ct])

    def _m_step(self, block_stats, block_ll, n, rows, ref, karrays, eps, rng, variance=None):
        """The M-step kernel on summed statistics, then the repairs it reports.

        ``block_stats`` are statistics of ``n`` samples (any number of blocks,
        summed here); an empty component is re-seeded at one of ``rows`` (the
        data, or a sample of it) with their variance, or ``variance`` when
        given.  Writes the next iteration's kernel arrays into ``karrays``;
        returns the parameters and the summed log-likelihood.
        """
        K, d = ref.shape
        ct = self.covariance_type
        params = _Params.empty(ct, K, d)
        stats = np.empty((K, _k.n_stats(d, _STATS_KIND[ct])))
        km, kp, klc, _ = karrays
        status, total = _k.m_step(block_stats, block_ll, n, ref, _k.COVARIANCE_CODES[ct],
                                  self.reg_covar, eps, stats, params.weights, params.means,
                                  params.cov.reshape(-1), params.pchol.reshape(-1), km, kp, klc)
        if status == _k.M_STEP_NONFINITE:
            raise ValueError(
                "Numerical failure in the E-step (non-finite log-likelihood): the data may be "
                "too large in magnitude; rescale it.")
        if status == _k.M_STEP_EMPTY:
            self._reseed(rows, n, params, stats[:, 0] <= 1e-10 * max(n, 1), rng, variance)
        if status != _k.M_STEP_OK:
            self._pack_regularised(params, karrays)
        return params, total

    def _pack_regularised(self, params: _Params, karrays) -> None:
        """Precision factors and kernel arrays, adding a ridge to covariances that are not PD."""
        km, kp, klc, _ = karrays
        code = _k.COVARIANCE_CODES[self.covariance_type]

        def pack(cov):
            return _k.pack_params(code, params.weights, params.means, cov.reshape(-1),
                                  params.pchol.reshape(-1), km, kp, klc) == _k.M_STEP_OK

        if pack(params.cov):
            return
        full = self.covariance_type in ("full", "tied")
        scale = max(self.reg_covar, 1e-12)
        for attempt in range(1, 40):
            reg = scale * 10.0 ** attempt
            trial = params.cov.copy()
            if full:
                d = trial.shape[-1]
                trial[..., np.arange(d), np.arange(d)] += reg
            else:
                trial = np.maximum(trial, 0.0) + reg
            if pack(trial):
                params.cov = trial
                warnings.warn(
                    f"Some covariances were not positive definite (degenerate or collinear data); "
                    f"added {reg:.3g} to their diagonals. Consider increasing reg_covar.",
                    DegenerateDataWarning, stacklevel=user_stacklevel())
                return
        raise ValueError(
            "Fitting the mixture failed: covariances could not be made positive definite. "
            "Check the data for extreme values or increase reg_covar.")

    def _reseed(self, rows, n: int, params: _Params, empty: np.ndarray, rng, variance=None) -> None:
        """Move empty components to random rows (of ``n`` samples), with the rows' variance.

        When the rows have fewer distinct values than components, a re-seeded component
        can only land on a point another one holds, empty again, and be moved again at every
        iteration, so that EM never converges (25 distinct points, K = 30: 100 iterations
        and 53 warnings, where scikit-learn converges in 2): there each empty component
        becomes a copy of the heaviest one, sharing its weight, and stays so.
        """
        idx = np.flatnonzero(empty)
        if not callable(rows) and _distinct_rows_upto(rows, len(empty)) < len(empty):
            for i in idx:
                j = int(np.argmax(np.where(empty, -np.inf, params.weights)))
                params.means[i], params.weights[i] = params.means[j], params.weights[j] / 2
                params.weights[j] /= 2
                if self.covariance_type != "tied":
                    params.cov[i] = params.cov[j]
                empty[i] = False
            return
        warnings.warn(
            f"{len(idx)} mixture component(s) became empty (no samples assigned); re-seeded "
            "at random samples with the data's variance. The data may have fewer clusters "
            "than n_components.", DegenerateDataWarning, stacklevel=user_stacklevel())
        if callable(rows):   # no data at hand (m_step): draws from the current mixture
            rows = rows(max(100, len(idx)))
        m = rows.shape[0]
        params.means[idx] = rows[_distinct_draws(rng, m, len(idx))]
        var = (_kmeans_kernels().column_variances(rows, 1) if variance is None else variance) + self.reg_covar
        ct = self.covariance_type
        if ct == "full":
            params.cov[idx] = np.diag(var)
        elif ct == "diag":
            params.cov[idx] = var
        elif ct == "spherical":
            params.cov[idx] = var.mean()
        params.weights[idx] = 1.0 / n
        params.weights /= params.weights.sum()

    # -------------------------------------------------------- initialising
    def _initial_stats(self, X, rng, nt):
        """Statistics of the initial responsibilities (one block) and the reference they are centred on.

        X has at most _em_data.INIT_MAX_SAMPLES rows (see _initial_parameters).
        """
        n, d = X.shape
        K = self.n_components
        kind = _STATS_KIND[self.covariance_type]
        ns = _k.n_stats(d, kind)
        if self.init_params != "random":
            labels = np.full(n, -1, dtype=np.intp)
            if self.init_params == "kmeans":
                res = _lloyd(X, K, random_state=rng, n_threads=nt)
                labels[:] = res.labels
                ref = res.centers
            else:
                if self.init_params == "k-means++":
                    _, idx = kmeans_plusplus(X, K, random_state=rng, n_threads=nt)
                else:
                    idx = rng.choice(n, size=K, replace=False)
                labels[idx] = np.arange(K)
                ref = X[idx]
            ref = np.ascontiguousarray(ref, dtype=X.dtype)
            chunk_stats = np.empty((_k.n_chunks(n), K * ns))
            _k.hard_stats(X, labels, ref, kind, chunk_stats, nt)
            return chunk_stats.sum(axis=0)[None], ref
        # soft random responsibilities (like scikit-learn's N x K draw, made block by block:
        # the same numbers, a bounded temporary), statistics centred on 0
        stats = np.zeros((K, ns))
        iu = gauss.triu_indices(d)
        for start in range(0, n, 1 << 16):
            Xd = X[start:start + (1 << 16)].astype(np.float64)
            r = rng.uniform(size=(Xd.shape[0], K)).astype(X.dtype)
            r = (r / r.sum(axis=1)[:, None]).astype(np.float64)
            stats[:, 0] += r.sum(axis=0)
            stats[:, 1:1 + d] += r.T @ Xd
            if kind == _k.FULL:
                for k in range(K):
                    stats[k, 1 + d:] += ((Xd * r[:, k:k + 1]).T @ Xd)[iu]
            elif kind == _k.DIAG:
                stats[:, 1 + d:] += r.T @ (Xd * Xd)
            else:
                stats[:, 1 + d] += r.T @ (Xd * Xd).sum(axis=1)
        return stats.reshape(1, -1), np.zeros((K, d), dtype=X.dtype)

    def _initial_parameters(self, X, rng, nt) -> _Params:
        rows = init_sample_rows(X.shape[0], rng)    # at most _em_data.INIT_MAX_SAMPLES rows
        if rows is not None:
            X = X[rows]
        n, d = X.shape
        K = self.n_components
        if self._weights_init is None or self._means_init is None or self._precisions_init is None:
            block_stats, ref = self._initial_stats(X, rng, nt)
            karrays = self._scratch_kernel_arrays(X.dtype, K, d)
            eps = np.finfo(X.dtype).eps
            params, _ = self._m_step(block_stats, np.zeros(1), n, X, ref, karrays, eps, rng)
            n_raw = block_stats.reshape(K, -1)[:, 0]
            if not np.any(n_raw <= 1e-10 * n):
                # scikit-learn keeps nk / n_samples (not normalised) as initial weights
                params.weights = (n_raw + 10 * eps) / n
        else:
            params = _Params.empty(self.covariance_type, K, d)
        if self._weights_init is not None:
            params.weights = self._weights_init.copy()
        if self._means_init is not None:
            params.means = self._means_init.copy()
        if self._precisions_init is not None:
            params.pchol = gauss.precision_cholesky_from_precisions(self._precisions_init, self.covariance_type)
            params.cov = gauss.covariances_from_cholesky(params.pchol, self.covariance_type)
        return params

    def _scratch_kernel_arrays(self, dtype, K, d):
        kind = _KERNEL_KIND[self.covariance_type]
        n_prec = {_k.FULL: K * d * d, _k.TIED: K * d * d, _k.DIAG: K * d, _k.SPHERICAL: K}[kind]
        return np.empty((K, d), dtype=dtype), np.empty(n_prec, dtype=dtype), np.empty(K, dtype=dtype), kind

    # ------------------------------------------------------------- fitting
    @exclusive
    def fit(self, X: SamplesLike, y: Any = None) -> GaussianMixture:
        """Estimate the model parameters with EM; returns self.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), np.memmap, str or path, or dask.array.Array
            Finite real numbers, at least ``max(2, n_components)`` rows; the
            compute dtype follows X's (see the class description).  A
            DataFrame's string column names are kept in ``feature_names_in_``.
            An ``np.memmap``, or the path of an ``.npy`` file
            (opened as a read-only memmap), is streamed chunk by chunk and
            never copied whole, whatever its dtype; a ``dask.array.Array`` is
            fitted by distributed EM on its blocks (see the README's
            "Scale-out" section).  As for arrays, the initialisation works on
            a sample of at most 1,048,576 rows.
        y : ignored
            Accepted for scikit-learn's API.

        Returns
        -------
        self : GaussianMixture

        Raises
        ------
        ValueError
            If X is not 2-D, has too few rows or holds NaN or infinity, or a
            path does not name an ``.npy`` file; or a parameter is invalid
            (:class:`~gmmfast.InvalidParameterError`, also a TypeError).
        TypeError
            If X is sparse or does not hold numbers.
        """
        self._fit(X)
        return self

    @exclusive
    def fit_predict(self, X: SamplesLike, y: Any = None) -> np.ndarray:
        """Fit the model and return the most probable component of each sample.

        The same as ``fit(X).predict(X)``, with one pass over X less.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), np.memmap, str or path, or dask.array.Array
            The samples, in any form :meth:`fit` takes.
        y : ignored
            Accepted for scikit-learn's API.

        Returns
        -------
        labels : ndarray of shape (n_samples,), intp
            Component index of each sample, in 0..n_components - 1.  For a
            Dask array, a Dask array of labels (computed lazily).
        """
        data = self._fit(X)
        # Final E-step so that fit_predict(X) == fit(X).predict(X).
        return self._output(data, "labels")

    def _data(self, X, min_samples: int):
        """The data source for X: in memory, a chunked memmap, or a Dask array (validated)."""
        if is_dask_array(X):
            from ._dask import DaskData   # dask is imported only for dask input

            return DaskData(X, self.n_threads, min_samples)
        if hasattr(X, "__dask_graph__"):
            raise TypeError(f"X is a Dask {type(X).__name__}; pass a Dask array, e.g. X.to_dask_array(lengths=True), "
                            "so that the data stays on the cluster.")
        if is_chunked_input(X):
            data = Chunked(open_samples(X), self.n_threads)
            check_lazy_samples((data.n, data.d), data.X.dtype, min_samples=min_samples)
            return data
        return InMemory(X, self.n_threads, min_samples)

    def _fit(self, X):
        """EM on X; sets the fitted attributes and returns X's data source."""
        t_start = time.perf_counter()
        self._online = None       # partial_fit's running statistics start afresh
        warm = self.warm_start and hasattr(self, "converged_")
        data = self._data(X, min_samples=2)
        if warm:
            self._check_continuable()
            self._promote_to_model(data)
        self._validate_params(data.d)
        rng = check_random_state(self.random_state)
        data.draw_sample(rng)
        self._check_samples_for_fit(data, warm)
        check_feature_names(self, X, reset=True)
        best = None
        runs: list[_Run] = []
        try:
            for init in range(1 if warm else self.n_init):
                if self.verbose:
                    print(f"Initialization {init}")
                run = self._run_em(data, rng, warm, init, runs)
                if best is None or run.lower_bound > best.lower_bound:
                    best = run
        except (KeyboardInterrupt, RuntimeError, OSError) as exc:    # Ctrl-C, a lost cluster, a file cut short
            self._offer_partial_model(exc, runs, data, t_start)
            raise
        if not best.converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init parameters, "
                "or increase max_iter, tol, or check for degenerate data.",
                _ConvergenceWarning, stacklevel=user_stacklevel())
        self._set_fitted(best, data.dtype, data.d)
        self.n_samples_seen_ = data.n if best.n_iter > 0 else 0
        self.n_steps_ = 0
        self.fit_time_ = time.perf_counter() - t_start
        return data

    def _offer_partial_model(self, exc: BaseException, runs: list[_Run], data, t_start: float) -> None:
        """Hand the work of a fit stopped by ``exc`` to the user: the best run with at least one
        completed EM iteration becomes ``exc.partial_model``, a fitted copy of this estimator (which
        itself keeps its previous state), and the error says how to go on from it.  Hours of a
        distributed fit are not lost with a worker or a Ctrl-C."""
        done = [r for r in runs if r.n_iter > 0]
        if not done:
            return
        run = max(done, key=lambda r: r.lower_bound)
        partial = type(self)(**self.get_params(deep=False))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateDataWarning)   # (the error is what matters now)
            try:
                partial._set_fitted(run, data.dtype, data.d)
            except ValueError:      # (a model that cannot be stored is not offered)
                return
        if hasattr(self, "feature_names_in_"):
            partial.feature_names_in_ = self.feature_names_in_
        partial.n_samples_seen_, partial.n_steps_ = data.n, 0
        partial.fit_time_ = time.perf_counter() - t_start
        exc.partial_model = partial     # type: ignore[attr-defined]
        state = "converged" if run.converged else "not converged"
        note = (f"The model after {run.n_iter} completed EM iteration(s) ({state}) is kept in this error's "
                "partial_model: partial_model.set_params(warm_start=True).fit(X) goes on from it.")
        if len(exc.args) == 1 and isinstance(exc.args[0], str):
            exc.args = (f"{exc.args[0]} {note}",)
        elif hasattr(exc, "add_note"):                              # (Python 3.11+: shown with the traceback)
            exc.add_note(note)

    def _check_samples_for_fit(self, data, warm: bool) -> None:
        n, d = data.n, data.d
        if n < self.n_components:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = {self.n_components}, n_samples = {n}.")
        n_distinct = _distinct_rows_upto(data.sample, self.n_components)
        if n_distinct < self.n_components:
            where = "X has" if data.sample.shape[0] == n else f"A sample of {data.sample.shape[0]} rows of X has"
            warnings.warn(
                f"{where} only {n_distinct} distinct sample(s), fewer than n_components="
                f"{self.n_components}: some components will duplicate others or be re-seeded.",
                DegenerateDataWarning, stacklevel=user_stacklevel())
        if warm and self._n_features() != d:
            raise ValueError(f"X has {d} features, but the warm-started model was fitted with {self._n_features()}.")

    def _run_em(self, data, rng, warm: bool, init: int = 0, runs: list | None = None) -> _Run:
        """EM from one initialisation (or the fitted parameters, when warm-started); the run is
        appended to ``runs`` as soon as it starts, so that an interrupted fit can offer it."""
        t_init = t_iter = time.perf_counter()
        if warm:
            run = _Run(self._fitted_params(), lower_bound=self.lower_bound_)
        else:
            rows = data.init_rows(rng, init)
            run = _Run(self._initial_parameters(rows, rng, threads_for(rows.shape[0], self.n_threads)))
        if runs is not None:
            runs.append(run)
        if self.max_iter == 0:
            return run
        eps = np.finfo(data.dtype).eps
        karrays = self._kernel_arrays(data.dtype, run.params.weights, run.params.means, run.params.pchol)
        n_stats = _k.n_stats(data.d, _STATS_KIND[self.covariance_type])
        for n_iter in range(1, self.max_iter + 1):
            prev = run.lower_bound
            km, kp, klc, kind = karrays
            block_stats, block_ll = data.em_pass(km, kp, klc, kind, n_stats)
            params, total = self._m_step(block_stats, block_ll, data.n, data.sample, km, karrays, eps, rng)
            # (the iteration's results are set together, so that an interrupted run is a whole one)
            run.params, run.lower_bound, run.n_iter = params, total / data.n, n_iter
            run.lower_bounds.append(float(run.lower_bound))
            change = run.lower_bound - prev
            if self.verbose and run.n_iter % self.verbose_interval == 0:
                t_iter = self._print_iteration(run.n_iter, change, t_iter)
            if abs(change) < self.tol:
                run.converged = True
                break
        if self.verbose:
            msg = "converged" if run.converged else "did not converge"
            extra = (f" time lapse {time.perf_counter() - t_init:.5f}s\t lower bound {run.lower_bound:.5f}."
                     if self.verbose >= 2 else "")
            print(f"Initialization {msg}.{extra}")
        return run

    def _fitted_params(self) -> _Params:
        """The fitted parameters in float64."""
        return _Params(*(np.asarray(getattr(self, a), dtype=np.float64).copy() for a in
                         ("weights_", "means_", "covariances_", "precisions_cholesky_")))

    # ------------------------------------------- statistics and streaming
    @exclusive
    def e_step_statistics(self, X: SamplesLike) -> EMStatistics:
        """The E-step's sufficient statistics of the samples X under the current parameters.

        Statistics of disjoint parts of the data computed with the same model
        add up with ``+`` or ``sum()``, and :meth:`m_step` turns the total
        into the next model, exactly as one iteration of :meth:`fit` does.
        Computed by the same kernel pass as ``fit`` (float32 data in float32
        when the model is float32, else in float64; sums in float64).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), np.memmap, str or path, or dask.array.Array
            Any part of the data (a chunk, a file, a Dask array, a block of
            one), in any form :meth:`fit` takes; at least one row, with the
            model's number of features.  A Dask array's statistics are
            computed and summed on the cluster.

        Returns
        -------
        statistics : EMStatistics

        Raises
        ------
        NotFittedError
            If the model has no parameters yet (``fit`` it, with
            ``max_iter=0`` for an initial model only).
        ValueError
            If X has another number of features than the model, or holds
            NaN or infinity.
        """
        return self._statistics_of(self._validate_predict_X(X))

    def _statistics_of(self, data) -> EMStatistics:
        ct = self.covariance_type
        km, kp, klc, kind = self._fitted_kernel_arrays(data.dtype)
        n_stats = _k.n_stats(data.d, _STATS_KIND[ct])
        block_stats, block_ll = data.em_pass(km, kp, klc, kind, n_stats)
        log_likelihood = float(np.sum(block_ll))
        if not math.isfinite(log_likelihood):      # (its counts and sums are NaN)
            raise overflow_error(data.dtype)
        return EMStatistics(ct, km, block_stats.sum(axis=0).reshape(self.n_components, n_stats),
                            log_likelihood, data.n, model_key(km, kp, klc))

    @exclusive
    def m_step(self, statistics: EMStatistics, *, reseed_from: ArrayLike | None = None) -> GaussianMixture:
        """Replace the parameters by the M-step of ``statistics``; returns self.

        The M-step is the kernel ``fit`` uses, with the same repairs: a
        covariance that is not positive definite gets a ridge, and an empty
        component is re-seeded (see ``reseed_from``).  Records the
        statistics' average log-likelihood in ``lower_bound_`` and
        ``lower_bounds_``, counts the iteration in ``n_iter_``, sets
        ``converged_`` when the lower bound changed by less than ``tol``, and
        ``n_samples_seen_`` to the statistics' rows; a later
        :meth:`partial_fit` continues from the new parameters.

        Parameters
        ----------
        statistics : EMStatistics
            From :meth:`e_step_statistics` with the current parameters, summed
            over all the data.
        reseed_from : array-like of shape (n_rows, n_features), optional
            A sample of the data (an in-memory array; not a path): an empty
            component is re-seeded at one of its rows, with its variance.
            Without it (the default None), at a draw from the current mixture,
            with the data's variance from the statistics.

        Returns
        -------
        self : GaussianMixture

        Raises
        ------
        NotFittedError
            If the model has no parameters yet.
        TypeError
            If ``statistics`` is not an EMStatistics.
        ValueError
            If ``statistics`` were computed with another model (other means,
            weights, covariances, covariance type or shape) or of no samples.
        """
        stats = self._check_statistics(statistics)
        K, d = stats.reference.shape
        self._validate_params(d)
        rng = check_random_state(self.random_state)
        rows, variance = None, stats.data_variance()
        if reseed_from is not None:
            rows = check_samples(reseed_from, name="reseed_from")
            if rows.shape[1] != d:
                raise ValueError(f"reseed_from has {rows.shape[1]} features, the model {d}.")
            variance = None
        karrays = self._scratch_kernel_arrays(stats.dtype, K, d)
        params, total = self._m_step(stats.sums.reshape(1, -1), np.array([stats.log_likelihood]), stats.n_samples,
                                     rows if rows is not None else (lambda m: self._draw(m, rng)[0]),
                                     stats.reference, karrays, np.finfo(stats.dtype).eps, rng, variance)
        bound = total / stats.n_samples
        # (a model whose parameters were set by hand has no history: it starts one)
        run = _Run(params, bound, [*getattr(self, "lower_bounds_", []), float(bound)], getattr(self, "n_iter_", 0) + 1,
                   bool(abs(bound - getattr(self, "lower_bound_", -np.inf)) < self.tol))
        self._set_fitted(run, stats.dtype, d)
        self.n_samples_seen_ = int(stats.n_samples)
        self._online = None       # partial_fit continues from these parameters
        return self

    def _check_statistics(self, statistics) -> EMStatistics:
        self._check_fitted("means_", "fit")     # (or max_iter=0 fit for an initial model)
        self._check_continuable()
        if not isinstance(statistics, EMStatistics):
            raise TypeError(f"statistics must be an EMStatistics (from e_step_statistics), got "
                            f"{type(statistics).__name__}.")
        if statistics.covariance_type != self.covariance_type or statistics.reference.shape != self.means_.shape:
            raise ValueError(
                f"statistics are for covariance_type={statistics.covariance_type!r} with "
                f"{statistics.n_components} components x {statistics.n_features} features; this model has "
                f"covariance_type={self.covariance_type!r} and means_ of shape {self.means_.shape}.")
        if not np.array_equal(statistics.reference, np.asarray(self.means_, np.float64).astype(statistics.dtype)):
            raise ValueError(
                "statistics were computed with other means than this model's: compute them with this "
                "model's e_step_statistics in the current iteration (after each m_step, send the new model "
                "to whatever computes the statistics).")
        if statistics.model_key is not None and statistics.model_key != model_key(
                *self._fitted_kernel_arrays(statistics.dtype)[:3]):
            raise ValueError(
                "statistics were computed with another model (the same means, other weights or covariances): "
                "compute them with this model's e_step_statistics in the current iteration.")
        if statistics.n_samples < 1:
            raise ValueError("statistics of no samples give no M-step; sum the statistics of all chunks first.")
        return statistics

    @exclusive
    def partial_fit(self, X: SamplesLike, y: Any = None) -> GaussianMixture:
        """One step of stepwise (online) EM on a batch of samples; returns self.

        For data seen once, in batches.  The first call initialises the model
        from its batch (``init_params``, or the ``*_init`` parameters) unless
        it is fitted already.  Then each batch's E-step statistics s_t, per
        sample, are blended into running statistics,
        S_t = (1 - eta_t) S_{t-1} + eta_t s_t with step size
        eta_t = (t + learning_offset) ** -learning_decay (t = 1, 2, ...;
        S_0 is the sufficient statistics of the starting parameters), and the
        fit's M-step kernel turns S_t into the parameters (Cappe & Moulines'
        online EM, Liang & Klein's stepwise EM).  ``n_steps_`` counts the
        steps and ``n_samples_seen_`` the samples; ``lower_bound_`` is the
        last batch's average log-likelihood before its step.  ``fit`` starts
        afresh.

        A model fitted by ``fit`` or ``m_step`` (or loaded from such a file)
        continues rather than restarts: its parameters count as the
        n_samples_seen_ / (first batch's rows) steps that batches of that size
        would have taken to see its rows, so that a small batch moves it a
        little (with t = 1, eta is 1 and the first batch would replace it).
        A model saved during a stream keeps its running statistics and steps.
        Later batches with fewer than ``n_components`` rows, and any such
        batch given to a fitted model, give a ``DegenerateDataWarning``: a few
        rows move every component towards them by eta_t.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), np.memmap, str or path, or dask.array.Array
            One batch, in any form :meth:`fit` takes; at least one row (at
            least ``n_components`` for the batch that initialises a model),
            with the model's number of features once it has one.
        y : ignored
            Accepted for scikit-learn's API.

        Returns
        -------
        self : GaussianMixture

        Raises
        ------
        ValueError
            If the initialising batch has fewer than ``n_components`` rows, X
            has another number of features than the model, or holds NaN or
            infinity.
        """
        data = self._data(X, min_samples=1)
        if hasattr(self, "means_"):
            self._promote_to_model(data)
        self._validate_params(data.d)
        if hasattr(self, "means_"):
            self._check_continuable()
        if hasattr(self, "means_") and data.d != self._n_features():
            raise ValueError(f"X has {data.d} features, but GaussianMixture is expecting "
                             f"{self._n_features()} features as input.")
        rng = check_random_state(self.random_state)
        data.draw_sample(rng)
        initialising = not hasattr(self, "means_")      # this batch seeds the model (and is checked for it)
        if getattr(self, "_online", None) is None:
            self._start_online(data, rng)
        if not initialising and data.n < self.n_components:
            warnings.warn(
                f"a batch of {data.n} row(s), fewer than n_components={self.n_components}: stepwise EM moves "
                f"every component towards these rows (step {self.n_steps_ + 1}); use larger batches or a larger "
                "learning_offset.", DegenerateDataWarning, stacklevel=user_stacklevel())
        self._online_step(self._statistics_of(data), data.sample, rng)
        return self

    def _start_online(self, data, rng) -> None:
        """Initial parameters (from the batch, unless fitted) and their statistics S_0, and
        the steps S_0 stands for (see partial_fit)."""
        if not hasattr(self, "means_"):
            self._check_samples_for_fit(data, warm=False)
            nt = threads_for(data.sample.shape[0], self.n_threads)
            self._set_fitted(_Run(self._initial_parameters(data.sample, rng, nt)), data.dtype, data.d)
            self.n_samples_seen_ = 0
        seen = int(getattr(self, "n_samples_seen_", 0))    # (0 in a model file written before it was kept)
        self._online = self._parameter_statistics()
        self.n_steps_ = int(round(seen / data.n))
        self.n_samples_seen_ = seen

    def _parameter_statistics(self) -> EMStatistics:
        """Per-sample statistics whose M-step gives the current parameters (S_0 of online EM).

        Count w_k, first moment 0 about the means, second moment w_k (cov_k -
        reg_covar): the M-step adds reg_covar back once.
        """
        ct, p = self.covariance_type, self._fitted_params()
        K, d = p.means.shape
        cov = p.cov - self.reg_covar * (np.eye(d) if ct in ("full", "tied") else 1.0)
        w = p.weights
        if ct in ("full", "tied"):
            a, b = gauss.triu_indices(d)
            full = np.broadcast_to(cov, (K, d, d)) if ct == "tied" else cov
            second = full[:, a, b] * w[:, None]
        elif ct == "diag":
            second = cov * w[:, None]
        else:
            second = (cov * w * d)[:, None]
        sums = np.hstack([w[:, None], np.zeros((K, d)), second])
        return EMStatistics(ct, p.means, sums, 0.0, 0)

    def _online_step(self, batch: EMStatistics, rows: np.ndarray, rng) -> None:
        """S_t = (1 - eta) S_{t-1} + eta s_t (per sample), then the M-step on S_t."""
        t = self.n_steps_ + 1
        eta = (t + self.learning_offset) ** -self.learning_decay
        n = batch.n_samples
        ref64 = batch.reference.astype(np.float64)
        running = self._online.recentred(ref64)
        blended = (1.0 - eta) * running.sums + (eta / n) * batch.sums
        K, d = batch.reference.shape
        karrays = self._scratch_kernel_arrays(batch.dtype, K, d)
        params, total = self._m_step((blended * n).reshape(1, -1), np.array([batch.log_likelihood]), n, rows,
                                     batch.reference, karrays, np.finfo(batch.dtype).eps, rng)
        bound = total / n
        run = _Run(params, bound, [*getattr(self, "lower_bounds_", []), float(bound)],
                   getattr(self, "n_iter_", 0) + 1, False)
        self._set_fitted(run, batch.dtype, d)
        self._online = EMStatistics(self.covariance_type, ref64, blended, 0.0, 0)
        self.n_steps_ = t
        self.n_samples_seen_ += n

    def _print_iteration(self, n_iter: int, change: float, t_last: float) -> float:
        now = time.perf_counter()
        if self.verbose == 1:
            print(f"  Iteration {n_iter}")
        else:
            print(f"  Iteration {n_iter}\t time lapse {now - t_last:.5f}s\t ll change {change:.5f}")
        return now

    def _fitted_state(self) -> dict:
        """The fitted attributes and, during a stream, partial_fit's running statistics
        (without them a loaded model's next batch would restart the stream)."""
        state = super()._fitted_state()
        online = self.__dict__.get("_online")
        if online is not None:
            state["_online"] = {"reference": online.reference, "sums": online.sums}
        return state

    def _restore_fitted_state(self, state: dict) -> None:
        state = dict(state)
        online = state.pop("_online", None)
        _check_loaded_model(state, check_choice(self.covariance_type, "covariance_type", gauss.COVARIANCE_TYPES))
        super()._restore_fitted_state(state)
        self._online = None if online is None else EMStatistics(
            self.covariance_type, online["reference"], online["sums"], 0.0, 0)

    def _set_fitted(self, run: _Run, dtype, d: int) -> None:
        ct = self.covariance_type
        p = run.params
        with np.errstate(over="ignore"):        # (refused below, by name)
            fitted = [np.asarray(a, dtype=dtype) for a in
                      (p.weights, p.means, p.cov, p.pchol, gauss.precisions_from_cholesky(p.pchol, ct))]
        # The M-step runs in float64; a float32 model can still overflow when it is stored: a component
        # holding one point of size x gets its mean x (1 - 10 eps) and so a variance (10 eps x)^2, past
        # float32's range from |x| ~ 1.5e25 (covariances_ was inf, with finite precisions)
        if not all(np.isfinite(a).all() for a in fitted):
            raise ValueError(f"The fitted parameters overflow {np.dtype(dtype)} (values of X too large for it): "
                             "pass X as float64 or rescale it.")
        (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_,
         self.precisions_) = fitted
        self.converged_ = run.converged
        self.n_iter_ = run.n_iter
        self.lower_bound_ = float(run.lower_bound)
        self.lower_bounds_ = run.lower_bounds
        self.n_features_in_ = d
        self._warn_identical_components()

    def _warn_identical_components(self) -> None:
        """Warn when two components ended up the same (fewer distinct clusters than K)."""
        K, d = self.means_.shape
        ct = self.covariance_type
        means = self.means_.astype(np.float64)
        pchol = self.precisions_cholesky_.astype(np.float64)
        cov = self.covariances_.astype(np.float64)
        if ct != "full":  # each component's precision factor and covariance as (K, d, d)
            pchol = np.broadcast_to(pchol, (K, d, d)) if ct == "tied" else (
                pchol.reshape(K, -1)[:, :, None] * np.eye(d))
            cov = np.broadcast_to(cov, (K, d, d)) if ct == "tied" else cov.reshape(K, -1)
        twins = []
        for i in range(K):
            for j in range(i + 1, K):
                y = (means[j] - means[i]) @ pchol[i]   # distance in component i's Mahalanobis units
                if y @ y <= 1e-8 and np.linalg.norm(cov[i] - cov[j]) <= 1e-3 * np.linalg.norm(cov[i]):
                    twins.append((i, j))
        if twins:
            warnings.warn(
                f"{len(twins)} pair(s) of components are identical (for example components "
                f"{twins[0][0]} and {twins[0][1]}): the data has fewer distinct clusters than "
                f"n_components={K}, or duplicated points were picked as seeds. Consider a smaller "
                "n_components.", DegenerateDataWarning, stacklevel=user_stacklevel())

    # ---------------------------------------------------------- predicting
    def _validate_predict_X(self, X):
        """X's data source (in memory, chunked or Dask), checked against the fitted model."""
        self._check_fitted("means_")
        self._check_fitted_covariance_type()
        data = self._data(X, min_samples=1)
        if data.d != self._n_features():
            raise ValueError(
                f"X has {data.d} features, but GaussianMixture is expecting "
                f"{self._n_features()} features as input.")
        check_feature_names(self, X, reset=False)
        self._promote_to_model(data)
        return data

    def _check_fitted_covariance_type(self) -> None:
        """Refuse a ``covariance_type`` set since the fit (``set_params``): the fitted precisions
        have the shape of the one they were fitted with (NumPy's broadcast error otherwise)."""
        ct = check_choice(self.covariance_type, "covariance_type", gauss.COVARIANCE_TYPES)
        K, d = np.shape(self.means_)
        if ct not in _fitted_covariance_types(K, d, np.shape(self.precisions_cholesky_)):
            raise ValueError(f"covariance_type is {ct!r}, but the model was fitted with another one: fit it "
                             "again, or set covariance_type back.")

    def _check_continuable(self) -> None:
        """Refuse to go on fitting the fitted components (``partial_fit``, a ``warm_start`` fit,
        ``m_step``) with another ``n_components`` set since the fit: a warm fit returned the old
        count and partial_fit failed in a reshape.  predict, sample, bic and save go on using the
        fitted components until the next fit, as scikit-learn's do."""
        self._check_fitted_covariance_type()
        check_unchanged_since_fit("n_components", len(self.means_),
                                  check_int(self.n_components, "n_components", low=1),
                                  "fit it again (without warm_start)")

    def _promote_to_model(self, data) -> None:
        """float32 data computes in float32 only for a float32 model: a float64 model keeps its
        precision wherever it is used (predicting, statistics, warm fits, partial_fit), and
        gives float64 answers, as scikit-learn's does.  In-memory data is converted whole."""
        if data.dtype == np.float32 and np.asarray(self.means_).dtype == np.float64:
            data.promote(np.float64)

    def _n_features(self) -> int:
        """Features of the fitted model (from means_: a model whose attributes were set by hand,
        scikit-learn's recipe, has no n_features_in_)."""
        return int(np.shape(self.means_)[1])

    def _fitted_kernel_arrays(self, dtype):
        f64 = (np.asarray(getattr(self, a), dtype=np.float64) for a in ("weights_", "means_", "precisions_cholesky_"))
        return self._kernel_arrays(dtype, *f64)

    def _e_step(self, X: np.ndarray, **out: np.ndarray) -> None:
        """The E-step kernel on validated X with the fitted parameters, into the ``out`` arrays."""
        m, prec, lc, kind = self._fitted_kernel_arrays(X.dtype)
        _k.e_step(X, m, prec, lc, kind, threads_for(X.shape[0], self.n_threads), **out)

    def _labels(self, X: np.ndarray) -> np.ndarray:
        labels = np.empty(X.shape[0], dtype=np.intp)
        self._e_step(X, labels=labels)
        return check_output("labels", labels, X.dtype)

    def _output(self, data, name: str, out: np.ndarray | None = None):
        """One of e_step's outputs ('labels', 'resp', 'log_prob_norm', 'weighted_log_prob') for all of X,
        written into ``out`` when given.

        A NumPy array, or a Dask array for Dask input.  A result that would not fit in memory is refused
        before any work, saying to pass ``out`` (X itself may be a memmap far larger than memory).
        """
        karrays = self._fitted_kernel_arrays(data.dtype)
        if is_dask_array(data.X):
            if out is not None:
                raise TypeError("out= takes a NumPy array, but for a Dask array X the result is a lazy Dask "
                                "array: store it with its .to_zarr() or .store() instead.")
            return data.e_step(karrays, name)   # (checked block by block when it is computed)
        shape, dtype = output_spec(name, data.n, karrays[0].shape[0], data.dtype)
        need = math.prod(shape) * dtype.itemsize
        if out is not None:
            check_out(out, shape, dtype, reads=(data.X,), reads_name="X")
        elif need > 1 << 20:    # (not below: reading the system's free memory takes ~15 us, half a small predict)
            check_fits_in_memory(need, f"The result ({dtype} array of shape {shape})",
                                 "pass out= an array of that shape and dtype (predict, predict_proba and "
                                 "score_samples take one), e.g. numpy.lib.format.open_memmap('out.npy', "
                                 f"mode='w+', dtype='{dtype}', shape={shape})")
        return check_output(name, data.e_step(karrays, name, out), data.dtype)

    @exclusive
    def predict(self, X: SamplesLike, *, out: np.ndarray | None = None) -> np.ndarray:
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), np.memmap, str or path, or dask.array.Array
            The samples, in any form :meth:`fit` takes, with the model's
            number of features.
        out : ndarray of shape (n_samples,), intp, optional
            Where to write the labels (C-contiguous, writeable, not sharing
            memory with X), e.g. an ``np.memmap`` when X is larger than
            memory; returned.  Not for a Dask array X.

        Returns
        -------
        labels : ndarray of shape (n_samples,), intp
            Component index of each sample, in 0..n_components - 1 (for a
            Dask array, a Dask array of them, computed lazily).

        Raises
        ------
        NotFittedError
            Before the model is fitted.
        ValueError
            If X has another number of features than the model, or holds
            NaN or infinity.
        MemoryError
            Without ``out``, when the result would not fit in the memory
            available (nothing is computed).
        TypeError, ValueError
            For an ``out`` of another dtype or shape, or sharing memory with X.
        """
        return self._output(self._validate_predict_X(X), "labels", out)

    @exclusive
    def predict_proba(self, X: SamplesLike, *, out: np.ndarray | None = None) -> np.ndarray:
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), np.memmap, str or path, or dask.array.Array
            The samples, in any form :meth:`fit` takes, with the model's
            number of features.
        out : ndarray of shape (n_samples, n_components), optional
            Where to write the probabilities, in the dtype they are returned
            in (C-contiguous, writeable, not sharing memory with X), e.g. an
            ``np.memmap`` when X is larger than memory; returned.  Not for a
            Dask array X.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Rows sum to 1; float32 for float32 X and a float32 model, else
            float64 (for a Dask array, a Dask array, computed lazily).

        Raises
        ------
        NotFittedError
            Before the model is fitted.
        ValueError
            If X has another number of features than the model, or holds
            NaN or infinity.
        MemoryError
            Without ``out``, when the result would not fit in the memory
            available (nothing is computed).
        TypeError, ValueError
            For an ``out`` of another dtype or shape, or sharing memory with X.
        """
        return self._output(self._validate_predict_X(X), "resp", out)

    @exclusive
    def score_samples(self, X: SamplesLike, *, out: np.ndarray | None = None) -> np.ndarray:
        """Log-likelihood log p(x) of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), np.memmap, str or path, or dask.array.Array
            The samples, in any form :meth:`fit` takes, with the model's
            number of features.
        out : ndarray of shape (n_samples,), optional
            Where to write the log-likelihoods, in the dtype they are
            returned in (C-contiguous, writeable, not sharing memory with X),
            e.g. an ``np.memmap`` when X is larger than memory; returned.
            Not for a Dask array X.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            float32 for float32 X and a float32 model, else float64 (for a
            Dask array, a Dask array, computed lazily).

        Raises
        ------
        NotFittedError
            Before the model is fitted.
        ValueError
            If X has another number of features than the model, or holds
            NaN or infinity.
        MemoryError
            Without ``out``, when the result would not fit in the memory
            available (nothing is computed).
        TypeError, ValueError
            For an ``out`` of another dtype or shape, or sharing memory with X.
        """
        return self._output(self._validate_predict_X(X), "log_prob_norm", out)

    @exclusive
    def score(self, X: SamplesLike, y: Any = None) -> float:
        """Average log-likelihood of the samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), np.memmap, str or path, or dask.array.Array
            The samples, in any form :meth:`fit` takes, with the model's
            number of features.
            For a Dask array the average is computed on the cluster.
        y : ignored
            Accepted for scikit-learn's API.

        Returns
        -------
        score : float
            The mean of :meth:`score_samples`, accumulated in float64.

        Raises
        ------
        NotFittedError
            Before the model is fitted.
        ValueError
            If X has another number of features than the model, or holds
            NaN or infinity.
        """
        data = self._validate_predict_X(X)
        if isinstance(data, Chunked):       # (nothing the size of X: a memmap may exceed memory)
            return data.mean_log_prob(self._fitted_kernel_arrays(data.dtype))
        scores = self._output(data, "log_prob_norm")
        if is_dask_array(scores):
            from ._dask import compute

            return float(compute([scores.astype(np.float64).mean()], "score")[0])
        return float(np.mean(scores, dtype=np.float64))

    def _estimate_weighted_log_prob(self, X):
        """log w_k + log N(x | k) for every sample and component."""
        return self._output(self._validate_predict_X(X), "weighted_log_prob")

    @exclusive
    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw samples from the fitted mixture (scikit-learn's convention and random stream).

        The draws come from ``random_state``, which is read afresh at each
        call: with an integer seed every call returns the same samples.

        Parameters
        ----------
        n_samples : int, default 1
            Number of samples, >= 1.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), float64
            The samples, grouped by component (component 0's first).
        y : ndarray of shape (n_samples,), int
            The component each sample was drawn from.

        Raises
        ------
        NotFittedError
            Before the model is fitted.
        """
        self._check_fitted("means_")
        self._check_fitted_covariance_type()
        n_samples = check_int(n_samples, "n_samples", low=1)
        # X in float64 and its labels, each component's rows drawn then stacked (twice X)
        check_fits_in_memory(n_samples * (16.0 * self._n_features() + 8.0), f"sample({n_samples})",
                             "draw fewer samples at a time")
        return self._draw(n_samples, check_random_state(self.random_state))

    def _draw(self, n_samples: int, rng):
        _, d = self.means_.shape
        counts = rng.multinomial(n_samples, self.weights_.astype(np.float64))
        ct = self.covariance_type
        if ct in ("full", "tied"):
            covs = self.covariances_ if ct == "full" else [self.covariances_] * len(counts)
            X = np.vstack([rng.multivariate_normal(mean, cov, int(s))
                           for (mean, cov, s) in zip(self.means_, covs, counts)])
        else:
            X = np.vstack([mean + rng.standard_normal(size=(s, d)) * np.sqrt(cov)
                           for (mean, cov, s) in zip(self.means_, self.covariances_, counts)])
        y = np.concatenate([np.full(s, j, dtype=int) for j, s in enumerate(counts)])
        return X, y

    def _n_parameters(self) -> int:
        K, d = np.shape(self.means_)          # (the fitted K: n_components may have been set since)
        return gauss.n_parameters(K, d, self.covariance_type)

    @exclusive
    def bic(self, X: SamplesLike) -> float:
        """Bayesian information criterion of the model on X (lower is better).

        ``-2 * score(X) * n_samples + n_parameters * log(n_samples)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), np.memmap, str or path, or dask.array.Array
            The samples, in any form :meth:`fit` takes, with the model's
            number of features.

        Returns
        -------
        bic : float

        Raises
        ------
        NotFittedError
            Before the model is fitted.
        ValueError
            If X has another number of features than the model, or holds
            NaN or infinity.
        """
        n = self._validate_predict_X(X).n
        return -2 * self.score(X) * n + self._n_parameters() * np.log(n)

    @exclusive
    def aic(self, X: SamplesLike) -> float:
        """Akaike information criterion of the model on X (lower is better).

        ``-2 * score(X) * n_samples + 2 * n_parameters``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), np.memmap, str or path, or dask.array.Array
            The samples, in any form :meth:`fit` takes, with the model's
            number of features.

        Returns
        -------
        aic : float

        Raises
        ------
        NotFittedError
            Before the model is fitted.
        ValueError
            If X has another number of features than the model, or holds
            NaN or infinity.
        """
        n = self._validate_predict_X(X).n
        return -2 * self.score(X) * n + 2 * self._n_parameters()

    # ------------------------------------------------- internal interface
    def _reordered(self, order: np.ndarray) -> GaussianMixture:
        """A copy of this fitted model whose component k is this model's ``order[k]``."""
        self._check_fitted("means_")
        new = type(self)(**self.get_params(deep=False))
        new.__dict__.update(self.__dict__)
        per_component = ["weights_", "means_"]
        if self.covariance_type != "tied":
            per_component += ["covariances_", "precisions_", "precisions_cholesky_"]
        for name in per_component:
            setattr(new, name, np.ascontiguousarray(getattr(self, name)[order]))
        return new

