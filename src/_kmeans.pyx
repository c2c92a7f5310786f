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
from _chunks cimport CHUNK, LANES, LINE, _line_aligned, _line_padded, _sum, _transpose_chunk
from _team cimport _team_count, _team_mark, _team_reset
from _checks cimport check_index32, check_threads

cimport numpy as cnp

cdef extern from "kmeans_small.h" nogil:
    void kmeans_small_assign_f32(const float* xT, Py_ssize_t n, Py_ssize_t st, int d, Py_ssize_t K,
                                 const float* C, int* lab, float* best)
    void kmeans_small_assign_f64(const double* xT, Py_ssize_t n, Py_ssize_t st, int d, Py_ssize_t K,
                                 const double* C, int* lab, double* best)
    void kmeans_small_sums_f32(const float* xT, const int* lab, Py_ssize_t n, Py_ssize_t st, int d,
                               Py_ssize_t K, double* o)
    void kmeans_small_sums_f64(const double* xT, const int* lab, Py_ssize_t n, Py_ssize_t st, int d,
                               Py_ssize_t K, double* o)
    double kmeans_small_potential_f32(const float* xT, Py_ssize_t n, Py_ssize_t st, int d,
                                      const float* c, double* closest, int update)
    double kmeans_small_potential_f64(const double* xT, Py_ssize_t n, Py_ssize_t st, int d,
                                      const double* c, double* closest, int update)

import numpy as np

cnp.import_array()

include "_team.pxi"

cdef enum:
    SMALL_D = 4      # up to this many features, kmeans_small.h's fused loops are used




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


def n_chunks(Py_ssize_t n_samples):
    """Number of chunks (rows of the per-chunk outputs) the kernels split n_samples into."""
    return (n_samples + CHUNK - 1) // CHUNK


def chunk_size():
    """Samples per chunk (the last chunk may be shorter)."""
    return CHUNK


def column_variances(const floating[:, ::1] X not None, int n_threads):
    """Per-feature variance of X (population, float64), in two chunked passes.

    ``np.var(X, axis=0)`` on an (n, 3) array reduces three values per call of
    NumPy's inner loop and took 65 ms at n = 1M (40 % of a k-means); this takes
    a few.  The second pass is centred, so large offsets do not cancel; each
    chunk is summed in the data's dtype (LANES partial sums), chunks in float64.
    """
    cdef Py_ssize_t N = X.shape[0], d = X.shape[1]
    cdef Py_ssize_t nc = (N + CHUNK - 1) // CHUNK
    cdef Py_ssize_t per_thread = _line_padded(d * CHUNK, sizeof(floating))
    cdef Py_ssize_t c, i, j, n, tid
    cdef floating* buf
    cdef floating* base
    cdef floating m
    if N == 0 or d == 0:
        raise ValueError("X is empty")
    check_threads(n_threads)
    part_arr = np.empty((nc, d))
    cdef double[:, ::1] part = part_arr
    mean_arr = np.empty(d, dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] mean = mean_arr
    work = np.empty(per_thread * n_threads + LINE, dtype=np.float32 if floating is float else np.float64)
    base = <floating*>_line_aligned(cnp.PyArray_DATA(<cnp.ndarray>work))
    for second in range(2):
        with nogil, parallel(num_threads=n_threads):
            for c in prange(nc, schedule='static'):
                _team_mark()
                tid = openmp.omp_get_thread_num()
                buf = base + tid * per_thread
                n = N - c * CHUNK
                if n > CHUNK:
                    n = CHUNK
                _transpose_chunk(&X[c * CHUNK, 0], n, d, buf)
                for j in range(d):
                    if second:
                        m = mean[j]
                        for i in range(n):
                            buf[j * CHUNK + i] = (buf[j * CHUNK + i] - m) * (buf[j * CHUNK + i] - m)
                    part[c, j] = _sum(buf + j * CHUNK, n)
        if not second:
            mean_arr[:] = part_arr.sum(axis=0) / N
    return part_arr.sum(axis=0) / N


def lloyd_pass(const floating[:, ::1] X not None, const floating[:, ::1] centers not None,
               int[::1] labels not None, double[:, ::1] chunk_sums not None,
               double[::1] chunk_inertia not None, cnp.int64_t[::1] chunk_changed not None,
               int n_threads):
    """Assign each sample to its nearest centre and accumulate new centres.

    Per chunk c: chunk_sums[c, k*(d+1)] = count of cluster k and
    chunk_sums[c, k*(d+1)+1+j] = sum of feature j over it; chunk_inertia[c] =
    sum of squared distances to the assigned centres; chunk_changed[c] = how
    many labels differ from the previous content of ``labels``.
    """
    cdef Py_ssize_t N = X.shape[0], d = X.shape[1], K = centers.shape[0]
    cdef Py_ssize_t nc = (N + CHUNK - 1) // CHUNK
    cdef Py_ssize_t per_thread = _line_padded((d + 3) * CHUNK, sizeof(floating))
    cdef Py_ssize_t c, start, n, tid, i, j, k, q
    cdef floating* buf
    cdef floating* base
    cdef floating* dist
    cdef floating* best
    cdef floating* bestk
    cdef floating v

    cdef Py_ssize_t changed
    cdef double* o
    check_threads(n_threads)
    if centers.shape[1] != d or labels.shape[0] != N:
        raise ValueError("centers or labels do not match X")
    # every sample is compared with centre 0 first; labels are int32, and the d > SMALL_D
    # loop carries a label in the data's dtype (exact up to 2**24 in float32)
    if K < 1 or K > (1 << 24):
        raise ValueError(f"lloyd_pass takes 1 to 2**24 centres, got {K}")
    check_index32("d", d)
    if chunk_sums.shape[0] != nc or chunk_sums.shape[1] != K * (d + 1):
        raise ValueError("chunk_sums has the wrong shape")
    if chunk_inertia.shape[0] != nc or chunk_changed.shape[0] != nc:
        raise ValueError("chunk buffers have the wrong length")
    if N == 0:
        return
    # per-thread buffers on cache lines of their own
    work = np.empty(per_thread * n_threads + LINE, dtype=np.float32 if floating is float else np.float64)
    base = <floating*>_line_aligned(cnp.PyArray_DATA(<cnp.ndarray>work))
    labwork = np.empty(CHUNK * n_threads + LINE, dtype=np.int32)
    cdef int[::1] labwork_view = labwork
    cdef int* lab_base = <int*>_line_aligned(&labwork_view[0])
    cdef int* lab
    with nogil, parallel(num_threads=n_threads):
        for c in prange(nc, schedule='dynamic', chunksize=8):
            _team_mark()
            tid = openmp.omp_get_thread_num()
            buf = base + tid * per_thread
            lab = lab_base + tid * CHUNK
            dist = buf + d * CHUNK
            best = buf + (d + 1) * CHUNK
            bestk = buf + (d + 2) * CHUNK
            start = c * CHUNK
            n = N - start
            if n > CHUNK:
                n = CHUNK
            for q in range(K * (d + 1)):
                chunk_sums[c, q] = 0.0
            _transpose_chunk(&X[start, 0], n, d, buf)
            if d <= SMALL_D:
                if floating is float:
                    kmeans_small_assign_f32(buf, n, CHUNK, <int>d, K, &centers[0, 0], lab, best)
                    kmeans_small_sums_f32(buf, lab, n, CHUNK, <int>d, K, &chunk_sums[c, 0])
                else:
                    kmeans_small_assign_f64(buf, n, CHUNK, <int>d, K, &centers[0, 0], lab, best)
                    kmeans_small_sums_f64(buf, lab, n, CHUNK, <int>d, K, &chunk_sums[c, 0])
            else:
                _sq_dist(buf, &centers[0, 0], n, d, best)
                for i in range(n):
                    bestk[i] = 0
                for k in range(1, K):
                    _sq_dist(buf, &centers[k, 0], n, d, dist)
                    for i in range(n):
                        v = dist[i]
                        bestk[i] = <floating>k if v < best[i] else bestk[i]
                        best[i] = v if v < best[i] else best[i]
                o = &chunk_sums[c, 0]
                for i in range(n):
                    lab[i] = <int>bestk[i]
                    o[lab[i] * (d + 1)] += 1.0
                    for j in range(d):
                        o[lab[i] * (d + 1) + 1 + j] += X[start + i, j]
            chunk_inertia[c] = _sum(best, n)
            changed = 0
            for i in range(n):
                changed = changed + (labels[start + i] != lab[i])
                labels[start + i] = lab[i]
            chunk_changed[c] = changed


def candidate_potentials(const floating[:, ::1] X not None, const floating[:, ::1] candidates not None,
                         double[::1] closest not None, double[:, ::1] chunk_pots,
                         int n_threads, bint update=False):
    """chunk_pots[c, l] = sum over chunk c of min(closest[i], ||x_i - cand_l||^2).

    With ``update`` (one candidate), closest is replaced by that minimum and
    chunk_pots may be None.
    """
    cdef Py_ssize_t N = X.shape[0], d = X.shape[1], L = candidates.shape[0]
    cdef Py_ssize_t nc = (N + CHUNK - 1) // CHUNK
    cdef Py_ssize_t per_thread = _line_padded(d * CHUNK, sizeof(floating))
    cdef Py_ssize_t c, start, n, i, j, l, tid
    cdef double s, t, acc, v
    cdef floating* buf
    cdef floating* base
    cdef bint want_pots = chunk_pots is not None
    check_threads(n_threads)
    check_index32("d", d)
    if candidates.shape[1] != d or closest.shape[0] != N:
        raise ValueError("candidates or closest do not match X")
    if update and L != 1:
        raise ValueError("update takes exactly one candidate")
    if want_pots and (chunk_pots.shape[0] != nc or chunk_pots.shape[1] != L):
        raise ValueError("chunk_pots has the wrong shape")
    if N == 0:
        return
    # per-thread buffers on cache lines of their own
    work = np.empty(per_thread * n_threads + LINE, dtype=np.float32 if floating is float else np.float64)
    base = <floating*>_line_aligned(cnp.PyArray_DATA(<cnp.ndarray>work))
    with nogil, parallel(num_threads=n_threads):
        for c in prange(nc, schedule='dynamic', chunksize=8):
            _team_mark()
            start = c * CHUNK
            n = N - start
            if n > CHUNK:
                n = CHUNK
            if d <= SMALL_D:
                tid = openmp.omp_get_thread_num()
                buf = base + tid * per_thread
                _transpose_chunk(&X[start, 0], n, d, buf)
                for l in range(L):
                    if floating is float:
                        acc = kmeans_small_potential_f32(buf, n, CHUNK, <int>d, &candidates[l, 0],
                                                         &closest[start], update)
                    else:
                        acc = kmeans_small_potential_f64(buf, n, CHUNK, <int>d, &candidates[l, 0],
                                                         &closest[start], update)
                    if want_pots:
                        chunk_pots[c, l] = acc
            else:
                for l in range(L):
                    acc = 0.0
                    for i in range(start, start + n):
                        s = 0.0
                        for j in range(d):
                            t = <double>X[i, j] - <double>candidates[l, j]
                            s = s + t * t
                        v = s if s < closest[i] else closest[i]
                        if update:
                            closest[i] = v
                        acc = acc + v
                    if want_pots:
                        chunk_pots[c, l] = acc
