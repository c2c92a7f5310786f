"""Arrays whose data starts on a cache-line boundary.

NumPy's allocations are 16-byte aligned, so the rows of an image-shaped array
share a cache line with their neighbours whenever the row length is a multiple
of 64 bytes.  Kernels that split rows between threads then contend for those
lines (false sharing); arrays from here start on a 64-byte boundary, so rows
whose length is a multiple of 64 bytes own their lines.
"""

from __future__ import annotations

import math
import operator

import numpy as np

CACHE_LINE = 64


def aligned_empty(shape, dtype, align: int = CACHE_LINE) -> np.ndarray:
    """Uninitialised C-contiguous array whose data starts at a multiple of ``align`` bytes."""
    # plain Python for the size and the address: called for every streamed frame, where
    # np.atleast_1d, np.prod and ndarray.ctypes took ~20 us of a 320x240 frame's ~35
    dtype = np.dtype(dtype)
    try:
        shape = (operator.index(shape),)
    except TypeError:
        shape = tuple(int(s) for s in shape)
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.empty(nbytes + align, dtype=np.uint8)
    start = (-raw.__array_interface__["data"][0]) % align
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def aligned_zeros(shape, dtype, align: int = CACHE_LINE) -> np.ndarray:
    """Zero-filled version of :func:`aligned_empty`."""
    out = aligned_empty(shape, dtype, align)
    out.fill(0)
    return out


def aligned_copy(a: np.ndarray, align: int = CACHE_LINE) -> np.ndarray:
    """C-contiguous copy of ``a`` starting on an ``align``-byte boundary."""
    out = aligned_empty(a.shape, a.dtype, align)
    out[...] = a
    return out
