# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""GrabCut kernels: colour-model passes and graph capacities.

All passes read the image as packed uint8 RGB (N, 3) and release the GIL.

``edge_weights``
    Contrast-sensitive neighbour capacities of Rother, Kolmogorov & Blake
    (2004): ``gamma / dist * exp(-beta * |z_m - z_n|^2)`` with
    ``beta = 1 / (2 * mean |z_m - z_n|^2)`` over every neighbour pair of the
    chosen connectivity.  Squared differences of uint8 colours are integers,
    so the mean is exact and independent of the thread count.

``unaries``
    One pass over the pixels that evaluates both colour models (K full-
    covariance Gaussians each), writes the terminal capacities of the cut
    (already reduced: ``min(D_fg, D_bg)`` is subtracted, which does not move
    the minimum cut but saves the max-flow solver work) and, as a by-product,
    the most likely component of every pixel under each model.  The next
    iteration's component assignment is then a lookup, not another pass.

``component_stats``
    Sufficient statistics (count, sums, sums of products) of the component
    each pixel is assigned to under the model of its current label.  They are
    integer sums of uint8 products, so they are exact and deterministic.

Inner loops run over chunks of CHUNK pixels held as structure-of-arrays in
float32, so the compiler vectorises them (with ``gmm_exp_f32``/``gmm_log_f32``
from fastmath.h).
"""

from cython.parallel cimport prange, parallel
cimport openmp
from _fastmath cimport gmm_exp_f32, gmm_log_f32
from _team cimport _team_count, _team_mark, _team_reset
from _checks cimport check_size, check_threads
from libc.stdint cimport uint8_t, int64_t

import numpy as np
cimport numpy as cnp

cnp.import_array()

include "_team.pxi"

cdef enum:
    CHUNK = 256       # pixels per chunk (buffers stay in L1)
    MAXK = 32         # components per model the kernels support
    NSTAT = 10        # count, 3 sums, 6 products (00 01 02 11 12 22)

# labels used in the ``hard`` array passed to ``unaries``
cdef enum:
    FREE = 0
    FIXED_BG = 1
    FIXED_FG = 2


def max_components():
    """Largest number of components per colour model the kernels accept."""
    return MAXK


# ---------------------------------------------------------------------------
# neighbour capacities
# ---------------------------------------------------------------------------

cdef inline int64_t _d2(const uint8_t* a, const uint8_t* b) noexcept nogil:
    cdef int64_t r = <int64_t>a[0] - <int64_t>b[0]
    cdef int64_t g = <int64_t>a[1] - <int64_t>b[1]
    cdef int64_t u = <int64_t>a[2] - <int64_t>b[2]
    return r * r + g * g + u * u


def contrast_beta(const uint8_t[:, :, ::1] img not None, int connectivity, int n_threads):
    """beta = 1 / (2 <|z_m - z_n|^2>) over the image's 4- or 8-neighbour pairs (0 for a flat image)."""
    cdef Py_ssize_t H = img.shape[0], W = img.shape[1]
    check_size("img.shape[2] (channels)", img.shape[2], 3)
    check_threads(n_threads)
    if connectivity != 4 and connectivity != 8:
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    if H == 0 or W == 0:
        return 0.0
    return _beta(img, 4 if connectivity == 8 else 2, n_threads)


cdef double _beta(const uint8_t[:, :, ::1] img, Py_ssize_t D, int n_threads):
    """contrast_beta's sum: exact in integers, then one division."""
    cdef Py_ssize_t H = img.shape[0], W = img.shape[1]
    cdef Py_ssize_t i, j
    cdef int64_t total = 0
    cdef int64_t row
    cdef const uint8_t* p
    cdef const uint8_t* q
    cdef double n_pairs, mean
    for i in prange(H, nogil=True, num_threads=n_threads, schedule="static"):
        _team_mark()
        row = 0
        p = &img[i, 0, 0]
        for j in range(W - 1):
            row = row + _d2(p + 3 * j, p + 3 * j + 3)
        if i + 1 < H:
            q = &img[i + 1, 0, 0]
            for j in range(W):
                row = row + _d2(p + 3 * j, q + 3 * j)
            if D == 4:
                for j in range(W - 1):
                    row = row + _d2(p + 3 * j, q + 3 * j + 3)
                for j in range(1, W):
                    row = row + _d2(p + 3 * j, q + 3 * j - 3)
        total += row
    n_pairs = <double>(H * (W - 1) + (H - 1) * W)
    if D == 4:
        n_pairs += 2.0 * (H - 1) * (W - 1)
    mean = total / n_pairs if n_pairs > 0 else 0.0
    return 1.0 / (2.0 * mean) if mean > 0 else 0.0


def edge_weights(const uint8_t[:, :, ::1] img not None, double gamma, int connectivity,
                 int n_threads, float[:, :, ::1] out not None, double beta=-1.0):
    """Fill ``out`` (D, H, W) with neighbour capacities; return beta.

    Direction d uses the forward offsets (0,1), (1,0), (1,1), (1,-1) in that
    order (D = 2 for 4-connectivity, 4 for 8-connectivity); entries whose
    neighbour falls outside the image are set to 0.  ``beta`` < 0 (the
    default): this image's contrast_beta; else the given one (a window of a
    larger image takes the whole image's).
    """
    cdef Py_ssize_t H = img.shape[0], W = img.shape[1]
    cdef Py_ssize_t D = 4 if connectivity == 8 else 2
    cdef Py_ssize_t i, j, d
    cdef const uint8_t* p
    cdef const uint8_t* q
    cdef float fbeta, g_axis, g_diag
    cdef float* o
    # colour differences read 3 bytes per pixel
    check_size("img.shape[2] (channels)", img.shape[2], 3)
    check_threads(n_threads)
    if connectivity != 4 and connectivity != 8:
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    if out.shape[0] != D or out.shape[1] != H or out.shape[2] != W:
        raise ValueError("out has the wrong shape")
    if not beta == beta or beta in (float("inf"), float("-inf")):
        raise ValueError(f"beta must be finite, got {beta!r}")
    if H == 0 or W == 0:
        return 0.0 if beta < 0 else beta

    if beta < 0:
        beta = _beta(img, D, n_threads)
    fbeta = <float>beta
    g_axis = <float>gamma
    g_diag = <float>(gamma / 1.4142135623730951)

    # pass 2: capacities
    for i in prange(H, nogil=True, num_threads=n_threads, schedule="static"):
        p = &img[i, 0, 0]
        o = &out[0, i, 0]
        for j in range(W - 1):
            o[j] = g_axis * gmm_exp_f32(-fbeta * <float>_d2(p + 3 * j, p + 3 * j + 3))
        o[W - 1] = 0
        o = &out[1, i, 0]
        if i + 1 < H:
            q = &img[i + 1, 0, 0]
            for j in range(W):
                o[j] = g_axis * gmm_exp_f32(-fbeta * <float>_d2(p + 3 * j, q + 3 * j))
            if D == 4:
                o = &out[2, i, 0]
                for j in range(W - 1):
                    o[j] = g_diag * gmm_exp_f32(-fbeta * <float>_d2(p + 3 * j, q + 3 * j + 3))
                o[W - 1] = 0
                o = &out[3, i, 0]
                o[0] = 0
                for j in range(1, W):
                    o[j] = g_diag * gmm_exp_f32(-fbeta * <float>_d2(p + 3 * j, q + 3 * j - 3))
        else:
            for d in range(1, D):
                o = &out[d, i, 0]
                for j in range(W):
                    o[j] = 0
    return beta


# ---------------------------------------------------------------------------
# the coarse start: the full-resolution problem on f x f blocks
# ---------------------------------------------------------------------------

cdef int _check_blocks(Py_ssize_t f, Py_ssize_t H, Py_ssize_t W, Py_ssize_t Hs, Py_ssize_t Ws) except -1:
    """f >= 1 and out (Hs, Ws) = (ceil(H / f), ceil(W / f))."""
    if f < 1:
        raise ValueError(f"the block size f must be at least 1, got {f}")
    # ceil(n / f) without forming n + f - 1, which overflows for a huge f
    check_size("out's rows", Hs, (H - 1) // f + 1 if H > 0 else 0)
    check_size("out's columns", Ws, (W - 1) // f + 1 if W > 0 else 0)
    return 0


def block_sums(const float[:, ::1] a not None, Py_ssize_t f, float[:, ::1] out not None):
    """``out[I, J]`` = sum of ``a`` over the f x f block (I, J) (blocks on the
    bottom and right edges hold what is left); out is (ceil(H / f), ceil(W / f)).

    With a pixel's terminal capacities this is the unary of a block-constant
    labelling: the block takes one label for all its pixels.
    """
    cdef Py_ssize_t H = a.shape[0], W = a.shape[1], Hs = out.shape[0], Ws = out.shape[1]
    cdef Py_ssize_t I, i, j
    cdef float* o
    _check_blocks(f, H, W, Hs, Ws)
    with nogil:
        for I in range(Hs):
            o = &out[I, 0]
            for j in range(Ws):
                o[j] = 0
            for i in range(I * f, min(I * f + f, H)):
                for j in range(W):
                    o[j // f] += a[i, j]


cdef inline float _column_cut(const float[:, :, ::1] w, Py_ssize_t D, Py_ssize_t c,
                              Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Capacity of the vertical cut line between columns c - 1 and c, rows [r0, r1):
    the horizontal edges across it and the diagonal edges across it whose two
    ends lie in those rows."""
    cdef Py_ssize_t y
    cdef float s = 0
    for y in range(r0, r1):
        s += w[0, y, c - 1]
        if D == 4 and y + 1 < r1:
            s += w[2, y, c - 1] + w[3, y, c]
    return s


cdef inline float _row_cut(const float[:, :, ::1] w, Py_ssize_t D, Py_ssize_t r,
                           Py_ssize_t c0, Py_ssize_t c1) noexcept nogil:
    """Capacity of the horizontal cut line between rows r - 1 and r, columns [c0, c1)."""
    cdef Py_ssize_t x
    cdef float s = 0
    for x in range(c0, c1):
        s += w[1, r - 1, x]
        if D == 4:
            if x + 1 < c1:
                s += w[2, r - 1, x]
            if x > c0:
                s += w[3, r - 1, x]
    return s


cdef inline float _cheapest_cut(const float[:, :, ::1] w, Py_ssize_t D, bint vertical, Py_ssize_t k,
                                Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t h, Py_ssize_t n) noexcept nogil:
    """The cheapest of the cut lines before column (vertical) or row k + s, |s| <= h,
    that lie inside the image (1 <= k + s < n; k itself always does), within [lo, hi)."""
    cdef Py_ssize_t s
    cdef float v
    cdef float best = _column_cut(w, D, k, lo, hi) if vertical else _row_cut(w, D, k, lo, hi)
    for s in range(-h, h + 1):
        if s != 0 and 1 <= k + s < n:
            v = _column_cut(w, D, k + s, lo, hi) if vertical else _row_cut(w, D, k + s, lo, hi)
            if v < best:
                best = v
    return best


def block_edge_weights(const float[:, :, ::1] w not None, Py_ssize_t f,
                       float[:, :, ::1] out not None, int n_threads):
    """Neighbour capacities of the f x f block grid (same layout as ``edge_weights``).

    A block-constant labelling can only put a boundary on a block line, while
    the full-resolution boundary it stands for runs within f / 2 pixels of it,
    where the image's edge actually is.  So the capacity between two side-by-side
    blocks is the cheapest of the cut lines at offsets -f/2 .. f/2 from their
    block line (each line: the full-resolution edges that cross it within the
    blocks' span); with the offset 0 alone it would be the exact restricted
    energy, which prices a boundary that misses the image edge by a pixel at
    full within-region capacity and so erases weakly separated parts (a head
    against a wall).  Diagonal block neighbours keep their one corner edge.
    """
    cdef Py_ssize_t D = w.shape[0], H = w.shape[1], W = w.shape[2]
    cdef Py_ssize_t Hs = out.shape[1], Ws = out.shape[2]
    cdef Py_ssize_t I, J, h = f // 2, r0, r1, c0, c1
    if D != 2 and D != 4:
        raise ValueError(f"w must hold 2 or 4 directions, got {D}")
    check_size("out's directions", out.shape[0], D)
    _check_blocks(f, H, W, Hs, Ws)
    check_threads(n_threads)
    for I in prange(Hs, nogil=True, num_threads=n_threads, schedule="static"):
        r0 = I * f
        r1 = min(r0 + f, H)
        for J in range(Ws):
            c0 = J * f
            c1 = min(c0 + f, W)
            # right: blocks (I, J) | (I, J + 1); down: blocks (I, J) over (I + 1, J)
            out[0, I, J] = _cheapest_cut(w, D, True, c1, r0, r1, h, W) if J + 1 < Ws else 0
            out[1, I, J] = _cheapest_cut(w, D, False, r1, c0, c1, h, H) if I + 1 < Hs else 0
            if D == 4:
                # the corner edges (r1 - 1, c1 - 1) -> (r1, c1) and (r1 - 1, c0) -> (r1, c0 - 1)
                out[2, I, J] = w[2, r1 - 1, c1 - 1] if (I + 1 < Hs and J + 1 < Ws) else 0
                out[3, I, J] = w[3, r1 - 1, c0] if (I + 1 < Hs and J > 0) else 0


# ---------------------------------------------------------------------------
# colour models: unaries + component argmax
# ---------------------------------------------------------------------------

cdef void _chunk(const uint8_t* X, Py_ssize_t start, Py_ssize_t n, Py_ssize_t K,
                 const float* means, const float* chol, const float* lconst,
                 const uint8_t* hard, float k_inf,
                 float* buf, float* src, float* snk, uint8_t* comp,
                 Py_ssize_t N, double* energy) noexcept nogil:
    """Process pixels [start, start+n) (n <= CHUNK)."""
    cdef float* x0 = buf
    cdef float* x1 = buf + CHUNK
    cdef float* x2 = buf + 2 * CHUNK
    cdef float* mx = buf + 3 * CHUNK
    cdef float* tot = buf + 4 * CHUNK
    cdef float* dm0 = buf + 5 * CHUNK     # -log p(z | model 0 = background)
    cdef float* dm1 = buf + 6 * CHUNK     # -log p(z | model 1 = foreground)
    cdef float* lp = buf + 7 * CHUNK      # K * CHUNK
    cdef int am[CHUNK]
    cdef Py_ssize_t i, k, m
    cdef float d0, d1, d2, y0, y1, y2, v, e, a, b, lo
    cdef float m0, m1, m2, u00, u01, u02, u11, u12, u22, c
    cdef const uint8_t* px = X + 3 * start
    cdef float* lpk
    cdef float* dm
    cdef uint8_t* cm
    cdef double en = 0.0

    for i in range(n):
        x0[i] = px[3 * i]
        x1[i] = px[3 * i + 1]
        x2[i] = px[3 * i + 2]
    for m in range(2):
        for k in range(K):
            m0 = means[(m * K + k) * 3]
            m1 = means[(m * K + k) * 3 + 1]
            m2 = means[(m * K + k) * 3 + 2]
            u00 = chol[(m * K + k) * 6]
            u01 = chol[(m * K + k) * 6 + 1]
            u02 = chol[(m * K + k) * 6 + 2]
            u11 = chol[(m * K + k) * 6 + 3]
            u12 = chol[(m * K + k) * 6 + 4]
            u22 = chol[(m * K + k) * 6 + 5]
            c = lconst[m * K + k]
            lpk = lp + k * CHUNK
            for i in range(n):
                d0 = x0[i] - m0
                d1 = x1[i] - m1
                d2 = x2[i] - m2
                y0 = d0 * u00
                y1 = d0 * u01 + d1 * u11
                y2 = d0 * u02 + d1 * u12 + d2 * u22
                lpk[i] = c - 0.5 * (y0 * y0 + y1 * y1 + y2 * y2)
        # max and argmax over components
        for i in range(n):
            mx[i] = lp[i]
            am[i] = 0
        for k in range(1, K):
            lpk = lp + k * CHUNK
            for i in range(n):
                v = lpk[i]
                if v > mx[i]:
                    mx[i] = v
                    am[i] = <int>k
        for i in range(n):
            tot[i] = 0
        for k in range(K):
            lpk = lp + k * CHUNK
            for i in range(n):
                tot[i] = tot[i] + gmm_exp_f32(lpk[i] - mx[i])
        dm = dm0 if m == 0 else dm1
        for i in range(n):
            dm[i] = -(mx[i] + gmm_log_f32(tot[i]))
        cm = comp + m * N + start
        for i in range(n):
            cm[i] = <uint8_t>am[i]

    # terminal capacities; source = foreground side, sink = background side
    for i in range(n):
        a = dm0[i]          # cost of labelling the pixel background
        b = dm1[i]          # cost of labelling it foreground
        lo = a if a < b else b
        src[start + i] = a - lo
        snk[start + i] = b - lo
    for i in range(n):
        if hard[start + i] == FIXED_BG:
            src[start + i] = 0
            snk[start + i] = k_inf
        elif hard[start + i] == FIXED_FG:
            src[start + i] = k_inf
            snk[start + i] = 0
        else:
            a = dm0[i]
            b = dm1[i]
            en += a if a < b else b
    energy[0] = en


def unaries(const uint8_t[:, ::1] X not None, const float[:, :, ::1] means not None,
            const float[:, :, ::1] chol not None, const float[:, ::1] lconst not None,
            const uint8_t[::1] hard not None, double k_inf, int n_threads,
            float[::1] src not None, float[::1] snk not None, uint8_t[:, ::1] comp not None):
    """Terminal capacities and per-model component argmax for every pixel.

    ``means`` (2, K, 3), ``chol`` (2, K, 6) holding the upper-triangular
    precision Cholesky factor U (entries 00 01 02 11 12 22, with
    ``inv(cov) = U @ U.T``), ``lconst`` (2, K) = log weight - 1.5 log(2 pi)
    + log det U.  Model 0 is the background, model 1 the foreground.
    Returns the sum over free pixels of ``min(D_fg, D_bg)`` (the constant the
    reduction of the capacities removed from the energy).
    """
    cdef Py_ssize_t N = X.shape[0]
    cdef Py_ssize_t K = means.shape[1]
    cdef Py_ssize_t n_chunks = (N + CHUNK - 1) // CHUNK
    cdef Py_ssize_t c, start, n
    cdef int T = n_threads if n_threads > 0 else 1
    cdef float fk = <float>k_inf
    check_threads(n_threads)
    if K < 1 or K > MAXK:
        raise ValueError(f"between 1 and {MAXK} components per model are supported")
    if (X.shape[1] != 3 or means.shape[0] != 2 or means.shape[2] != 3
            or chol.shape[0] != 2 or chol.shape[1] != K or chol.shape[2] != 6
            or lconst.shape[0] != 2 or lconst.shape[1] != K
            or hard.shape[0] != N or src.shape[0] != N or snk.shape[0] != N
            or comp.shape[0] != 2 or comp.shape[1] != N):
        raise ValueError("inconsistent array shapes")
    if N == 0:
        return 0.0
    energy_arr = np.zeros(n_chunks, dtype=np.float64)
    buf_arr = np.empty((T, (7 + K) * CHUNK), dtype=np.float32)
    cdef double[::1] energy = energy_arr
    cdef float[:, ::1] buf = buf_arr
    for c in prange(n_chunks, nogil=True, num_threads=T, schedule="static"):
        _team_mark()
        start = c * CHUNK
        n = N - start
        if n > CHUNK:
            n = CHUNK
        _chunk(&X[0, 0], start, n, K, &means[0, 0, 0], &chol[0, 0, 0],
               &lconst[0, 0], &hard[0], fk, &buf[openmp.omp_get_thread_num(), 0],
               &src[0], &snk[0], &comp[0, 0], N, &energy[c])
    return float(energy_arr.sum())


# ---------------------------------------------------------------------------
# sufficient statistics
# ---------------------------------------------------------------------------

def component_stats(const uint8_t[:, ::1] X not None, const uint8_t[::1] alpha not None,
                    const uint8_t[:, ::1] comp not None, Py_ssize_t K, int n_threads):
    """Integer sufficient statistics, shape (2, K, 10), int64.

    Pixel p contributes to model ``alpha[p]`` (0 background, 1 foreground),
    component ``comp[alpha[p], p]``; ``alpha[p] > 1`` leaves it out.  The 10
    numbers are the count, the three channel sums and the six products
    00 01 02 11 12 22.
    """
    cdef Py_ssize_t N = X.shape[0]
    cdef Py_ssize_t T = n_threads if n_threads > 0 else 1
    cdef Py_ssize_t t, i, lo, hi, base, m, k
    cdef int64_t r, g, b
    cdef int64_t* acc
    cdef const uint8_t* px
    check_threads(n_threads)
    if K < 1 or K > MAXK:
        raise ValueError(f"between 1 and {MAXK} components per model are supported")
    if X.shape[1] != 3 or alpha.shape[0] != N or comp.shape[0] != 2 or comp.shape[1] != N:
        raise ValueError("inconsistent array shapes")
    if T > N:
        T = N if N > 0 else 1
    partial = np.zeros((T, 2, K, NSTAT), dtype=np.int64)
    cdef int64_t[:, :, :, ::1] P = partial
    if N == 0:
        return partial.sum(axis=0)
    for t in prange(T, nogil=True, num_threads=n_threads, schedule="static", chunksize=1):
        _team_mark()
        lo = N * t // T
        hi = N * (t + 1) // T
        acc = &P[t, 0, 0, 0]
        for i in range(lo, hi):
            m = alpha[i]
            if m > 1:
                continue
            k = comp[m, i]
            if k >= K:
                continue
            px = &X[i, 0]
            r = px[0]
            g = px[1]
            b = px[2]
            base = (m * K + k) * NSTAT
            acc[base] += 1
            acc[base + 1] += r
            acc[base + 2] += g
            acc[base + 3] += b
            acc[base + 4] += r * r
            acc[base + 5] += r * g
            acc[base + 6] += r * b
            acc[base + 7] += g * g
            acc[base + 8] += g * b
            acc[base + 9] += b * b
    return partial.sum(axis=0)
