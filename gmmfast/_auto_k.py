"""The number of components of ``segment(image, n_components='auto')``.

A person looking at an image counts the colours that stand apart, not the
Gaussians needed to describe each colour's shading and texture.  Criteria built
on the likelihood (BIC, ICL, AIC) count the latter: on a photo's hundreds of
thousands of correlated pixels every extra component that bends the model
around a non-Gaussian colour cluster gains more log-likelihood than any
per-parameter penalty costs, so BIC chose 7-8 of 2..8 on ordinary photos and
15 of 2..15 on a red rose on a dark background.

:func:`choose_n_components` instead asks of each candidate mixture whether its
components are *distinct*: each one's pixels belong to it without doubt, and
none is a sliver.  Splitting one colour cluster in two always leaves the
pixels along the cut in doubt, however many pixels there are, so the
criterion stops where the colour clusters end.

How it decides (this is the whole rule):

1. Fit the mixture for K = k_lo, k_lo + 1, ... on the given features, each
   with the same options and seed, with the covariance regularisation raised to
   at least :data:`QUANTISATION_VARIANCE`.
2. For each fit, from the responsibilities r[i, k] of the n fitting pixels:

   - ``share[k] = sum_i r[i, k] / n``;
   - ``overlap[k] = sum_i h(r[i, k]) / sum_i r[i, k]`` with the binary entropy
     ``h(p) = -p log p - (1 - p) log(1 - p)``: the classification entropy
     (nats) between component k and all the others together, per pixel of k
     (the entropy criterion of Celeux & Soromenho 1996 and Biernacki, Celeux &
     Govaert 2000, taken one component at a time).  0 when every pixel is
     certainly in k or certainly not; 2 log 2 = 1.39 when each of k's pixels
     is an even toss-up between k and the rest.

   K is *distinct* when ``max overlap < max_overlap`` (:data:`MAX_OVERLAP`) and
   ``min share >= min_share`` (:data:`MIN_SHARE`); K = 1 is always distinct.
3. Stop after ``patience`` (:data:`PATIENCE`) consecutive K that are not
   distinct beyond the last distinct one, or at k_hi.
4. The answer is the largest distinct K fitted; if none is, k_lo.

Taking each component against *all* the others (not pair by pair) also
catches the component that gathers the blurred borders between many pairs of
regions: each pair lends it few pixels, together they make it doubtful.

The two thresholds were tuned on half of the project's real and generated
test images and confirmed on the other half (bench/RESULTS.md, "Automatic K").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ._validation import check_int, check_real, check_samples

__all__ = ["AutoK", "CandidateK", "choose_n_components", "component_overlap",
           "MAX_OVERLAP", "MIN_SHARE", "PATIENCE", "QUANTISATION_VARIANCE"]

#: Largest overlap (nats per pixel of the component) a component may have with
#: the others and still count as a region of its own.  Tuned on the tune half
#: (bench/RESULTS.md): 0.1 gave the right K on 63 of its 65 generated images.
MAX_OVERLAP = 0.1

#: Smallest share of the pixels a component may hold.  Below it a component is
#: usually the blurred border between regions (intermediate colours), not a
#: region; tuned with MAX_OVERLAP (2-3 % equally good, 5 % lost small regions).
MIN_SHARE = 0.03

#: Non-distinct K tried beyond the last distinct one before the search stops.
PATIENCE = 2

#: Floor of the covariance regularisation (in squared feature units) during
#: the search: the variance of rounding to whole levels.  8-bit JPEG pixels lie
#: on a lattice (flat areas even on a plane of constant chroma); with the
#: default reg_covar (1e-6) a component can collapse onto such a plane, take
#: several nats per pixel of likelihood from nothing and look perfectly
#: distinct.  Negligible against any visible colour variation (one level of an
#: 8-bit channel is 1 on the 0..255 RGB scale and below 1 on L*a*b*'s).
QUANTISATION_VARIANCE = 1.0 / 12.0


@dataclass(frozen=True)
class CandidateK:
    """One row of the criterion table: the fitted K-component mixture's scores.

    Attributes
    ----------
    n_components : int
        K.
    overlap : float
        Largest overlap of one of its components with the others (0 for
        K = 1); see :func:`component_overlap`.
    min_share : float
        Smallest share of the fitting pixels held by one component.
    bic : float
        Bayesian information criterion on the fitting pixels (lower = better
        likelihood per parameter; reported, not used to decide).
    distinct : bool
        Whether this K passes the thresholds.
    """

    n_components: int
    overlap: float
    min_share: float
    bic: float
    distinct: bool


@dataclass(frozen=True)
class AutoK:
    """The result of :func:`choose_n_components`.

    Attributes
    ----------
    n_components : int
        The chosen K.
    model : GaussianMixture
        The mixture fitted with K components (the one the table scored).
    table : dict[int, CandidateK]
        One row per K fitted, in increasing K (the search may stop before k_hi).
    """

    n_components: int
    model: Any
    table: dict


def component_overlap(resp: np.ndarray) -> np.ndarray:
    """Each component's overlap with all the others, from the responsibilities.

    ``overlap[k] = sum_i h(r_ik) / sum_i r_ik`` with the binary entropy
    ``h(p) = -p log p - (1 - p) log(1 - p)`` (nats, 0 log 0 = 0): how much in
    doubt membership of k is, per pixel of k.  An empty component gets ``inf``.

    Parameters
    ----------
    resp : ndarray, n x K
        Responsibilities (rows sum to 1), float32 or float64.

    Returns
    -------
    ndarray, (K,), float64.
    """
    resp = np.asarray(resp)
    if resp.ndim != 2 or resp.shape[0] == 0 or resp.shape[1] == 0:
        raise ValueError(f"resp must be a non-empty n x K array, got shape {resp.shape}")
    r = np.ascontiguousarray(resp.T, dtype=np.float64)  # one contiguous row per component
    tiny = np.finfo(np.float64).tiny  # 0 * log(tiny) = 0: the convention 0 log 0 = 0
    buf, rest = np.empty(r.shape[1]), np.empty(r.shape[1])
    out = np.empty(r.shape[0])
    for k, p in enumerate(r):
        np.subtract(1.0, p, out=rest)
        np.log(np.maximum(p, tiny, out=buf), out=buf)
        entropy = -np.einsum("i,i->", p, buf)  # not np.dot: BLAS threads stall on a busy machine
        np.log(np.maximum(rest, tiny, out=buf), out=buf)
        entropy -= np.einsum("i,i->", rest, buf)
        mass = p.sum()
        out[k] = max(entropy, 0.0) / mass if mass > 0 else np.inf
    return out


def _check_inputs(X, k_range, max_overlap, min_share, patience, min_reg_covar) -> tuple[np.ndarray, int, int]:
    X = check_samples(X, min_samples=2)
    if not isinstance(k_range, (tuple, list)) or len(k_range) != 2:
        raise TypeError(f"k_range must be a pair (smallest K, largest K), got {k_range!r}.")
    k_lo = check_int(k_range[0], "k_range[0]", low=1)
    k_hi = check_int(k_range[1], "k_range[1]", low=k_lo, high=X.shape[0])
    check_real(max_overlap, "max_overlap", low=0.0)
    check_real(min_share, "min_share", low=0.0, high=1.0)
    check_int(patience, "patience", low=1)
    check_real(min_reg_covar, "min_reg_covar", low=0.0)
    return X, k_lo, k_hi


def _score(model, X: np.ndarray, max_overlap: float, min_share: float) -> CandidateK:
    """The criterion's row for one fitted mixture."""
    K = int(len(model.weights_))
    resp = model.predict_proba(X)
    share = float(np.asarray(resp, dtype=np.float64).sum(axis=0).min() / X.shape[0])
    overlap = float(component_overlap(resp).max()) if K > 1 else 0.0
    distinct = K == 1 or (overlap < max_overlap and share >= min_share)
    return CandidateK(K, overlap, share, float(model.bic(X)), bool(distinct))


def choose_n_components(X: np.ndarray, k_range: tuple[int, int], gmm_params: dict | None = None, *,
                        gmm_class: Callable[..., Any] | None = None, max_overlap: float = MAX_OVERLAP,
                        min_share: float = MIN_SHARE, patience: int = PATIENCE,
                        min_reg_covar: float = QUANTISATION_VARIANCE) -> AutoK:
    """Choose the number of mixture components whose components a person would call distinct.

    Fits K = k_lo, k_lo + 1, ... and keeps the largest K whose components are
    distinct: each component's overlap with the others
    (:func:`component_overlap`, on the responsibilities of the rows of X)
    below ``max_overlap`` and each holding at least ``min_share`` of the rows
    (K = 1 always qualifies).  The search stops after ``patience`` consecutive K that do not
    qualify beyond the last one that did, or at k_hi; if no K qualifies the
    answer is k_lo.  Every fit uses ``gmm_params`` (the same seed for every K,
    so the result is deterministic) with ``reg_covar`` raised to at least
    ``min_reg_covar``.  The module docstring gives the reasoning.

    Parameters
    ----------
    X : ndarray, n x d, float
        The fitting features (e.g. a random subsample of an image's pixels).
    k_range : (int, int)
        Smallest and largest K to consider, 1 <= k_lo <= k_hi <= n.
    gmm_params : dict, optional
        Keyword arguments of the mixture class other than ``n_components``
        (``covariance_type``, ``random_state``, ``max_iter``, ``n_threads``...).
    gmm_class : callable, optional
        The mixture estimator (default :class:`gmmfast.GaussianMixture`); it
        needs ``fit``, ``predict_proba``, ``bic`` and ``weights_``.
    max_overlap, min_share : float
        The thresholds (defaults :data:`MAX_OVERLAP`, :data:`MIN_SHARE`).
    patience : int
        Non-qualifying K tried past the last qualifying one (default
        :data:`PATIENCE`).
    min_reg_covar : float
        Floor of ``reg_covar`` (default :data:`QUANTISATION_VARIANCE`).

    Returns
    -------
    AutoK
        The chosen K, its fitted mixture and the per-K table of the criterion.

    Raises
    ------
    TypeError, ValueError
        For a malformed X, k_range or threshold; errors of the mixture class
        (e.g. an unknown option) pass through.
    """
    X, k_lo, k_hi = _check_inputs(X, k_range, max_overlap, min_share, patience, min_reg_covar)
    if gmm_class is None:
        from ._mixture import GaussianMixture as gmm_class
    params = dict(gmm_params or {})
    params.pop("n_components", None)
    params["reg_covar"] = max(float(params.get("reg_covar", 1e-6)), float(min_reg_covar))
    table: dict[int, CandidateK] = {}
    first = best = None
    misses = 0
    for k in range(k_lo, k_hi + 1):
        model = gmm_class(n_components=k, **params).fit(X)
        row = _score(model, X, max_overlap, min_share)
        table[k] = row
        first = model if first is None else first
        if row.distinct:
            best, misses = model, 0
        else:
            misses += 1
            if misses >= patience:
                break
    chosen = best if best is not None else first
    return AutoK(int(len(chosen.weights_)), chosen, table)
