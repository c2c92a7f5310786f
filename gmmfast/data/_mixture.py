"""A known Gaussian mixture to fit: the pixels of a synthetic three-colour scene."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from .._memory import check_fits_in_memory
from .._validation import check_int, check_seed

# Colours of sky, grass and a red roof, and their spreads (RGB, 0..255 scale).
_MEANS = np.array([[110.0, 160.0, 230.0], [70.0, 140.0, 60.0], [190.0, 60.0, 50.0]])
_STDS = np.array([[12.0, 10.0, 8.0], [15.0, 20.0, 12.0], [9.0, 8.0, 8.0]])
_WEIGHTS = np.array([0.45, 0.4, 0.15])


def sample_mixture(n_samples: int = 200_000, random_state: int | None = 0,
                   dtype: DTypeLike = np.float32) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Draw RGB "pixels" from a known 3-component mixture.

    Parameters
    ----------
    n_samples : int
        Number of samples (rows).
    random_state : int or None
        Seed of the generator; the same seed gives the same samples (None:
        new samples at each call).
    dtype : numpy dtype
        float32 or float64.

    Returns
    -------
    X : ndarray of shape (n_samples, 3)
        The samples.
    labels : ndarray of shape (n_samples,)
        The true component of each sample.
    params : dict
        ``weights``, ``means`` and ``stds`` of the true mixture.
    """
    n_samples = check_int(n_samples, "n_samples", low=1)
    # labels, the noise and X in float64, and X in the dtype asked for
    check_fits_in_memory(n_samples * 80.0, f"sample_mixture({n_samples})", "ask for fewer samples")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {np.dtype(dtype)}.")
    rng = np.random.default_rng(check_seed(random_state))
    labels = rng.choice(len(_WEIGHTS), size=n_samples, p=_WEIGHTS)
    X = _MEANS[labels] + rng.standard_normal((n_samples, 3)) * _STDS[labels]
    params = {"weights": _WEIGHTS.copy(), "means": _MEANS.copy(), "stds": _STDS.copy()}
    return X.astype(dtype), labels, params
