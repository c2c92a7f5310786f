"""Fast check that a large float array holds no NaN or infinity."""

from __future__ import annotations

import numpy as np


def all_finite(a: np.ndarray) -> bool:
    """True when every element of ``a`` is finite (integer arrays always are).

    ``np.isfinite(a).all()`` builds a boolean temporary the size of ``a``; a
    sum needs none and runs at memory speed.  Any NaN or infinity makes the sum
    non-finite (IEEE arithmetic never turns them back into a number), so a
    finite sum settles it; a non-finite sum -- a bad value, or finite values
    whose sum overflowed -- is checked element by element.
    """
    if a.dtype.kind not in "fc":
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(a, axis=None)
    if np.isfinite(total):
        return True
    return bool(np.isfinite(a).all())
