"""Gaussian mixture models fitted by EM, compatible with scikit-learn's.

The arithmetic runs in the Cython kernels of ``src/_gmm.pyx``: one fused pass
per EM iteration computes the responsibilities and the M-step statistics
chunk by chunk, so a fit needs the data plus O(chunk * K) memory.  This module
validates input, turns statistics into parameters (in float64, on K x d x d
arrays) and reproduces scikit-learn's fitting protocol: initialisation,
convergence test, ``n_init``, ``warm_start``, the final E-step and the
``ConvergenceWarning``.
"""

from __future__ import annotations

import functools
import numbers
import os
import sys
import time
import warnings
from typing import Any

import numpy as np

from ._dispatch import load
from ._finite import all_finite
from ._kmeans import kmeans, kmeans_plusplus
from ._random import check_random_state
from ._threads import effective_n_threads, threads_for
from .exceptions import ConvergenceWarning, DegenerateDataWarning, NotFittedError

_k = load("_gmm")

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
_LOG_2PI = np.log(2.0 * np.pi)
# the kernels' statistics layout per covariance type (tied pools full statistics)
_STATS_KIND = {"full": _k.FULL, "tied": _k.FULL, "diag": _k.DIAG, "spherical": _k.SPHERICAL}


# --------------------------------------------------------------------------
# Parameter algebra (small arrays, float64)
# --------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _tri_indices(d):
    """Row and column indices of the packed upper triangle (cached: called every EM iteration)."""
    iu = np.triu_indices(d)
    for a in iu:
        a.flags.writeable = False
    return iu


def _unpack_sym(packed, d):
    """(K, d(d+1)/2) packed upper triangles -> (K, d, d) symmetric matrices."""
    iu = _tri_indices(d)
    out = np.zeros((packed.shape[0], d, d))
    out[:, iu[0], iu[1]] = packed
    out[:, iu[1], iu[0]] = packed
    return out


def _chol_lower(cov):
    """Batched lower Cholesky; raises numpy.linalg.LinAlgError when not PD."""
    return np.linalg.cholesky(cov)


def _precision_cholesky(cov, covariance_type):
    """Upper-triangular P with P @ P.T = inverse(cov) (scikit-learn's layout).

    For 'diag' and 'spherical' it is 1/sqrt(cov).  Raises LinAlgError for
    matrices that are not positive definite.
    """
    if covariance_type in ("full", "tied"):
        mats = cov if covariance_type == "full" else cov[None]
        L = _chol_lower(mats)
        P = np.swapaxes(np.linalg.inv(L), -1, -2)
        return P if covariance_type == "full" else P[0]
    if np.any(cov <= 0.0) or not np.all(np.isfinite(cov)):
        raise np.linalg.LinAlgError("non-positive variance")
    return 1.0 / np.sqrt(cov)


def _precision_cholesky_from_precisions(prec, covariance_type):
    if covariance_type in ("full", "tied"):
        mats = prec if covariance_type == "full" else prec[None]
        # P = flip(chol(flip(prec))) gives upper-triangular P with P @ P.T = prec
        flipped = mats[..., ::-1, ::-1]
        L = np.linalg.cholesky(flipped)
        P = L[..., ::-1, ::-1]
        return P if covariance_type == "full" else P[0]
    return np.sqrt(prec)


def _precisions_from_cholesky(pchol, covariance_type):
    if covariance_type == "full":
        return pchol @ np.swapaxes(pchol, -1, -2)
    if covariance_type == "tied":
        return pchol @ pchol.T
    return pchol ** 2


def _covariances_from_cholesky(pchol, covariance_type):
    if covariance_type in ("full", "tied"):
        prec = _precisions_from_cholesky(pchol, covariance_type)
        return np.linalg.inv(prec)
    return 1.0 / pchol ** 2


def _log_det_cholesky(pchol, covariance_type, d):
    if covariance_type == "full":
        return np.log(np.diagonal(pchol, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return np.log(np.diag(pchol)).sum()
    if covariance_type == "diag":
        return np.log(pchol).sum(axis=1)
    return d * np.log(pchol)


def _n_parameters(K, d, covariance_type):
    if covariance_type == "full":
        cov_params = K * d * (d + 1) / 2.0
    elif covariance_type == "diag":
        cov_params = K * d
    elif covariance_type == "tied":
        cov_params = d * (d + 1) / 2.0
    else:
        cov_params = K
    return int(cov_params + K * d + K - 1)


# --------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------

def _user_stacklevel() -> int:
    """``stacklevel`` for warnings.warn that names the first caller outside gmmfast.

    The same warning is raised from different depths (fit, fit_predict, the
    initialisation), so a fixed stacklevel would point inside the package.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _is_int(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _validate_X(X, *, name="X", min_samples=1) -> np.ndarray:
    """2-D finite float32/float64 C-contiguous array (other numbers -> float64)."""
    if hasattr(X, "__array__") or isinstance(X, (list, tuple)):
        try:
            arr = np.asarray(X)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} could not be converted to a numeric array: {exc}") from exc
    else:
        raise TypeError(f"{name} must be an array-like of shape (n_samples, n_features), got {type(X).__name__}.")
    if arr.dtype.kind in "c":
        raise TypeError(f"{name} is complex; Gaussian mixtures need real numbers.")
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name} must contain numbers, got dtype {arr.dtype}.") from exc
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if arr.ndim == 1:
        raise ValueError(
            f"Expected a 2-D {name} (n_samples, n_features), got a 1-D array of length {arr.shape[0]}. "
            "Reshape with X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one sample."
        )
    if arr.ndim != 2:
        raise ValueError(f"Expected a 2-D {name} (n_samples, n_features), got a {arr.ndim}-D array of shape {arr.shape}.")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has 0 features (shape {arr.shape}); at least one is required.")
    if arr.shape[0] < min_samples:
        raise ValueError(f"{name} has {arr.shape[0]} sample(s) (shape {arr.shape}); at least {min_samples} required.")
    if not all_finite(arr):
        raise ValueError(f"{name} contains NaN or infinity; remove or impute those values first.")
    return np.ascontiguousarray(arr)


def _distinct_rows_upto(X, k):
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


# --------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------

class GaussianMixture:
    """Gaussian mixture model fitted by expectation-maximisation.

    A drop-in replacement for ``sklearn.mixture.GaussianMixture``: the same
    parameters, fitted attributes and methods, plus ``n_threads``.  float32
    input is computed in float32 (statistics accumulate in float64), float64
    in float64, other numbers are converted to float64.

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
        Seed for initialisation and :meth:`sample`.
    warm_start : bool, default False
        Start from the previous fit's parameters on the next ``fit``.
    verbose : int, default 0
        1 prints initialisation progress, 2 also iterations and timings.
    verbose_interval : int, default 10
        Iterations between progress lines.
    n_threads : int or None, default None
        OpenMP threads for the kernels (None: all usable cores).

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
    n_features_in_ : int
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, reg_covar=1e-6,
                 max_iter=100, n_init=1, init_params="kmeans", weights_init=None,
                 means_init=None, precisions_init=None, random_state=None, warm_start=False,
                 verbose=0, verbose_interval=10, n_threads=None):
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
        self.n_threads = n_threads

    # ---------------------------------------------------------- parameters
    _PARAM_NAMES = ("covariance_type", "init_params", "max_iter", "means_init", "n_components",
                    "n_init", "n_threads", "precisions_init", "random_state", "reg_covar", "tol",
                    "verbose", "verbose_interval", "warm_start", "weights_init")

    @classmethod
    def _get_param_names(cls):
        return sorted(cls._PARAM_NAMES)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters of this estimator, as a dict."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params) -> "GaussianMixture":
        """Set constructor parameters; unknown names raise ValueError."""
        valid = set(self._get_param_names())
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for GaussianMixture. Valid parameters are: {sorted(valid)}."
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        defaults = GaussianMixture().get_params()
        changed = []
        for k, v in self.get_params().items():
            dv = defaults[k]
            same = (v is dv) or (not isinstance(v, np.ndarray) and not isinstance(dv, np.ndarray) and v == dv)
            if not same:
                changed.append(f"{k}={v!r}" if not isinstance(v, np.ndarray) else f"{k}=array{v.shape}")
        return f"GaussianMixture({', '.join(changed)})"

    def _check_parameters(self, d):
        if not _is_int(self.n_components) or self.n_components < 1:
            raise ValueError(f"n_components must be a positive integer, got {self.n_components!r}.")
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {self.covariance_type!r}.")
        if not _is_real(self.tol) or not self.tol >= 0:
            raise ValueError(f"tol must be a non-negative number, got {self.tol!r}.")
        if not _is_real(self.reg_covar) or not self.reg_covar >= 0:
            raise ValueError(f"reg_covar must be a non-negative number, got {self.reg_covar!r}.")
        if not _is_int(self.max_iter) or self.max_iter < 0:
            raise ValueError(f"max_iter must be a non-negative integer, got {self.max_iter!r}.")
        if not _is_int(self.n_init) or self.n_init < 1:
            raise ValueError(f"n_init must be a positive integer, got {self.n_init!r}.")
        if self.init_params not in INIT_PARAMS:
            raise ValueError(f"init_params must be one of {INIT_PARAMS}, got {self.init_params!r}.")
        if not _is_int(self.verbose_interval) or self.verbose_interval < 1:
            raise ValueError(f"verbose_interval must be a positive integer, got {self.verbose_interval!r}.")
        if not _is_int(self.verbose) or self.verbose < 0:
            raise ValueError(f"verbose must be a non-negative integer, got {self.verbose!r}.")
        effective_n_threads(self.n_threads)
        K = self.n_components
        self._weights_init_ = self._check_weights_init(K)
        self._means_init_ = self._check_means_init(K, d)
        self._precisions_init_ = self._check_precisions_init(K, d)

    def _check_weights_init(self, K):
        if self.weights_init is None:
            return None
        w = np.asarray(self.weights_init, dtype=np.float64)
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
        m = np.asarray(self.means_init, dtype=np.float64)
        if m.shape != (K, d):
            raise ValueError(f"means_init must have shape ({K}, {d}), got {m.shape}.")
        if not np.isfinite(m).all():
            raise ValueError("means_init contains NaN or infinity.")
        return m

    def _check_precisions_init(self, K, d):
        if self.precisions_init is None:
            return None
        p = np.asarray(self.precisions_init, dtype=np.float64)
        shapes = {"full": (K, d, d), "tied": (d, d), "diag": (K, d), "spherical": (K,)}
        want = shapes[self.covariance_type]
        if p.shape != want:
            raise ValueError(
                f"precisions_init for covariance_type={self.covariance_type!r} must have shape {want}, got {p.shape}."
            )
        if not np.isfinite(p).all():
            raise ValueError("precisions_init contains NaN or infinity.")
        if self.covariance_type in ("full", "tied"):
            mats = p if p.ndim == 3 else p[None]
            if not np.allclose(mats, np.swapaxes(mats, -1, -2)):
                raise ValueError("precisions_init must be symmetric, positive-definite matrices; some are not symmetric.")
            if np.any(np.linalg.eigvalsh(mats) <= 0):
                raise ValueError("precisions_init must be symmetric, positive-definite matrices; some are not positive definite.")
        elif np.any(p <= 0):
            raise ValueError(f"precisions_init for {self.covariance_type!r} must be positive.")
        return p

    # ------------------------------------------------------------- kernels
    def _kernel_params(self, dtype, weights, means, pchol):
        """Arrays the kernels take, in the compute dtype."""
        K, d = means.shape
        ct = self.covariance_type
        logdet = _log_det_cholesky(pchol, ct, d)
        with np.errstate(divide="ignore"):
            log_const = np.log(weights) - 0.5 * d * _LOG_2PI + logdet
        if ct == "full":
            prec = pchol.reshape(-1)
            kind = _k.FULL
        elif ct == "tied":
            prec = np.broadcast_to(pchol, (K, d, d)).reshape(-1)
            kind = _k.TIED
        elif ct == "diag":
            prec = pchol.reshape(-1)
            kind = _k.DIAG
        else:
            prec = pchol
            kind = _k.SPHERICAL
        # copies: the M-step kernel writes the next iteration's arrays into them in place
        return (np.array(means, dtype=dtype, order="C"), np.array(prec, dtype=dtype, order="C"),
                np.array(log_const, dtype=dtype, order="C"), kind)

    def _m_step_from_stats(self, stats, ref, eps, rng, X):
        """Parameters from summed statistics centred on ``ref`` (float64)."""
        K, d = ref.shape
        ct = self.covariance_type
        n_raw = stats[:, 0]
        S1 = stats[:, 1:1 + d]
        nk = n_raw + 10 * eps
        means = (n_raw[:, None] * ref + S1) / nk[:, None]
        delta = means - ref
        if ct in ("full", "tied"):
            S2 = _unpack_sym(stats[:, 1 + d:], d)
            C = (S2 - S1[:, :, None] * delta[:, None, :] - delta[:, :, None] * S1[:, None, :]
                 + n_raw[:, None, None] * delta[:, :, None] * delta[:, None, :])
            if ct == "full":
                cov = C / nk[:, None, None]
                cov[:, np.arange(d), np.arange(d)] += self.reg_covar
            else:
                cov = C.sum(axis=0) / nk.sum()
                cov[np.arange(d), np.arange(d)] += self.reg_covar
        elif ct == "diag":
            C = stats[:, 1 + d:] - 2.0 * S1 * delta + n_raw[:, None] * delta ** 2
            cov = C / nk[:, None] + self.reg_covar
        else:
            # sum r ||x - mean||^2 from sum r ||x - ref||^2
            C = stats[:, 1 + d] - 2.0 * (S1 * delta).sum(axis=1) + n_raw * (delta ** 2).sum(axis=1)
            cov = C / nk / d + self.reg_covar
        weights = nk
        # Components that lost all their samples would be degenerate: re-seed them.
        empty = n_raw <= 1e-10 * max(X.shape[0], 1)
        if np.any(empty) and K > 1:
            means, cov, weights = self._reseed(X, means, cov, weights, empty, rng)
        cov = np.maximum(cov, 0.0) if ct in ("diag", "spherical") else cov
        pchol, cov = self._safe_precision_cholesky(cov)
        return weights / weights.sum(), means, cov, pchol

    def _reseed(self, X, means, cov, weights, empty, rng):
        idx = np.flatnonzero(empty)
        warnings.warn(
            f"{len(idx)} mixture component(s) became empty (no samples assigned); re-seeded "
            "at random samples with the data's variance. The data may have fewer clusters "
            "than n_components.", DegenerateDataWarning, stacklevel=_user_stacklevel())
        n, d = X.shape
        picks = rng.choice(n, size=len(idx), replace=len(idx) > n)
        means = means.copy()
        means[idx] = X[picks]
        var = np.var(X, axis=0, dtype=np.float64) + self.reg_covar
        ct = self.covariance_type
        cov = cov.copy()
        if ct == "full":
            cov[idx] = np.diag(var)
        elif ct == "diag":
            cov[idx] = var
        elif ct == "spherical":
            cov[idx] = var.mean()
        weights = weights.copy()
        weights[idx] = max(weights.sum(), 1.0) / n
        return means, cov, weights

    def _safe_precision_cholesky(self, cov):
        """Cholesky of the precisions, adding regularisation when a covariance is not PD."""
        ct = self.covariance_type
        try:
            return _precision_cholesky(cov, ct), cov
        except np.linalg.LinAlgError:
            pass
        d = cov.shape[-1] if ct in ("full", "tied") else None
        scale = max(self.reg_covar, 1e-12)
        for attempt in range(1, 40):
            reg = scale * 10.0 ** attempt
            if ct in ("full", "tied"):
                trial = cov.copy()
                trial[..., np.arange(d), np.arange(d)] += reg
            else:
                trial = np.maximum(cov, 0.0) + reg
            try:
                pchol = _precision_cholesky(trial, ct)
            except np.linalg.LinAlgError:
                continue
            warnings.warn(
                f"Some covariances were not positive definite (degenerate or collinear data); "
                f"added {reg:.3g} to their diagonals. Consider increasing reg_covar.",
                DegenerateDataWarning, stacklevel=_user_stacklevel())
            return pchol, trial
        raise ValueError(
            "Fitting the mixture failed: covariances could not be made positive definite. "
            "Check the data for extreme values or increase reg_covar."
        )

    def _em_iteration(self, X, kparams, buffers, eps, rng, nt):
        """One EM iteration: the fused E-step pass, then the M-step.

        ``kparams`` are em_pass's arrays (from ``_kernel_params``); the M-step
        kernel overwrites them with the next iteration's.  Returns the mean
        log-likelihood under the old parameters, the new (weights, means, cov,
        pchol) in float64, and the kernel arrays for the next pass.
        """
        km, kp, klc, kind = kparams
        block_stats, block_ll, stats = buffers
        _k.em_pass(X, km, kp, klc, kind, block_stats, block_ll, nt)
        K, d = km.shape
        ct = self.covariance_type
        shape = {"full": (K, d, d), "tied": (d, d), "diag": (K, d), "spherical": (K,)}[ct]
        weights, means, cov, pchol = np.empty(K), np.empty((K, d)), np.empty(shape), np.empty(shape)
        status, total = _k.m_step(block_stats, block_ll, X.shape[0], km, _k.COVARIANCE_CODES[ct],
                                  self.reg_covar, eps, stats, weights, means, cov.reshape(-1),
                                  pchol.reshape(-1), km, kp, klc)
        if status == _k.M_STEP_NONFINITE:
            raise ValueError(
                "Numerical failure in the E-step (non-finite log-likelihood): the data may be "
                "too large in magnitude; rescale it."
            )
        if status != _k.M_STEP_OK:
            # an empty component or a covariance that is not positive definite: the
            # Python M-step re-seeds or regularises (and warns); km is still the reference
            weights, means, cov, pchol = self._m_step_from_stats(stats, km.astype(np.float64), eps, rng, X)
            kparams = self._kernel_params(X.dtype, weights, means, pchol)
        return total / X.shape[0], (weights, means, cov, pchol), kparams

    # -------------------------------------------------------- initialising
    def _initial_resp_stats(self, X, rng, nt):
        """Statistics of the initial responsibilities, and the reference they are centred on."""
        n, d = X.shape
        K = self.n_components
        kind = _STATS_KIND[self.covariance_type]
        ns = _k.n_stats(d, kind)
        chunk_stats = np.empty((_k.n_chunks(n), K * ns))
        if self.init_params in ("kmeans", "k-means++", "random_from_data"):
            labels = np.full(n, -1, dtype=np.intp)
            if self.init_params == "kmeans":
                res = kmeans(X, K, random_state=rng, n_threads=nt)
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
            _k.hard_stats(X, labels, ref, kind, chunk_stats, nt)
            stats = chunk_stats.sum(axis=0).reshape(K, ns)
            return stats, ref.astype(np.float64)
        # 'random': soft random responsibilities (N x K, like scikit-learn)
        resp = rng.uniform(size=(n, K)).astype(X.dtype)
        resp /= resp.sum(axis=1)[:, None]
        Xd = X.astype(np.float64)
        ref = np.zeros((K, d))
        stats = np.empty((K, ns))
        r = resp.astype(np.float64)
        stats[:, 0] = r.sum(axis=0)
        stats[:, 1:1 + d] = r.T @ Xd
        if kind == _k.FULL:
            iu = _tri_indices(d)
            for k in range(K):
                S2 = (Xd * r[:, k:k + 1]).T @ Xd
                stats[k, 1 + d:] = S2[iu]
        elif kind == _k.DIAG:
            stats[:, 1 + d:] = r.T @ (Xd * Xd)
        else:
            stats[:, 1 + d] = r.T @ (Xd * Xd).sum(axis=1)
        return stats, ref

    def _initial_parameters(self, X, rng, nt):
        n, d = X.shape
        eps = np.finfo(X.dtype).eps
        have_all = (self._weights_init_ is not None and self._means_init_ is not None
                    and self._precisions_init_ is not None)
        weights = means = cov = pchol = None
        if not have_all:
            stats, ref = self._initial_resp_stats(X, rng, nt)
            w, means, cov, pchol = self._m_step_from_stats(stats, ref, eps, rng, X)
            n_raw = stats[:, 0]
            # scikit-learn keeps nk / n_samples (not normalised) as initial weights
            weights = (n_raw + 10 * eps) / n
            if np.any(n_raw <= 1e-10 * n):
                weights = w
        if self._weights_init_ is not None:
            weights = self._weights_init_.copy()
        if self._means_init_ is not None:
            means = self._means_init_.copy()
        if self._precisions_init_ is not None:
            pchol = _precision_cholesky_from_precisions(self._precisions_init_, self.covariance_type)
            cov = None
        return weights, means, cov, pchol

    # ------------------------------------------------------------- fitting
    def fit(self, X, y=None) -> "GaussianMixture":
        """Estimate the model parameters with EM; returns self."""
        self._fit(_validate_X(X, min_samples=2))
        return self

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit the model and return the most probable component of each sample."""
        X = _validate_X(X, min_samples=2)
        self._fit(X)
        # Final E-step so that fit_predict(X) == fit(X).predict(X).
        return self._predict_validated(X)

    def _fit(self, X) -> None:
        """EM on validated X; sets the fitted attributes (fit skips fit_predict's final E-step)."""
        n, d = X.shape
        self._check_parameters(d)
        if n < self.n_components:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = {self.n_components}, n_samples = {n}."
            )
        n_distinct = _distinct_rows_upto(X, self.n_components)
        if n_distinct < self.n_components:
            warnings.warn(
                f"X has only {n_distinct} distinct sample(s), fewer than n_components="
                f"{self.n_components}: some components will duplicate others or be re-seeded.",
                DegenerateDataWarning, stacklevel=_user_stacklevel())
        if self.warm_start and hasattr(self, "converged_") and self.n_features_in_ != d:
            raise ValueError(
                f"X has {d} features, but the warm-started model was fitted with {self.n_features_in_}."
            )
        nt = threads_for(n, self.n_threads)
        rng = check_random_state(self.random_state)
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        eps = np.finfo(X.dtype).eps
        K = self.n_components
        nb = _k.n_blocks(n)
        ns = _k.n_stats(d, _STATS_KIND[self.covariance_type])
        buffers = (np.empty((nb, K * ns)), np.empty(nb), np.empty((K, ns)))

        max_lower_bound = -np.inf
        best_params = None
        best_n_iter = 0
        best_lower_bounds: list[float] = []
        self.converged_ = False
        t_start = time.perf_counter()
        for init in range(n_init):
            if self.verbose:
                print(f"Initialization {init}")
            t_init = t_iter = time.perf_counter()
            if do_init:
                weights, means, cov, pchol = self._initial_parameters(X, rng, nt)
                lower_bound = -np.inf
            else:
                weights = self.weights_.astype(np.float64)
                means = self.means_.astype(np.float64)
                pchol = self.precisions_cholesky_.astype(np.float64)
                cov = self.covariances_.astype(np.float64)
                lower_bound = self.lower_bound_
            current_lower_bounds: list[float] = []
            if self.max_iter == 0:
                best_params = (weights, means, cov, pchol)
                best_n_iter = 0
                continue
            converged = False
            kparams = self._kernel_params(X.dtype, weights, means, pchol)
            for n_iter in range(1, self.max_iter + 1):
                prev_lower_bound = lower_bound
                lower_bound, (weights, means, cov, pchol), kparams = self._em_iteration(
                    X, kparams, buffers, eps, rng, nt)
                current_lower_bounds.append(float(lower_bound))
                change = lower_bound - prev_lower_bound
                if self.verbose >= 1 and n_iter % self.verbose_interval == 0:
                    now = time.perf_counter()
                    if self.verbose == 1:
                        print(f"  Iteration {n_iter}")
                    else:
                        print(f"  Iteration {n_iter}\t time lapse {now - t_iter:.5f}s\t ll change {change:.5f}")
                    t_iter = now
                if abs(change) < self.tol:
                    converged = True
                    break
            if self.verbose:
                msg = "converged" if converged else "did not converge"
                if self.verbose == 1:
                    print(f"Initialization {msg}.")
                else:
                    print(f"Initialization {msg}. time lapse {time.perf_counter() - t_init:.5f}s\t lower bound {lower_bound:.5f}.")
            if lower_bound > max_lower_bound or max_lower_bound == -np.inf:
                max_lower_bound = lower_bound
                best_params = (weights, means, cov, pchol)
                best_n_iter = n_iter
                best_lower_bounds = current_lower_bounds
                self.converged_ = converged

        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init parameters, "
                "or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning, stacklevel=_user_stacklevel())
        self._set_parameters(best_params, X.dtype)
        self._warn_identical_components()
        self.n_iter_ = best_n_iter
        self.lower_bound_ = float(max_lower_bound)
        self.lower_bounds_ = best_lower_bounds
        self.n_features_in_ = d
        self.fit_time_ = time.perf_counter() - t_start

    def _set_parameters(self, params, dtype):
        weights, means, cov, pchol = params
        ct = self.covariance_type
        if cov is None:
            cov = _covariances_from_cholesky(pchol, ct)
        self.weights_ = np.asarray(weights, dtype=dtype)
        self.means_ = np.asarray(means, dtype=dtype)
        self.covariances_ = np.asarray(cov, dtype=dtype)
        self.precisions_cholesky_ = np.asarray(pchol, dtype=dtype)
        self.precisions_ = np.asarray(_precisions_from_cholesky(pchol, ct), dtype=dtype)

    def _warn_identical_components(self):
        """Warn when two components ended up the same (fewer distinct clusters than K)."""
        K, d = self.means_.shape
        if K < 2:
            return
        means = self.means_.astype(np.float64)
        pchol = self.precisions_cholesky_.astype(np.float64)
        ct = self.covariance_type
        if ct == "full":
            P = pchol
        elif ct == "tied":
            P = np.broadcast_to(pchol, (K, d, d))
        elif ct == "diag":
            P = pchol[:, :, None] * np.eye(d)
        else:
            P = pchol[:, None, None] * np.eye(d)
        cov = self.covariances_.astype(np.float64)
        twins = []
        for i in range(K):
            for j in range(i + 1, K):
                # distance of the means in component i's Mahalanobis units
                y = (means[j] - means[i]) @ P[i]
                if y @ y > 1e-8:
                    continue
                ci = cov[i] if ct in ("full", "diag", "spherical") else cov
                cj = cov[j] if ct in ("full", "diag", "spherical") else cov
                if np.linalg.norm(ci - cj) <= 1e-3 * np.linalg.norm(ci):
                    twins.append((i, j))
        if twins:
            warnings.warn(
                f"{len(twins)} pair(s) of components are identical (for example components "
                f"{twins[0][0]} and {twins[0][1]}): the data has fewer distinct clusters than "
                f"n_components={K}, or duplicated points were picked as seeds. Consider a smaller "
                "n_components.", DegenerateDataWarning, stacklevel=_user_stacklevel())

    # ---------------------------------------------------------- predicting
    def _check_is_fitted(self):
        if not hasattr(self, "means_"):
            raise NotFittedError(
                "This GaussianMixture instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator."
            )

    def _validate_predict_X(self, X):
        self._check_is_fitted()
        X = _validate_X(X, min_samples=1)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but GaussianMixture is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X

    def _compute_args(self, X):
        # The fitted parameters are stored in the training dtype; compute in X's dtype.
        weights = self.weights_.astype(np.float64)
        means = self.means_.astype(np.float64)
        pchol = self.precisions_cholesky_.astype(np.float64)
        return self._kernel_params(X.dtype, weights, means, pchol)

    def _predict_validated(self, X):
        m, prec, lc, kind = self._compute_args(X)
        labels = np.empty(X.shape[0], dtype=np.intp)
        _k.e_step(X, m, prec, lc, kind, threads_for(X.shape[0], self.n_threads), labels=labels)
        return labels

    def predict(self, X) -> np.ndarray:
        """Most probable component of each sample, shape (n_samples,)."""
        X = self._validate_predict_X(X)
        return self._predict_validated(X)

    def predict_proba(self, X) -> np.ndarray:
        """Posterior probability of each component, shape (n_samples, n_components)."""
        X = self._validate_predict_X(X)
        m, prec, lc, kind = self._compute_args(X)
        resp = np.empty((X.shape[0], self.n_components), dtype=X.dtype)
        _k.e_step(X, m, prec, lc, kind, threads_for(X.shape[0], self.n_threads), resp=resp)
        return resp

    def score_samples(self, X) -> np.ndarray:
        """Log-likelihood log p(x) of each sample, shape (n_samples,)."""
        X = self._validate_predict_X(X)
        m, prec, lc, kind = self._compute_args(X)
        out = np.empty(X.shape[0], dtype=X.dtype)
        _k.e_step(X, m, prec, lc, kind, threads_for(X.shape[0], self.n_threads), log_prob_norm=out)
        return out

    def score(self, X, y=None) -> float:
        """Average log-likelihood of the samples."""
        return float(np.mean(self.score_samples(X), dtype=np.float64))

    def _estimate_weighted_log_prob(self, X) -> np.ndarray:
        """log w_k + log N(x | k) for every sample and component."""
        X = self._validate_predict_X(X)
        m, prec, lc, kind = self._compute_args(X)
        out = np.empty((X.shape[0], self.n_components), dtype=X.dtype)
        _k.e_step(X, m, prec, lc, kind, threads_for(X.shape[0], self.n_threads), weighted_log_prob=out)
        return out

    def sample(self, n_samples: int = 1):
        """Draw samples from the fitted mixture.

        Returns ``(X, y)``: the samples, grouped by component, and their
        component labels (scikit-learn's convention and random stream).
        """
        self._check_is_fitted()
        if not _is_int(n_samples) or n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {n_samples!r}. It must be a positive integer.")
        _, d = self.means_.shape
        rng = check_random_state(self.random_state)
        n_samples_comp = rng.multinomial(n_samples, self.weights_.astype(np.float64))
        ct = self.covariance_type
        if ct == "full":
            X = np.vstack([rng.multivariate_normal(mean, cov, int(s))
                           for (mean, cov, s) in zip(self.means_, self.covariances_, n_samples_comp)])
        elif ct == "tied":
            X = np.vstack([rng.multivariate_normal(mean, self.covariances_, int(s))
                           for (mean, s) in zip(self.means_, n_samples_comp)])
        else:
            X = np.vstack([mean + rng.standard_normal(size=(s, d)) * np.sqrt(cov)
                           for (mean, cov, s) in zip(self.means_, self.covariances_, n_samples_comp)])
        y = np.concatenate([np.full(s, j, dtype=int) for j, s in enumerate(n_samples_comp)])
        return X, y

    def _n_parameters(self) -> int:
        _, d = self.means_.shape
        return _n_parameters(self.n_components, d, self.covariance_type)

    def bic(self, X) -> float:
        """Bayesian information criterion of the model on X (lower is better)."""
        X = self._validate_predict_X(X)
        return -2 * self.score(X) * X.shape[0] + self._n_parameters() * np.log(X.shape[0])

    def aic(self, X) -> float:
        """Akaike information criterion of the model on X (lower is better)."""
        X = self._validate_predict_X(X)
        return -2 * self.score(X) * X.shape[0] + 2 * self._n_parameters()
