# cython: language_level=3
"""Chunk helpers shared by the EM and k-means kernels (inline, no module of its own).

Kernels process samples in chunks of CHUNK rows, transposed into
structure-of-arrays buffers (feature j of sample i at xT[j*CHUNK + i]) so that
inner loops run over samples with unit stride.
"""

from cython cimport floating

cdef enum:
    CHUNK = 512      # samples per chunk: a chunk's buffers stay in L1/L2
    LANES = 16       # independent partial sums in the reductions (vectorised)
    LINE = 64        # bytes per cache line


cdef inline Py_ssize_t _line_padded(Py_ssize_t n, Py_ssize_t itemsize) noexcept nogil:
    """n items of ``itemsize`` bytes rounded up to whole cache lines (in items).

    Per-thread work areas use this stride, from a ``_line_aligned`` base, so that
    no cache line is written by two threads (NumPy arrays are only 16-byte aligned).
    """
    cdef Py_ssize_t per_line = LINE // itemsize
    return (n + per_line - 1) // per_line * per_line


cdef inline void* _line_aligned(void* p) noexcept nogil:
    """p rounded up to a cache-line boundary; allocate LINE spare bytes for it."""
    return <void*>((<size_t>p + LINE - 1) // LINE * LINE)


cdef inline double _sum(const floating* a, Py_ssize_t n) noexcept nogil:
    """Sum of a[:n] with LANES partial sums (two-level in float32)."""
    cdef floating lanes[LANES]
    cdef Py_ssize_t i, w, nb = n - n % LANES
    cdef double s = 0.0
    for w in range(LANES):
        lanes[w] = 0
    for i in range(0, nb, 16):  # step must be a literal: LANES
        for w in range(LANES):
            lanes[w] += a[i + w]
    for w in range(LANES):
        s += lanes[w]
    for i in range(nb, n):
        s += a[i]
    return s


cdef extern from "prefetch.h" nogil:
    void _prefetch_l2 "gmmfast_prefetch_range_l2"(const void* p, size_t nbytes)


cdef inline void _prefetch_chunk_after_next(const floating* X, Py_ssize_t N, Py_ssize_t d,
                                            Py_ssize_t start) noexcept nogil:
    """Prefetch the rows of the chunk after the one starting at row ``start``.

    Between two transposes a kernel computes for microseconds on the chunk's
    buffers, and the hardware prefetcher, which stops at page boundaries, does not
    have the next rows ready: a 1M x 3 float32 EM pass spent ~15 % of its time in the
    transpose's loads.  Asking two chunks ahead took 6-10 % off the pass (one chunk
    ahead: 5 %; into L1 instead of L2: slower).
    """
    cdef Py_ssize_t ahead = start + 2 * CHUNK
    cdef Py_ssize_t rows = N - ahead
    if rows <= 0:
        return
    if rows > CHUNK:
        rows = CHUNK
    _prefetch_l2(X + ahead * d, rows * d * sizeof(floating))


cdef inline void _transpose_chunk(const floating* X, Py_ssize_t n, Py_ssize_t d,
                                  floating* xT) noexcept nogil:
    """xT[j*CHUNK + i] = X[i*d + j] for the n rows of a chunk.

    1 to 4 features (grey, pairs, RGB, RGBA-like) have loops with a literal stride,
    which the compiler turns into vector shuffles; the general loop is scalar (at 2
    and 4 features it made the whole EM pass 1.3-1.6x slower).
    """
    cdef Py_ssize_t i, j
    if d == 1:
        for i in range(n):
            xT[i] = X[i]
    elif d == 2:
        for i in range(n):
            xT[i] = X[2 * i]
            xT[CHUNK + i] = X[2 * i + 1]
    elif d == 3:
        for i in range(n):
            xT[i] = X[3 * i]
            xT[CHUNK + i] = X[3 * i + 1]
            xT[2 * CHUNK + i] = X[3 * i + 2]
    elif d == 4:
        for i in range(n):
            xT[i] = X[4 * i]
            xT[CHUNK + i] = X[4 * i + 1]
            xT[2 * CHUNK + i] = X[4 * i + 2]
            xT[3 * CHUNK + i] = X[4 * i + 3]
    else:
        for i in range(n):
            for j in range(d):
                xT[j * CHUNK + i] = X[i * d + j]
