"""EM sufficient statistics as a value: compute anywhere, add up, turn into the next model.

One EM iteration is a sum over samples followed by a small computation on
the sum.  :class:`EMStatistics` is that sum, for any chunk of the samples, so
any engine that can map a function over chunks and add the results (Dask,
Spark, Ray, ``multiprocessing``, a loop over files) runs exact EM with
gmmfast's kernels::

    gm = GaussianMixture(5, max_iter=0).fit(first_chunk)     # initial model
    for _ in range(100):
        total = sum(gm.e_step_statistics(chunk) for chunk in chunks)
        gm.m_step(total)                                      # the next model
        if gm.converged_:
            break

The statistics are centred on the means the E-step used (``reference``),
not raw moments: float32 data keeps its covariances accurate (no
E[x^2] - E[x]^2 cancellation).  Statistics of one iteration share the
reference, so they add exactly like the raw sums would; adding statistics
computed with different models is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from . import _gaussian as gauss

__all__ = ["EMStatistics"]

#: Relative tolerance of regrouping a sum of statistics (see EMStatistics).
ASSOCIATIVITY_RTOL = 2.0 ** -52


def n_stats(covariance_type: str, d: int) -> int:
    """Length of one component's row of statistics."""
    if covariance_type in ("full", "tied"):
        return 1 + d + d * (d + 1) // 2
    return 1 + d + (d if covariance_type == "diag" else 1)


def model_key(*arrays: np.ndarray) -> str:
    """A digest of a model's parameter arrays (EMStatistics.model_key)."""
    h = hashlib.blake2b(digest_size=12)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class EMStatistics:
    """Sufficient statistics of an E-step over some samples, for one model.

    Made by :meth:`GaussianMixture.e_step_statistics`; turned into the next
    model by :meth:`GaussianMixture.m_step`.  Picklable and small
    (``n_components * (1 + n_features + n_features * (n_features + 1) / 2)``
    sums for 'full', and the means they are centred on), so statistics of chunks can be computed on other processes or
    machines and sent back.

    EM by hand over files, in worker processes::

        def stats(args):                       # module level, so that Pool can pickle it
            model, path = args
            return model.e_step_statistics(np.load(path, mmap_mode="r"))

        gm = GaussianMixture(5, max_iter=0).fit(np.load(files[0]))   # initial model
        with multiprocessing.Pool(4) as pool:
            while not gm.converged_ and gm.n_iter_ < 100:
                gm.m_step(sum(pool.map(stats, [(gm, f) for f in files])))

    Addition: ``a + b`` (and ``sum(parts)``) adds statistics of disjoint
    chunks computed with the same model (same covariance type, dtype and
    ``reference``; anything else is a ``ValueError``).  The arrays are float64
    and every entry of a sum is rounded once per ``+``, so regrouping a sum of
    m statistics, e.g. ``(a + b) + c`` against ``a + (b + c)`` or a tree
    against a loop, changes an entry by at most
    ``(m - 1) * 2**-52 * sum(|entry of each term|)`` (``ASSOCIATIVITY_RTOL``
    per addition); the EM results then agree to about 1e-12 relative in
    float64.

    Attributes
    ----------
    covariance_type : str
        The model's covariance type; it fixes the layout of ``sums``.
    reference : ndarray of shape (n_components, n_features)
        The component means the E-step used, in the data's dtype (float32 or
        float64); the moments are centred on them.
    sums : ndarray of shape (n_components, n_stats), float64
        Per component k, with responsibilities r_ik and x_i the samples:
        ``[sum_i r_ik, sum_i r_ik (x_i - ref_k) (n_features values), S2]``,
        where S2 is the packed upper triangle (row by row) of
        ``sum_i r_ik (x_i - ref_k)(x_i - ref_k)^T`` for 'full' and 'tied',
        its diagonal for 'diag', and ``sum_i r_ik ||x_i - ref_k||^2`` (one
        value) for 'spherical'.
    log_likelihood : float
        ``sum_i log p(x_i)`` under the model the E-step used.
    n_samples : int
        Number of samples summed.
    model_key : str or None
        A digest of the parameters the E-step used (weights, means,
        precisions), set by ``e_step_statistics``: statistics of models that
        share their means but not their other parameters do not add, and
        ``m_step`` refuses another model's.  None (statistics made by hand)
        checks the means only.
    """

    covariance_type: str
    reference: np.ndarray
    sums: np.ndarray
    log_likelihood: float
    n_samples: int
    model_key: str | None = None

    def __post_init__(self) -> None:
        if self.covariance_type not in gauss.COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {gauss.COVARIANCE_TYPES}, got {self.covariance_type!r}.")
        ref = np.asarray(self.reference)
        if ref.ndim != 2 or ref.dtype not in (np.float32, np.float64):
            raise ValueError(f"reference must be a float32 or float64 (n_components, n_features) array, got "
                             f"{ref.dtype} of shape {ref.shape}.")
        K, d = ref.shape
        sums = np.asarray(self.sums, dtype=np.float64)
        want = (K, n_stats(self.covariance_type, d))
        if sums.shape != want:
            raise ValueError(f"sums must have shape {want} for covariance_type={self.covariance_type!r} and "
                             f"reference of shape {ref.shape}, got {sums.shape}.")
        if int(self.n_samples) != self.n_samples or self.n_samples < 0:
            raise ValueError(f"n_samples must be a non-negative integer, got {self.n_samples!r}.")
        if self.model_key is not None and not isinstance(self.model_key, str):
            raise TypeError(f"model_key must be a str (from e_step_statistics) or None, got {self.model_key!r}.")
        object.__setattr__(self, "reference", ref)
        object.__setattr__(self, "sums", sums)
        object.__setattr__(self, "log_likelihood", float(self.log_likelihood))
        object.__setattr__(self, "n_samples", int(self.n_samples))

    # ------------------------------------------------------------ properties
    @property
    def n_components(self) -> int:
        return self.reference.shape[0]

    @property
    def n_features(self) -> int:
        return self.reference.shape[1]

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the data (and of the kernel arrays) the E-step computed in."""
        return self.reference.dtype

    @property
    def counts(self) -> np.ndarray:
        """Sum of each component's responsibilities (its effective sample count)."""
        return self.sums[:, 0].copy()

    @property
    def lower_bound(self) -> float:
        """Average log-likelihood per sample (what ``lower_bound_`` records)."""
        return self.log_likelihood / self.n_samples if self.n_samples else float("nan")

    # ------------------------------------------------------------ arithmetic
    def __add__(self, other: EMStatistics | int) -> EMStatistics:
        if isinstance(other, int) and other == 0:   # sum() starts from 0
            return self
        if not isinstance(other, EMStatistics):
            return NotImplemented
        self._check_compatible(other)
        return EMStatistics(self.covariance_type, self.reference, self.sums + other.sums,
                            self.log_likelihood + other.log_likelihood, self.n_samples + other.n_samples,
                            self.model_key if self.model_key == other.model_key else None)

    def __radd__(self, other: int) -> EMStatistics:   # the 0 sum() starts from
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented

    def _check_compatible(self, other: EMStatistics) -> None:
        if other.covariance_type != self.covariance_type:
            raise ValueError(f"Cannot add statistics of covariance_type={other.covariance_type!r} to "
                             f"{self.covariance_type!r} ones.")
        if other.reference.shape != self.reference.shape:
            raise ValueError(
                f"Cannot add statistics of {other.n_components} components x {other.n_features} features "
                f"to {self.n_components} x {self.n_features} ones.")
        if other.dtype != self.dtype:
            # a float32 model computes float32 chunks in float32 and promotes others to float64; chunks
            # of a float64 model are all computed in float64 (fit and partial_fit promote the same way)
            raise ValueError(
                f"Cannot add statistics computed in {other.dtype} to ones computed in {self.dtype}: the chunks "
                "were of different dtypes for a float32 model; give every chunk one dtype (np.asarray(chunk, "
                "np.float64)), or make the model float64 (fit it on float64 data).")
        if not np.array_equal(other.reference, self.reference):
            raise ValueError(
                "Cannot add statistics computed with different models (their reference means differ): "
                "compute every chunk's statistics with the same model in one EM iteration.")
        if None not in (self.model_key, other.model_key) and self.model_key != other.model_key:
            raise ValueError(
                "Cannot add statistics computed with different models (same means, other weights or "
                "covariances): compute every chunk's statistics with the same model in one EM iteration.")

    def recentred(self, reference: np.ndarray) -> EMStatistics:
        """The same statistics centred on other means (exact algebra, in float64).

        With delta = old reference - new reference, x - new = (x - old) + delta:
        S1' = S1 + n delta, S2' = S2 + S1 delta^T + delta S1^T + n delta delta^T
        (its diagonal for 'diag', its trace for 'spherical').

        Parameters
        ----------
        reference : array-like of shape (n_components, n_features)
            The new means; converted to this object's dtype (float32 or float64).

        Returns
        -------
        statistics : EMStatistics
            Centred on ``reference``, with the same ``log_likelihood`` and
            ``n_samples``; its ``model_key`` is None (it no longer matches the
            model the E-step used).

        Raises
        ------
        ValueError
            If ``reference`` has another shape than :attr:`reference`.
        """
        new = np.asarray(reference, dtype=self.dtype)
        if new.shape != self.reference.shape:
            raise ValueError(f"reference must have shape {self.reference.shape}, got {new.shape}.")
        d = self.n_features
        delta = self.reference.astype(np.float64) - new.astype(np.float64)
        s = self.sums.copy()
        n, s1 = s[:, :1], s[:, 1:1 + d].copy()
        s[:, 1:1 + d] += n * delta
        if self.covariance_type in ("full", "tied"):
            a, b = gauss.triu_indices(d)
            s[:, 1 + d:] += s1[:, a] * delta[:, b] + delta[:, a] * s1[:, b] + n * delta[:, a] * delta[:, b]
        elif self.covariance_type == "diag":
            s[:, 1 + d:] += 2.0 * s1 * delta + n * delta * delta
        else:
            s[:, 1 + d] += 2.0 * np.sum(s1 * delta, axis=1) + n[:, 0] * np.sum(delta * delta, axis=1)
        return EMStatistics(self.covariance_type, new, s, self.log_likelihood, self.n_samples)

    def data_variance(self) -> np.ndarray:
        """Per-feature variance of the samples, from the statistics alone.

        Pools the components about the overall mean; 'spherical' statistics
        keep only squared norms, so every feature gets their mean variance.
        """
        d, K = self.n_features, self.n_components
        n = self.sums[:, 0].sum()
        if n <= 0:
            return np.zeros(d)
        mean = (self.sums[:, :1] * self.reference + self.sums[:, 1:1 + d]).sum(axis=0) / n
        pooled = self.recentred(np.broadcast_to(mean, (K, d)).astype(self.dtype))
        # the pooled reference is the overall mean rounded to the dtype: variance about it
        # differs from the variance about the exact mean by (mean - rounded)^2, negligible
        s2 = pooled.sums[:, 1 + d:].sum(axis=0)
        if self.covariance_type in ("full", "tied"):
            a, b = gauss.triu_indices(d)
            return np.maximum(s2[a == b] / n, 0.0)
        if self.covariance_type == "diag":
            return np.maximum(s2 / n, 0.0)
        return np.full(d, max(s2[0] / n / d, 0.0))

    def __repr__(self) -> str:
        return (f"EMStatistics(covariance_type={self.covariance_type!r}, n_components={self.n_components}, "
                f"n_features={self.n_features}, n_samples={self.n_samples}, dtype={self.dtype}, "
                f"lower_bound={self.lower_bound:.6g})")
