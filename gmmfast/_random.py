"""Random-state handling in scikit-learn's style."""

from __future__ import annotations

import numbers

import numpy as np


def check_random_state(seed) -> np.random.RandomState:
    """Turn ``seed`` into a ``numpy.random.RandomState``.

    None gives NumPy's global RandomState, an integer a new seeded one, a
    RandomState is returned as is, and a ``numpy.random.Generator`` is wrapped
    (its bit generator drives a RandomState) so both seeding styles work.
    """
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if not 0 <= int(seed) < 2**32:
            raise ValueError(f"random_state must be in [0, 2**32), got {seed}.")
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.RandomState(seed.bit_generator)
    raise TypeError(
        f"random_state must be None, an integer, a numpy RandomState or Generator; got {seed!r}."
    )
