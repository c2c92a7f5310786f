# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""EM kernels for Gaussian mixtures.

Samples are processed in chunks of CHUNK rows.  Each chunk is transposed
into a per-thread structure-of-arrays buffer, so that every inner loop runs
over samples with unit stride and the compiler vectorises it (including
``gmm_exp2_neg``/``gmm_log`` from fastmath.h).  Log-probabilities are formed
in base 2 for the normalisation, so each exponential is a bare 2**x.  Nothing
of size N*K is allocated unless the caller asks for responsibilities.

em_pass accumulates sufficient statistics per block of BLOCK chunks into
``block_stats``, each block in a fixed order by one thread, and the caller
sums the blocks, so results do not depend on the number of threads.
Second moments are centred on the component means the E-step used, which
avoids the E[x^2] - mu^2 cancellation that ruins float32 covariances.

Covariance kinds: FULL uses upper-triangular precision Cholesky factors of
shape (K, d, d) (tied passes the same factor K times); DIAG uses per-feature
precision square roots of shape (K, d); SPHERICAL one precision square root per
component (K,), and its statistics keep one second moment, sum r*||x - mean||^2;
TIED takes FULL's arrays with the same factor K times and FULL's statistics, and
its log-probabilities transform each sample once instead of once per component.
"""

from cython cimport floating
from libc.math cimport INFINITY
from cython.parallel cimport prange, parallel
cimport openmp
from _chunks cimport (CHUNK, LINE, _line_aligned, _line_padded, _prefetch_chunk_after_next, _sum,
                     _transpose_chunk)
from _fastmath cimport LN2, LOG2E, _exp, _exp2_neg, _log
from _team cimport _team_count, _team_mark, _team_reset
from _checks cimport check_index32, check_threads

cimport numpy as cnp

cdef extern from "gmm_small.h" nogil:
    void gmm_small_logprob_f32(const float* xT, Py_ssize_t n, Py_ssize_t st, int d, int full,
                               const float* mean, const float* P, float c, float h, float* lp)
    void gmm_small_logprob_f64(const double* xT, Py_ssize_t n, Py_ssize_t st, int d, int full,
                               const double* mean, const double* P, double c, double h, double* lp)
    void gmm_small_stats_f32(const float* xT, const float* r, const float* scale, Py_ssize_t n,
                             Py_ssize_t st, int d, int full, const float* mean, double* o)
    int gmm_small_normalise_f32(float* lp, Py_ssize_t n, Py_ssize_t st, int K, float* scale,
                                float* lse)
    int gmm_small_normalise_f64(double* lp, Py_ssize_t n, Py_ssize_t st, int K, double* scale,
                                double* lse)
    void gmm_small_stats_f64(const double* xT, const double* r, const double* scale, Py_ssize_t n,
                             Py_ssize_t st, int d, int full, const double* mean, double* o)
    void gmm_small_tied_z_f32(const float* xT, Py_ssize_t n, Py_ssize_t st, int d, const float* P,
                              float* z)
    void gmm_small_tied_z_f64(const double* xT, Py_ssize_t n, Py_ssize_t st, int d, const double* P,
                              double* z)
    void gmm_small_logprob_sph_f32(const float* xT, Py_ssize_t n, Py_ssize_t st, int d,
                                   const float* mean, float c, float hq, float* lp, float* sq)
    void gmm_small_logprob_sph_f64(const double* xT, Py_ssize_t n, Py_ssize_t st, int d,
                                   const double* mean, double c, double hq, double* lp, double* sq)
    void gmm_small_stats_sph_f32(const float* xT, const float* r, const float* scale,
                                 const float* sq, Py_ssize_t n, Py_ssize_t st, int d,
                                 const float* mean, double* o)
    void gmm_small_stats_sph_f64(const double* xT, const double* r, const double* scale,
                                 const double* sq, Py_ssize_t n, Py_ssize_t st, int d,
                                 const double* mean, double* o)
    void gmm_general_logprob_full_f32(const float* diff, Py_ssize_t n, Py_ssize_t st, int d,
                                      const float* P, float c, float h, float* lp)
    void gmm_general_logprob_full_f64(const double* diff, Py_ssize_t n, Py_ssize_t st, int d,
                                      const double* P, double c, double h, double* lp)
    double gmm_general_dot_f32(const float* a, const float* b, Py_ssize_t n)
    double gmm_general_dot_f64(const double* a, const double* b, Py_ssize_t n)
    int gmm_small_normalise_em_f32(float* lp, Py_ssize_t n, Py_ssize_t st, int K, float* tbuf,
                                   double* ll)
    int gmm_small_normalise_em_f64(double* lp, Py_ssize_t n, Py_ssize_t st, int K, double* tbuf,
                                   double* ll)

cdef extern from "gmm_small.h":
    enum: GMMG_B     # samples per block of gmm_general_logprob_full, which runs whole blocks

import numpy as np

cnp.import_array()

include "_team.pxi"

if CHUNK % GMMG_B:
    raise ImportError("gmmfast build error: CHUNK must be a multiple of GMMG_B (gmm_small.h)")

cdef enum:
    BLOCK = 8        # chunks per block of em_pass statistics (4096 samples)

cdef enum:
    SMALL_D = 4      # up to this many features, gmm_small.h's fused loops are used

cdef enum:
    KIND_FULL = 0       # upper-triangular precision Cholesky factors (K, d, d)
    KIND_DIAG = 1       # per-feature precision square roots (K, d)
    KIND_SPHERICAL = 2  # one precision square root per component (K,)
    KIND_TIED = 3       # FULL's layout with one factor repeated K times; FULL's statistics

FULL = KIND_FULL
DIAG = KIND_DIAG
SPHERICAL = KIND_SPHERICAL
TIED = KIND_TIED




cdef inline double _dot(const floating* a, const floating* b, Py_ssize_t n) noexcept nogil:
    """Dot product of a[:n] and b[:n] (gmm_small.h: four vector partial sums)."""
    if floating is float:
        return gmm_general_dot_f32(a, b, n)
    else:
        return gmm_general_dot_f64(a, b, n)


cdef inline void _centre(const floating* xT, const floating* mean, Py_ssize_t n,
                         Py_ssize_t d, floating* diff) noexcept nogil:
    """diff[j*CHUNK + i] = xT[j*CHUNK + i] - mean[j]."""
    cdef Py_ssize_t i, j
    cdef floating m
    cdef const floating* x
    cdef floating* y
    for j in range(d):
        m = mean[j]
        x = xT + j * CHUNK
        y = diff + j * CHUNK
        for i in range(n):
            y[i] = x[i] - m



cdef void _chunk_log_prob(const floating* xT, Py_ssize_t n, Py_ssize_t d, Py_ssize_t K,
                          int kind, const floating* means, const floating* prec,
                          const floating* log_const, floating base, floating* diff,
                          floating* lp, floating* sq) noexcept nogil:
    """Weighted log-probabilities lp[k*CHUNK + i] = base * (log w_k + log N(x_i | k)).

    base = 1 gives natural logarithms, LOG2E base-2 ones (what _chunk_normalise takes).
    SPHERICAL also writes ||x_i - mean_k||^2 to sq[k*CHUNK + i] unless sq is NULL.
    """
    cdef Py_ssize_t i, j, k
    cdef floating p, c, h = <floating>0.5 * base
    cdef floating* lpk
    cdef floating* dj
    cdef Py_ssize_t pk
    if kind == KIND_SPHERICAL:
        _chunk_log_prob_spherical(xT, n, d, K, means, prec, log_const, base, diff, lp, sq)
        return
    if kind == KIND_TIED:
        if d <= SMALL_D:
            _chunk_log_prob_tied(xT, n, d, K, means, prec, log_const, base, diff, lp)
            return
        kind = KIND_FULL
    pk = d * d if kind == KIND_FULL else d
    if d <= SMALL_D:
        for k in range(K):
            if floating is float:
                gmm_small_logprob_f32(xT, n, CHUNK, <int>d, kind == KIND_FULL, means + k * d,
                                      prec + k * pk, log_const[k] * base, h, lp + k * CHUNK)
            else:
                gmm_small_logprob_f64(xT, n, CHUNK, <int>d, kind == KIND_FULL, means + k * d,
                                      prec + k * pk, log_const[k] * base, h, lp + k * CHUNK)
        return
    for k in range(K):
        lpk = lp + k * CHUNK
        _centre(xT, means + k * d, n, d, diff)
        if kind == KIND_FULL:
            if floating is float:
                gmm_general_logprob_full_f32(diff, n, CHUNK, <int>d, prec + k * pk,
                                             log_const[k] * base, h, lpk)
            else:
                gmm_general_logprob_full_f64(diff, n, CHUNK, <int>d, prec + k * pk,
                                             log_const[k] * base, h, lpk)
            continue
        for i in range(n):
            lpk[i] = 0
        for j in range(d):
            p = prec[k * d + j]
            dj = diff + j * CHUNK
            for i in range(n):
                lpk[i] = lpk[i] + (dj[i] * p) * (dj[i] * p)
        c = log_const[k] * base
        for i in range(n):
            lpk[i] = c - h * lpk[i]


cdef void _chunk_log_prob_spherical(const floating* xT, Py_ssize_t n, Py_ssize_t d,
                                    Py_ssize_t K, const floating* means, const floating* prec,
                                    const floating* log_const, floating base, floating* diff,
                                    floating* lp, floating* sq) noexcept nogil:
    """_chunk_log_prob for SPHERICAL (prec: one precision square root per component)."""
    cdef Py_ssize_t i, j, k
    cdef floating c, hq
    cdef floating* lpk
    cdef floating* sqk
    cdef floating* dj
    for k in range(K):
        # h * precision, rounded once from double
        hq = <floating>(0.5 * <double>base * <double>prec[k] * <double>prec[k])
        c = log_const[k] * base
        lpk = lp + k * CHUNK
        sqk = sq + k * CHUNK if sq != NULL else NULL
        if d <= SMALL_D:
            if floating is float:
                gmm_small_logprob_sph_f32(xT, n, CHUNK, <int>d, means + k * d, c, hq, lpk, sqk)
            else:
                gmm_small_logprob_sph_f64(xT, n, CHUNK, <int>d, means + k * d, c, hq, lpk, sqk)
            continue
        _centre(xT, means + k * d, n, d, diff)
        for i in range(n):
            lpk[i] = 0
        for j in range(d):
            dj = diff + j * CHUNK
            for i in range(n):
                lpk[i] = lpk[i] + dj[i] * dj[i]
        if sqk != NULL:
            for i in range(n):
                sqk[i] = lpk[i]
        for i in range(n):
            lpk[i] = c - hq * lpk[i]


cdef void _chunk_log_prob_tied(const floating* xT, Py_ssize_t n, Py_ssize_t d, Py_ssize_t K,
                               const floating* means, const floating* prec,
                               const floating* log_const, floating base, floating* z,
                               floating* lp) noexcept nogil:
    """_chunk_log_prob for TIED with at most SMALL_D features (z: d rows of scratch)."""
    cdef Py_ssize_t j, k, l
    cdef double s
    cdef floating w[SMALL_D]
    cdef floating h = <floating>0.5 * base
    if floating is float:
        gmm_small_tied_z_f32(xT, n, CHUNK, <int>d, prec, z)
    else:
        gmm_small_tied_z_f64(xT, n, CHUNK, <int>d, prec, z)
    for k in range(K):
        for j in range(d):          # w = P^T mean_k
            s = 0.0
            for l in range(j + 1):
                s = s + <double>prec[l * d + j] * <double>means[k * d + l]
            w[j] = <floating>s
        if floating is float:
            gmm_small_logprob_sph_f32(z, n, CHUNK, <int>d, w, log_const[k] * base, h,
                                      lp + k * CHUNK, NULL)
        else:
            gmm_small_logprob_sph_f64(z, n, CHUNK, <int>d, w, log_const[k] * base, h,
                                      lp + k * CHUNK, NULL)


cdef void _chunk_normalise(floating* lp, Py_ssize_t n, Py_ssize_t K, floating* mx,
                           floating* tot, floating* lse, bint scale) noexcept nogil:
    """Write lse = logsumexp_k lp and turn lp into exp(lp - max_k lp).

    lp holds base-2 log-probabilities (from _chunk_log_prob with base LOG2E), so
    the exponentials are 2**(lp - max); lse is in natural units.
    tot receives 1 / sum_k exp(lp - max), the factor that makes them
    responsibilities; with ``scale`` lp is multiplied by it in place.
    """
    cdef Py_ssize_t i, k
    cdef floating v, e
    cdef floating* lpk
    cdef int done
    if floating is float:
        done = gmm_small_normalise_f32(lp, n, CHUNK, <int>K, tot, lse)
    else:
        done = gmm_small_normalise_f64(lp, n, CHUNK, <int>K, tot, lse)
    if done:
        if scale:
            for k in range(K):
                lpk = lp + k * CHUNK
                for i in range(n):
                    lpk[i] = lpk[i] * tot[i]
        return
    for i in range(n):
        mx[i] = lp[i]
    for k in range(1, K):
        lpk = lp + k * CHUNK
        for i in range(n):
            v = lpk[i]
            mx[i] = v if v > mx[i] else mx[i]
    for i in range(n):
        tot[i] = 0
    for k in range(K):
        lpk = lp + k * CHUNK
        for i in range(n):
            e = _exp2_neg(lpk[i] - mx[i])
            lpk[i] = e
            tot[i] = tot[i] + e
    for i in range(n):
        lse[i] = mx[i] * <floating>LN2 + _log(tot[i])
        tot[i] = 1 / tot[i]
    if not scale:
        return
    for k in range(K):
        lpk = lp + k * CHUNK
        for i in range(n):
            lpk[i] = lpk[i] * tot[i]


cdef void _chunk_stats(const floating* xT, floating* resp, const floating* scale,
                       const floating* sq, Py_ssize_t n, Py_ssize_t d, Py_ssize_t K, int kind,
                       const floating* means, floating* diff, floating* acc,
                       double* out) noexcept nogil:
    """Per component: [sum r, sum r*diff (d), second moments] about means[k].

    Second moments are the packed upper triangle (d*(d+1)/2) for FULL, the
    diagonal (d) for DIAG and sum r*||diff||^2 (1) for SPHERICAL, whose squared
    distances come in sq (from _chunk_log_prob).  Responsibilities are
    resp[k, i] * scale[i], or resp[k, i] when scale is NULL.
    """
    cdef Py_ssize_t i, j, l, k, t
    cdef Py_ssize_t n_stats
    cdef const floating* rk
    cdef floating* dj
    cdef double* o
    if kind == KIND_TIED:
        kind = KIND_FULL
    n_stats = _n_stats(d, kind)
    if kind == KIND_SPHERICAL and d <= SMALL_D:
        for k in range(K):
            if floating is float:
                gmm_small_stats_sph_f32(xT, resp + k * CHUNK, scale, sq + k * CHUNK, n, CHUNK,
                                        <int>d, means + k * d, out + k * n_stats)
            else:
                gmm_small_stats_sph_f64(xT, resp + k * CHUNK, scale, sq + k * CHUNK, n, CHUNK,
                                        <int>d, means + k * d, out + k * n_stats)
        return
    if d <= SMALL_D:
        for k in range(K):
            if floating is float:
                gmm_small_stats_f32(xT, resp + k * CHUNK, scale, n, CHUNK, <int>d,
                                    kind == KIND_FULL, means + k * d, out + k * n_stats)
            else:
                gmm_small_stats_f64(xT, resp + k * CHUNK, scale, n, CHUNK, <int>d,
                                    kind == KIND_FULL, means + k * d, out + k * n_stats)
        return
    if scale != NULL:
        for k in range(K):
            for i in range(n):
                resp[k * CHUNK + i] = resp[k * CHUNK + i] * scale[i]
    for k in range(K):
        rk = resp + k * CHUNK
        o = out + k * n_stats
        o[0] += _sum(rk, n)
        if kind == KIND_SPHERICAL:
            o[1 + d] += _dot(rk, sq + k * CHUNK, n)
        _centre(xT, means + k * d, n, d, diff)
        t = 1 + d
        for j in range(d):
            dj = diff + j * CHUNK
            for i in range(n):
                acc[i] = rk[i] * dj[i]
            o[1 + j] += _sum(acc, n)
            if kind == KIND_FULL:
                for l in range(j, d):
                    o[t] += _dot(acc, diff + l * CHUNK, n)
                    t = t + 1
            elif kind == KIND_DIAG:
                o[1 + d + j] += _dot(acc, dj, n)


cdef inline Py_ssize_t _load_chunk(const floating* X, Py_ssize_t N, Py_ssize_t d, Py_ssize_t c,
                                   Py_ssize_t K, int kind, const floating* means,
                                   const floating* prec, const floating* log_const,
                                   floating* buf, floating* sq) noexcept nogil:
    """Transpose chunk c of X (N x d) into buf and compute its base-2 log-probabilities.

    buf layout: xT (d) | diff (d) | acc | mx | tot | lse | lp (K), CHUNK values each;
    sq: K rows of CHUNK for SPHERICAL's squared distances (em_pass puts them after
    lp), or NULL.  Returns the number of samples in the chunk.
    """
    cdef Py_ssize_t start = c * CHUNK
    cdef Py_ssize_t n = N - start
    if n > CHUNK:
        n = CHUNK
    _prefetch_chunk_after_next(X, N, d, start)
    _transpose_chunk(X + start * d, n, d, buf)
    _chunk_log_prob(buf, n, d, K, kind, means, prec, log_const, <floating>LOG2E,
                    buf + d * CHUNK, buf + (2 * d + 4) * CHUNK, sq)
    return n


cdef inline Py_ssize_t _n_stats(Py_ssize_t d, int kind) noexcept nogil:
    if kind == KIND_FULL or kind == KIND_TIED:
        return 1 + d + d * (d + 1) // 2
    return 1 + d + (d if kind == KIND_DIAG else 1)


def n_chunks(Py_ssize_t n_samples):
    """Number of chunks the kernels split n_samples into."""
    return (n_samples + CHUNK - 1) // CHUNK


def n_blocks(Py_ssize_t n_samples):
    """Number of blocks (of BLOCK chunks) em_pass reports statistics for."""
    return ((n_samples + CHUNK - 1) // CHUNK + BLOCK - 1) // BLOCK


def n_stats(Py_ssize_t d, int kind):
    """Length of one component's statistics row for this covariance kind."""
    return _n_stats(d, kind)


def _check_shapes(X, means, prec, log_const, int kind, int n_threads):
    cdef Py_ssize_t K = means.shape[0], d = X.shape[1]
    check_threads(n_threads)
    # the small-d and normalisation loops take K and d as C ints
    check_index32("K", K)
    check_index32("d", d)
    if K < 1:
        raise ValueError("means must have at least one row (component)")
    if means.shape[1] != d or log_const.shape[0] != K:
        raise ValueError("means and log_const do not match X and K")
    if (kind == KIND_FULL or kind == KIND_TIED) and prec.shape[0] != K * d * d:
        raise ValueError("full and tied precision factors must have K*d*d entries")
    if kind == KIND_DIAG and prec.shape[0] != K * d:
        raise ValueError("diagonal precisions must have K*d entries")
    if kind == KIND_SPHERICAL and prec.shape[0] != K:
        raise ValueError("spherical precisions must have K entries")
    if kind < KIND_FULL or kind > KIND_TIED:
        raise ValueError("unknown covariance kind")


def em_pass(const floating[:, ::1] X not None, const floating[:, ::1] means not None,
            const floating[::1] prec not None, const floating[::1] log_const not None, int kind,
            double[:, ::1] block_stats not None, double[::1] block_loglik not None, int n_threads):
    """One fused E+M pass.

    Samples are taken in blocks of BLOCK chunks (``n_blocks``).  For every
    block b, writes block_loglik[b] = sum of log p(x_i) over its samples and
    block_stats[b] = the K rows of sufficient statistics (flattened,
    ``n_stats(d, kind)`` values per component).  A block is summed in a fixed
    order by one thread, so the caller's sum over blocks is the same for any
    thread count; there are few enough blocks that this sum is cheap.
    """
    cdef Py_ssize_t N = X.shape[0], d = X.shape[1], K = means.shape[0]
    cdef Py_ssize_t nc = (N + CHUNK - 1) // CHUNK
    cdef Py_ssize_t nb = (nc + BLOCK - 1) // BLOCK
    cdef Py_ssize_t ns = _n_stats(d, kind)
    cdef bint keep_sq = kind == KIND_SPHERICAL
    cdef Py_ssize_t per_thread = _line_padded((2 * d + 4 + K + (K if keep_sq else 0)) * CHUNK,
                                              sizeof(floating))
    cdef Py_ssize_t acc_stride = _line_padded(K * ns, sizeof(double))
    cdef Py_ssize_t b, c, c_end, n, tid, q
    cdef double ll
    cdef int fused
    cdef floating* buf
    cdef floating* sq
    cdef floating* scale
    cdef floating* base
    cdef double* acc
    cdef double* acc_base
    _check_shapes(X, means, prec, log_const, kind, n_threads)
    if block_stats.shape[0] != nb or block_stats.shape[1] != K * ns or block_loglik.shape[0] != nb:
        raise ValueError("block buffers have the wrong shape")
    if N == 0:
        return
    # per-thread buffers on cache lines of their own; each block's statistics are
    # summed in the thread's own lines and stored once (block_stats rows share lines)
    work = np.empty(per_thread * n_threads + LINE, dtype=np.float32 if floating is float else np.float64)
    base = <floating*>_line_aligned(cnp.PyArray_DATA(<cnp.ndarray>work))
    acc_work = np.empty(acc_stride * n_threads + LINE, dtype=np.float64)
    cdef double[::1] acc_view = acc_work
    acc_base = <double*>_line_aligned(&acc_view[0])
    with nogil, parallel(num_threads=n_threads):
        # dynamic: a core slowed by other work does not hold up the pass (blocks are
        # indexed, so the result is the same whichever thread takes which block)
        for b in prange(nb, schedule='dynamic'):
            _team_mark()
            tid = openmp.omp_get_thread_num()
            buf = base + tid * per_thread
            sq = buf + (2 * d + 4 + K) * CHUNK if keep_sq else NULL
            acc = acc_base + tid * acc_stride
            for q in range(K * ns):
                acc[q] = 0.0
            ll = 0.0
            c_end = (b + 1) * BLOCK
            if c_end > nc:
                c_end = nc
            for c in range(b * BLOCK, c_end):
                n = _load_chunk(&X[0, 0], N, d, c, K, kind, &means[0, 0], &prec[0], &log_const[0], buf,
                                sq)
                # K <= 8: responsibilities and the chunk's log-likelihood in one loop
                # (gmm_small.h); else exponentials, 1 / sums and lse in buffers
                if floating is float:
                    fused = gmm_small_normalise_em_f32(buf + (2 * d + 4) * CHUNK, n, CHUNK, <int>K,
                                                       buf + (2 * d + 2) * CHUNK, &ll)
                else:
                    fused = gmm_small_normalise_em_f64(buf + (2 * d + 4) * CHUNK, n, CHUNK, <int>K,
                                                       buf + (2 * d + 2) * CHUNK, &ll)
                if fused:
                    scale = NULL
                else:
                    _chunk_normalise(buf + (2 * d + 4) * CHUNK, n, K, buf + (2 * d + 1) * CHUNK,
                                     buf + (2 * d + 2) * CHUNK, buf + (2 * d + 3) * CHUNK, False)
                    ll = ll + _sum(buf + (2 * d + 3) * CHUNK, n)
                    scale = buf + (2 * d + 2) * CHUNK
                _chunk_stats(buf, buf + (2 * d + 4) * CHUNK, scale, sq, n, d, K, kind, &means[0, 0],
                             buf + d * CHUNK, buf + 2 * d * CHUNK, acc)
            for q in range(K * ns):
                block_stats[b, q] = acc[q]
            block_loglik[b] = ll


def e_step(const floating[:, ::1] X not None, const floating[:, ::1] means not None,
           const floating[::1] prec not None, const floating[::1] log_const not None, int kind,
           int n_threads, floating[::1] log_prob_norm=None,
           cnp.intp_t[::1] labels=None, floating[:, ::1] resp=None,
           floating[:, ::1] weighted_log_prob=None):
    """E-step without statistics: fill whichever outputs are given.

    log_prob_norm[i] = log p(x_i); labels[i] = argmax_k of the weighted
    log-probabilities, -1 where all are -inf or NaN; resp[i, k] = posterior probabilities;
    weighted_log_prob[i, k] = log w_k + log N(x_i | k).
    """
    cdef Py_ssize_t N = X.shape[0], d = X.shape[1], K = means.shape[0]
    cdef Py_ssize_t nc = (N + CHUNK - 1) // CHUNK
    cdef Py_ssize_t per_thread = _line_padded((2 * d + 4 + K) * CHUNK, sizeof(floating))
    cdef Py_ssize_t c, start, n, tid, i, k, best
    cdef floating* buf
    cdef floating* base
    cdef floating* lp
    cdef floating v, bv
    cdef int fused
    cdef double unused
    cdef bint want_lpn = log_prob_norm is not None
    cdef bint want_labels = labels is not None
    cdef bint want_resp = resp is not None
    cdef bint want_wlp = weighted_log_prob is not None
    cdef bint want_norm = want_lpn or want_resp
    _check_shapes(X, means, prec, log_const, kind, n_threads)
    if want_lpn and log_prob_norm.shape[0] != N:
        raise ValueError("log_prob_norm has the wrong length")
    if want_labels and labels.shape[0] != N:
        raise ValueError("labels has the wrong length")
    if want_resp and (resp.shape[0] != N or resp.shape[1] != K):
        raise ValueError("resp has the wrong shape")
    if want_wlp and (weighted_log_prob.shape[0] != N or weighted_log_prob.shape[1] != K):
        raise ValueError("weighted_log_prob has the wrong shape")
    if N == 0:
        return
    work = np.empty(per_thread * n_threads + LINE, dtype=np.float32 if floating is float else np.float64)
    base = <floating*>_line_aligned(cnp.PyArray_DATA(<cnp.ndarray>work))
    with nogil, parallel(num_threads=n_threads):
        for c in prange(nc, schedule='dynamic', chunksize=8):
            _team_mark()
            tid = openmp.omp_get_thread_num()
            buf = base + tid * per_thread
            lp = buf + (2 * d + 4) * CHUNK
            start = c * CHUNK
            n = _load_chunk(&X[0, 0], N, d, c, K, kind, &means[0, 0], &prec[0], &log_const[0], buf,
                            NULL)
            if want_wlp:
                for i in range(n):
                    for k in range(K):
                        weighted_log_prob[start + i, k] = lp[k * CHUNK + i] * <floating>LN2
            if want_labels:
                for i in range(n):
                    best = 0
                    bv = lp[i]
                    for k in range(1, K):
                        v = lp[k * CHUNK + i]
                        if v > bv:
                            bv = v
                            best = k
                    # -1 where no component has a finite density (the squared distances
                    # overflowed): the caller refuses it, as it refuses resp's NaN
                    labels[start + i] = best if bv > -INFINITY else -1
            fused = 0
            unused = 0.0     # assigned in the loop body, so private to each thread
            if want_resp and not want_lpn:
                # responsibilities only: the EM pass's normalisation, whose per-chunk
                # log-likelihood is not needed here
                if floating is float:
                    fused = gmm_small_normalise_em_f32(lp, n, CHUNK, <int>K, buf + (2 * d + 2) * CHUNK, &unused)
                else:
                    fused = gmm_small_normalise_em_f64(lp, n, CHUNK, <int>K, buf + (2 * d + 2) * CHUNK, &unused)
            if want_norm and not fused:
                _chunk_normalise(lp, n, K, buf + (2 * d + 1) * CHUNK,
                                 buf + (2 * d + 2) * CHUNK, buf + (2 * d + 3) * CHUNK, want_resp)
                if want_lpn:
                    for i in range(n):
                        log_prob_norm[start + i] = buf[(2 * d + 3) * CHUNK + i]
            if want_resp:
                for i in range(n):
                    for k in range(K):
                        resp[start + i, k] = lp[k * CHUNK + i]


def exp_array(floating[::1] x not None):
    """Apply the kernels' vectorised exp in place (exposed for testing)."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            x[i] = _exp(x[i])


def exp2_neg_array(floating[::1] x not None):
    """Apply the kernels' base-2 exp for non-positive arguments in place (for testing)."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            x[i] = _exp2_neg(x[i])


def log_array(floating[::1] x not None):
    """Apply the kernels' vectorised log in place (exposed for testing)."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            x[i] = _log(x[i])


def hard_stats(const floating[:, ::1] X not None, const cnp.intp_t[::1] labels not None,
               const floating[:, ::1] ref not None, int kind, double[:, ::1] chunk_stats not None,
               int n_threads):
    """Statistics of a hard assignment (labels[i] in [0, K), or -1 to skip).

    Same layout as em_pass: per chunk and component [count, sum(x - ref_k),
    second moments of (x - ref_k)], centred on ``ref`` (for example k-means
    centres) for accuracy.
    """
    cdef Py_ssize_t N = X.shape[0], d = X.shape[1], K = ref.shape[0]
    cdef Py_ssize_t nc = (N + CHUNK - 1) // CHUNK
    cdef Py_ssize_t ns = _n_stats(d, kind)
    cdef Py_ssize_t c, start, stop, i, j, l, k, t, q
    cdef double* o
    cdef double dj
    check_threads(n_threads)
    if kind < KIND_FULL or kind > KIND_TIED:
        raise ValueError("unknown covariance kind")
    if kind == KIND_TIED:
        kind = KIND_FULL
    if ref.shape[1] != d or labels.shape[0] != N:
        raise ValueError("labels or ref do not match X")
    if chunk_stats.shape[0] != nc or chunk_stats.shape[1] != K * ns:
        raise ValueError("chunk_stats has the wrong shape")
    for i in range(N):
        if labels[i] < -1 or labels[i] >= K:
            raise ValueError("labels must be in [-1, K)")
    with nogil:
        for c in prange(nc, schedule='static', num_threads=n_threads):
            for q in range(K * ns):
                chunk_stats[c, q] = 0.0
            start = c * CHUNK
            stop = start + CHUNK
            if stop > N:
                stop = N
            for i in range(start, stop):
                k = labels[i]
                if k < 0:
                    continue
                o = &chunk_stats[c, k * ns]
                o[0] += 1.0
                t = 1 + d
                for j in range(d):
                    dj = <double>X[i, j] - <double>ref[k, j]
                    o[1 + j] += dj
                    if kind == KIND_FULL:
                        for l in range(j, d):
                            o[t] += dj * (<double>X[i, l] - <double>ref[k, l])
                            t = t + 1
                    elif kind == KIND_DIAG:
                        o[1 + d + j] += dj * dj
                    else:
                        o[1 + d] += dj * dj


# --------------------------------------------------------------------------
# M-step: parameters from em_pass's block statistics.  The arrays are tiny
# (K x d x d), but the numpy version costs ~0.2-0.6 ms per EM iteration in
# small-array calls, all of it serial; here it is a few microseconds.
# --------------------------------------------------------------------------

cdef extern from "<math.h>" nogil:
    double sqrt(double)
    double log(double)

cdef enum:
    COV_FULL = 0
    COV_TIED = 1
    COV_DIAG = 2
    COV_SPHERICAL = 3

cdef enum:
    MSTEP_OK = 0           # parameters and kernel arrays written
    MSTEP_NONFINITE = 1    # the statistics or the log-likelihood are not finite
    MSTEP_EMPTY = 2        # a component has (almost) no samples: the caller re-seeds it
    MSTEP_NOT_PD = 3       # a covariance is not positive definite: the caller regularises

COVARIANCE_CODES = {"full": COV_FULL, "tied": COV_TIED, "diag": COV_DIAG,
                    "spherical": COV_SPHERICAL}
M_STEP_OK = MSTEP_OK
M_STEP_NONFINITE = MSTEP_NONFINITE
M_STEP_EMPTY = MSTEP_EMPTY
M_STEP_NOT_PD = MSTEP_NOT_PD

cdef double _LOG_2PI = 1.8378770664093453   # log(2 pi)


cdef inline bint _finite(double v) noexcept nogil:
    return v - v == 0.0    # false for NaN and +-inf


cdef bint _precision_cholesky_full(const double* cov, Py_ssize_t d, double* L,
                                   double* P) noexcept nogil:
    """P (upper triangular, row-major d x d) with P P^T = inverse(cov).

    cov = L L^T (lower Cholesky), P = inverse(L)^T, as scikit-learn stores
    precisions_cholesky_.  Returns False when cov is not positive definite.
    """
    cdef Py_ssize_t i, j, k
    cdef double s
    for j in range(d):
        s = cov[j * d + j]
        for k in range(j):
            s = s - L[j * d + k] * L[j * d + k]
        if not (s > 0.0) or not _finite(s):
            return False
        L[j * d + j] = sqrt(s)
        for i in range(j + 1, d):
            s = cov[i * d + j]
            for k in range(j):
                s = s - L[i * d + k] * L[j * d + k]
            L[i * d + j] = s / L[j * d + j]
    # column c of inverse(L) by forward substitution; it is row c of P
    for j in range(d):
        for i in range(d):
            P[j * d + i] = 0.0
        for i in range(j, d):
            s = 1.0 if i == j else 0.0
            for k in range(j, i):
                s = s - L[i * d + k] * P[j * d + k]
            P[j * d + i] = s / L[i * d + i]
    return True


cdef void _centred_covariance(const double* st, const double* delta, Py_ssize_t d,
                              double* C) noexcept nogil:
    """C = sum r (x - mean)(x - mean)^T from statistics centred on ref (mean = ref + delta).

    st = [count, S1 (d), packed upper triangle of S2]: sum r (x-ref)(x-ref)^T
    shifted to the new mean, without forming E[x^2] - mean^2.
    """
    cdef Py_ssize_t a, b, t = 1 + d
    cdef double n_raw = st[0], v
    for a in range(d):
        for b in range(a, d):
            v = (st[t] - st[1 + a] * delta[b] - delta[a] * st[1 + b]
                 + n_raw * delta[a] * delta[b])
            C[a * d + b] = v
            C[b * d + a] = v
            t = t + 1


def m_step(const double[:, ::1] block_stats not None, const double[::1] block_loglik not None,
           Py_ssize_t n_samples, const floating[:, ::1] ref not None, int cov_type,
           double reg_covar, double eps, double[:, ::1] stats not None, double[::1] weights not None,
           double[:, ::1] means not None, double[::1] cov not None, double[::1] pchol not None,
           floating[:, ::1] k_means not None, floating[::1] k_prec not None,
           floating[::1] k_log_const not None):
    """The M-step from em_pass's output; returns (status, summed log-likelihood).

    Sums the blocks into ``stats`` ((K, n_stats)) and the log-likelihood.
    Unless they are not finite (M_STEP_NONFINITE: nothing else is written),
    it writes the new weights (K,), means (K, d) and covariances (flattened in
    scikit-learn's shape for ``cov_type``, float64); a component with
    (almost) no samples makes the status M_STEP_EMPTY (its parameters are
    written but meaningless: the caller re-seeds it, then calls
    :func:`pack_params`).  Otherwise the precision factors and the next
    em_pass's arrays are written as :func:`pack_params` does, and a
    covariance that is not positive definite gives M_STEP_NOT_PD.  ``ref`` is
    the means the E-step used (the statistics are centred on it); it may be
    the same array as ``k_means``, which is written last.
    """
    cdef Py_ssize_t nb = block_stats.shape[0], K = ref.shape[0], d = ref.shape[1]
    cdef int kind = _stats_kind(cov_type)
    cdef Py_ssize_t ns = _n_stats(d, kind)
    cdef Py_ssize_t b, k, q
    cdef double total = 0.0
    cdef int status = MSTEP_OK
    if (block_stats.shape[1] != K * ns or block_loglik.shape[0] != nb
            or stats.shape[0] != K or stats.shape[1] != ns):
        raise ValueError("m_step arrays have inconsistent shapes")
    _check_param_shapes(cov_type, K, d, weights, means, cov, pchol, k_means, k_prec, k_log_const)
    with nogil:
        for q in range(K * ns):
            stats[q // ns, q % ns] = 0.0
        for b in range(nb):
            total = total + block_loglik[b]
            for q in range(K * ns):
                stats[q // ns, q % ns] += block_stats[b, q]
        if not _finite(total):
            status = MSTEP_NONFINITE
        for k in range(K):
            for q in range(ns):
                if not _finite(stats[k, q]):
                    status = MSTEP_NONFINITE
    if status != MSTEP_OK:
        return status, total
    status = _params_from_stats(stats, n_samples, ref, cov_type, reg_covar, eps, weights, means, cov)
    if status == MSTEP_OK:
        status = _pack(cov_type, K, d, weights, means, cov, pchol, k_means, k_prec, k_log_const)
    return status, total


def pack_params(int cov_type, double[::1] weights not None, double[:, ::1] means not None,
                double[::1] cov not None, double[::1] pchol not None,
                floating[:, ::1] k_means not None, floating[::1] k_prec not None,
                floating[::1] k_log_const not None):
    """Precision factors and em_pass's arrays from weights, means and covariances.

    ``cov`` and ``pchol`` are flattened in scikit-learn's shapes for
    ``cov_type``; ``pchol`` receives the upper-triangular factors P with
    P P^T = inverse(cov) (1 / sqrt(cov) for diag and spherical).  Returns
    M_STEP_OK, or M_STEP_NOT_PD (a covariance is not positive definite:
    ``pchol`` may be partly written, the kernel arrays are untouched).
    """
    cdef Py_ssize_t K = means.shape[0], d = means.shape[1]
    _check_param_shapes(cov_type, K, d, weights, means, cov, pchol, k_means, k_prec, k_log_const)
    return _pack(cov_type, K, d, weights, means, cov, pchol, k_means, k_prec, k_log_const)


cdef inline int _stats_kind(int cov_type) except -1:
    if cov_type < COV_FULL or cov_type > COV_SPHERICAL:
        raise ValueError("unknown covariance type code")
    return (KIND_FULL if cov_type == COV_FULL or cov_type == COV_TIED
            else KIND_DIAG if cov_type == COV_DIAG else KIND_SPHERICAL)


cdef int _check_param_shapes(int cov_type, Py_ssize_t K, Py_ssize_t d, double[::1] weights,
                             double[:, ::1] means, double[::1] cov, double[::1] pchol,
                             floating[:, ::1] k_means, floating[::1] k_prec,
                             floating[::1] k_log_const) except -1:
    cdef int kind = _stats_kind(cov_type)
    cdef Py_ssize_t n_cov = (K * d * d if cov_type == COV_FULL else d * d if cov_type == COV_TIED
                             else K * d if cov_type == COV_DIAG else K)
    if (weights.shape[0] != K or means.shape[0] != K or means.shape[1] != d
            or cov.shape[0] != n_cov or pchol.shape[0] != n_cov
            or k_means.shape[0] != K or k_means.shape[1] != d
            or k_prec.shape[0] != (K * d * d if kind == KIND_FULL else K * d if kind == KIND_DIAG else K)
            or k_log_const.shape[0] != K):
        raise ValueError("m_step arrays have inconsistent shapes")
    return 0


cdef int _params_from_stats(double[:, ::1] stats, Py_ssize_t n_samples,
                            const floating[:, ::1] ref, int cov_type, double reg_covar,
                            double eps, double[::1] weights, double[:, ::1] means,
                            double[::1] cov) except -1:
    """Weights, means and covariances from summed statistics centred on ``ref``.

    Returns MSTEP_EMPTY when a component (of K > 1) has (almost) no samples,
    after writing every component's parameters.
    """
    cdef Py_ssize_t K = ref.shape[0], d = ref.shape[1], k, j, q
    cdef int kind = _stats_kind(cov_type)
    cdef int status = MSTEP_OK
    cdef double nk, nk_sum = 0.0, v
    cdef double empty_below = 1e-10 * (n_samples if n_samples > 1 else 1)
    work = np.zeros(d * d + d)
    cdef double[::1] w = work
    cdef double* C = &w[0]
    cdef double* delta = C + d * d
    with nogil:
        if cov_type == COV_TIED:
            for q in range(d * d):
                cov[q] = 0.0
        for k in range(K):
            if K > 1 and stats[k, 0] <= empty_below:
                status = MSTEP_EMPTY
            nk = stats[k, 0] + 10.0 * eps
            nk_sum = nk_sum + nk
            weights[k] = nk
            for j in range(d):
                means[k, j] = (stats[k, 0] * <double>ref[k, j] + stats[k, 1 + j]) / nk
                delta[j] = means[k, j] - <double>ref[k, j]
            if kind == KIND_FULL:
                _centred_covariance(&stats[k, 0], delta, d, C)
                if cov_type == COV_FULL:
                    for q in range(d * d):
                        cov[k * d * d + q] = C[q] / nk
                    for j in range(d):
                        cov[k * d * d + j * d + j] += reg_covar
                else:
                    for q in range(d * d):
                        cov[q] += C[q]
            elif kind == KIND_DIAG:
                for j in range(d):
                    v = ((stats[k, 1 + d + j] - 2.0 * stats[k, 1 + j] * delta[j]
                          + stats[k, 0] * delta[j] * delta[j]) / nk + reg_covar)
                    cov[k * d + j] = v if v > 0.0 else 0.0
            else:
                # sum r ||x - mean||^2 from sum r ||x - ref||^2, mean = ref + delta
                v = stats[k, 1 + d]
                for j in range(d):
                    v = v - 2.0 * stats[k, 1 + j] * delta[j] + stats[k, 0] * delta[j] * delta[j]
                v = v / nk / d + reg_covar
                cov[k] = v if v > 0.0 else 0.0
        if cov_type == COV_TIED:
            for q in range(d * d):
                cov[q] = cov[q] / nk_sum
            for j in range(d):
                cov[j * d + j] += reg_covar
        for k in range(K):
            weights[k] = weights[k] / nk_sum
    return status


cdef int _pack(int cov_type, Py_ssize_t K, Py_ssize_t d, double[::1] weights,
               double[:, ::1] means, double[::1] cov, double[::1] pchol,
               floating[:, ::1] k_means, floating[::1] k_prec,
               floating[::1] k_log_const) except -1:
    """Precision factors, then (only if every one exists) em_pass's arrays."""
    cdef Py_ssize_t n_cov = pchol.shape[0], k, j, q
    cdef int status = MSTEP_OK
    cdef double v, logdet
    work = np.zeros(d * d)
    cdef double[::1] w = work
    cdef double* L = &w[0]
    with nogil:
        if cov_type == COV_FULL:
            for k in range(K):
                if not _precision_cholesky_full(&cov[k * d * d], d, L, &pchol[k * d * d]):
                    status = MSTEP_NOT_PD
                    break
        elif cov_type == COV_TIED:
            if not _precision_cholesky_full(&cov[0], d, L, &pchol[0]):
                status = MSTEP_NOT_PD
        else:
            for q in range(n_cov):
                if not (cov[q] > 0.0) or not _finite(cov[q]):
                    status = MSTEP_NOT_PD
                    break
                pchol[q] = 1.0 / sqrt(cov[q])
        if status == MSTEP_OK:
            for k in range(K):
                logdet = 0.0
                for j in range(d):
                    if cov_type == COV_FULL:
                        v = pchol[k * d * d + j * d + j]
                        for q in range(d):
                            k_prec[k * d * d + j * d + q] = <floating>pchol[k * d * d + j * d + q]
                    elif cov_type == COV_TIED:
                        v = pchol[j * d + j]
                        for q in range(d):
                            k_prec[k * d * d + j * d + q] = <floating>pchol[j * d + q]
                    elif cov_type == COV_DIAG:
                        v = pchol[k * d + j]
                        k_prec[k * d + j] = <floating>v
                    else:
                        v = pchol[k]
                        k_prec[k] = <floating>v
                    logdet = logdet + log(v)
                    k_means[k, j] = <floating>means[k, j]
                k_log_const[k] = <floating>(log(weights[k]) - 0.5 * d * _LOG_2PI + logdet)
    return status
