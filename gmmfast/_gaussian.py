"""Gaussian-parameter algebra shared by the mixture, segmentation and GrabCut.

Everything here works on small float64 arrays in scikit-learn's layouts: a
covariance ``cov`` and its precision Cholesky factor ``pchol`` are
``(K, d, d)`` for 'full', ``(d, d)`` for 'tied', ``(K, d)`` for 'diag' and
``(K,)`` for 'spherical'; ``pchol`` is upper triangular with
``pchol @ pchol.T == inverse(cov)`` (1 / sqrt(cov) for 'diag' and
'spherical').  The EM loop itself computes these in the kernel
(``_gmm.m_step``/``pack_params``); this module serves the conversions around
it: user-given precisions, fitted attributes, model selection and the packing
other kernels take.
"""

from __future__ import annotations

import functools

import numpy as np

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
LOG_2PI = float(np.log(2.0 * np.pi))


@functools.lru_cache(maxsize=None)
def triu_indices(d: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the packed upper triangle of a d x d matrix (read-only, cached)."""
    iu = np.triu_indices(d)
    for a in iu:
        a.flags.writeable = False
    return iu


def cov_shape(covariance_type: str, K: int, d: int) -> tuple[int, ...]:
    """Shape of ``covariances_`` (and precisions) for ``covariance_type``."""
    return {"full": (K, d, d), "tied": (d, d), "diag": (K, d), "spherical": (K,)}[covariance_type]


def precision_cholesky(cov: np.ndarray, covariance_type: str) -> np.ndarray:
    """Upper-triangular P with P @ P.T = inverse(cov); raises LinAlgError if cov is not PD."""
    if covariance_type in ("full", "tied"):
        mats = cov if covariance_type == "full" else cov[None]
        P = np.swapaxes(np.linalg.inv(np.linalg.cholesky(mats)), -1, -2)
        return P if covariance_type == "full" else P[0]
    if np.any(cov <= 0.0) or not np.all(np.isfinite(cov)):
        raise np.linalg.LinAlgError("non-positive variance")
    return 1.0 / np.sqrt(cov)


def precision_cholesky_from_precisions(prec: np.ndarray, covariance_type: str) -> np.ndarray:
    """The same factor from precision matrices (scikit-learn's ``precisions_init``)."""
    if covariance_type in ("full", "tied"):
        mats = prec if covariance_type == "full" else prec[None]
        # flip(chol(flip(prec))) is upper triangular with P @ P.T = prec
        P = np.linalg.cholesky(mats[..., ::-1, ::-1])[..., ::-1, ::-1]
        return P if covariance_type == "full" else P[0]
    return np.sqrt(prec)


def precisions_from_cholesky(pchol: np.ndarray, covariance_type: str) -> np.ndarray:
    """Precision matrices (or precisions) from their Cholesky factors."""
    if covariance_type in ("full", "tied"):
        return pchol @ np.swapaxes(pchol, -1, -2)
    return pchol ** 2


def covariances_from_cholesky(pchol: np.ndarray, covariance_type: str) -> np.ndarray:
    """Covariances from the precision Cholesky factors."""
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(precisions_from_cholesky(pchol, covariance_type))
    return 1.0 / pchol ** 2


def log_det_cholesky(pchol: np.ndarray, covariance_type: str, d: int) -> np.ndarray | float:
    """log det of each precision factor (half the log det of the precision)."""
    if covariance_type == "full":
        return np.log(np.diagonal(pchol, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return np.log(np.diag(pchol)).sum()
    if covariance_type == "diag":
        return np.log(pchol).sum(axis=1)
    return d * np.log(pchol)


def n_parameters(K: int, d: int, covariance_type: str) -> int:
    """Free parameters of a K-component mixture in d dimensions (for BIC/AIC)."""
    cov_params = {"full": K * d * (d + 1) // 2, "diag": K * d, "tied": d * (d + 1) // 2,
                  "spherical": K}[covariance_type]
    return int(cov_params + K * d + K - 1)


def log_constants(weights: np.ndarray, pchol: np.ndarray, covariance_type: str, d: int) -> np.ndarray:
    """log w_k - d/2 log(2 pi) + log det P_k: the per-component constant of log w_k N(x | k)."""
    with np.errstate(divide="ignore"):
        return np.log(weights) - 0.5 * d * LOG_2PI + log_det_cholesky(pchol, covariance_type, d)


def packed_upper(pchol: np.ndarray) -> np.ndarray:
    """(K, d, d) upper-triangular factors as (K, d(d+1)/2) rows, row by row."""
    iu = triu_indices(pchol.shape[-1])
    return pchol[:, iu[0], iu[1]]


def unpack_symmetric(packed: np.ndarray, d: int) -> np.ndarray:
    """(K, d(d+1)/2) packed upper triangles -> (K, d, d) symmetric matrices."""
    iu = triu_indices(d)
    out = np.zeros((packed.shape[0], d, d))
    out[:, iu[0], iu[1]] = packed
    out[:, iu[1], iu[0]] = packed
    return out
