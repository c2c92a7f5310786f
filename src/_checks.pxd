# cython: language_level=3
"""Argument checks shared by the kernel entry points (inline, no module of its own).

The kernels index raw pointers with bounds checks off, so every def of src/*.pyx
checks what it is handed before touching memory, even when the Python wrapper that
normally prepares the arrays is bypassed.  Typed memoryviews already refuse a wrong
dtype (TypeError or ValueError), a non-contiguous or read-only buffer where a
contiguous or writable one is needed, and a wrong number of dimensions; ``not None``
on the parameter refuses None.  What is left is checked with these: thread counts,
sizes that must agree, sizes a kernel holds in 32-bit integers, values used as
indices, and (for the max-flow solver, whose dtype follows ``kind`` at run time)
whole ndarrays.
"""

from libc.stdint cimport INT32_MAX, uint8_t
cimport numpy as cnp


cdef inline int check_threads(int n_threads) except -1:
    """The OpenMP team size: each thread owns a slice of a work buffer sized by it."""
    if n_threads < 1:
        raise ValueError(f"n_threads must be at least 1, got {n_threads}")
    return 0


cdef inline int check_size(str what, Py_ssize_t got, Py_ssize_t want) except -1:
    """A size that must equal another one (``what`` names it in the message)."""
    if got != want:
        raise ValueError(f"{what} is {got}, expected {want}")
    return 0


cdef inline int check_index32(str what, Py_ssize_t n) except -1:
    """A size the kernel holds in (or indexes with) a 32-bit int."""
    if n < 0 or n > INT32_MAX:
        raise ValueError(f"{what} = {n} is outside 0..{INT32_MAX}, the range of the kernel's "
                         "32-bit indices")
    return 0


cdef inline int check_values(str what, object values, double lo, double hi) except -1:
    """Every entry of the array ``values`` (used as an index) in [lo, hi]."""
    if values.size and (values.min() < lo or values.max() > hi):
        raise ValueError(f"{what} must lie in [{lo:g}, {hi:g}], got values in "
                         f"[{values.min()}, {values.max()}]")
    return 0


cdef inline int check_u8_values(str what, const uint8_t[:, ::1] values, int lo, int hi) except -1:
    """``check_values`` for a C-contiguous uint8 (H, W) array, scanned in C without the GIL: no
    NumPy calls (three of them, ~10 us a call on a frame kernel's state, several times that
    with the caches cold from the kernel before)."""
    cdef Py_ssize_t i, n = values.shape[0] * values.shape[1]
    cdef uint8_t vmin = 255, vmax = 0, b
    cdef const uint8_t* p
    if n == 0:
        return 0
    p = &values[0, 0]
    with nogil:
        for i in range(n):
            b = p[i]
            vmin = b if b < vmin else vmin
            vmax = b if b > vmax else vmax
    if vmin < lo or vmax > hi:
        raise ValueError(f"{what} must lie in [{lo:g}, {hi:g}], got values in [{vmin}, {vmax}]")
    return 0


cdef inline int check_array(object a, str name, object dtype, tuple shape) except -1:
    """An ndarray of exactly this dtype and shape, C-contiguous (for kernels that take
    plain ndarrays and read their data pointer)."""
    if not isinstance(a, cnp.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    return 0
