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
from _fastmath cimport _log
from _team cimport _team_count, _team_mark, _team_reset
from libc.math cimport pow, sqrt, INFINITY
from libc.string cimport memset

import numpy as np
cimport numpy as cnp

cnp.import_array()

include "_team.pxi"

from _checks cimport check_threads, check_values

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
    if levels < 2:
        raise ValueError(f"levels must be at least 2, got {levels}")
    out = np.empty(levels, dtype=np.float64)
    cdef double[::1] o = out
    for v in range(levels):
        o[v] = _srgb_to_linear(v / <double>(levels - 1))
    return out


def build_features(const pixel_t[:, :, ::1] img not None, int kind, bint xy, const double[::1] lut,
                   double xy_scale, float[:, ::1] out not None, int n_threads):
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
    check_threads(n_threads)
    if is_int:
        if lut is None:
            raise TypeError("integer images need a lut")
        if pixel_t is cnp.uint8_t and lut.shape[0] < 256:
            raise ValueError("lut must have 256 entries for uint8 images")
        if pixel_t is cnp.uint16_t and lut.shape[0] < 65536:
            raise ValueError("lut must have 65536 entries for uint16 images")
    if kind != KIND_RGB and kind != KIND_LAB and kind != KIND_GRAY:
        raise ValueError("unknown feature kind")
    with nogil:
        for y in prange(H, schedule='static', num_threads=n_threads):
            _team_mark()
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


def label_sums(const pixel_t[:, ::1] pixels not None, const label_t[::1] labels not None,
               Py_ssize_t K, int n_threads):
    """Per label: (count, sum of each channel) over the pixels, as a K x (1 + C) array."""
    cdef Py_ssize_t N = pixels.shape[0], C = pixels.shape[1]
    cdef Py_ssize_t nt = n_threads if n_threads > 0 else 1
    cdef Py_ssize_t stride = K * (C + 1)
    cdef Py_ssize_t i, c, k, t, tid
    check_threads(n_threads)
    if K < 0:
        raise ValueError(f"K must be >= 0, got {K}")
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


def paint(const label_t[::1] labels not None, const pixel_t[:, ::1] colours not None,
          pixel_t[:, ::1] out not None, int n_threads):
    """out[i, :] = colours[labels[i], :] (labels outside 0..K-1 leave out[i] unchanged)."""
    cdef Py_ssize_t N = labels.shape[0], C = colours.shape[1], K = colours.shape[0]
    cdef Py_ssize_t i, c, k
    check_threads(n_threads)
    if out.shape[0] != N or out.shape[1] != C:
        raise ValueError("out must have shape (len(labels), colours.shape[1])")
    with nogil:
        for i in prange(N, schedule='static', num_threads=n_threads):
            k = labels[i]
            if k < K:
                for c in range(C):
                    out[i, c] = colours[k, c]


cdef extern from *:
    """
    static inline int gmmfast_ctz64(unsigned long long x) { return __builtin_ctzll(x); }
    """
    int _ctz64 "gmmfast_ctz64"(unsigned long long x) noexcept nogil

cdef extern from "prefetch.h" nogil:
    void _prefetch_range "gmmfast_prefetch_range"(const void* p, size_t nbytes)


cdef extern from "icm.h" nogil:
    void _icm_need_u8 "gmmfast_icm_need_u8"(const cnp.uint8_t* up, const cnp.uint8_t* mid,
            const cnp.uint8_t* dn, const cnp.uint8_t* ml, const cnp.uint8_t* pd, Py_ssize_t n,
            int majority, cnp.uint8_t* need)
    void _icm_need_u16 "gmmfast_icm_need_u16"(const cnp.uint16_t* up, const cnp.uint16_t* mid,
            const cnp.uint16_t* dn, const cnp.uint16_t* ml, const cnp.uint8_t* pd, Py_ssize_t n,
            int majority, cnp.uint8_t* need)


cdef enum:
    BLOCK = 32           # columns per dirty-flag block of the ICM
    FLAT_BLOCK = 65536   # entries per parallel task of flat element-wise loops


cdef struct IcmGrid:
    Py_ssize_t H, W, K
    Py_ssize_t nb          # blocks of BLOCK columns per row
    double wo, wd          # weights of the 4 axis neighbours and of the 4 diagonal ones
    int majority           # gmmfast_icm_need may skip on a weighted majority (icm_impl.h)
    cnp.uint8_t* dirty     # dirty[(y * nb + block) * 2 + column parity]: revisit the block
    cnp.uint8_t* pd        # pd[y * W + x]: a neighbour of the pixel changed since its visit


cdef inline void _mark(const IcmGrid* g, Py_ssize_t y, Py_ssize_t x, Py_ssize_t px) noexcept nogil:
    """Flag the 8 neighbours of (y, x), and the blocks holding them, for another visit.

    The pixel's own row only needs the other column parity, rows y-1 and y+1 need both.
    pd flags the pixels themselves (the 3x3 square: leaving (y, x) out cost more in the
    branch than its one extra visit).
    """
    cdef Py_ssize_t H = g.H, W = g.W, nb = g.nb
    cdef Py_ssize_t xa = x - 1 if x > 0 else 0
    cdef Py_ssize_t xb = x + 1 if x + 1 < W else x
    cdef Py_ssize_t bb, yy, xx
    for yy in range(y - 1 if y > 0 else 0, (y + 1 if y + 1 < H else y) + 1):
        for xx in range(xa, xb + 1):
            g.pd[yy * W + xx] = 1
    for bb in range(xa // BLOCK, xb // BLOCK + 1):
        g.dirty[(y * nb + bb) * 2 + 1 - px] = 1
        for yy in range(y - 1, y + 2, 2):
            if yy >= 0 and yy < H:
                g.dirty[(yy * nb + bb) * 2] = 1
                g.dirty[(yy * nb + bb) * 2 + 1] = 1


cdef inline double _label_cost(const floating* u, Py_ssize_t k, label_t cur, const label_t* nb,
                               double wo, double wd) noexcept nogil:
    """u[k] minus the weight of the neighbours labelled k (nb: the 4 axis neighbours, then
    the 4 diagonal ones), less 1e-9 when k is the current label, which keeps it on ties."""
    cdef double c = u[k] - (wo * ((nb[0] == k) + (nb[1] == k) + (nb[2] == k) + (nb[3] == k))
                            + wd * ((nb[4] == k) + (nb[5] == k) + (nb[6] == k) + (nb[7] == k)))
    if k == cur:
        c = c - 1e-9
    return c


cdef inline Py_ssize_t _best_interior(const floating* u, const label_t* lbl, Py_ssize_t i,
                                      const IcmGrid* g, label_t cur, label_t own) noexcept nogil:
    """The cheapest label of pixel i, which has all 8 neighbours (u: its unary costs,
    cur: its label, own: its cheapest unary label)."""
    cdef Py_ssize_t W = g.W, k, j, best = cur
    cdef double c_k, best_cost = INFINITY
    cdef unsigned long long cand
    cdef label_t nb[8]
    nb[0], nb[1], nb[2], nb[3] = lbl[i - W], lbl[i - 1], lbl[i + 1], lbl[i + W]
    nb[4], nb[5], nb[6], nb[7] = lbl[i - W - 1], lbl[i - W + 1], lbl[i + W - 1], lbl[i + W + 1]
    if g.K > 64:
        for k in range(g.K):
            c_k = _label_cost(u, k, cur, nb, g.wo, g.wd)
            if c_k < best_cost:
                best_cost = c_k
                best = k
        return best
    # only the neighbours' labels, the current one and the pixel's own best can win (any
    # other k costs u[k] >= u[own]): visit that set, in increasing k as the loop above
    cand = ((<unsigned long long>1) << own) | ((<unsigned long long>1) << cur)
    for j in range(8):
        cand = cand | ((<unsigned long long>1) << nb[j])
    while cand != 0:
        k = _ctz64(cand)
        cand = cand & (cand - 1)
        c_k = _label_cost(u, k, cur, nb, g.wo, g.wd)
        if c_k < best_cost:
            best_cost = c_k
            best = k
    return best


cdef inline Py_ssize_t _best_border(const floating* u, const label_t* lbl, Py_ssize_t y,
                                    Py_ssize_t x, const IcmGrid* g, label_t cur,
                                    double* agree) noexcept nogil:
    """The cheapest label of pixel (y, x) on the image's edge (agree: K doubles of scratch)."""
    cdef Py_ssize_t k, yy, xx, best = cur
    cdef double c_k, best_cost
    for k in range(g.K):
        agree[k] = 0.0
    for yy in range(y - 1 if y > 0 else 0, y + 2 if y + 2 <= g.H else g.H):
        for xx in range(x - 1 if x > 0 else 0, x + 2 if x + 2 <= g.W else g.W):
            if yy == y and xx == x:
                continue
            agree[lbl[yy * g.W + xx]] += g.wo if yy == y or xx == x else g.wd
    best_cost = u[cur] - agree[cur] - 1e-9
    for k in range(g.K):
        c_k = u[k] - agree[k]
        if c_k < best_cost:
            best_cost = c_k
            best = k
    return best


cdef inline void _need_flags(label_t* lbl, const label_t* ml, const IcmGrid* g, Py_ssize_t i,
                             Py_ssize_t n, cnp.uint8_t* need) noexcept nogil:
    """need[0:n] for the interior pixels i .. i + n - 1 of a row (see gmmfast_icm_need)."""
    if label_t is cnp.uint8_t:
        _icm_need_u8(lbl + i - g.W, lbl + i, lbl + i + g.W, ml + i, g.pd + i, n, g.majority, need)
    else:
        _icm_need_u16(lbl + i - g.W, lbl + i, lbl + i + g.W, ml + i, g.pd + i, n, g.majority, need)


cdef Py_ssize_t _icm_block(const floating* cost, label_t* lbl, const label_t* ml, const IcmGrid* g,
                           Py_ssize_t y, Py_ssize_t bl, Py_ssize_t px, double* agree,
                           cnp.uint8_t* need) noexcept nogil:
    """Move the pixels of column parity px in block bl of row y to their cheapest labels;
    returns how many moved."""
    cdef Py_ssize_t W = g.W, K = g.K, x, i, best, na = 0, changes = 0
    cdef Py_ssize_t xb = (bl + 1) * BLOCK if (bl + 1) * BLOCK < W else W
    cdef bint inner_row = y > 0 and y + 1 < g.H
    cdef label_t cur
    if xb < W:
        # the next block's unary costs: the sweep is bound by their loads
        _prefetch_range(cost + (y * W + xb) * K, (W - xb if W - xb < BLOCK else BLOCK) * K * sizeof(floating))
    if inner_row:
        # skip flags of the block's interior columns, all at once: most pixels saw no
        # change around them or hold their own best label with the weighted majority of
        # their neighbours
        na = bl * BLOCK if bl > 0 else 1
        if (xb if xb < W else W - 1) > na:
            _need_flags(lbl, ml, g, y * W + na, (xb if xb < W else W - 1) - na, need)
    for x in range(bl * BLOCK + px, xb, 2):
        i = y * W + x
        cur = lbl[i]
        if inner_row and x > 0 and x + 1 < W:
            if need[x - na] == 0:
                continue
            g.pd[i] = 0
            best = _best_interior(cost + i * K, lbl, i, g, cur, ml[i])
        else:
            if g.pd[i] == 0:
                continue  # no neighbour changed since the last visit
            g.pd[i] = 0
            best = _best_border(cost + i * K, lbl, y, x, g, cur, agree)
        if best != cur:
            lbl[i] = <label_t>best
            changes = changes + 1
            _mark(g, y, x, px)
    return changes


cdef Py_ssize_t _icm_row(const floating* cost, label_t* lbl, const label_t* ml, const IcmGrid* g,
                         Py_ssize_t y, Py_ssize_t px, double* agree,
                         cnp.uint8_t* need) noexcept nogil:
    """Visit the blocks of row y flagged for column parity px; returns how many pixels moved."""
    cdef Py_ssize_t bl, changes = 0
    cdef cnp.uint8_t* flag
    for bl in range(g.nb):
        flag = g.dirty + (y * g.nb + bl) * 2 + px
        if flag[0] == 0:
            continue
        flag[0] = 0
        changes = changes + _icm_block(cost, lbl, ml, g, y, bl, px, agree, need)
    return changes


cdef Py_ssize_t _icm_sweeps(const floating* cost, label_t* lbl, const label_t* ml, const IcmGrid* g,
                            int max_sweeps, Py_ssize_t nt, double* agree_all,
                            cnp.uint8_t* need_all, long* changes, long* total) noexcept nogil:
    """ICM sweeps until no pixel moves or max_sweeps; returns the sweeps run and adds the
    moves to total.  Each sweep visits the four (row parity, column parity) classes in
    turn, the rows of a class in parallel: no two pixels of a class are neighbours, so the
    result does not depend on the threads.  changes: one count per row; agree_all,
    need_all: K doubles and BLOCK flags per thread."""
    cdef Py_ssize_t sweep = 0, cls, px, py, r, n_rows, tid
    cdef long sweep_changes
    cdef double* agree
    cdef cnp.uint8_t* need
    while sweep < max_sweeps:
        sweep = sweep + 1
        sweep_changes = 0
        for cls in range(4):
            py = cls // 2
            px = cls % 2
            n_rows = (g.H - py + 1) // 2
            with parallel(num_threads=nt):
                tid = openmp.omp_get_thread_num()
                agree = agree_all + tid * g.K
                need = need_all + tid * BLOCK
                for r in prange(n_rows, schedule='static'):
                    _team_mark()
                    changes[py + 2 * r] = _icm_row(cost, lbl, ml, g, py + 2 * r, px, agree, need)
            for r in range(n_rows):
                sweep_changes = sweep_changes + changes[py + 2 * r]
        total[0] = total[0] + sweep_changes
        if sweep_changes == 0:
            break
    return sweep


cdef void _unary_costs(floating* u, Py_ssize_t n, floating a, floating b,
                       Py_ssize_t nt) noexcept nogil:
    """u <- -log(a u + b) over n entries: a flat loop, so that it vectorises, in parallel
    tasks of FLAT_BLOCK entries."""
    cdef Py_ssize_t r, q, m
    cdef floating* v
    for r in prange((n + FLAT_BLOCK - 1) // FLAT_BLOCK, schedule='static', num_threads=nt):
        v = u + r * FLAT_BLOCK
        m = n - r * FLAT_BLOCK
        if m > FLAT_BLOCK:
            m = FLAT_BLOCK
        for q in range(m):
            v[q] = -_log(a * v[q] + b)


cdef void _cheapest_labels(const floating* cost, Py_ssize_t N, Py_ssize_t K, label_t* lbl,
                           label_t* ml, Py_ssize_t nt) noexcept nogil:
    """lbl[i] = ml[i] = argmin_k cost[i * K + k] (the first on ties)."""
    cdef Py_ssize_t i, k, best
    cdef const floating* u
    cdef floating bv
    for i in prange(N, schedule='static', num_threads=nt):
        u = cost + i * K
        best = 0
        bv = u[0]
        for k in range(1, K):
            if u[k] < bv:
                bv = u[k]
                best = k
        lbl[i] = <label_t>best
        ml[i] = <label_t>best


def potts_icm(floating[:, ::1] cost not None, label_t[::1] labels not None, Py_ssize_t H, Py_ssize_t W,
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
    cdef Py_ssize_t sweeps = 0
    cdef long total_changes = 0
    cdef IcmGrid g
    check_threads(n_threads)
    if H < 0 or W < 0:
        raise ValueError(f"H and W must be >= 0, got {H} and {W}")
    if cost.shape[0] != N or labels.shape[0] != N:
        raise ValueError("cost and labels must have H*W rows")
    if K < 1:
        raise ValueError("K must be at least 1")
    if N == 0:
        return 0, 0
    g.H, g.W, g.K = H, W, K
    g.nb = (W + BLOCK - 1) // BLOCK
    g.wo, g.wd = weight, weight / sqrt(2.0)
    # the majority skip needs the 1e-9 tie bonus to survive rounding of u - weight * count
    g.majority = weight <= 1e4
    dirty = np.ones(2 * H * g.nb, dtype=np.uint8)
    pixel_dirty = np.ones(N, dtype=np.uint8)
    cdef cnp.uint8_t[::1] dirty_v = dirty, pd_v = pixel_dirty
    g.dirty, g.pd = &dirty_v[0], &pd_v[0]
    agree = np.zeros((nt, K), dtype=np.float64)
    need = np.ones((nt, BLOCK), dtype=np.uint8)
    changes = np.zeros(H, dtype=np.int64)
    own_best = np.empty_like(np.asarray(labels))
    cdef double[:, ::1] agree_v = agree
    cdef cnp.uint8_t[:, ::1] need_v = need
    cdef long[::1] changes_v = changes
    cdef label_t[::1] ml = own_best
    with nogil:
        _unary_costs(&cost[0, 0], N * K, <floating>(1.0 - eps), <floating>(eps / K), nt)
        _cheapest_labels(&cost[0, 0], N, K, &labels[0], &ml[0], nt)
        if weight > 0 and K > 1:
            sweeps = _icm_sweeps(&cost[0, 0], &labels[0], &ml[0], &g, max_sweeps, nt, &agree_v[0, 0],
                                 &need_v[0, 0], &changes_v[0], &total_changes)
    return sweeps, total_changes


def potts_energy(const floating[:, ::1] cost not None, const label_t[::1] labels not None,
                 Py_ssize_t H, Py_ssize_t W, double weight):
    """The energy potts_icm minimises, for given unary costs and labels."""
    cdef Py_ssize_t y, x, i
    cdef double e = 0.0, wd = weight / sqrt(2.0)
    if H < 0 or W < 0:
        raise ValueError(f"H and W must be >= 0, got {H} and {W}")
    if cost.shape[0] != H * W or labels.shape[0] != H * W:
        raise ValueError("cost and labels must have H*W rows")
    # each label picks a column of cost
    check_values("labels", np.asarray(labels), 0, cost.shape[1] - 1)
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
