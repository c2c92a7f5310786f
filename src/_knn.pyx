# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Non-parametric per-pixel background model with k-nearest-neighbour decisions
(Zivkovic & van der Heijden, Pattern Recognition Letters 2006, section 4).

Model, per pixel: S = 3N stored samples in three sets of N (short, mid and long term),
each sample with a flag saying whether it was "confirmed" when it was stored.

* Classification of a value x: pb = number of samples within the squared distance T
  of x, pbf = the same among confirmed samples; x is background when pbf >= k (the
  k-th nearest confirmed sample lies within T: the paper's kNN density test).  A
  foreground x is a shadow when at least k confirmed samples s have x as a darker copy:
  t = x.s / s.s in [tau, 1] and |t s - x|^2 < T t^2 (Prati et al. 2003).
* Update: a stored x is confirmed when pb >= k (it repeats something already seen).
  The sets are first-in first-out rings fed as a cascade: the short set takes the new
  value, the mid set the short set's oldest sample, the long set the mid set's oldest.
  Set s takes one sample per period of P_s frames, at a frame of the period drawn
  uniformly at random for each pixel anew every period.  The periods follow the
  learning rate (the Python layer computes them, see gmmfast._knn).

State layout: one plane per sample j (0..N-1 short, N..2N-1 mid, 2N..3N-1 long), with
a record of R elements per pixel: the C channels, then the flag in element R - 1
(knn_fast.h); per set, the ring position of its oldest sample in ``pos[s]`` and the
frame of the current period at which the pixel samples in ``slots[s]``.  uint8 frames
keep uint8 samples (a quarter of the memory traffic of float), float frames float
samples.  The count runs with SIMD lanes over pixels and stops once most of a row is
settled (knn_fast.h); shadows and the update are scalar, for the few pixels that need
them.  Rows are split across OpenMP threads, each taking its rows through all frames
of a call, and the GIL is released.
"""

from cython.parallel cimport prange
cimport openmp
from _team cimport _team_count, _team_mark, _team_reset
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy
from libc.math cimport ceil

import numpy as np
cimport numpy as cnp

cnp.import_array()

include "_team.pxi"

ctypedef fused pixel_t:
    uint8_t
    float

cdef enum:
    MAXC = 4          # channels supported by the kernel
    MAXSETS = 3

cdef extern from "knn_fast.h" nogil:
    void knn_count_u8(int C, const float* xs, Py_ssize_t W, const uint8_t* sp, Py_ssize_t SS,
                      int S, Py_ssize_t n, float T, int k, uint8_t* pb, uint8_t* pbf, uint8_t* nc,
                      int32_t* left)
    void knn_count_f32(int C, const double* xs, Py_ssize_t W, const float* sp, Py_ssize_t SS,
                       int S, Py_ssize_t n, double T, int k, uint8_t* pb, uint8_t* pbf, uint8_t* nc,
                       int32_t* left)
    void knn_planes_u8(int C, const uint8_t* src, Py_ssize_t n, float* xs, Py_ssize_t W)
    void knn_planes_f32(int C, const float* src, Py_ssize_t n, double* xs, Py_ssize_t W)
    void knn_draw_slots(uint16_t* slot, Py_ssize_t n, uint32_t first, uint32_t key, uint32_t period)
    void knn_due(const uint16_t* s0, const uint16_t* s1, const uint16_t* s2, const uint8_t* known,
                 Py_ssize_t n, uint16_t c0, uint16_t c1, uint16_t c2, uint8_t* due)
    Py_ssize_t knn_nonzero(const uint8_t* v, Py_ssize_t n, int32_t* idx)
    void knn_copy_record(void* dst, const void* src, int nbytes)


def record_size(int channels):
    """Elements per stored sample of a pixel with ``channels`` channels (flag included)."""
    if channels < 1 or channels > MAXC:
        raise ValueError(f"1 to {MAXC} channels, got {channels}")
    return 2 if channels == 1 else (4 if channels <= 3 else 8)


cdef struct Const:
    double T            # dist2_threshold (shadow test; the count uses Tc)
    double Tc           # the count's threshold: ceil(T) for uint8 models (integer distances)
    double tau          # shadow_threshold
    int k               # knn_samples
    int N               # n_samples
    int S               # 3 * N
    int R               # elements per record
    int detect_shadows
    uint8_t shadow_value


cdef struct Frame:
    int learn               # 0: classify only
    int redraw[MAXSETS]     # a new period starts at this frame: draw the pixels' slots
    uint16_t c[MAXSETS]     # the frame's position in each set's period
    uint32_t period[MAXSETS]
    uint32_t key[MAXSETS]   # random key of each set's current period


cdef struct Layout:
    Py_ssize_t W, SS, QS, RS        # row length; strides of sample planes, pos planes and
                                    # slot planes (elements)
    Py_ssize_t pb_off, pbf_off, due_off, todo_off   # scratch offsets (bytes)


cdef inline bint _is_shadow(const pixel_t* x, const pixel_t* rec, Py_ssize_t SS, int C,
                            const Const* cp) noexcept nogil:
    """At least k confirmed samples (records rec + j * SS) of which x is a darker copy.

    With t = x.s / s.s, the residual |t s - x|^2 is computed as x.x - (x.s)^2 / s.s:
    in double, every product of two frame values is exact and no step can be fused
    into a multiply-add, so the decision does not depend on the compiler.
    """
    cdef int j, c, n = 0
    cdef double num, den, xx = 0.0, t, xc, sc
    cdef const pixel_t* r
    for c in range(C):
        xc = <double>x[c]
        xx = xx + xc * xc
    for j in range(cp.S):
        r = rec + j * SS
        if r[cp.R - 1] == 0:
            continue
        num = 0.0
        den = 0.0
        for c in range(C):
            sc = <double>r[c]
            num = num + <double>x[c] * sc
            den = den + sc * sc
        if den == 0.0:
            continue
        t = num / den
        if t < cp.tau or t > 1.0:
            continue
        if xx - num * num / den < cp.T * t * t:
            n = n + 1
            if n >= cp.k:
                return True
    return False


cdef inline void _learn(const pixel_t* x, bint confirmed, uint8_t due, pixel_t* rec,
                        uint8_t* pos, const Layout* L, int C, const Const* cp) noexcept nogil:
    """The cascade of one pixel (its records from rec, its ring positions at pos): the
    long set takes the mid set's oldest sample, the mid set the short set's oldest, the
    short set x, for the sets due at this frame (in that order, so nothing is lost)."""
    cdef int N = cp.N, R = cp.R
    cdef int c
    cdef Py_ssize_t q0 = pos[0], q1 = pos[L.QS], q2 = pos[2 * L.QS]
    cdef Py_ssize_t SS = L.SS
    if due & 4:
        knn_copy_record(rec + (2 * N + q2) * SS, rec + (N + q1) * SS, R * sizeof(pixel_t))
        pos[2 * L.QS] = <uint8_t>(q2 + 1 if q2 + 1 < N else 0)
    if due & 2:
        knn_copy_record(rec + (N + q1) * SS, rec + q0 * SS, R * sizeof(pixel_t))
        pos[L.QS] = <uint8_t>(q1 + 1 if q1 + 1 < N else 0)
    if due & 1:
        for c in range(C):
            rec[q0 * SS + c] = x[c]
        rec[q0 * SS + R - 1] = <pixel_t>(1 if confirmed else 0)
        pos[0] = <uint8_t>(q0 + 1 if q0 + 1 < N else 0)


cdef inline void _row(const pixel_t* frame, const uint8_t* known, pixel_t* sp, uint8_t* pos,
                      uint16_t* slots, uint8_t* mask, uint8_t* scratch, Py_ssize_t y,
                      const Layout* L, const int C, const Const* cp,
                      const Frame* fp) noexcept nogil:
    """Classify and learn row y of one frame."""
    cdef Py_ssize_t W = L.W, off = y * W, i, j, n_due
    cdef uint8_t* pb = scratch + L.pb_off
    cdef uint8_t* pbf = scratch + L.pbf_off
    cdef uint8_t* due = scratch + L.due_off
    cdef int32_t* todo = <int32_t*>(scratch + L.todo_off)
    cdef const pixel_t* src = frame + off * C
    cdef pixel_t* rec = sp + off * cp.R
    cdef int s
    _team_mark()
    if pixel_t is uint8_t:
        knn_planes_u8(C, src, W, <float*>scratch, W)
        knn_count_u8(C, <float*>scratch, W, rec, L.SS, cp.S, W, <float>cp.Tc, cp.k, pb, pbf, due, todo)
    else:
        knn_planes_f32(C, src, W, <double*>scratch, W)
        knn_count_f32(C, <double*>scratch, W, rec, L.SS, cp.S, W, cp.Tc, cp.k, pb, pbf, due, todo)
    # due[] holds each pixel's number of confirmed samples until it is reused below
    for i in range(W):
        mask[off + i] = 255 * (pbf[i] < cp.k)
        due[i] = (pbf[i] < cp.k) & (due[i] >= cp.k)
    if cp.detect_shadows:
        # the foreground pixels with k confirmed samples (only those can be shadows) are
        # few: list them, then test each
        n_due = knn_nonzero(due, W, todo)
        for j in range(n_due):
            i = todo[j]
            if _is_shadow(src + i * C, rec + i * cp.R, L.SS, C, cp):
                mask[off + i] = cp.shadow_value
    if not fp.learn:
        return
    for s in range(MAXSETS):
        if fp.redraw[s]:
            knn_draw_slots(slots + s * L.RS + off, W, <uint32_t>off, fp.key[s], fp.period[s])
    knn_due(slots + off, slots + L.RS + off, slots + 2 * L.RS + off,
            known + off if known != NULL else NULL, W, fp.c[0], fp.c[1], fp.c[2], due)
    n_due = knn_nonzero(due, W, todo)
    for j in range(n_due):
        i = todo[j]
        _learn(src + i * C, pb[i] >= cp.k, due[i], rec + i * cp.R, pos + off + i, L, C, cp)


cdef void _run(const pixel_t* frames, const uint8_t* known, pixel_t* sp, uint8_t* pos,
               uint16_t* slots, uint8_t* masks, uint8_t* scratch, Py_ssize_t sstride,
               Py_ssize_t n_frames, Py_ssize_t height, const Layout* L, int C, const Const* cp,
               const Frame* fp, int n_threads) noexcept nogil:
    """``n_frames`` consecutive frames, each row through all of them before the next row
    (pixels are independent, and the row's model is then read from memory once per call);
    ``scratch`` holds each thread's row buffers, ``sstride`` bytes apart."""
    cdef Py_ssize_t y, t, hw = height * L.W
    # tasks of ~1/16 of a thread's share: moving objects make some rows much dearer
    cdef Py_ssize_t rows_per_task = height // (16 * n_threads)
    if rows_per_task < 4:
        rows_per_task = 4
    cdef uint8_t* buf
    # C is a literal in the common calls so the compiler unrolls the channel loops
    if C == 3:
        for y in prange(height, schedule='dynamic', chunksize=rows_per_task, num_threads=n_threads):
            buf = scratch + openmp.omp_get_thread_num() * sstride
            for t in range(n_frames):
                _row(frames + t * hw * 3, known + t * hw if known != NULL else NULL, sp, pos,
                     slots, masks + t * hw, buf, y, L, 3, cp, fp + t)
    elif C == 1:
        for y in prange(height, schedule='dynamic', chunksize=rows_per_task, num_threads=n_threads):
            buf = scratch + openmp.omp_get_thread_num() * sstride
            for t in range(n_frames):
                _row(frames + t * hw, known + t * hw if known != NULL else NULL, sp, pos,
                     slots, masks + t * hw, buf, y, L, 1, cp, fp + t)
    else:
        for y in prange(height, schedule='dynamic', chunksize=rows_per_task, num_threads=n_threads):
            buf = scratch + openmp.omp_get_thread_num() * sstride
            for t in range(n_frames):
                _row(frames + t * hw * C, known + t * hw if known != NULL else NULL, sp, pos,
                     slots, masks + t * hw, buf, y, L, C, cp, fp + t)


cdef Py_ssize_t _plane_stride(object a, Py_ssize_t itemsize, Py_ssize_t minimum) except -1:
    cdef Py_ssize_t st = a.strides[0]
    if st % itemsize != 0 or st // itemsize < minimum:
        raise ValueError("state planes must hold at least H * W records each")
    return st // itemsize


cdef Const _constants(double dist2_threshold, int knn_samples, bint detect_shadows, int shadow_value,
                      double shadow_threshold, int S, int R, bint integer_distances):
    """The per-call constants of the kernel."""
    cdef Const cp
    cp.T = dist2_threshold
    # distances of uint8 samples are integers: d2 < T exactly when d2 < ceil(T); above
    # 2^24 float could not tell integers apart, but no distance of 4 channels gets there
    cp.Tc = min(ceil(dist2_threshold), 16777216.0) if integer_distances else dist2_threshold
    cp.tau = shadow_threshold
    cp.k = knn_samples
    cp.N = S // 3
    cp.S = S
    cp.R = R
    cp.detect_shadows = detect_shadows
    cp.shadow_value = <uint8_t>shadow_value
    return cp


cdef object _frame_table(const int64_t[:, ::1] schedule, Py_ssize_t T):
    """The (T, 13) schedule as T Frame structs, in the bytes of the returned array (T >= 1)."""
    frm_arr = np.zeros(T * sizeof(Frame), dtype=np.uint8)
    cdef uint8_t[::1] frm_bytes = frm_arr
    cdef Frame* fp = <Frame*>&frm_bytes[0]
    cdef Py_ssize_t t
    cdef int s
    for t in range(T):
        fp[t].learn = <int>schedule[t, 0]
        for s in range(MAXSETS):
            fp[t].redraw[s] = <int>schedule[t, 1 + 4 * s]
            fp[t].c[s] = <uint16_t>schedule[t, 2 + 4 * s]
            fp[t].period[s] = <uint32_t>schedule[t, 3 + 4 * s]
            fp[t].key[s] = <uint32_t>schedule[t, 4 + 4 * s]
    return frm_arr


def apply(const pixel_t[:, :, :, ::1] frames, const uint8_t[:, :, ::1] known,
          pixel_t[:, :, :, :] samples, uint8_t[:, :, :] pos, uint16_t[:, :, :] slots,
          uint8_t[:, :, ::1] masks, const int64_t[:, ::1] schedule, double dist2_threshold,
          int knn_samples, bint detect_shadows, int shadow_value, double shadow_threshold,
          int n_threads):
    """Classify ``frames`` (T, H, W, C) into ``masks`` (T, H, W) and learn them in order.

    ``samples`` (3N, H, W, R) (one record per sample and pixel, see record_size),
    ``pos`` (3, H, W) and ``slots`` (3, H, W) are the state (planes may be padded apart;
    rows are contiguous) and are updated in place.  ``schedule`` is (T, 13) int64 per
    frame: learn, then per set redraw, position in the period, period and key (see
    gmmfast._knn).  ``known`` is None or (T, H, W) uint8: non-zero pixels are classified
    but not learnt.  The caller validates values; shapes are checked here.
    """
    cdef Py_ssize_t T = frames.shape[0], H = frames.shape[1], W = frames.shape[2]
    cdef int C = <int>frames.shape[3]
    cdef Py_ssize_t S = samples.shape[0]
    cdef const uint8_t* kp = NULL
    if n_threads < 1:
        n_threads = 1
    if C < 1 or C > MAXC:
        raise ValueError(f"frames must have 1 to {MAXC} channels, got {C}")
    cdef int R = record_size(C)
    if (S < 3 or S % 3 != 0 or S // 3 > 85 or samples.shape[1] != H or samples.shape[2] != W
            or samples.shape[3] != R or pos.shape[0] != 3 or pos.shape[1] != H or pos.shape[2] != W
            or slots.shape[0] != 3 or slots.shape[1] != H or slots.shape[2] != W
            or masks.shape[0] != T or masks.shape[1] != H or masks.shape[2] != W
            or schedule.shape[0] != T or schedule.shape[1] != 13):
        raise ValueError("state arrays do not match the frames' shape")
    if (pos.strides[2] != 1 or pos.strides[1] != W or slots.strides[2] != 2
            or slots.strides[1] != 2 * W or samples.strides[3] != sizeof(pixel_t)
            or samples.strides[2] != R * <Py_ssize_t>sizeof(pixel_t)
            or samples.strides[1] != W * R * <Py_ssize_t>sizeof(pixel_t)):
        raise ValueError("state rows must be contiguous")
    cdef Layout L
    L.W = W
    L.SS = _plane_stride(samples, sizeof(pixel_t), H * W * R)
    L.QS = _plane_stride(pos, 1, H * W)
    L.RS = _plane_stride(slots, 2, H * W)
    if known is not None:
        if known.shape[0] != T or known.shape[1] != H or known.shape[2] != W:
            raise ValueError("known-foreground masks do not match the frames' shape")
        if T > 0 and H > 0 and W > 0:
            kp = &known[0, 0, 0]
    if T == 0 or H == 0 or W == 0:
        return
    if H * W > 0xFFFFFFFF:
        raise ValueError("frames of more than 2^32 pixels are not supported")
    # per thread, in cache lines of its own: the frame's row as C planes of doubles at
    # offset 0, then pb, pbf and due flags, and a row of int32 pixel indices
    L.pb_off = (8 * C * W + 63) // 64 * 64
    L.pbf_off = L.pb_off + (W + 63) // 64 * 64
    L.due_off = L.pbf_off + (W + 63) // 64 * 64
    L.todo_off = L.due_off + (W + 63) // 64 * 64
    cdef Py_ssize_t sstride = L.todo_off + (4 * W + 63) // 64 * 64
    scratch_arr = np.empty(n_threads * sstride + 64, dtype=np.uint8)
    cdef uint8_t[::1] scratch = scratch_arr
    cdef uint8_t* sp8 = &scratch[0]
    sp8 = sp8 + (64 - <size_t>sp8 % 64) % 64
    cdef Const cp = _constants(dist2_threshold, knn_samples, detect_shadows, shadow_value,
                               shadow_threshold, <int>S, R, pixel_t is uint8_t)
    frm_arr = _frame_table(schedule, T)
    cdef uint8_t[::1] frm_bytes = frm_arr
    cdef Frame* fp = <Frame*>&frm_bytes[0]
    with nogil:
        _run(&frames[0, 0, 0, 0], kp, &samples[0, 0, 0, 0], &pos[0, 0, 0], &slots[0, 0, 0],
             &masks[0, 0, 0], sp8, sstride, T, H, &L, C, &cp, fp, n_threads)


def background(const pixel_t[:, :, :, :] samples, int channels, int n_threads):
    """Per pixel, its first confirmed sample (short set first), else its first sample.

    Returns (H, W, channels) in the samples' dtype.
    """
    cdef Py_ssize_t S = samples.shape[0], H = samples.shape[1], W = samples.shape[2]
    cdef int R = <int>samples.shape[3], C = channels
    if R != record_size(C):
        raise ValueError("records do not match the channel count")
    dtype = np.uint8 if pixel_t is uint8_t else np.float32
    out_arr = np.empty((H, W, C), dtype=dtype)
    cdef pixel_t[:, :, ::1] out = out_arr
    cdef Py_ssize_t y, i, j, pick
    cdef int c
    if n_threads < 1:
        n_threads = 1
    with nogil:
        for y in prange(H, schedule='static', num_threads=n_threads):
            for i in range(W):
                pick = 0
                for j in range(S):
                    if samples[j, y, i, R - 1] != 0:
                        pick = j
                        break
                for c in range(C):
                    out[y, i, c] = samples[pick, y, i, c]
    return out_arr
