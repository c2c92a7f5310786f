# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Online per-pixel Gaussian mixtures (Zivkovic 2004/2006) with shadow detection.

Model, per pixel: up to K modes, each a weight w, one isotropic variance v
and a mean per channel, kept sorted by decreasing weight.  For a new value x
and learning rate a (Zivkovic & van der Heijden, Pattern Recognition Letters
2006, eqs. 4-8 with the Dirichlet prior of weight cT):

* every mode decays: w <- (1 - a) w - a cT;
* the first mode (in weight order) with |x - mu|^2 < Tg v "owns" x:
  w <- w + a, mu <- mu + (a / w)(x - mu), v <- v + (a / w)(|x - mu|^2 - v),
  v clamped to [v_min, v_max]; it then moves up while it outweighs the mode
  before it;
* a mode whose weight falls below a cT is dropped; the weights are renormalised;
* when no mode owns x a new one (w = a, mu = x, v = v_init) replaces the
  lightest mode (or is appended), the others are scaled by (1 - a);
* x is background when it lies within Tb v of one of the heaviest modes whose
  weights, summed before it, stay below the background ratio TB;
* a foreground x is a shadow (Prati et al., PAMI 2003; Horprasert 1999) when
  it is a darker copy of a background mode: x ~ t mu with tau <= t <= 1 and
  |t mu - x|^2 < Tb v t^2.

State layout (the point of this module): planes per mode rank instead of all
modes of a pixel side by side.  ``weight`` is (K, H, W) float32 and
``varmean`` is (K, H, W, 1 + C) float32 (variance then the channel means), so
the modes a pixel does not use are never read, and a scene where most pixels
need one or two modes streams only the first planes.  The frame is read in
its own dtype (uint8 without conversion), rows are split across OpenMP
threads, and the GIL is released.
"""

from cython.parallel cimport prange
from libc.stdint cimport uint8_t
from libc.string cimport memcpy

import numpy as np
cimport numpy as cnp

cnp.import_array()

ctypedef fused pixel_t:
    uint8_t
    float

cdef enum:
    MAXC = 4          # channels supported by the kernel


cdef struct Params:
    float alpha        # learning rate of this frame (0 when not learning)
    float a1           # 1 - alpha
    float prune        # alpha * cT: decay offset and removal threshold
    float Tb           # var_threshold (squared Mahalanobis distance, background)
    float Tg           # var_threshold_gen (ownership of a sample by a mode)
    float TB           # background_ratio
    float var_init
    float var_min
    float var_max
    float tau          # shadow_threshold
    int K              # n_mixtures
    int detect_shadows
    int learn          # 0: classify only, the model is left unchanged
    uint8_t shadow_value


cdef inline bint _is_shadow(const float* x, const float* wt, const float* vm,
                            Py_ssize_t P, Py_ssize_t PV, int n, const int C,
                            const Params* prm) noexcept nogil:
    """Prati-style test of x against the background modes."""
    cdef int m, c
    cdef float num, den, t, d, d2, tw = 0.0
    cdef const float* mode
    for m in range(n):
        mode = vm + m * PV
        num = 0.0
        den = 0.0
        for c in range(C):
            num = num + x[c] * mode[1 + c]
            den = den + mode[1 + c] * mode[1 + c]
        if den == 0.0:
            return False
        t = num / den
        if t <= 1.0 and t >= prm.tau:
            d2 = 0.0
            for c in range(C):
                d = t * mode[1 + c] - x[c]
                d2 = d2 + d * d
            if d2 < prm.Tb * mode[0] * t * t:
                return True
        tw = tw + wt[m * P]
        if tw > prm.TB:
            return False
    return False


cdef inline uint8_t _classify(const float* x, const float* wt, const float* vm,
                              Py_ssize_t P, Py_ssize_t PV, int n, const int C,
                              const Params* prm) noexcept nogil:
    """Mask value of x under the model as it is (no learning)."""
    cdef int m, c
    cdef float d, d2, v, tot = 0.0
    cdef const float* mode
    for m in range(n):
        mode = vm + m * PV
        v = mode[0]
        d2 = 0.0
        for c in range(C):
            d = x[c] - mode[1 + c]
            d2 = d2 + d * d
        if tot < prm.TB and d2 < prm.Tb * v:
            return 0
        if d2 < prm.Tg * v:
            break
        tot = tot + wt[m * P]
    if prm.detect_shadows and _is_shadow(x, wt, vm, P, PV, n, C, prm):
        return prm.shadow_value
    return 255


cdef inline uint8_t _update(const float* x, float* wt, float* vm, uint8_t* nmodes,
                            Py_ssize_t P, Py_ssize_t PV, const int C,
                            const Params* prm) noexcept nogil:
    """Learn x into the pixel's modes (wt/vm point at its slot in plane 0)."""
    cdef int n = nmodes[0]
    cdef int keep = n
    cdef int m, j, c, owner = -1
    cdef bint bg = False
    cdef float w, v, d, d2, k, tot = 0.0, inv
    cdef float mu[MAXC]
    cdef float* mode
    for m in range(n):
        w = prm.a1 * wt[m * P] - prm.prune
        if owner < 0:
            mode = vm + m * PV
            v = mode[0]
            d2 = 0.0
            for c in range(C):
                d = x[c] - mode[1 + c]
                d2 = d2 + d * d
            if tot < prm.TB and d2 < prm.Tb * v:
                bg = True
            if d2 < prm.Tg * v:
                owner = m
                w = w + prm.alpha
                k = prm.alpha / w
                for c in range(C):
                    mu[c] = mode[1 + c] + k * (x[c] - mode[1 + c])
                v = v + k * (d2 - v)
                if v < prm.var_min:
                    v = prm.var_min
                if v > prm.var_max:
                    v = prm.var_max
                # move up past lighter modes (their weights are already updated)
                j = m
                while j > 0 and w >= wt[(j - 1) * P]:
                    wt[j * P] = wt[(j - 1) * P]
                    memcpy(vm + j * PV, vm + (j - 1) * PV, (1 + C) * sizeof(float))
                    j = j - 1
                mode = vm + j * PV
                mode[0] = v
                for c in range(C):
                    mode[1 + c] = mu[c]
                wt[j * P] = w
                tot = tot + w
                continue
        if w < prm.prune:
            w = 0.0
            keep = keep - 1
        wt[m * P] = w
        tot = tot + w

    if owner >= 0:
        if tot > 0.0:
            inv = 1.0 / tot
            for m in range(keep):
                wt[m * P] = wt[m * P] * inv
    else:
        # a new mode for x: replaces the lightest one when all K are in use
        if keep == prm.K:
            j = keep - 1
        else:
            j = keep
            keep = keep + 1
        if keep == 1:
            w = 1.0
        else:
            w = prm.alpha
            inv = prm.a1 / tot if tot > 0.0 else prm.a1
            for m in range(keep - 1):
                wt[m * P] = wt[m * P] * inv
        while j > 0 and w >= wt[(j - 1) * P]:
            wt[j * P] = wt[(j - 1) * P]
            memcpy(vm + j * PV, vm + (j - 1) * PV, (1 + C) * sizeof(float))
            j = j - 1
        mode = vm + j * PV
        mode[0] = prm.var_init
        for c in range(C):
            mode[1 + c] = x[c]
        wt[j * P] = w
    nmodes[0] = <uint8_t>keep

    if bg:
        return 0
    if prm.detect_shadows and _is_shadow(x, wt, vm, P, PV, keep, C, prm):
        return prm.shadow_value
    return 255


cdef inline void _row(const pixel_t* frame, const uint8_t* known, float* wt, float* vm,
                      uint8_t* nmodes, uint8_t* mask, Py_ssize_t y, Py_ssize_t width,
                      Py_ssize_t P, const int C, const Params* prm) noexcept nogil:
    """Process one image row: pixels y*width .. y*width + width - 1."""
    cdef Py_ssize_t i, p, PV = P * (1 + C)
    cdef int c
    cdef float x[MAXC]
    cdef const pixel_t* src
    for i in range(width):
        p = y * width + i
        src = frame + p * C
        for c in range(C):
            x[c] = <float>src[c]
        if prm.learn and (known == NULL or known[p] == 0):
            mask[p] = _update(x, wt + p, vm + p * (1 + C), nmodes + p, P, PV, C, prm)
        else:
            mask[p] = _classify(x, wt + p, vm + p * (1 + C), P, PV, nmodes[p], C, prm)


cdef void _run(const pixel_t* frame, const uint8_t* known, float* wt, float* vm,
               uint8_t* nmodes, uint8_t* mask, Py_ssize_t height, Py_ssize_t width,
               int C, Params prm, int n_threads) noexcept nogil:
    cdef Py_ssize_t y, P = height * width
    # C is a literal in each call so the compiler unrolls the channel loops
    if C == 3:
        for y in prange(height, schedule='static', num_threads=n_threads):
            _row(frame, known, wt, vm, nmodes, mask, y, width, P, 3, &prm)
    elif C == 1:
        for y in prange(height, schedule='static', num_threads=n_threads):
            _row(frame, known, wt, vm, nmodes, mask, y, width, P, 1, &prm)
    else:
        for y in prange(height, schedule='static', num_threads=n_threads):
            _row(frame, known, wt, vm, nmodes, mask, y, width, P, C, &prm)


def apply(const pixel_t[:, :, ::1] frame, const uint8_t[:, ::1] known,
          float[:, :, ::1] weight, float[:, :, :, ::1] varmean,
          uint8_t[:, ::1] nmodes, uint8_t[:, ::1] mask,
          double alpha, bint learn, double var_threshold, double var_threshold_gen,
          double background_ratio, double var_init, double var_min, double var_max,
          double complexity_reduction, bint detect_shadows, int shadow_value,
          double shadow_threshold, int n_threads):
    """Classify ``frame`` (H, W, C) into ``mask`` and learn it into the state.

    ``weight`` (K, H, W), ``varmean`` (K, H, W, 1 + C) and ``nmodes`` (H, W)
    are updated in place.  ``known`` is None or (H, W) uint8: non-zero pixels
    are classified but not learnt.  The caller validates shapes and values.
    """
    cdef Py_ssize_t H = frame.shape[0], W = frame.shape[1]
    cdef int C = <int>frame.shape[2]
    cdef Params prm
    cdef const uint8_t* kp = NULL
    if C < 1 or C > MAXC:
        raise ValueError(f"frames must have 1 to {MAXC} channels, got {C}")
    if (weight.shape[1] != H or weight.shape[2] != W or varmean.shape[0] != weight.shape[0]
            or varmean.shape[1] != H or varmean.shape[2] != W or varmean.shape[3] != 1 + C
            or nmodes.shape[0] != H or nmodes.shape[1] != W
            or mask.shape[0] != H or mask.shape[1] != W):
        raise ValueError("state arrays do not match the frame's shape")
    if known is not None:
        if known.shape[0] != H or known.shape[1] != W:
            raise ValueError("known-foreground mask does not match the frame's shape")
        kp = &known[0, 0]
    if H == 0 or W == 0:
        return
    prm.alpha = <float>alpha if learn else 0.0
    prm.a1 = 1.0 - prm.alpha
    prm.prune = <float>(alpha * complexity_reduction) if learn else 0.0
    prm.Tb = <float>var_threshold
    prm.Tg = <float>var_threshold_gen
    prm.TB = <float>background_ratio
    prm.var_init = <float>var_init
    prm.var_min = <float>var_min
    prm.var_max = <float>var_max
    prm.tau = <float>shadow_threshold
    prm.K = <int>weight.shape[0]
    prm.detect_shadows = detect_shadows
    prm.learn = learn and alpha > 0.0
    prm.shadow_value = <uint8_t>shadow_value
    with nogil:
        _run(&frame[0, 0, 0], kp, &weight[0, 0, 0], &varmean[0, 0, 0, 0], &nmodes[0, 0],
             &mask[0, 0], H, W, C, prm, n_threads)


def background(const float[:, :, ::1] weight, const float[:, :, :, ::1] varmean,
               const uint8_t[:, ::1] nmodes, double background_ratio, int n_threads):
    """Weighted mean of each pixel's heaviest modes, up to ``background_ratio``.

    Returns float32 (H, W, C).
    """
    cdef Py_ssize_t K = weight.shape[0], H = weight.shape[1], W = weight.shape[2]
    cdef int C = <int>varmean.shape[3] - 1
    out_arr = np.zeros((H, W, C), dtype=np.float32)
    cdef float[:, :, ::1] out = out_arr
    cdef Py_ssize_t y, i, m
    cdef int c
    cdef float tot, w, TB = <float>background_ratio
    with nogil:
        for y in prange(H, schedule='static', num_threads=n_threads):
            for i in range(W):
                tot = 0.0
                for m in range(nmodes[y, i]):
                    w = weight[m, y, i]
                    for c in range(C):
                        out[y, i, c] += w * varmean[m, y, i, 1 + c]
                    tot = tot + w
                    if tot > TB:
                        break
                if tot > 0.0:
                    for c in range(C):
                        out[y, i, c] = out[y, i, c] / tot
    return out_arr


cdef inline void _box_rows(const uint8_t* src, int* cnt, Py_ssize_t H, Py_ssize_t W,
                           Py_ssize_t y, int r) noexcept nogil:
    """cnt[i] = number of non-zero src pixels in rows y-r..y+r (edges replicated), column i."""
    cdef Py_ssize_t i, yy
    cdef int t
    for i in range(W):
        cnt[i] = 0
    for t in range(-r, r + 1):
        yy = y + t
        if yy < 0:
            yy = 0
        if yy > H - 1:
            yy = H - 1
        for i in range(W):
            cnt[i] += src[yy * W + i] != 0


def window_count_filter(const uint8_t[:, ::1] src, int radius, int lo, int n_threads):
    """Binary rank filter: out = 1 where the (2r+1)^2 window holds >= ``lo`` non-zeros.

    Edges are replicated.  ``lo = (2r+1)^2 // 2 + 1`` is the median of a binary
    image, ``lo = 1`` a dilation, ``lo = (2r+1)^2`` an erosion.
    """
    cdef Py_ssize_t H = src.shape[0], W = src.shape[1]
    out_arr = np.zeros((H, W), dtype=np.uint8)
    if H == 0 or W == 0:
        return out_arr
    cdef uint8_t[:, ::1] out = out_arr
    cdef int r = radius
    cdef Py_ssize_t Wp = W + 2 * r
    # per-row scratch: column counts (W) then the edge-padded copy (Wp)
    scratch_arr = np.empty((H, W + Wp), dtype=np.int32)
    cdef int[:, ::1] scratch = scratch_arr
    cdef Py_ssize_t y, i, ii, j
    cdef int s
    cdef int* colcnt
    cdef int* padded
    with nogil:
        for y in prange(H, schedule='static', num_threads=n_threads):
            colcnt = &scratch[y, 0]
            padded = colcnt + W
            _box_rows(&src[0, 0], colcnt, H, W, y, r)
            for j in range(Wp):
                ii = j - r
                if ii < 0:
                    ii = 0
                if ii > W - 1:
                    ii = W - 1
                padded[j] = colcnt[ii]
            s = 0
            for j in range(2 * r + 1):
                s = s + padded[j]
            for i in range(W):
                out[y, i] = s >= lo
                if i + 1 < W:
                    s = s + padded[i + 2 * r + 1] - padded[i]
    return out_arr
