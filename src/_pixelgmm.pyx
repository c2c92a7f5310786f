# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Per-pixel mixtures over a stack of frames: k-means and EM, one model per pixel.

Layout.  The frames come in as a C-contiguous (T, P, d) array (T frames, P
pixels, d channels), uint8 or float32.  Pixels are processed in blocks of
LANES neighbours: a block's T x d x LANES values are gathered once into a
per-thread float32 buffer laid out [t][c][lane], and every iteration of the
fit then runs on that buffer while it sits in cache, with the inner loops
running over the lanes (unit stride, so the compiler vectorises them, fast
exp/log included).  The frames are read from memory once per fit, whatever
the number of iterations.

Models are diagonal-covariance Gaussian mixtures (one variance per channel
and component).  On output the components of each pixel are sorted by
weight, heaviest first.

Everything here runs with the GIL released; input checks live in
gmmfast/batch_background.py.
"""

from libc.stdint cimport uint8_t, int8_t, int32_t
from libc.math cimport sqrtf
from cython.parallel cimport prange, parallel
cimport openmp
from _fastmath cimport gmm_exp_f32, gmm_log_f32
from _team cimport _team_count, _team_mark, _team_reset
from _checks cimport check_index32, check_threads

import numpy as np
cimport numpy as cnp

cnp.import_array()

include "_team.pxi"

cdef extern from "pixelgmm_fused.h" nogil:
    void pgmm_em2_d1(const float* xb, Py_ssize_t T, const float* mu, const float* prec,
                     const float* lc, float* nk, float* s1, float* s2, float* ll)
    void pgmm_em2_ll_d1(const float* xb, Py_ssize_t T, const float* mu, const float* prec,
                        const float* lc, float* nk, float* s1, float* s2, float* ll)
    void pgmm_em2_d3(const float* xb, Py_ssize_t T, const float* mu, const float* prec,
                     const float* lc, float* nk, float* s1, float* s2, float* ll)
    void pgmm_em2_ll_d3(const float* xb, Py_ssize_t T, const float* mu, const float* prec,
                        const float* lc, float* nk, float* s1, float* s2, float* ll)
    void pgmm_km2_d1(const float* xb, Py_ssize_t T, int n_iter, float* mu, float* cnt,
                     float* acc, float* acc2)
    void pgmm_km2_d3(const float* xb, Py_ssize_t T, int n_iter, float* mu, float* cnt,
                     float* acc, float* acc2)
    int PGMM_FUSED
    int PGMM_W       # lanes per vector in the fused passes (16 in the avx512 build, else 8)
    void pgmm_prefetch(const char* p)


def fused_lanes():
    """Lanes per vector of the two-component passes in this build (0: no fused passes)."""
    return PGMM_W

cdef enum:
    LANES = 32       # pixels per block (PGMM_L in the C block above)
    MAXK = 16        # most components per pixel
    MAXD = 4         # most channels per pixel

cdef extern from *:
    # restrict-qualified pointers: the buffers a helper reads and writes never
    # overlap, and saying so lets the compiler vectorise the lane loops
    ctypedef float* float_rp "float * __restrict__"
    ctypedef const float* cfloat_rp "const float * __restrict__"

ctypedef fused pix_t:
    uint8_t
    float

MAX_COMPONENTS = MAXK
MAX_CHANNELS = MAXD

cdef float HALF_LOG_2PI = 0.91893853320467274


cdef void _gather(const pix_t* X, const float* scale, Py_ssize_t T, Py_ssize_t P,
                  Py_ssize_t d, Py_ssize_t p0, Py_ssize_t nb, float* xb) noexcept nogil:
    """xb[(t*d + c)*LANES + b] = X[t, p0 + b, c] * scale[t]; lanes past nb repeat pixel p0."""
    cdef Py_ssize_t t, c, b
    cdef const pix_t* src
    cdef float* dst
    cdef float* dst1
    cdef float* dst2
    cdef float s
    cdef Py_ssize_t ahead = (P - p0 - LANES) * d * sizeof(pix_t)   # bytes of the next block
    if ahead > LANES * d * sizeof(pix_t):
        ahead = LANES * d * sizeof(pix_t)
    for t in range(T):
        src = X + (t * P + p0) * d
        s = scale[t]
        # the frames are T far-apart streams, too many for the hardware prefetcher:
        # ask for the next block's values now (blocks are taken in order within a chunk)
        if ahead > 0:
            pgmm_prefetch(<const char*>(src + LANES * d))
            if ahead > 64:
                pgmm_prefetch(<const char*>(src + LANES * d) + 64)
            if ahead > 128:
                pgmm_prefetch(<const char*>(src + LANES * d) + 128)
        if d == 3 and nb == LANES:
            # RGB: one pass over the interleaved values (the compiler vectorises it)
            dst = xb + t * 3 * LANES
            dst1 = dst + LANES
            dst2 = dst1 + LANES
            for b in range(LANES):
                dst[b] = <float>src[3 * b] * s
                dst1[b] = <float>src[3 * b + 1] * s
                dst2[b] = <float>src[3 * b + 2] * s
            continue
        if d == 1 and nb == LANES:
            dst = xb + t * LANES
            for b in range(LANES):
                dst[b] = <float>src[b] * s
            continue
        for c in range(d):
            dst = xb + (t * d + c) * LANES
            for b in range(nb):
                dst[b] = <float>src[b * d + c] * s
            for b in range(nb, LANES):
                dst[b] = <float>src[c] * s


cdef inline Py_ssize_t _load_block(const pix_t* X, const float* scale, Py_ssize_t T, Py_ssize_t P,
                                   Py_ssize_t d, Py_ssize_t p0, float* xb) noexcept nogil:
    """_gather the block of pixels from p0 (LANES of them, fewer at the end); returns how many."""
    cdef Py_ssize_t nb = P - p0 if P - p0 < LANES else LANES
    _gather(X, scale, T, P, d, p0, nb, xb)
    return nb


cdef void _kmeans_block(const float* xb, Py_ssize_t T, Py_ssize_t d, Py_ssize_t K,
                        int n_iter, float* mu, float* cnt, float* acc, float* acc2) noexcept nogil:
    """Per-lane k-means (Lloyd) of the T values of each lane into K clusters.

    Initial centres are spread on the segment between the darkest and the
    brightest value of the lane (by channel sum), at (k + 1/2)/K of the way.
    On return mu[(k*d + c)*LANES + b] are the centres and cnt[k*LANES + b]
    the cluster sizes of the final assignment.  acc holds K*d*LANES floats:
    on return, the per-cluster sums of the final assignment; acc2 (K*d*LANES
    floats, or NULL) gets the sums of squares of the final assignment.
    """
    cdef Py_ssize_t t, c, b, k
    cdef int it
    cdef float lo[LANES]
    cdef float hi[LANES]
    cdef int32_t tlo[LANES]
    cdef int32_t thi[LANES]
    cdef float best[LANES]
    cdef float lab[LANES]
    cdef float dst[LANES]
    cdef float v, f, diff
    cdef float one = 1.0, zero = 0.0
    cdef const float* xt

    for b in range(LANES):
        lo[b] = 3.0e38
        hi[b] = -3.0e38
        tlo[b] = 0
        thi[b] = 0
    for t in range(T):
        xt = xb + t * d * LANES
        for b in range(LANES):
            v = xt[b]
            for c in range(1, d):
                v = v + xt[c * LANES + b]
            if v < lo[b]:
                lo[b] = v
                tlo[b] = <int32_t>t
            if v > hi[b]:
                hi[b] = v
                thi[b] = <int32_t>t
    for k in range(K):
        f = (k + 0.5) / K
        for c in range(d):
            for b in range(LANES):
                mu[(k * d + c) * LANES + b] = (
                    xb[(tlo[b] * d + c) * LANES + b] * (1.0 - f)
                    + xb[(thi[b] * d + c) * LANES + b] * f)

    for it in range(n_iter + 1):
        for k in range(K * LANES):
            cnt[k] = 0
        for k in range(K * d * LANES):
            acc[k] = 0
        if acc2 != NULL and it == n_iter:
            for k in range(K * d * LANES):
                acc2[k] = 0
        for t in range(T):
            xt = xb + t * d * LANES
            # nearest centre per lane
            for b in range(LANES):
                best[b] = 3.0e38
                lab[b] = 0
            for k in range(K):
                for b in range(LANES):
                    dst[b] = 0
                for c in range(d):
                    for b in range(LANES):
                        diff = xt[c * LANES + b] - mu[(k * d + c) * LANES + b]
                        dst[b] += diff * diff
                for b in range(LANES):
                    f = dst[b]
                    lab[b] = k if f < best[b] else lab[b]
                    best[b] = f if f < best[b] else best[b]
            for k in range(K):
                for b in range(LANES):
                    dst[b] = one if lab[b] == k else zero
                    cnt[k * LANES + b] += dst[b]
                for c in range(d):
                    for b in range(LANES):
                        acc[(k * d + c) * LANES + b] += dst[b] * xt[c * LANES + b]
                if acc2 != NULL and it == n_iter:
                    for c in range(d):
                        for b in range(LANES):
                            acc2[(k * d + c) * LANES + b] += dst[b] * xt[c * LANES + b] * xt[c * LANES + b]
        if it == n_iter:
            break   # cnt describes the assignment to the final centres
        for k in range(K):
            for c in range(d):
                for b in range(LANES):
                    if cnt[k * LANES + b] > 0:
                        mu[(k * d + c) * LANES + b] = (acc[(k * d + c) * LANES + b]
                                                       / cnt[k * LANES + b])


cdef inline void _log_density(cfloat_rp xt, cfloat_rp mu, cfloat_rp prec,
                              cfloat_rp lc, Py_ssize_t d, float_rp out) noexcept nogil:
    """out[b] = lc[b] - 1/2 sum_c (x[c][b] - mu[c][b])^2 prec[c][b] for one component.

    Grey and RGB get loops with the channels unrolled (one pass over the lanes).
    """
    cdef Py_ssize_t b, c
    cdef float half = 0.5, d0, d1, d2
    if d == 1:
        for b in range(LANES):
            d0 = xt[b] - mu[b]
            out[b] = lc[b] - half * d0 * d0 * prec[b]
    elif d == 3:
        for b in range(LANES):
            d0 = xt[b] - mu[b]
            d1 = xt[LANES + b] - mu[LANES + b]
            d2 = xt[2 * LANES + b] - mu[2 * LANES + b]
            out[b] = lc[b] - half * (d0 * d0 * prec[b] + d1 * d1 * prec[LANES + b]
                                     + d2 * d2 * prec[2 * LANES + b])
    else:
        for b in range(LANES):
            out[b] = lc[b]
        for c in range(d):
            for b in range(LANES):
                d0 = xt[c * LANES + b] - mu[c * LANES + b]
                out[b] -= half * d0 * d0 * prec[c * LANES + b]


cdef inline void _accumulate(cfloat_rp xt, cfloat_rp mu, cfloat_rp e, cfloat_rp inv,
                             Py_ssize_t d, float_rp nk, float_rp s1, float_rp s2) noexcept nogil:
    """Responsibility r = e * inv of one component, and its centred sufficient statistics."""
    cdef Py_ssize_t b, c
    cdef float r, d0, d1, d2, t0, t1, t2
    if d == 1:
        for b in range(LANES):
            r = e[b] * inv[b]
            nk[b] += r
            d0 = xt[b] - mu[b]
            t0 = r * d0
            s1[b] += t0
            s2[b] += t0 * d0
    elif d == 3:
        for b in range(LANES):
            r = e[b] * inv[b]
            nk[b] += r
            d0 = xt[b] - mu[b]
            d1 = xt[LANES + b] - mu[LANES + b]
            d2 = xt[2 * LANES + b] - mu[2 * LANES + b]
            t0 = r * d0
            t1 = r * d1
            t2 = r * d2
            s1[b] += t0
            s2[b] += t0 * d0
            s1[LANES + b] += t1
            s2[LANES + b] += t1 * d1
            s1[2 * LANES + b] += t2
            s2[2 * LANES + b] += t2 * d2
    else:
        for b in range(LANES):
            nk[b] += e[b] * inv[b]
        for c in range(d):
            for b in range(LANES):
                r = e[b] * inv[b]
                d0 = xt[c * LANES + b] - mu[c * LANES + b]
                t0 = r * d0
                s1[c * LANES + b] += t0
                s2[c * LANES + b] += t0 * d0


cdef inline void _normalise_weights(float* w, Py_ssize_t K, float* ssum) noexcept nogil:
    """w[k*LANES + b] /= sum_k w[k*LANES + b] for every lane b (ssum: LANES floats of scratch)."""
    cdef Py_ssize_t k, b
    for b in range(LANES):
        ssum[b] = 0
    for k in range(K):
        for b in range(LANES):
            ssum[b] += w[k * LANES + b]
    for k in range(K):
        for b in range(LANES):
            w[k * LANES + b] = w[k * LANES + b] / ssum[b]


cdef void _em_block(const float* xb, Py_ssize_t T, Py_ssize_t d, Py_ssize_t K,
                    int max_iter, int n_init_iter, float tol, float min_var,
                    float* w, float* mu, float* var, float* ll_out, int32_t* it_out,
                    float* work) noexcept nogil:
    """EM for the LANES pixels of a block; parameters out in [k][c][lane] layout."""
    cdef Py_ssize_t t, c, b, k, i
    cdef int it
    cdef float* prec = work
    cdef float* lconst = prec + K * d * LANES
    cdef float* nk = lconst + K * LANES
    cdef float* s1 = nk + K * LANES
    cdef float* s2 = s1 + K * d * LANES
    cdef float* lp = s2 + K * d * LANES
    cdef float mx[LANES]
    cdef float ssum[LANES]
    cdef float ll[LANES]
    cdef float prev[LANES]
    cdef float lab[LANES]
    cdef int32_t done[LANES]
    cdef float diff, r, n, delta, v, total, inv_t = 1.0 / T
    cdef float half = 0.5, one = 1.0, zero = 0.0
    cdef const float* xt
    cdef int all_done, need_ll

    # --- initialisation from per-pixel k-means --------------------------------
    # the clusters of the final assignment give means, variances and weights
    if PGMM_FUSED and K == 2 and d == 1:
        pgmm_km2_d1(xb, T, n_init_iter, mu, nk, s1, s2)
    elif PGMM_FUSED and K == 2 and d == 3:
        pgmm_km2_d3(xb, T, n_init_iter, mu, nk, s1, s2)
    else:
        _kmeans_block(xb, T, d, K, n_init_iter, mu, nk, s1, s2)
    for k in range(K):
        for b in range(LANES):
            n = nk[k * LANES + b]
            w[k * LANES + b] = (n if n > 0.5 else 0.5) * inv_t
        for c in range(d):
            for b in range(LANES):
                n = nk[k * LANES + b]
                if n > 0.5:
                    delta = s1[(k * d + c) * LANES + b] / n
                    v = s2[(k * d + c) * LANES + b] / n - delta * delta
                    mu[(k * d + c) * LANES + b] = delta
                else:
                    v = 0
                var[(k * d + c) * LANES + b] = v if v > min_var else min_var

    for b in range(LANES):
        prev[b] = -3.0e38
        done[b] = 0
        it_out[b] = -1      # -1: not converged within max_iter

    # --- EM iterations -------------------------------------------------------
    for it in range(max_iter):
        # the log-likelihood is only needed to test convergence, and for the last iteration
        need_ll = tol > 0 or it == max_iter - 1
        # normalise weights, precompute precisions and log-constants
        _normalise_weights(w, K, ssum)
        for k in range(K):
            for b in range(LANES):
                lconst[k * LANES + b] = gmm_log_f32(w[k * LANES + b]) - d * HALF_LOG_2PI
            for c in range(d):
                for b in range(LANES):
                    v = var[(k * d + c) * LANES + b]
                    prec[(k * d + c) * LANES + b] = one / v
                    lconst[k * LANES + b] -= half * gmm_log_f32(v)
        if PGMM_FUSED and K == 2 and (d == 1 or d == 3):
            # fused E-step and statistics, sums kept in registers (C block above)
            if d == 1:
                if need_ll:
                    pgmm_em2_ll_d1(xb, T, mu, prec, lconst, nk, s1, s2, ll)
                else:
                    pgmm_em2_d1(xb, T, mu, prec, lconst, nk, s1, s2, ll)
            else:
                if need_ll:
                    pgmm_em2_ll_d3(xb, T, mu, prec, lconst, nk, s1, s2, ll)
                else:
                    pgmm_em2_d3(xb, T, mu, prec, lconst, nk, s1, s2, ll)
        else:
            for i in range(K * LANES):
                nk[i] = 0
            for i in range(K * d * LANES):
                s1[i] = 0
                s2[i] = 0
            for b in range(LANES):
                ll[b] = 0
            for t in range(T):
                xt = xb + t * d * LANES
                # E-step: weighted log-densities, then responsibilities
                for k in range(K):
                    _log_density(xt, mu + k * d * LANES, prec + k * d * LANES, lconst + k * LANES,
                                 d, lp + k * LANES)
                for b in range(LANES):
                    mx[b] = lp[b]
                for k in range(1, K):
                    for b in range(LANES):
                        v = lp[k * LANES + b]
                        mx[b] = v if v > mx[b] else mx[b]
                for b in range(LANES):
                    ssum[b] = 0
                for k in range(K):
                    for b in range(LANES):
                        v = gmm_exp_f32(lp[k * LANES + b] - mx[b])
                        lp[k * LANES + b] = v
                        ssum[b] += v
                if need_ll:
                    for b in range(LANES):
                        ll[b] += mx[b] + gmm_log_f32(ssum[b])
                        ssum[b] = one / ssum[b]
                else:
                    for b in range(LANES):
                        ssum[b] = one / ssum[b]
                # sufficient statistics, centred on the current means
                for k in range(K):
                    _accumulate(xt, mu + k * d * LANES, lp + k * LANES, ssum, d,
                                nk + k * LANES, s1 + k * d * LANES, s2 + k * d * LANES)

        # M-step (a component with almost no responsibility keeps its mean and variance)
        for k in range(K):
            for b in range(LANES):
                n = nk[k * LANES + b]
                w[k * LANES + b] = (n if n > 1e-3 else 1e-3) * inv_t
            for c in range(d):
                for b in range(LANES):
                    n = nk[k * LANES + b]
                    if n > 1e-3:
                        delta = s1[(k * d + c) * LANES + b] / n
                        v = s2[(k * d + c) * LANES + b] / n - delta * delta
                        mu[(k * d + c) * LANES + b] += delta
                        var[(k * d + c) * LANES + b] = v if v > min_var else min_var

        # convergence on the mean log-likelihood per frame
        all_done = 1
        for b in range(LANES):
            v = ll[b] * inv_t
            if done[b] == 0:
                diff = v - prev[b]
                if diff < 0:
                    diff = -diff
                if diff < tol:
                    done[b] = 1
                    it_out[b] = it + 1
                else:
                    all_done = 0
            prev[b] = v
            ll_out[b] = v
        if all_done:
            break

    _normalise_weights(w, K, ssum)


cdef void _scatter_sorted(const float* key, const float* w, const float* mu, const float* var,
                          Py_ssize_t K, Py_ssize_t d, Py_ssize_t p0, Py_ssize_t nb,
                          float* w_out, float* mu_out, float* var_out) noexcept nogil:
    """Write lanes 0..nb-1 to the (P, K[, d]) outputs, components sorted by key, largest first.

    w or var may be NULL (not written).
    """
    cdef Py_ssize_t b, k, j, c, src
    cdef int32_t order[MAXK]
    cdef int32_t tmp
    for b in range(nb):
        for k in range(K):
            order[k] = <int32_t>k
        for k in range(1, K):      # insertion sort, stable, descending by key
            tmp = order[k]
            j = k
            while j > 0 and key[order[j - 1] * LANES + b] < key[tmp * LANES + b]:
                order[j] = order[j - 1]
                j -= 1
            order[j] = tmp
        for k in range(K):
            src = order[k]
            if w != NULL:
                w_out[(p0 + b) * K + k] = w[src * LANES + b]
            for c in range(d):
                mu_out[((p0 + b) * K + k) * d + c] = mu[(src * d + c) * LANES + b]
                if var != NULL:
                    var_out[((p0 + b) * K + k) * d + c] = var[(src * d + c) * LANES + b]


def em_fit(const pix_t[:, :, ::1] X not None, const float[::1] scale not None, int n_components, int max_iter,
           float tol, float min_var, int n_init_iter, int n_threads):
    """Fit a K-component diagonal Gaussian mixture to each pixel's T values.

    Parameters
    ----------
    X : (T, P, d) uint8 or float32, C-contiguous
    scale : (T,) float32, every value of frame t is multiplied by scale[t]
    n_components, max_iter, tol, min_var, n_init_iter, n_threads : see PixelGMM

    Returns
    -------
    weights (P, K), means (P, K, d), variances (P, K, d) float32, components
    sorted by weight (heaviest first); loglik (P,) float32, the mean
    log-likelihood per frame at the last E-step; n_iter (P,) int32, the
    iteration at which the pixel met tol, -1 if it did not.
    """
    cdef Py_ssize_t T = X.shape[0], P = X.shape[1], d = X.shape[2]
    cdef Py_ssize_t K = n_components
    if T < 1 or P < 1 or d < 1 or d > MAXD or K < 1 or K > MAXK:
        raise ValueError("em_fit: bad shape or number of components")
    check_threads(n_threads)
    check_index32("T (frames)", T)     # frame numbers are kept in int32
    if max_iter < 1 or n_init_iter < 0 or n_init_iter >= 0x7fffffff:
        raise ValueError("em_fit: max_iter must be >= 1 and n_init_iter in 0..2**31-2")
    if scale.shape[0] != T:
        raise ValueError("em_fit: scale must have one value per frame")
    weights = np.empty((P, K), dtype=np.float32)
    means = np.empty((P, K, d), dtype=np.float32)
    variances = np.empty((P, K, d), dtype=np.float32)
    loglik = np.empty(P, dtype=np.float32)
    n_iter = np.empty(P, dtype=np.int32)
    cdef Py_ssize_t nblocks = (P + LANES - 1) // LANES
    # per-thread scratch: frame buffer, parameters, work arrays, per-lane outputs
    cdef Py_ssize_t nx = T * d * LANES
    cdef Py_ssize_t npar = K * LANES + 2 * K * d * LANES
    cdef Py_ssize_t nwork = 3 * K * d * LANES + 3 * K * LANES + LANES
    cdef Py_ssize_t stride = nx + npar + nwork
    scratch = np.empty((n_threads, stride), dtype=np.float32)
    iters = np.empty((n_threads, LANES), dtype=np.int32)
    cdef float[:, ::1] S = scratch
    cdef int32_t[:, ::1] I = iters
    cdef float[:, ::1] Wo = weights
    cdef float[:, :, ::1] Mo = means
    cdef float[:, :, ::1] Vo = variances
    cdef float[::1] Lo = loglik
    cdef int32_t[::1] No = n_iter
    cdef Py_ssize_t blk, p0, nb, b, tid
    cdef float* base
    cdef float* xb
    cdef float* w
    cdef float* mu
    cdef float* var
    cdef float* work
    cdef float* llb
    cdef int32_t* itb
    with nogil, parallel(num_threads=n_threads):
        for blk in prange(nblocks, schedule='dynamic', chunksize=4):
            _team_mark()
            tid = openmp.omp_get_thread_num()
            base = &S[tid, 0]
            xb = base
            w = xb + nx
            mu = w + K * LANES
            var = mu + K * d * LANES
            work = var + K * d * LANES
            llb = work + 3 * K * d * LANES + 3 * K * LANES
            itb = &I[tid, 0]
            p0 = blk * LANES
            nb = _load_block(&X[0, 0, 0], &scale[0], T, P, d, p0, xb)
            _em_block(xb, T, d, K, max_iter, n_init_iter, tol, min_var,
                      w, mu, var, llb, itb, work)
            _scatter_sorted(w, w, mu, var, K, d, p0, nb, &Wo[0, 0], &Mo[0, 0, 0], &Vo[0, 0, 0])
            for b in range(nb):
                Lo[p0 + b] = llb[b]
                No[p0 + b] = itb[b]
    return weights, means, variances, loglik, n_iter


def kmeans_fit(const pix_t[:, :, ::1] X not None, const float[::1] scale not None, int n_clusters, int n_iter,
               int n_threads):
    """Per-pixel Lloyd k-means of each pixel's T values into K clusters.

    Returns centres (P, K, d) float32 and cluster sizes (P, K) float32,
    clusters sorted by size (largest first).
    """
    cdef Py_ssize_t T = X.shape[0], P = X.shape[1], d = X.shape[2]
    cdef Py_ssize_t K = n_clusters
    if T < 1 or P < 1 or d < 1 or d > MAXD or K < 1 or K > MAXK:
        raise ValueError("kmeans_fit: bad shape or number of clusters")
    check_threads(n_threads)
    check_index32("T (frames)", T)     # frame numbers are kept in int32
    if n_iter < 0 or n_iter >= 0x7fffffff:
        raise ValueError("kmeans_fit: n_iter must be in 0..2**31-2")
    if scale.shape[0] != T:
        raise ValueError("kmeans_fit: scale must have one value per frame")
    centres = np.empty((P, K, d), dtype=np.float32)
    counts = np.empty((P, K), dtype=np.float32)
    cdef Py_ssize_t nblocks = (P + LANES - 1) // LANES
    cdef Py_ssize_t nx = T * d * LANES
    cdef Py_ssize_t stride = nx + K * LANES + 2 * K * d * LANES
    scratch = np.empty((n_threads, stride), dtype=np.float32)
    cdef float[:, ::1] S = scratch
    cdef float[:, :, ::1] Co = centres
    cdef float[:, ::1] Ko = counts
    cdef Py_ssize_t blk, p0, nb, tid
    cdef float* xb
    cdef float* cnt
    cdef float* mu
    cdef float* acc
    with nogil, parallel(num_threads=n_threads):
        for blk in prange(nblocks, schedule='dynamic', chunksize=4):
            _team_mark()
            tid = openmp.omp_get_thread_num()
            xb = &S[tid, 0]
            cnt = xb + nx
            mu = cnt + K * LANES
            acc = mu + K * d * LANES
            p0 = blk * LANES
            nb = _load_block(&X[0, 0, 0], &scale[0], T, P, d, p0, xb)
            _kmeans_block(xb, T, d, K, n_iter, mu, cnt, acc, NULL)
            _scatter_sorted(cnt, cnt, mu, NULL, K, d, p0, nb, &Ko[0, 0], &Co[0, 0, 0], NULL)
    return centres, counts


def predict(const pix_t[:, ::1] x not None, const float[:, ::1] weights not None,
            const float[:, :, ::1] means not None, const float[:, :, ::1] variances not None, float scale, float background_ratio,
            float threshold, int n_threads):
    """Label and background test of one frame x (P, d), times scale, under per-pixel mixtures.

    Components must be sorted by weight (heaviest first).  The background
    components of a pixel are the heaviest one and the next ones while the
    heavier ones' weights add up to less than background_ratio.  A pixel is
    foreground when its Mahalanobis distance to every background component
    exceeds threshold.

    Returns labels (P,) int8 (most probable component), mask (P,) uint8
    (1 = foreground) and dist (P,) float32 (smallest Mahalanobis distance to a
    background component).
    """
    cdef Py_ssize_t P = x.shape[0], d = x.shape[1], K = weights.shape[1]
    if means.shape[0] != P or means.shape[1] != K or means.shape[2] != d \
            or variances.shape[0] != P or variances.shape[1] != K or variances.shape[2] != d \
            or weights.shape[0] != P or K > MAXK or K < 1:
        raise ValueError("predict: shapes of the frame and the model do not agree")
    check_threads(n_threads)
    labels = np.empty(P, dtype=np.int8)
    mask = np.empty(P, dtype=np.uint8)
    dist = np.empty(P, dtype=np.float32)
    cdef int8_t[::1] Lo = labels
    cdef uint8_t[::1] Mo = mask
    cdef float[::1] Do = dist
    cdef Py_ssize_t p, k, c
    cdef float cum, best_d2, best_lp, d2, lp, diff, v, thr2 = threshold * threshold
    cdef int8_t lab
    cdef int in_bg
    with nogil:
        for p in prange(P, num_threads=n_threads, schedule='static'):
            cum = 0
            best_d2 = 3.0e38
            best_lp = -3.0e38
            lab = 0
            for k in range(K):
                d2 = 0
                lp = gmm_log_f32(weights[p, k])
                for c in range(d):
                    v = variances[p, k, c]
                    diff = <float>x[p, c] * scale - means[p, k, c]
                    d2 = d2 + diff * diff / v
                    lp = lp - 0.5 * gmm_log_f32(v)
                lp = lp - 0.5 * d2
                if lp > best_lp:
                    best_lp = lp
                    lab = <int8_t>k
                in_bg = k == 0 or cum < background_ratio
                if in_bg and d2 < best_d2:
                    best_d2 = d2
                cum = cum + weights[p, k]
            Lo[p] = lab
            Do[p] = sqrtf(best_d2)
            Mo[p] = 1 if best_d2 > thr2 else 0
    return labels, mask, dist
