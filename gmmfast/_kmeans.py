"""k-means (Lloyd) and k-means++ seeding over the Cython kernels.

Used to initialise Gaussian mixtures (``init_params='kmeans'``) and by the
image tools.  The algorithm follows scikit-learn's ``KMeans(n_init=1)``:
greedy k-means++ seeding with ``2 + log(k)`` local trials, Lloyd iterations
until the labels stop changing or the centres move less than ``tol`` times
the mean feature variance, empty clusters moved to the farthest samples.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._dispatch import load
from ._threads import threads_for
from ._validation import (RandomStateLike, check_int, check_n_threads, check_random_state, check_real,
                          check_samples)
from .exceptions import DegenerateDataWarning

_k = load("_kmeans")


@dataclass(frozen=True, eq=False)
class KMeansResult:
    """Outcome of :func:`kmeans`.

    Attributes: ``centers`` (n_clusters, n_features), float32 for float32 X, else float64;
    ``labels`` (n_samples,) int32 index of each sample's centre; ``inertia``, the sum of squared
    distances to the centres; ``n_iter``, the Lloyd iterations run; ``converged``, whether the
    stopping rule was met before max_iter.
    """

    centers: np.ndarray
    """(n_clusters, n_features) cluster centres: float32 for float32 X, else float64."""
    labels: np.ndarray
    """(n_samples,) int32 index of each sample's centre."""
    inertia: float
    """Sum of squared distances of the samples to their centres."""
    n_iter: int
    """Lloyd iterations run."""
    converged: bool
    """Whether the stopping rule was met before max_iter."""


def _check_n_clusters(n_clusters, n_samples: int) -> int:
    n_clusters = check_int(n_clusters, "n_clusters", low=1)
    if n_clusters > n_samples:
        raise ValueError(f"n_samples={n_samples} should be >= n_clusters={n_clusters}.")
    return n_clusters


def kmeans_plusplus(X: ArrayLike, n_clusters: int, *, random_state: RandomStateLike = None,
                    n_local_trials: int | None = None,
                    n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007).

    Parameters
    ----------
    X : array-like (n_samples, n_features)
    n_clusters : int
        Centres to choose (at most n_samples).
    random_state : None, int, RandomState or Generator
    n_local_trials : int or None
        Candidates drawn per centre, the one that lowers the potential most kept
        (None: 2 + int(log(n_clusters)), scikit-learn's default).
    n_threads : int or None
        OpenMP threads (None: all cores).

    Returns
    -------
    centers : ndarray (n_clusters, n_features)
        Chosen samples: float32 for float32 X, else float64.
    indices : ndarray (n_clusters,)
        Their row indices in X.
    """
    X = check_samples(X)
    n, d = X.shape
    n_clusters = _check_n_clusters(n_clusters, n)
    rng = check_random_state(random_state)
    nt = threads_for(n, check_n_threads(n_threads))
    default_trials = 2 + int(np.log(n_clusters))
    # (each trial holds a distance per sample: more trials than samples draw nothing new)
    n_local_trials = default_trials if n_local_trials is None else check_int(
        n_local_trials, "n_local_trials", low=1, high=max(n, default_trials))
    indices = np.empty(n_clusters, dtype=np.intp)
    first = rng.randint(n)
    indices[0] = first
    # closest[i]: squared distance to the nearest chosen centre; chunk_pot[c]: its sum over
    # chunk c, written by the same pass, so drawing a sample needs no cumulative sum of all n
    n_chunks = _k.n_chunks(n)
    closest = np.full(n, np.inf)
    chunk_pot = np.empty((n_chunks, 1), dtype=np.float64)
    _k.candidate_potentials(X, np.ascontiguousarray(X[first:first + 1]), closest, chunk_pot, nt, True)
    pot = chunk_pot.sum()
    for c in range(1, n_clusters):
        if pot <= 0.0:
            # Every sample coincides with a chosen centre: pick unused rows at random.
            unused = np.setdiff1d(np.arange(n), indices[:c])
            indices[c] = rng.choice(unused)
            continue
        rand_vals = rng.uniform(size=n_local_trials) * pot
        cand = _draw_by_potential(closest, chunk_pot[:, 0], rand_vals)
        chunk_pots = np.empty((n_chunks, len(cand)), dtype=np.float64)
        _k.candidate_potentials(X, np.ascontiguousarray(X[cand]), closest, chunk_pots, nt)
        pots = chunk_pots.sum(axis=0)
        best = int(np.argmin(pots))
        indices[c] = cand[best]
        _k.candidate_potentials(X, np.ascontiguousarray(X[cand[best]:cand[best] + 1]), closest,
                                chunk_pot, nt, True)
        pot = chunk_pot.sum()
    return X[indices].copy(), indices


def _draw_by_potential(closest: np.ndarray, chunk_pot: np.ndarray, rand_vals: np.ndarray) -> np.ndarray:
    """For each r in rand_vals, the sample i with cumsum(closest)[i-1] <= r < cumsum(closest)[i].

    That is sample i with probability closest[i] / sum(closest) for uniform r, and never a
    sample whose ``closest`` is 0 (an already chosen centre).  Two levels, chunk then sample,
    so only one chunk's values are summed per draw.  A draw that rounding puts at or past
    the total goes to the last sample with mass.
    """
    size = _k.chunk_size()
    csum = np.cumsum(chunk_pot)
    chunks = np.searchsorted(csum, rand_vals, side="right")
    out = np.empty(len(rand_vals), dtype=np.intp)
    for t, (r, ch) in enumerate(zip(rand_vals, chunks)):
        if ch >= len(csum):
            ch = len(csum) - 1
            while chunk_pot[ch] <= 0.0 and ch > 0:
                ch -= 1
        lo = ch * size
        vals = closest[lo:lo + size]
        i = int(np.searchsorted(np.cumsum(vals), r - (csum[ch - 1] if ch > 0 else 0.0), side="right"))
        if i >= len(vals):
            i = len(vals) - 1
            while vals[i] <= 0.0 and i > 0:
                i -= 1
        out[t] = lo + i
    return out


def kmeans(X: ArrayLike, n_clusters: int, *, init: str | ArrayLike = "k-means++", max_iter: int = 300,
           tol: float = 1e-4, random_state: RandomStateLike = None,
           n_threads: int | None = None) -> KMeansResult:
    """Cluster X into ``n_clusters`` groups with Lloyd's algorithm.

    When X has fewer distinct points than ``n_clusters`` some clusters stay
    empty: a :class:`~gmmfast.DegenerateDataWarning` says so, and the result
    is still returned (the empty clusters' centres coincide with other points).

    Parameters
    ----------
    X : array-like (n_samples, n_features)
        float32 data is clustered in float32, anything else in float64.
    n_clusters : int
    init : 'k-means++', 'random' or an array (n_clusters, n_features)
        Initial centres.
    max_iter : int
        Maximum Lloyd iterations.
    tol : float
        Stop when the squared centre shift sums to at most ``tol`` times the
        mean feature variance of X (scikit-learn's rule).
    random_state : None, int, RandomState or Generator
    n_threads : int or None
        OpenMP threads (None: all cores).

    Returns
    -------
    KMeansResult
        ``.centers``, ``.labels``, ``.inertia``, ``.n_iter``, ``.converged``.
    """
    result = _lloyd(X, n_clusters, init=init, max_iter=max_iter, tol=tol, random_state=random_state,
                    n_threads=n_threads)
    found = int(np.count_nonzero(np.bincount(result.labels, minlength=len(result.centers))))
    if found < len(result.centers):
        warnings.warn(f"only {found} distinct cluster(s) found, fewer than n_clusters={len(result.centers)}: X has "
                      "fewer distinct points than clusters (duplicates); use a smaller n_clusters",
                      DegenerateDataWarning, stacklevel=2)
    return result


def _lloyd(X, n_clusters: int, *, init="k-means++", max_iter: int = 300, tol: float = 1e-4,
           random_state=None, n_threads: int | None = None) -> KMeansResult:
    """:func:`kmeans` without its warning (for callers that handle degenerate data themselves)."""
    X = check_samples(X)
    n, d = X.shape
    n_clusters = _check_n_clusters(n_clusters, n)
    max_iter = check_int(max_iter, "max_iter", low=1)
    tol = check_real(tol, "tol", low=0)
    rng = check_random_state(random_state)
    nt = threads_for(n, check_n_threads(n_threads))
    if isinstance(init, str):
        if init == "k-means++":
            centers, _ = kmeans_plusplus(X, n_clusters, random_state=rng, n_threads=nt)
        elif init == "random":
            centers = X[rng.choice(n, size=n_clusters, replace=False)].copy()
        else:
            raise ValueError(f"init must be 'k-means++', 'random' or an array, got {init!r}.")
    else:
        centers = np.array(init, dtype=X.dtype)
        if centers.shape != (n_clusters, d):
            raise ValueError(f"init centres must have shape {(n_clusters, d)}, got {centers.shape}.")
        if not np.isfinite(centers).all():
            raise ValueError("init centres contain NaN or infinity.")
    centers = np.ascontiguousarray(centers, dtype=X.dtype)
    tol_abs = float(tol) * float(np.mean(_k.column_variances(X, nt)))

    n_chunks = _k.n_chunks(n)
    labels = np.full(n, -1, dtype=np.int32)
    chunk_sums = np.empty((n_chunks, n_clusters * (d + 1)), dtype=np.float64)
    chunk_inertia = np.empty(n_chunks, dtype=np.float64)
    chunk_changed = np.empty(n_chunks, dtype=np.int64)
    converged = False
    strict = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        _k.lloyd_pass(X, centers, labels, chunk_sums, chunk_inertia, chunk_changed, nt)
        sums = chunk_sums.sum(axis=0).reshape(n_clusters, d + 1)
        counts = sums[:, 0]
        new_centers = centers.astype(np.float64)
        filled = counts > 0
        new_centers[filled] = sums[filled, 1:] / counts[filled, None]
        if not filled.all():
            _relocate_empty(X, centers, labels, new_centers, ~filled)
        shift = float(((new_centers - centers) ** 2).sum())
        centers = np.ascontiguousarray(new_centers, dtype=X.dtype)
        if n_iter > 1 and chunk_changed.sum() == 0:
            strict = converged = True
            break
        if shift <= tol_abs:
            converged = True
            break
    # One more assignment so that labels match the final centres (as scikit-learn does).
    if not strict:
        _k.lloyd_pass(X, centers, labels, chunk_sums, chunk_inertia, chunk_changed, nt)
    inertia = float(chunk_inertia.sum())
    if not np.isfinite(inertia):   # the kernel's squared distances are in X's dtype
        hint = "pass X as float64 or rescale it" if X.dtype == np.float32 else "rescale it"
        raise ValueError(f"Squared distances overflow {X.dtype} (X holds values up to "
                         f"{float(np.abs(X).max()):.3g}): {hint}.")
    return KMeansResult(centers=centers, labels=labels, inertia=inertia, n_iter=n_iter, converged=converged)


def _relocate_empty(X, centers, labels, new_centers, empty):
    """Move empty clusters to the samples farthest from their centres."""
    n = X.shape[0]
    dist = np.empty(n)
    for start in range(0, n, 1 << 16):   # blocks: no float64 copy of X
        diff = (X[start:start + (1 << 16)] - centers[labels[start:start + (1 << 16)]]).astype(np.float64)
        dist[start:start + diff.shape[0]] = np.einsum("ij,ij->i", diff, diff)
    n_empty = int(empty.sum())
    far = np.argsort(dist)[::-1][:n_empty]
    new_centers[np.flatnonzero(empty)] = X[far]
