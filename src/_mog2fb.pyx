# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Per-pixel feedback on top of the online mixture (``BackgroundSubtractor(method="adaptive")``).

Two passes per frame, after the MOG2 update (_mog2.pyx) and around the mask clean-up:

``suppress``: a pixel the mixture calls foreground (255) whose blinking score ``v``
exceeds ``v_on`` stays foreground only if no background mode of any pixel q within
``radius`` (a (2r + 1)^2 window, clamped to the frame) explains it: |x - mu|^2 <
Tb min(var_q, var_p0), var_p0 the variance of the pixel's own heaviest mode.  This is
the displacement test of Elgammal, Harwood & Davis (ECCV 2000, "suppressing false
detections"): a small motion of the background (camera jitter, swaying branches)
moves a background value by a few pixels, and it is found in a neighbour's model.
Taking the smaller of the two variances keeps a neighbour whose mode is wide (an
edge, a lane marking) from explaining a real object.  The test is applied only
where the pixel has been blinking (St-Charles, Bilodeau & Bergevin, TIP 2015: a
pixel whose raw label keeps flipping while the cleaned mask calls it background is
in a dynamic region), so that static scenes keep the plain mixture's recall.

``blink``: after the clean-up, v rises by ``v_incr`` where the suppressed label
changed since the previous frame while the cleaned mask is background in both
frames (so the edges of moving objects do not count), and falls by ``v_decr``
elsewhere, within [0, v_max].

``frame_levels``, ``half_sum``, ``edge_strength``, ``shift_search``, ``block_costs``,
``shift_copy``: the
camera-shake estimate of the pipeline (gmmfast/_shake.py), a coarse-to-fine search of
the integer shift that best aligns a frame's edge-strength image with the background's.
Everything is integer (sums of 8-bit values), so the chosen shift is the same in every
kernel variant and does not depend on the order of the additions.

Distances are computed in double from float32 state: every product of two float32
values is exact in double, so the result does not depend on whether the compiler
fuses multiply-adds, and a NumPy float64 version gives the same labels.
"""

from cython.parallel cimport prange
cimport openmp
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset
from _checks cimport check_threads, check_u8_values

import numpy as np
cimport numpy as cnp

cnp.import_array()

include "_mask_count.pxi"

cdef extern from "mog2fb_rows.h" nogil:
    void mog2fb_prepass(const uint8_t* raw, const float* v, const uint8_t* nmodes, uint8_t* out,
                        uint8_t* flag, Py_ssize_t W, float v_on)
    void shake_edge_row(const int32_t* r, const int32_t* below, int32_t* out, Py_ssize_t W)
    void shake_half_row(const int32_t* r0, const int32_t* r1, int32_t* out, Py_ssize_t W)

ctypedef fused pixel_t:
    uint8_t
    float


cdef inline bint _explained(const double* x, const float* s, int n, Py_ssize_t P, Py_ssize_t MS,
                            int C, double own_var, double Tb, double TB) noexcept nogil:
    """Whether a background mode of the pixel whose weight (mode 0) is at ``s`` lies within
    Tb min(var, own_var) of x; field f of mode m is s[m * MS + f * P]."""
    cdef int m, c
    cdef double tot = 0.0, d, d2, var
    cdef const float* mode
    for m in range(n):
        if tot >= TB:
            break
        mode = s + m * MS
        var = mode[P]
        if var > own_var:
            var = own_var
        d2 = 0.0
        for c in range(C):
            d = x[c] - <double>mode[(2 + c) * P]
            d2 = d2 + d * d
        if d2 < Tb * var:
            return True
        tot = tot + mode[0]
    return False


cdef void _suppress_row(const pixel_t* frame, const float* st, const uint8_t* nmodes, const uint8_t* raw,
                        const float* v, uint8_t* out, uint8_t* flag, Py_ssize_t H, Py_ssize_t W, int C,
                        Py_ssize_t P, Py_ssize_t MS, Py_ssize_t y, int radius, double Tb, double TB,
                        float v_on) noexcept nogil:
    """Row y; planes are P floats apart, modes MS floats apart, a pixel's plane offset is y W + x.
    ``flag``: W bytes of the thread's scratch."""
    cdef Py_ssize_t x, i, p, q, qy, qx, y0, y1, x0, x1, off = y * W
    cdef int c
    cdef double own_var
    cdef double xv[4]
    cdef bint hit
    cdef uint64_t word
    # out = (raw == 255), and the candidates flagged, with SIMD lanes (mog2fb_rows.h); then
    # only the flagged pixels, found eight flags at a time
    mog2fb_prepass(raw + off, v + off, nmodes + off, out + off, flag, W, v_on)
    i = 0
    while i < W:
        if i + 8 <= W:
            memcpy(&word, flag + i, 8)
            if word == 0:
                i = i + 8
                continue
        if not flag[i]:
            i = i + 1
            continue
        x = i
        i = i + 1
        p = off + x
        for c in range(C):
            xv[c] = <double>frame[p * C + c]
        own_var = st[P + p]
        y0 = y - radius if y >= radius else 0
        y1 = y + radius if y + radius < H else H - 1
        x0 = x - radius if x >= radius else 0
        x1 = x + radius if x + radius < W else W - 1
        hit = False
        qy = y0
        while qy <= y1 and not hit:
            qx = x0
            while qx <= x1 and not hit:
                q = qy * W + qx
                hit = _explained(xv, st + q, nmodes[q], P, MS, C, own_var, Tb, TB)
                qx = qx + 1
            qy = qy + 1
        out[p] = 0 if hit else 1


def suppress(const pixel_t[:, :, ::1] frame not None, const float[:, :, :, :] state not None,
             const uint8_t[:, ::1] nmodes not None, const uint8_t[:, ::1] raw not None,
             const float[:, ::1] v not None, uint8_t[:, ::1] out not None, int radius,
             double var_threshold, double background_ratio, float v_on, int n_threads=1):
    """Foreground candidates (``out`` = 1) of one frame: the mixture's foreground (``raw`` == 255)
    less the blinking pixels (``v`` > ``v_on``) that a background mode within ``radius``
    explains.  ``state``/``nmodes`` are the mixture's (K, 2 + C, H, W) state and mode counts."""
    cdef Py_ssize_t H = frame.shape[0], W = frame.shape[1], y
    if (raw.shape[0] != H or raw.shape[1] != W or v.shape[0] != H or v.shape[1] != W
            or out.shape[0] != H or out.shape[1] != W or nmodes.shape[0] != H or nmodes.shape[1] != W
            or state.shape[2] != H or state.shape[3] != W or state.shape[1] != 2 + frame.shape[2]):
        raise ValueError("suppress: frame, state and masks must have the same size")
    if radius < 0:
        raise ValueError("radius must be >= 0")
    check_threads(n_threads)
    if frame.shape[2] < 1 or frame.shape[2] > 4:
        raise ValueError(f"suppress: 1 to 4 channels, got {frame.shape[2]}")
    # a pixel's modes are read up to nmodes[y, x]
    check_u8_values("nmodes", nmodes, 0, state.shape[0])
    # the state is a strided view (the MOG2 class pads its modes apart); within a mode the
    # planes are (H, W) C-ordered, which the kernel relies on
    if state.strides[3] != 4 or state.strides[2] != 4 * W or state.strides[1] % 4 or state.strides[0] % 4:
        raise ValueError("suppress: each (H, W) plane of the state must be C-contiguous float32")
    cdef Py_ssize_t P = state.strides[1] // 4, MS = state.strides[0] // 4
    cdef int C = frame.shape[2]
    if C > 4:
        raise ValueError("suppress: at most 4 channels")
    if H == 0 or W == 0:
        return
    cdef const pixel_t* fp = &frame[0, 0, 0]
    cdef const float* sp = &state[0, 0, 0, 0]
    cdef Py_ssize_t fstride = (W + 63) // 64 * 64
    cdef uint8_t* flags = <uint8_t*>malloc(n_threads * fstride)
    if flags == NULL:
        raise MemoryError()
    try:
        for y in prange(H, nogil=True, schedule='dynamic', chunksize=8, num_threads=n_threads):
            _suppress_row(fp, sp, &nmodes[0, 0], &raw[0, 0], &v[0, 0], &out[0, 0],
                          flags + openmp.omp_get_thread_num() * fstride, H, W, C, P, MS, y,
                          radius, var_threshold, background_ratio, v_on)
    finally:
        free(flags)


def blink(const uint8_t[:, ::1] cand not None, const uint8_t[:, ::1] fin not None,
          uint8_t[:, ::1] cand_prev not None, uint8_t[:, ::1] fin_prev not None,
          float[:, ::1] v not None, float v_incr, float v_decr, float v_max, int n_threads=1):
    """Blinking score update after the clean-up (``fin``: the cleaned mask, 0/1); the
    ``*_prev`` masks then take this frame's."""
    cdef Py_ssize_t H = cand.shape[0], W = cand.shape[1], y
    if (fin.shape[0] != H or fin.shape[1] != W or cand_prev.shape[0] != H or cand_prev.shape[1] != W
            or fin_prev.shape[0] != H or fin_prev.shape[1] != W or v.shape[0] != H or v.shape[1] != W):
        raise ValueError("blink: all arrays must have the same size")
    check_threads(n_threads)
    for y in prange(H, nogil=True, schedule='static', num_threads=n_threads):
        mask_blink_row(&cand[y, 0], &fin[y, 0], &cand_prev[y, 0], &fin_prev[y, 0], &v[y, 0], W, v_incr,
                       v_decr, v_max)


def hold(const uint8_t[:, ::1] fin not None, const float[:, ::1] v not None,
         uint8_t[:, ::1] run not None, uint8_t[:, ::1] core not None, uint8_t[:, ::1] held not None,
         float v_on, int max_run, int n_threads=1):
    """The pixels the mixture should not learn from the next frame (``held`` = 1): the cleaned
    foreground ``fin`` (0/1) in the first ``max_run`` frames of its run whose blinking score
    ``v`` is at most ``v_on``, grown by one pixel (3x3 dilation, edges replicated).  ``run``
    (frames in a row each pixel has been foreground, saturating at 255) is updated from ``fin``
    first; ``core`` receives the pixels before the growing."""
    cdef Py_ssize_t H = fin.shape[0], W = fin.shape[1], y
    if (v.shape[0] != H or v.shape[1] != W or run.shape[0] != H or run.shape[1] != W
            or core.shape[0] != H or core.shape[1] != W or held.shape[0] != H or held.shape[1] != W):
        raise ValueError("hold: all arrays must have the same size")
    if max_run < 0:
        raise ValueError("hold: max_run must be >= 0")
    check_threads(n_threads)
    if H == 0 or W == 0:
        return
    cdef Py_ssize_t sstride = (W + 2 + 63) // 64 * 64
    scratch_arr = np.empty(n_threads * sstride, dtype=np.uint8)
    cdef uint8_t[::1] scratch = scratch_arr
    with nogil:
        for y in prange(H, schedule='static', num_threads=n_threads):
            mask_hold_row(&fin[y, 0], &v[y, 0], &run[y, 0], &core[y, 0], W, v_on, max_run)
        _count_pass(&core[0, 0], &held[0, 0], H, W, 1, 1, &scratch[0], sstride, n_threads,
                    NULL, NULL, NULL, NULL, 0, 0, 0)


def clean_blink(const uint8_t[:, ::1] cand not None, uint8_t[:, ::1] fin not None,
                uint8_t[:, ::1] tmp not None, uint8_t[:, ::1] tmp2 not None,
                uint8_t[:, ::1] cand_prev not None, uint8_t[:, ::1] fin_prev not None,
                float[:, ::1] v not None, int median_radius, int closing_radius,
                float v_incr, float v_decr, float v_max, int n_threads=1):
    """The clean-up and blinking feedback of one frame in one call: ``fin`` (0/1) is the
    median filter (a (2 median_radius + 1)^2 window, 0 for none) then the closing (a
    (2 closing_radius + 1)^2 square, 0 for none) of ``cand``, edges replicated, as
    ``window_count_filter`` computes them (``tmp`` and ``tmp2`` hold the passes between),
    and the blinking score is updated from it as by ``blink``.  Radii up to 7."""
    cdef Py_ssize_t H = cand.shape[0], W = cand.shape[1], y
    cdef Py_ssize_t i
    if (fin.shape[0] != H or fin.shape[1] != W or tmp.shape[0] != H or tmp.shape[1] != W
            or tmp2.shape[0] != H or tmp2.shape[1] != W or cand_prev.shape[0] != H
            or cand_prev.shape[1] != W or fin_prev.shape[0] != H or fin_prev.shape[1] != W
            or v.shape[0] != H or v.shape[1] != W):
        raise ValueError("clean_blink: all arrays must have the same size")
    if median_radius < 0 or median_radius > MASK_COUNT_MAX_R or closing_radius < 0 or closing_radius > MASK_COUNT_MAX_R:
        raise ValueError(f"clean_blink: radii must be in 0..{MASK_COUNT_MAX_R}")
    check_threads(n_threads)
    if H == 0 or W == 0:
        return
    # the passes, src -> dst: median cand -> A, dilation A -> B, erosion B -> fin
    cdef const uint8_t* srcs[3]
    cdef uint8_t* dsts[3]
    cdef int radii[3]
    cdef int los[3]
    cdef int n = 0, k, wm = 2 * median_radius + 1, wc = 2 * closing_radius + 1
    cdef const uint8_t* cur = &cand[0, 0]
    if median_radius > 0:
        srcs[n] = cur
        dsts[n] = &tmp[0, 0]
        radii[n] = median_radius
        los[n] = wm * wm // 2 + 1
        cur = dsts[n]
        n = n + 1
    if closing_radius > 0:
        srcs[n] = cur
        dsts[n] = &tmp2[0, 0] if cur == &tmp[0, 0] else &tmp[0, 0]
        radii[n] = closing_radius
        los[n] = 1
        cur = dsts[n]
        n = n + 1
        srcs[n] = cur
        dsts[n] = &fin[0, 0]
        radii[n] = closing_radius
        los[n] = wc * wc
        n = n + 1
    elif n > 0:
        dsts[n - 1] = &fin[0, 0]
    cdef Py_ssize_t sstride = (W + 2 * MASK_COUNT_MAX_R + 63) // 64 * 64
    scratch_arr = np.empty(n_threads * sstride, dtype=np.uint8)
    cdef uint8_t[::1] scratch = scratch_arr
    cdef const uint8_t* c = &cand[0, 0]
    cdef uint8_t* f = &fin[0, 0]
    with nogil:
        if n == 0:
            for i in range(H * W):
                f[i] = c[i] != 0
            for y in prange(H, schedule='static', num_threads=n_threads):
                mask_blink_row(c + y * W, f + y * W, &cand_prev[y, 0], &fin_prev[y, 0], &v[y, 0], W,
                               v_incr, v_decr, v_max)
        for k in range(n):
            # the last pass also updates the blinking score
            _count_pass(srcs[k], dsts[k], H, W, radii[k], los[k], &scratch[0], sstride, n_threads,
                        c, &cand_prev[0, 0], &fin_prev[0, 0], &v[0, 0] if k == n - 1 else NULL,
                        v_incr, v_decr, v_max)


cdef inline bint _overlap(const void* a0, const void* a1, const void* b0, const void* b1) noexcept:
    # whether the byte ranges [a0, a1) and [b0, b1) share memory: the row helpers'
    # arguments are `restrict`, and memcpy's must not overlap
    return <const char*>a0 < <const char*>b1 and <const char*>b0 < <const char*>a1


cdef inline void _fill_span(void* dst, const void* fill, size_t n) noexcept nogil:
    # n bytes of dst from fill, or zeros when fill is NULL
    if fill == NULL:
        memset(dst, 0, n)
    else:
        memcpy(dst, fill, n)


cdef inline void _grey_row(const pixel_t* src, Py_ssize_t C, Py_ssize_t W, int32_t* out) noexcept nogil:
    # one row of a channel as whole grey levels (float: rounded half up, clipped to
    # [0, 255], NaN 0); src points at the row's first pixel's channel
    cdef Py_ssize_t x
    cdef float v
    if pixel_t is uint8_t:
        # constant strides for the usual layouts, which the compiler vectorises (a
        # runtime stride made this loop half of frame_levels' time)
        if C == 3:
            for x in range(W):
                out[x] = src[3 * x]
        elif C == 1:
            for x in range(W):
                out[x] = src[x]
        else:
            for x in range(W):
                out[x] = src[x * C]
        return
    for x in range(W):
        v = src[x * C]
        out[x] = <int32_t>(v + 0.5) if v >= 0 and v <= 255 else (255 if v > 255 else 0)


def frame_levels(const pixel_t[:, :, ::1] frame not None, int channel, int32_t[:, ::1] edges not None,
                 int32_t[:, ::1] half not None):
    """One pass over channel ``channel`` of ``frame`` as whole grey levels g (float values
    rounded half up and clipped to [0, 255], NaN 0): ``edges`` (H, W) = |g(y + 1, x) -
    g(y, x)| + |g(y, x + 1) - g(y, x)| (0 on the last row and column, as ``edge_strength``)
    and ``half`` (H // 2, W // 2) = the sums of g's 2x2 blocks (as ``half_sum``): the full
    size of the shake search's pyramid and the next level down."""
    cdef Py_ssize_t H = frame.shape[0], W = frame.shape[1], C = frame.shape[2], y, x
    cdef int32_t* rows
    cdef int32_t* cur
    cdef int32_t* nxt
    cdef int32_t* tmp
    cdef int32_t* e
    if edges.shape[0] != H or edges.shape[1] != W:
        raise ValueError("frame_levels: edges must have the frame's rows and columns")
    if half.shape[0] != H // 2 or half.shape[1] != W // 2:
        raise ValueError("frame_levels: half must be (rows // 2, columns // 2)")
    if channel < 0 or channel >= C:
        raise ValueError("frame_levels: channel out of range")
    if H == 0 or W == 0:
        return
    rows = <int32_t*>malloc(2 * W * sizeof(int32_t))
    if rows == NULL:
        raise MemoryError()
    with nogil:
        cur = rows
        nxt = rows + W
        _grey_row(&frame[0, 0, channel], C, W, cur)
        for y in range(H):
            e = &edges[y, 0]
            if y + 1 < H:
                _grey_row(&frame[y + 1, 0, channel], C, W, nxt)
                shake_edge_row(cur, nxt, e, W)
                if y % 2 == 0 and y // 2 < H // 2:
                    shake_half_row(cur, nxt, &half[y // 2, 0], W // 2)
            else:
                for x in range(W):
                    e[x] = 0
            tmp = cur
            cur = nxt
            nxt = tmp
    free(rows)


def half_sum(const int32_t[:, ::1] src not None, int32_t[:, ::1] dst not None):
    """``dst`` (H // 2, W // 2) = the sums of ``src``'s 2x2 blocks (an odd last row or
    column is left out): one level down the shake search's pyramid."""
    cdef Py_ssize_t H = dst.shape[0], W = dst.shape[1], y
    if src.shape[0] // 2 != H or src.shape[1] // 2 != W:
        raise ValueError("half_sum: dst must be (src rows // 2, src columns // 2)")
    if H == 0 or W == 0:
        return
    if _overlap(&src[0, 0], &src[2 * H - 1, 2 * W - 1] + 1, &dst[0, 0], &dst[H - 1, W - 1] + 1):
        raise ValueError("half_sum: src and dst must not overlap")
    with nogil:
        for y in range(H):
            shake_half_row(&src[2 * y, 0], &src[2 * y + 1, 0], &dst[y, 0], W)


def edge_strength(const int32_t[:, ::1] g not None, int32_t[:, ::1] out not None):
    """``out`` = |g(y + 1, x) - g(y, x)| + |g(y, x + 1) - g(y, x)| (forward differences;
    the last row and column are 0).  ``g`` must hold values of at most 2^29 in size."""
    cdef Py_ssize_t H = g.shape[0], W = g.shape[1], y, x
    if out.shape[0] != H or out.shape[1] != W:
        raise ValueError("edge_strength: g and out must have the same size")
    if H == 0 or W == 0:
        return
    if _overlap(&g[0, 0], &g[H - 1, W - 1] + 1, &out[0, 0], &out[H - 1, W - 1] + 1):
        raise ValueError("edge_strength: g and out must not overlap")
    with nogil:
        for y in range(H - 1):
            shake_edge_row(&g[y, 0], &g[y + 1, 0], &out[y, 0], W)
        for x in range(W):
            out[H - 1, x] = 0


cdef inline int32_t _row_cost(const int32_t* c, const int32_t* r, Py_ssize_t n, int32_t cap) noexcept nogil:
    # sum of min(|c - r|, cap) along a row: plain loads and integer min / abs, which the
    # compiler vectorises (the callers bound n * cap below 2^31)
    cdef int32_t s = 0, d
    cdef Py_ssize_t i
    for i in range(n):
        d = c[i] - r[i]
        d = d if d >= 0 else -d
        s = s + (d if d < cap else cap)
    return s


def shift_search(const int32_t[:, ::1] cur not None, const int32_t[:, ::1] ref not None,
                 int cy, int cx, int rad, int margin, int cap, int row_step=1):
    """The shift (a, b), |a - cy| <= rad, |b - cx| <= rad, |a|, |b| <= margin, that makes
    the mean of min(|cur(y, x) - ref(y + a, x + b)|, cap) over the interior (y in
    [margin, H - margin) in steps of ``row_step``, x in [margin, W - margin)) smallest;
    the first in row-major order on ties.  Returns (mean, a, b).  Values in ``cur`` and
    ``ref`` must be non-negative and below 2^30; the truncation at ``cap`` keeps moving
    objects from outweighing the scene."""
    cdef Py_ssize_t H = cur.shape[0], W = cur.shape[1], y
    cdef int a, b, best_a = 0, best_b = 0
    cdef int64_t total, best = -1
    cdef Py_ssize_t n
    if ref.shape[0] != H or ref.shape[1] != W:
        raise ValueError("shift_search: cur and ref must have the same size")
    if rad < 0 or margin < 0 or cap < 1 or row_step < 1:
        raise ValueError("shift_search: rad and margin must be >= 0, cap and row_step >= 1")
    if 2 * margin >= H or 2 * margin >= W:
        raise ValueError("shift_search: margin leaves no interior")
    if W - 2 * margin > (2 ** 31 - 1) // cap:
        raise ValueError("shift_search: rows too long for cap")
    # the shifts searched: the window around (cy, cx) within margin (in Py_ssize_t, so
    # that no centre and radius can overflow)
    cdef int a0 = <int>max(<Py_ssize_t>cy - rad, -margin), a1 = <int>min(<Py_ssize_t>cy + rad, margin)
    cdef int b0 = <int>max(<Py_ssize_t>cx - rad, -margin), b1 = <int>min(<Py_ssize_t>cx + rad, margin)
    if a0 > a1 or b0 > b1:
        raise ValueError("shift_search: no shift within margin of the centre")
    # every shift's total in one pass over the rows, each read row against the rows of ref
    # it meets (a pass per shift re-read the whole level 9 times at full size, from
    # beyond L2 once the model's update had run); integer sums, so the totals and the
    # choice are the same either way
    cdef Py_ssize_t nb = b1 - b0 + 1, k
    cdef int64_t* totals = <int64_t*>calloc((a1 - a0 + 1) * nb, sizeof(int64_t))
    if totals == NULL:
        raise MemoryError()
    with nogil:
        n = W - 2 * margin
        y = margin
        while y < H - margin:
            for a in range(a0, a1 + 1):
                for b in range(b0, b1 + 1):
                    k = (a - a0) * nb + (b - b0)
                    totals[k] = totals[k] + _row_cost(&cur[y, margin], &ref[y + a, margin + b], n, cap)
            y = y + row_step
        # the first smallest in row-major order of (a, b)
        for a in range(a0, a1 + 1):
            for b in range(b0, b1 + 1):
                total = totals[(a - a0) * nb + (b - b0)]
                if best < 0 or total < best:
                    best, best_a, best_b = total, a, b
    free(totals)
    return <double>best / ((H - 2 * margin + row_step - 1) // row_step * (W - 2 * margin)), best_a, best_b


def block_costs(const int32_t[:, ::1] cur not None, const int32_t[:, ::1] ref not None, int a, int b,
                int margin, int cap, int row_step, int row_offset, int64_t[:, ::1] out not None):
    """For the shift (a, b): the sums of min(|cur(y, x) - ref(y + a, x + b)|, cap) over the
    rows y = margin + row_offset + k * row_step < H - margin and the columns of
    ``shift_search``'s interior, split into ``out``'s (BY, BX) blocks (block (i, j): the
    read rows i * n // BY ... (i + 1) * n // BY - 1 of the n read, and the columns
    likewise): whether a shift helps all over the frame or in one part of it, measured on
    rows the search did not read (``row_offset`` 1 of ``row_step`` 2)."""
    cdef Py_ssize_t H = cur.shape[0], W = cur.shape[1], BY = out.shape[0], BX = out.shape[1]
    cdef Py_ssize_t n_rows, n_cols, k, i, j, x0, x1, y
    if ref.shape[0] != H or ref.shape[1] != W:
        raise ValueError("block_costs: cur and ref must have the same size")
    if margin < 0 or cap < 1 or row_step < 1 or row_offset < 0 or row_offset >= row_step:
        raise ValueError("block_costs: margin must be >= 0, cap and row_step >= 1, 0 <= row_offset < row_step")
    if a < -margin or a > margin or b < -margin or b > margin:
        raise ValueError("block_costs: the shift must be within margin")
    if 2 * margin >= H or 2 * margin >= W:
        raise ValueError("block_costs: margin leaves no interior")
    n_rows = (H - 2 * margin - row_offset + row_step - 1) // row_step
    n_cols = W - 2 * margin
    if BY < 1 or BX < 1 or BY > n_rows or BX > n_cols:
        raise ValueError("block_costs: out must have between 1 and the interior's rows / columns blocks")
    if n_cols > (2 ** 31 - 1) // cap:
        raise ValueError("block_costs: rows too long for cap")
    with nogil:
        for i in range(BY):
            for j in range(BX):
                out[i, j] = 0
        for i in range(BY):
            for k in range(i * n_rows // BY, (i + 1) * n_rows // BY):
                y = margin + row_offset + k * row_step
                for j in range(BX):
                    x0 = margin + j * n_cols // BX
                    x1 = margin + (j + 1) * n_cols // BX
                    out[i, j] += _row_cost(&cur[y, x0], &ref[y + a, x0 + b], x1 - x0, cap)


def shift_copy(const pixel_t[:, :, ::1] src not None, const pixel_t[:, :, ::1] fill, pixel_t[:, :, ::1] dst not None,
               int dy, int dx):
    """``dst[y + dy, x + dx] = src[y, x]``; the pixels nothing moves onto (a band of |dy|
    rows and one of |dx| columns) take ``fill``'s there, or 0 when ``fill`` is None: a
    frame moved onto the shake search's reference, or a mask moved back.  Row copies,
    no temporaries (NumPy's slice assignments took 2-3x as long)."""
    cdef Py_ssize_t H = src.shape[0], W = src.shape[1], C = src.shape[2], y, sy, x0, x1
    cdef size_t px = C * sizeof(pixel_t)
    cdef const void* f
    if dst.shape[0] != H or dst.shape[1] != W or dst.shape[2] != C:
        raise ValueError("shift_copy: dst must have src's shape")
    if fill is not None and (fill.shape[0] != H or fill.shape[1] != W or fill.shape[2] != C):
        raise ValueError("shift_copy: fill must have src's shape")
    if dy <= -H or dy >= H or dx <= -W or dx >= W:
        raise ValueError("shift_copy: the shift must leave part of the frame")
    if H == 0 or W == 0 or C == 0:
        return
    if _overlap(&src[0, 0, 0], &src[H - 1, W - 1, C - 1] + 1, &dst[0, 0, 0], &dst[H - 1, W - 1, C - 1] + 1):
        raise ValueError("shift_copy: src and dst must not overlap")
    if fill is not None and _overlap(&fill[0, 0, 0], &fill[H - 1, W - 1, C - 1] + 1, &dst[0, 0, 0],
                                     &dst[H - 1, W - 1, C - 1] + 1):
        raise ValueError("shift_copy: fill and dst must not overlap")
    # columns x0 <= x < x1 of a destination row come from the source row, the rest from fill
    x0 = dx if dx > 0 else 0
    x1 = W + dx if dx < 0 else W
    with nogil:
        for y in range(H):
            f = NULL if fill is None else <const void*>&fill[y, 0, 0]
            sy = y - dy
            if sy < 0 or sy >= H:
                _fill_span(&dst[y, 0, 0], f, W * px)
                continue
            memcpy(&dst[y, x0, 0], &src[sy, x0 - dx, 0], (x1 - x0) * px)
            if x0 > 0:
                _fill_span(&dst[y, 0, 0], f, x0 * px)
            if x1 < W:
                _fill_span(&dst[y, x1, 0], NULL if f == NULL else <const char*>f + x1 * px, (W - x1) * px)
