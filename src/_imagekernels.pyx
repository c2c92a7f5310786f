# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Per-pixel kernels of image segmentation.

* ``build_features``: pixels -> float32 feature rows (RGB on a 0..255 scale,
  CIE L*a*b* (D65, sRGB input), grey luma), optionally with scaled pixel
  coordinates appended.  Integer images go through a lookup table built by
  the caller, float images are converted in place.
* ``label_sums`` / ``paint``: per-label pixel counts and colour sums, and
  painting each pixel with its label's colour.
* ``potts_icm``: Potts-regularised labelling on the 8-neighbour grid by
  iterated conditional modes, run in parallel on the four (row parity,
  column parity) classes of pixels, none of which contains two neighbours,
  so the result does not depend on the number of threads.

Every loop runs with the GIL released; the Python layer validates shapes,
dtypes and values before calling in.
"""

from cython.parallel cimport prange, parallel
cimport openmp
from libc.math cimport pow, sqrt, INFINITY
from libc.string cimport memset

import numpy as np
cimport numpy as cnp

cnp.import_array()

cdef extern from "fastmath.h" nogil:
    float gmm_log_f32(float x)
    double gmm_log_f64(double x)

ctypedef fused pixel_t:
    cnp.uint8_t
    cnp.uint16_t
    float
    double

ctypedef fused label_t:
    cnp.uint8_t
    cnp.uint16_t

ctypedef fused floating:
    float
    double

cdef enum:
    KIND_RGB = 0
    KIND_LAB = 1
    KIND_GRAY = 2

RGB = KIND_RGB
LAB = KIND_LAB
GRAY = KIND_GRAY

# D65 reference white (CIE 1931 2 degree observer) and the sRGB -> XYZ matrix.
cdef double XN = 0.95047
cdef double YN = 1.0
cdef double ZN = 1.08883
cdef double LAB_EPS = 216.0 / 24389.0     # (6/29)^3
cdef double LAB_KAPPA = 24389.0 / 27.0    # linear segment slope * 116


cdef inline double _srgb_to_linear(double c) noexcept nogil:
    if c <= 0.0:
        return 0.0
    if c >= 1.0:
        return 1.0
    if c <= 0.04045:
        return c / 12.92
    return pow((c + 0.055) / 1.055, 2.4)


cdef extern from *:
    """
    #include <stdint.h>
    /* Cube root of t in (0.008, 2]: first guess from the float exponent bits
       (a union, so no strict-aliasing trouble), then two Halley steps in
       double (cubic convergence); branch-free, so loops over it vectorise.  Relative error
       below 1e-12 on that range. */
    static inline double gmmfast_cbrt_pos(double t) {
        union { float f; uint32_t u; } b;
        b.f = (float)t;
        b.u = b.u / 3u + 709921077u;
        double y = (double)b.f;
        double y3 = y * y * y;
        y = y * (y3 + 2.0 * t) / (2.0 * y3 + t);
        y3 = y * y * y;
        y = y * (y3 + 2.0 * t) / (2.0 * y3 + t);
        return y;
    }
    """
    double _cbrt_pos "gmmfast_cbrt_pos"(double t) noexcept nogil


cdef inline double _lab_f(double t) noexcept nogil:
    if t > LAB_EPS:
        return _cbrt_pos(t)
    return (LAB_KAPPA * t + 16.0) / 116.0


cdef inline void _lab(double r, double g, double b, float* out) noexcept nogil:
    """Linear RGB in [0, 1] -> L*, a*, b*."""
    cdef double x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / XN
    cdef double y = (0.2126729 * r + 0.7151522 * g + 0.0721750 * b) / YN
    cdef double z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / ZN
    cdef double fx = _lab_f(x), fy = _lab_f(y), fz = _lab_f(z)
    out[0] = <float>(116.0 * fy - 16.0)
    out[1] = <float>(500.0 * (fx - fy))
    out[2] = <float>(200.0 * (fy - fz))


def srgb_linear_lut(Py_ssize_t levels):
    """Table of sRGB-decoded (linear) values for integer levels 0..levels-1."""
    cdef Py_ssize_t v
    out = np.empty(levels, dtype=np.float64)
    cdef double[::1] o = out
    for v in range(levels):
        o[v] = _srgb_to_linear(v / <double>(levels - 1))
    return out


def build_features(const pixel_t[:, :, ::1] img, int kind, bint xy, const double[::1] lut,
                   double xy_scale, float[:, ::1] out, int n_threads):
    """Fill ``out`` (H*W rows) with the features of every pixel.

    ``img`` is H x W x C (C = 1, 3 or 4; a fourth channel is ignored).
    Integer images are looked up in ``lut``: for RGB and GRAY it maps a level
    to the 0..255 scale, for LAB to its linear-light value in [0, 1].  Float
    images are taken as values in [0, 1] (clipped to it for LAB).

    Columns: RGB -> R, G, B (or the single grey value); LAB -> L*, a*, b*
    (L* alone for grey input); GRAY -> luma 0.299 R + 0.587 G + 0.114 B.
    With ``xy`` two more columns hold x * xy_scale and y * xy_scale.
    """
    cdef Py_ssize_t H = img.shape[0], W = img.shape[1], C = img.shape[2]
    cdef Py_ssize_t d_colour, d, y, x, i
    cdef bint is_int = pixel_t is cnp.uint8_t or pixel_t is cnp.uint16_t
    cdef double r, g, b, v
    cdef float* o
    if C not in (1, 3, 4):
        raise ValueError("img must have 1, 3 or 4 channels")
    if kind == KIND_GRAY or C == 1:
        d_colour = 1
    else:
        d_colour = 3
    d = d_colour + (2 if xy else 0)
    if out.shape[0] != H * W or out.shape[1] != d:
        raise ValueError(f"out must have shape ({H * W}, {d})")
    if is_int:
        if pixel_t is cnp.uint8_t and lut.shape[0] < 256:
            raise ValueError("lut must have 256 entries for uint8 images")
        if pixel_t is cnp.uint16_t and lut.shape[0] < 65536:
            raise ValueError("lut must have 65536 entries for uint16 images")
    if kind != KIND_RGB and kind != KIND_LAB and kind != KIND_GRAY:
        raise ValueError("unknown feature kind")
    with nogil:
        for y in prange(H, schedule='static', num_threads=n_threads):
            for x in range(W):
                i = y * W + x
                o = &out[i, 0]
                if C == 1:
                    if pixel_t is cnp.uint8_t or pixel_t is cnp.uint16_t:
                        v = lut[img[y, x, 0]]
                    else:
                        v = img[y, x, 0]
                        if kind == KIND_LAB:
                            v = _srgb_to_linear(v)
                        else:
                            v = v * 255.0
                    if kind == KIND_LAB:
                        o[0] = <float>(116.0 * _lab_f(v) - 16.0)
                    else:
                        o[0] = <float>v
                else:
                    if pixel_t is cnp.uint8_t or pixel_t is cnp.uint16_t:
                        r = lut[img[y, x, 0]]
                        g = lut[img[y, x, 1]]
                        b = lut[img[y, x, 2]]
                    else:
                        r = img[y, x, 0]
                        g = img[y, x, 1]
                        b = img[y, x, 2]
                        if kind == KIND_LAB:
                            r = _srgb_to_linear(r)
                            g = _srgb_to_linear(g)
                            b = _srgb_to_linear(b)
                        else:
                            r = r * 255.0
                            g = g * 255.0
                            b = b * 255.0
                    if kind == KIND_LAB:
                        _lab(r, g, b, o)
                    elif kind == KIND_GRAY:
                        o[0] = <float>(0.299 * r + 0.587 * g + 0.114 * b)
                    else:
                        o[0] = <float>r
                        o[1] = <float>g
                        o[2] = <float>b
                if xy:
                    o[d_colour] = <float>(x * xy_scale)
                    o[d_colour + 1] = <float>(y * xy_scale)


def label_sums(const pixel_t[:, ::1] pixels, const label_t[::1] labels, Py_ssize_t K,
               int n_threads):
    """Per label: (count, sum of each channel) over the pixels, as a K x (1 + C) array."""
    cdef Py_ssize_t N = pixels.shape[0], C = pixels.shape[1]
    cdef Py_ssize_t nt = n_threads if n_threads > 0 else 1
    cdef Py_ssize_t stride = K * (C + 1)
    cdef Py_ssize_t i, c, k, t, tid
    if labels.shape[0] != N:
        raise ValueError("labels and pixels differ in length")
    work = np.zeros((nt, stride), dtype=np.float64)
    cdef double[:, ::1] acc = work
    cdef double* a
    with nogil, parallel(num_threads=nt):
        tid = openmp.omp_get_thread_num()
        for i in prange(N, schedule='static'):
            k = labels[i]
            if k < K:
                a = &acc[tid, k * (C + 1)]
                a[0] += 1.0
                for c in range(C):
                    a[1 + c] += pixels[i, c]
    return work.sum(axis=0).reshape(K, C + 1)


def paint(const label_t[::1] labels, const pixel_t[:, ::1] colours, pixel_t[:, ::1] out,
          int n_threads):
    """out[i, :] = colours[labels[i], :] (labels outside 0..K-1 leave out[i] unchanged)."""
    cdef Py_ssize_t N = labels.shape[0], C = colours.shape[1], K = colours.shape[0]
    cdef Py_ssize_t i, c, k
    if out.shape[0] != N or out.shape[1] != C:
        raise ValueError("out must have shape (len(labels), colours.shape[1])")
    with nogil:
        for i in prange(N, schedule='static', num_threads=n_threads):
            k = labels[i]
            if k < K:
                for c in range(C):
                    out[i, c] = colours[k, c]


cdef inline floating _flog(floating x) noexcept nogil:
    if floating is float:
        return gmm_log_f32(x)
    else:
        return gmm_log_f64(x)


cdef extern from *:
    """
    static inline int gmmfast_ctz64(unsigned long long x) { return __builtin_ctzll(x); }
    """
    int _ctz64 "gmmfast_ctz64"(unsigned long long x) noexcept nogil

cdef extern from "prefetch.h" nogil:
    void _prefetch_range "gmmfast_prefetch_range"(const void* p, size_t nbytes)


cdef extern from *:
    """
    #include <stdint.h>
    /* need[j] = 1 when the pixel at mid[j] must be evaluated: a neighbour changed since its
       last visit (pd[j]), and it does not hold its own best label ml[j] together with the
       (weighted) majority of its neighbours.  With cur = ml, every k has u[k] >= u[cur]; if
       also wo * #{4-neighbours == cur} + wd * #{diagonal == cur} is at least what the other
       neighbours could give any one other label, no k beats cur's tie bonus, so the move is
       "stay" and the costs need not be read.  With wd = wo / sqrt(2) that bound is
       sqrt(2) oc + gc >= 2 sqrt(2) + 2 (oc, gc: agreeing 4- and diagonal neighbours), tested
       as 141 oc + 100 gc >= 482 (no count pair lies within 8 % of the boundary, and equality
       is exact at oc = gc = 2).  `majority` = 0 keeps only the unanimous case (8 agreeing
       neighbours), which is exact at any weight.  Branch-free byte compares that vectorise
       (mid[-1] .. mid[n] must be readable). */
    #define GMMFAST_ICM_NEED(T, SUF)                                                      \
    static inline void gmmfast_icm_need_##SUF(const T *up, const T *mid, const T *dn,       \
                                              const T *ml, const uint8_t *pd, ptrdiff_t n,  \
                                              int majority, uint8_t *need)                  \
    {                                                                                       \
        const int threshold = majority ? 482 : 141 * 4 + 100 * 4;                          \
        _Pragma("omp simd")                                                                 \
        for (ptrdiff_t j = 0; j < n; j++) {                                                 \
            const T c = mid[j];                                                             \
            const int oc = (mid[j - 1] == c) + (mid[j + 1] == c) + (up[j] == c) + (dn[j] == c); \
            const int gc = (up[j - 1] == c) + (up[j + 1] == c) + (dn[j - 1] == c) + (dn[j + 1] == c); \
            const int stay = (ml[j] == c) & (141 * oc + 100 * gc >= threshold);             \
            need[j] = (uint8_t)(pd[j] & (stay ^ 1));                                        \
        }                                                                                   \
    }
    GMMFAST_ICM_NEED(uint8_t, u8)
    GMMFAST_ICM_NEED(uint16_t, u16)
    """
    void _icm_need_u8 "gmmfast_icm_need_u8"(const cnp.uint8_t* up, const cnp.uint8_t* mid,
            const cnp.uint8_t* dn, const cnp.uint8_t* ml, const cnp.uint8_t* pd, Py_ssize_t n,
            int majority, cnp.uint8_t* need) noexcept nogil
    void _icm_need_u16 "gmmfast_icm_need_u16"(const cnp.uint16_t* up, const cnp.uint16_t* mid,
            const cnp.uint16_t* dn, const cnp.uint16_t* ml, const cnp.uint8_t* pd, Py_ssize_t n,
            int majority, cnp.uint8_t* need) noexcept nogil


cdef enum:
    BLOCK = 32           # columns per dirty-flag block of the ICM
    FLAT_BLOCK = 65536   # entries per parallel task of flat element-wise loops


cdef inline void _mark(cnp.uint8_t* dirty, cnp.uint8_t* pd, Py_ssize_t H, Py_ssize_t W, Py_ssize_t nb,
                       Py_ssize_t y, Py_ssize_t x, Py_ssize_t px) noexcept nogil:
    """Flag the 8 neighbours of (y, x), and the blocks holding them, for another visit.

    dirty[(yy * nb + block) * 2 + parity]; the pixel's own row only needs
    the other column parity, rows y-1 and y+1 need both.  pd[yy * W + xx]
    flags the pixels themselves (the 3x3 square: leaving (y, x) out cost
    more in the branch than its one extra visit).
    """
    cdef Py_ssize_t b0 = (x - 1 if x > 0 else 0) // BLOCK
    cdef Py_ssize_t b1 = (x + 1 if x + 1 < W else x) // BLOCK
    cdef Py_ssize_t bb, yy, xx
    cdef Py_ssize_t xa = x - 1 if x > 0 else 0
    cdef Py_ssize_t xb = x + 1 if x + 1 < W else x
    for yy in range(y - 1 if y > 0 else 0, (y + 1 if y + 1 < H else y) + 1):
        for xx in range(xa, xb + 1):
            pd[yy * W + xx] = 1
    for bb in range(b0, b1 + 1):
        dirty[(y * nb + bb) * 2 + 1 - px] = 1
        for yy in range(y - 1, y + 2, 2):
            if yy >= 0 and yy < H:
                dirty[(yy * nb + bb) * 2] = 1
                dirty[(yy * nb + bb) * 2 + 1] = 1


def potts_icm(floating[:, ::1] cost, label_t[::1] labels, Py_ssize_t H, Py_ssize_t W,
              double weight, double eps, int max_sweeps, int n_threads):
    """Minimise sum_i U_i(l_i) + weight * sum_{i~j} w_ij [l_i != l_j] by ICM.

    On entry ``cost`` (H*W x K) holds posterior probabilities; it is turned
    in place into the unary costs U_i(k) = -log((1 - eps) p_ik + eps / K)
    (``eps`` is the probability that a pixel is an outlier of the model,
    which bounds how much a single pixel can resist its neighbours).  The
    8-neighbour weights are 1 for horizontal/vertical and 1/sqrt(2) for
    diagonal pairs.  ``labels`` is initialised to argmin_k U_i(k) and then
    improved in sweeps until no pixel changes or ``max_sweeps`` is reached.
    A pixel only moves to a strictly cheaper label, so the energy never
    rises.  Pixels are revisited only when a neighbour changed (tracked per
    block of BLOCK columns of a row and column parity).

    Returns (number of sweeps, number of label changes after initialisation).
    """
    cdef Py_ssize_t N = H * W, K = cost.shape[1]
    cdef Py_ssize_t nt = n_threads if n_threads > 0 else 1
    cdef Py_ssize_t nb = (W + BLOCK - 1) // BLOCK
    cdef Py_ssize_t i, k, best, y, x, cls, py, px, tid, sweep = 0, yy, xx, bl, xa, xb
    cdef Py_ssize_t n_rows, r, na, nn
    # the majority skip needs the 1e-9 tie bonus to survive rounding of u - weight * count
    cdef int majority = weight <= 1e4
    cdef cnp.uint8_t* need
    cdef floating* u
    cdef floating bv, a = <floating>(1.0 - eps), b0
    cdef double wd = weight / sqrt(2.0), wo = weight
    cdef double best_cost, c_k
    cdef double* agree
    cdef long total_changes = 0, sweep_changes, row_changes
    cdef label_t cur
    cdef label_t* lbl
    cdef const label_t* up
    cdef const label_t* mid
    cdef const label_t* dn
    cdef cnp.uint8_t* dp
    cdef cnp.uint8_t* pp
    cdef label_t n_ul, n_u, n_ur, n_l, n_r, n_dl, n_d, n_dr
    cdef unsigned long long cand
    cdef label_t* mlp
    cdef floating* flat
    cdef Py_ssize_t n_blocks, n_flat, q
    if cost.shape[0] != N or labels.shape[0] != N:
        raise ValueError("cost and labels must have H*W rows")
    if K < 1:
        raise ValueError("K must be at least 1")
    if N == 0:
        return 0, 0
    b0 = <floating>(eps / K)
    dirty_arr = np.ones(2 * H * nb, dtype=np.uint8)
    cdef cnp.uint8_t[::1] dirty = dirty_arr
    dp = &dirty[0]
    pixel_dirty_arr = np.ones(N, dtype=np.uint8)
    cdef cnp.uint8_t[::1] pixel_dirty = pixel_dirty_arr
    pp = &pixel_dirty[0]
    work = np.zeros((nt, K), dtype=np.float64)
    cdef double[:, ::1] agree_all = work
    need_work = np.ones((nt, BLOCK), dtype=np.uint8)
    cdef cnp.uint8_t[:, ::1] need_all = need_work
    changes_arr = np.zeros(H, dtype=np.int64)
    cdef long[::1] changes = changes_arr
    lbl = &labels[0]
    ml_arr = np.empty_like(np.asarray(labels))
    cdef label_t[::1] ml = ml_arr
    mlp = &ml[0]
    flat = &cost[0, 0]
    n_blocks = (N * K + FLAT_BLOCK - 1) // FLAT_BLOCK

    with nogil:
        # unary costs: a flat loop over all N*K entries, so that it vectorises
        for r in prange(n_blocks, schedule='static', num_threads=nt):
            u = flat + r * FLAT_BLOCK
            n_flat = N * K - r * FLAT_BLOCK
            if n_flat > FLAT_BLOCK:
                n_flat = FLAT_BLOCK
            for q in range(n_flat):
                u[q] = -_flog(a * u[q] + b0)
        for i in prange(N, schedule='static', num_threads=nt):
            u = &cost[i, 0]
            best = 0
            bv = u[0]
            for k in range(1, K):
                if u[k] < bv:
                    bv = u[k]
                    best = k
            lbl[i] = <label_t>best
            mlp[i] = <label_t>best

        while sweep < max_sweeps and weight > 0 and K > 1:
            sweep = sweep + 1
            sweep_changes = 0
            for cls in range(4):
                py = cls // 2
                px = cls % 2
                n_rows = (H - py + 1) // 2
                with parallel(num_threads=nt):
                    tid = openmp.omp_get_thread_num()
                    agree = &agree_all[tid, 0]
                    need = &need_all[tid, 0]
                    for r in prange(n_rows, schedule='static'):
                        y = py + 2 * r
                        row_changes = 0
                        for bl in range(nb):
                            if dp[(y * nb + bl) * 2 + px] == 0:
                                continue
                            dp[(y * nb + bl) * 2 + px] = 0
                            xa = bl * BLOCK + px
                            xb = (bl + 1) * BLOCK
                            if xb > W:
                                xb = W
                            if xb < W:
                                # the next block's unary costs: the sweep is bound by their loads
                                i = y * W + xb
                                _prefetch_range(&cost[i, 0], (W - xb if W - xb < BLOCK else BLOCK) * K * sizeof(floating))
                            if y > 0 and y + 1 < H:
                                # skip flags of the block's interior columns, all at once: most
                                # pixels saw no change around them or hold their own best label
                                # with the weighted majority of their neighbours
                                na = bl * BLOCK
                                if na == 0:
                                    na = 1
                                nn = (xb if xb < W else W - 1) - na
                                if nn > 0:
                                    i = y * W + na
                                    if label_t is cnp.uint8_t:
                                        _icm_need_u8(lbl + i - W, lbl + i, lbl + i + W, mlp + i, pp + i, nn, majority, need)
                                    else:
                                        _icm_need_u16(lbl + i - W, lbl + i, lbl + i + W, mlp + i, pp + i, nn, majority, need)
                            for x in range(xa, xb, 2):
                                i = y * W + x
                                u = &cost[i, 0]
                                cur = lbl[i]
                                best = cur
                                if y > 0 and y + 1 < H and x > 0 and x + 1 < W:
                                    if need[x - na] == 0:
                                        # no neighbour changed since the last visit, or the pixel's
                                        # own best label held by the majority of its neighbours
                                        continue
                                    pp[i] = 0
                                    up = lbl + i - W
                                    mid = lbl + i
                                    dn = lbl + i + W
                                    n_ul = up[-1]
                                    n_u = up[0]
                                    n_ur = up[1]
                                    n_l = mid[-1]
                                    n_r = mid[1]
                                    n_dl = dn[-1]
                                    n_d = dn[0]
                                    n_dr = dn[1]
                                    best_cost = INFINITY
                                    if K <= 64:
                                        # only the neighbours' labels, the current one and the pixel's own
                                        # best can win (any other k costs u[k] >= u[ml]): visit that set,
                                        # in increasing k as the full loop would
                                        cand = ((<unsigned long long>1) << mlp[i]) | ((<unsigned long long>1) << cur)
                                        cand = cand | ((<unsigned long long>1) << n_ul) | ((<unsigned long long>1) << n_u)
                                        cand = cand | ((<unsigned long long>1) << n_ur) | ((<unsigned long long>1) << n_l)
                                        cand = cand | ((<unsigned long long>1) << n_r) | ((<unsigned long long>1) << n_dl)
                                        cand = cand | ((<unsigned long long>1) << n_d) | ((<unsigned long long>1) << n_dr)
                                        while cand != 0:
                                            k = _ctz64(cand)
                                            cand = cand & (cand - 1)
                                            c_k = u[k] - (wo * ((n_u == k) + (n_l == k) + (n_r == k) + (n_d == k))
                                                          + wd * ((n_ul == k) + (n_ur == k) + (n_dl == k) + (n_dr == k)))
                                            if k == cur:
                                                c_k = c_k - 1e-9  # keep the current label on ties
                                            if c_k < best_cost:
                                                best_cost = c_k
                                                best = k
                                    else:
                                        for k in range(K):
                                            c_k = u[k] - (wo * ((n_u == k) + (n_l == k) + (n_r == k) + (n_d == k))
                                                          + wd * ((n_ul == k) + (n_ur == k) + (n_dl == k) + (n_dr == k)))
                                            if k == cur:
                                                c_k = c_k - 1e-9  # keep the current label on ties
                                            if c_k < best_cost:
                                                best_cost = c_k
                                                best = k
                                else:
                                    if pp[i] == 0:
                                        continue  # no neighbour changed since the last visit
                                    pp[i] = 0
                                    for k in range(K):
                                        agree[k] = 0.0
                                    for yy in range(y - 1, y + 2):
                                        if yy < 0 or yy >= H:
                                            continue
                                        for xx in range(x - 1, x + 2):
                                            if xx < 0 or xx >= W or (yy == y and xx == x):
                                                continue
                                            if yy == y or xx == x:
                                                agree[lbl[yy * W + xx]] += wo
                                            else:
                                                agree[lbl[yy * W + xx]] += wd
                                    best_cost = u[cur] - agree[cur] - 1e-9
                                    for k in range(K):
                                        c_k = u[k] - agree[k]
                                        if c_k < best_cost:
                                            best_cost = c_k
                                            best = k
                                if best != cur:
                                    lbl[i] = <label_t>best
                                    row_changes = row_changes + 1
                                    _mark(dp, pp, H, W, nb, y, x, px)
                        changes[y] = row_changes
                for r in range(n_rows):
                    sweep_changes = sweep_changes + changes[py + 2 * r]
            total_changes = total_changes + sweep_changes
            if sweep_changes == 0:
                break
    return sweep, total_changes


def potts_energy(const floating[:, ::1] cost, const label_t[::1] labels, Py_ssize_t H,
                 Py_ssize_t W, double weight):
    """The energy potts_icm minimises, for given unary costs and labels."""
    cdef Py_ssize_t y, x, i
    cdef double e = 0.0, wd = weight / sqrt(2.0)
    if cost.shape[0] != H * W or labels.shape[0] != H * W:
        raise ValueError("cost and labels must have H*W rows")
    with nogil:
        for y in range(H):
            for x in range(W):
                i = y * W + x
                e += cost[i, labels[i]]
                if x + 1 < W and labels[i] != labels[i + 1]:
                    e += weight
                if y + 1 < H:
                    if labels[i] != labels[i + W]:
                        e += weight
                    if x + 1 < W and labels[i] != labels[i + W + 1]:
                        e += wd
                    if x > 0 and labels[i] != labels[i + W - 1]:
                        e += wd
    return e
