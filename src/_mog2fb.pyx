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

Distances are computed in double from float32 state: every product of two float32
values is exact in double, so the result does not depend on whether the compiler
fuses multiply-adds, and a NumPy float64 version gives the same labels.
"""

from cython.parallel cimport prange
from libc.stdint cimport uint8_t
from _checks cimport check_threads, check_values

import numpy as np
cimport numpy as cnp

cnp.import_array()

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
                        const float* v, uint8_t* out, Py_ssize_t H, Py_ssize_t W, int C, Py_ssize_t P,
                        Py_ssize_t MS, Py_ssize_t y, int radius, double Tb, double TB,
                        float v_on) noexcept nogil:
    """Row y; planes are P floats apart, modes MS floats apart, a pixel's plane offset is y W + x."""
    cdef Py_ssize_t x, p, q, qy, qx, y0, y1, x0, x1
    cdef int c
    cdef double own_var
    cdef double xv[4]
    cdef bint hit
    for x in range(W):
        p = y * W + x
        if raw[p] != 255:
            out[p] = 0
            continue
        if v[p] <= v_on or nmodes[p] == 0:
            out[p] = 1
            continue
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
    check_values("nmodes", np.asarray(nmodes), 0, state.shape[0])
    # the state is a strided view (the MOG2 class pads its modes apart); within a mode the
    # planes are (H, W) C-ordered, which the kernel relies on
    if state.strides[3] != 4 or state.strides[2] != 4 * W or state.strides[1] % 4 or state.strides[0] % 4:
        raise ValueError("suppress: each (H, W) plane of the state must be C-contiguous float32")
    cdef Py_ssize_t P = state.strides[1] // 4, MS = state.strides[0] // 4
    cdef int C = frame.shape[2]
    if C > 4:
        raise ValueError("suppress: at most 4 channels")
    cdef const pixel_t* fp = &frame[0, 0, 0]
    cdef const float* sp = &state[0, 0, 0, 0]
    for y in prange(H, nogil=True, schedule='dynamic', chunksize=8, num_threads=n_threads):
        _suppress_row(fp, sp, &nmodes[0, 0], &raw[0, 0], &v[0, 0], &out[0, 0], H, W, C, P, MS, y,
                      radius, var_threshold, background_ratio, v_on)


cdef void _blink_row(const uint8_t* cand, const uint8_t* fin, uint8_t* cand_prev, uint8_t* fin_prev,
                     float* v, Py_ssize_t W, float v_incr, float v_decr, float v_max) noexcept nogil:
    # written with selects and no early exits so that the compiler can vectorise it
    cdef Py_ssize_t x
    cdef float s
    cdef int b
    for x in range(W):
        b = (cand[x] != cand_prev[x]) & (fin[x] == 0) & (fin_prev[x] == 0)
        s = v[x] + v_incr if b else v[x] - v_decr
        s = 0.0 if s < 0.0 else s
        s = v_max if s > v_max else s
        v[x] = s
        cand_prev[x] = cand[x]
        fin_prev[x] = fin[x]


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
        _blink_row(&cand[y, 0], &fin[y, 0], &cand_prev[y, 0], &fin_prev[y, 0], &v[y, 0], W, v_incr,
                   v_decr, v_max)
