# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""k-means kernels: Lloyd iterations and k-means++ seeding.

Like the EM kernels, samples are processed in chunks transposed to
structure-of-arrays buffers so that distance loops vectorise, and sums are
written per chunk so results do not depend on the thread count.
"""

from cython cimport floating
from cython.parallel cimport prange, parallel
cimport openmp

import numpy as np
cimport numpy as cnp

cnp.import_array()

cdef enum:
    CHUNK = 512
    LANES = 16


cdef inline double _sum(const floating* a, Py_ssize_t n) noexcept nogil:
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


cdef inline void _transpose_chunk(const floating* X, Py_ssize_t n, Py_ssize_t d,
                                  floating* xT) noexcept nogil:
    cdef Py_ssize_t i, j
    if d == 3:
        for i in range(n):
            xT[i] = X[3 * i]
            xT[CHUNK + i] = X[3 * i + 1]
            xT[2 * CHUNK + i] = X[3 * i + 2]
    else:
        for i in range(n):
            for j in range(d):
                xT[j * CHUNK + i] = X[i * d + j]


cdef inline void _sq_dist(const floating* xT, const floating* center, Py_ssize_t n,
                          Py_ssize_t d, floating* out) noexcept nogil:
    """out[i] = ||x_i - center||^2 for the chunk."""
    cdef Py_ssize_t i, j
    cdef floating c, t
    cdef const floating* x
    for i in range(n):
        out[i] = 0
    for j in range(d):
        c = center[j]
        x = xT + j * CHUNK
        for i in range(n):
            t = x[i] - c
            out[i] = out[i] + t * t


def lloyd_pass(const floating[:, ::1] X, const floating[:, ::1] centers,
               int[::1] labels, double[:, ::1] chunk_sums, double[::1] chunk_inertia,
               cnp.int64_t[::1] chunk_changed, int n_threads):
    """Assign each sample to its nearest centre and accumulate new centres.

    Per chunk c: chunk_sums[c, k*(d+1)] = count of cluster k and
    chunk_sums[c, k*(d+1)+1+j] = sum of feature j over it; chunk_inertia[c] =
    sum of squared distances to the assigned centres; chunk_changed[c] = how
    many labels differ from the previous content of ``labels``.
    """
    cdef Py_ssize_t N = X.shape[0], d = X.shape[1], K = centers.shape[0]
    cdef Py_ssize_t nc = (N + CHUNK - 1) // CHUNK
    cdef Py_ssize_t per_thread = (d + 3) * CHUNK
    cdef Py_ssize_t c, start, n, tid, i, j, k, q
    cdef floating* buf
    cdef floating* base
    cdef floating* dist
    cdef floating* best
    cdef floating* bestk
    cdef floating v
    cdef int lab
    cdef Py_ssize_t changed
    cdef double* o
    if centers.shape[1] != d or labels.shape[0] != N:
        raise ValueError("centers or labels do not match X")
    if chunk_sums.shape[0] != nc or chunk_sums.shape[1] != K * (d + 1):
        raise ValueError("chunk_sums has the wrong shape")
    if chunk_inertia.shape[0] != nc or chunk_changed.shape[0] != nc:
        raise ValueError("chunk buffers have the wrong length")
    if N == 0:
        return
    if floating is float:
        work = np.empty(per_thread * n_threads, dtype=np.float32)
    else:
        work = np.empty(per_thread * n_threads, dtype=np.float64)
    cdef floating[::1] work_view = work
    base = &work_view[0]
    with nogil, parallel(num_threads=n_threads):
        for c in prange(nc, schedule='static'):
            tid = openmp.omp_get_thread_num()
            buf = base + tid * per_thread
            dist = buf + d * CHUNK
            best = buf + (d + 1) * CHUNK
            bestk = buf + (d + 2) * CHUNK
            start = c * CHUNK
            n = N - start
            if n > CHUNK:
                n = CHUNK
            _transpose_chunk(&X[start, 0], n, d, buf)
            _sq_dist(buf, &centers[0, 0], n, d, best)
            for i in range(n):
                bestk[i] = 0
            for k in range(1, K):
                _sq_dist(buf, &centers[k, 0], n, d, dist)
                for i in range(n):
                    v = dist[i]
                    bestk[i] = <floating>k if v < best[i] else bestk[i]
                    best[i] = v if v < best[i] else best[i]
            chunk_inertia[c] = _sum(best, n)
            for q in range(K * (d + 1)):
                chunk_sums[c, q] = 0.0
            changed = 0
            o = &chunk_sums[c, 0]
            for i in range(n):
                lab = <int>bestk[i]
                if labels[start + i] != lab:
                    changed = changed + 1
                    labels[start + i] = lab
                o[lab * (d + 1)] += 1.0
                for j in range(d):
                    o[lab * (d + 1) + 1 + j] += X[start + i, j]
            chunk_changed[c] = changed


def min_sq_dist(const floating[:, ::1] X, const floating[::1] point,
                double[::1] closest, bint update, int n_threads):
    """closest[i] = ||x_i - point||^2, or min(closest[i], that) when update."""
    cdef Py_ssize_t N = X.shape[0], d = X.shape[1]
    cdef Py_ssize_t i, j
    cdef double s, t
    if point.shape[0] != d or closest.shape[0] != N:
        raise ValueError("point or closest do not match X")
    with nogil:
        for i in prange(N, schedule='static', num_threads=n_threads):
            s = 0.0
            for j in range(d):
                t = <double>X[i, j] - <double>point[j]
                s = s + t * t
            if update:
                closest[i] = s if s < closest[i] else closest[i]
            else:
                closest[i] = s


def candidate_potentials(const floating[:, ::1] X, const floating[:, ::1] candidates,
                         const double[::1] closest, double[:, ::1] chunk_pots,
                         int n_threads):
    """chunk_pots[c, l] = sum over chunk c of min(closest[i], ||x_i - cand_l||^2)."""
    cdef Py_ssize_t N = X.shape[0], d = X.shape[1], L = candidates.shape[0]
    cdef Py_ssize_t nc = (N + CHUNK - 1) // CHUNK
    cdef Py_ssize_t c, start, stop, i, j, l
    cdef double s, t, acc
    if candidates.shape[1] != d or closest.shape[0] != N:
        raise ValueError("candidates or closest do not match X")
    if chunk_pots.shape[0] != nc or chunk_pots.shape[1] != L:
        raise ValueError("chunk_pots has the wrong shape")
    with nogil:
        for c in prange(nc, schedule='static', num_threads=n_threads):
            start = c * CHUNK
            stop = start + CHUNK
            if stop > N:
                stop = N
            for l in range(L):
                acc = 0.0
                for i in range(start, stop):
                    s = 0.0
                    for j in range(d):
                        t = <double>X[i, j] - <double>candidates[l, j]
                        s = s + t * t
                    acc = acc + (s if s < closest[i] else closest[i])
                chunk_pots[c, l] = acc
