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

State layout (the point of this module): planes per mode rank and field
instead of all modes of a pixel side by side.  ``state`` is (K, 2 + C, H, W)
float32: for mode rank m, plane 0 holds the weights, plane 1 the variances,
planes 2.. the channel means.  Modes may lie further apart than (2 + C) planes:
the Python layer pads them so that the up to 35 planes a pixel's general
update touches do not all fall in the same cache sets, which they do when
H * W * 4 is a multiple of 4096, as at 640x480, 720p and 1080p.  Modes a
pixel does not use are never read, a scene where most pixels need one or two
modes streams only the first planes, and every field is contiguous along a
row, so the common case (the heaviest mode explains the pixel, at most two
modes in use) runs with SIMD lanes over pixels (mog2_fast.h, one variant per
channel count and for one-mode models).  The remaining pixels take the general
scalar path below, which sums the squared distance exactly as that pass does.
The frame is read in its own dtype (uint8 without conversion), rows are split
across OpenMP threads, and the GIL is released.
"""

from cython.parallel cimport prange
cimport openmp
from _team cimport _team_count, _team_mark, _team_reset
from _checks cimport check_threads, check_u8_values
from libc.stdint cimport int32_t, uint8_t, uint16_t, uint64_t
from libc.string cimport memcpy
from libc.stdlib cimport calloc, free, malloc

import numpy as np
cimport numpy as cnp

cnp.import_array()

include "_team.pxi"

ctypedef fused pixel_t:
    uint8_t
    float

cdef enum:
    MAXC = 4          # channels supported by the kernel

include "_mask_count.pxi"

cdef extern from "mog2_fast.h" nogil:
    ctypedef struct mog2_fast_params:
        float alpha, a1, prune, Tb, Tg, var_min, var_max, TB, var_init
        int K
    int MOG2_GENERAL, MOG2_KMAX, MOG2_MAXC
    float _fma "MOG2_FMA"(float a, float b, float c)
    void mog2_fast_u8(int C, int two, const uint8_t* src, float* st, Py_ssize_t P, Py_ssize_t MS,
                      Py_ssize_t off, Py_ssize_t n, uint8_t* nmodes, uint8_t* mask, uint8_t* flag,
                      const mog2_fast_params* prm)
    void mog2_fast_f32(int C, int two, const float* src, float* st, Py_ssize_t P, Py_ssize_t MS,
                       Py_ssize_t off, Py_ssize_t n, uint8_t* nmodes, uint8_t* mask, uint8_t* flag,
                       const mog2_fast_params* prm)
    void mog2_general_u8(int C, const uint8_t* src, float* st, Py_ssize_t P, Py_ssize_t MS,
                         Py_ssize_t off, Py_ssize_t n, uint8_t* nmodes, uint8_t* mask, uint8_t* flag,
                         const mog2_fast_params* prm)
    void mog2_general_f32(int C, const float* src, float* st, Py_ssize_t P, Py_ssize_t MS,
                          Py_ssize_t off, Py_ssize_t n, uint8_t* nmodes, uint8_t* mask, uint8_t* flag,
                          const mog2_fast_params* prm)


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


# A pixel's fields are strided by P (one plane per field); mode m, field f of the
# pixel whose plane-0 weight is at s is s[m * MS + f * P], MS >= (2 + C) * P.

cdef inline bint _is_shadow(const float* x, const float* s, Py_ssize_t P, Py_ssize_t MS,
                            int n, const int C, const Params* prm) noexcept nogil:
    """Prati-style test of x against the background modes: the first mode, heaviest first,
    of which x is a darker copy (x ~ t mu, tau <= t <= 1, |t mu - x|^2 < Tb v t^2) makes x
    a shadow; a mode with a zero mean, or the weights seen passing TB, ends the search.

    The per-mode tests are combined with bit operations rather than branches: on noisy
    foreground their outcomes are coin flips, and the mispredicted branches were half the
    cost of the general update on frames of noise.  A zero mean gives t = 0/0 = NaN,
    which fails every comparison.
    """
    cdef int m, c
    cdef float num, den, t, d, d2, mu, tw = 0.0
    cdef const float* mode
    cdef int found = 0, stop = 0, ok
    for m in range(n):
        mode = s + m * MS
        num = 0.0
        den = 0.0
        for c in range(C):
            mu = mode[(2 + c) * P]
            num = num + x[c] * mu
            den = den + mu * mu
        t = num / den
        d2 = 0.0
        for c in range(C):
            d = t * mode[(2 + c) * P] - x[c]
            d2 = d2 + d * d
        ok = (t <= 1.0) & (t >= prm.tau) & (d2 < prm.Tb * mode[P] * t * t)
        found = found | ok
        tw = tw + mode[0]
        stop = ok | (den == 0.0) | (tw > prm.TB)
        if stop:
            break
    return found


cdef inline uint8_t _classify(const float* x, const float* s, Py_ssize_t P, Py_ssize_t MS,
                              int n, const int C, const Params* prm) noexcept nogil:
    """Mask value of x under the model as it is (no learning)."""
    cdef int m, c
    cdef float d, d2, v, tot = 0.0
    cdef const float* mode
    for m in range(n):
        mode = s + m * MS
        v = mode[P]
        d2 = 0.0
        for c in range(C):
            d = x[c] - mode[(2 + c) * P]
            d2 = d2 + d * d
        if tot < prm.TB and d2 < prm.Tb * v:
            return 0
        if d2 < prm.Tg * v:
            break
        tot = tot + mode[0]
    if prm.detect_shadows and _is_shadow(x, s, P, MS, n, C, prm):
        return prm.shadow_value
    return 255


cdef inline void _copy_mode(float* s, int dst, int src, Py_ssize_t P, Py_ssize_t MS,
                            const int C) noexcept nogil:
    cdef int f
    for f in range(2 + C):
        s[dst * MS + f * P] = s[src * MS + f * P]


cdef inline uint8_t _update(const float* x, float* s, uint8_t* nmodes, Py_ssize_t P,
                            Py_ssize_t MS, const int C, const Params* prm) noexcept nogil:
    """Learn x into the pixel's modes (s points at its weight in plane 0)."""
    cdef int n = nmodes[0]
    cdef int keep = n
    cdef int m, j, c, owner = -1
    cdef bint bg = False
    cdef float w, v, d, d2, k, tot = 0.0, inv
    cdef float mu[MAXC]
    cdef float* mode
    for m in range(n):
        mode = s + m * MS
        w = prm.a1 * mode[0] - prm.prune
        if owner < 0:
            v = mode[P]
            d2 = 0.0
            for c in range(C):
                d = x[c] - mode[(2 + c) * P]
                # as mog2_fast.h computes it (an explicit FMA where the build has one):
                # GCC vectorised this loop for 4 channels and summed unfused products
                d2 = _fma(d, d, d2)
            if tot < prm.TB and d2 < prm.Tb * v:
                bg = True
            if d2 < prm.Tg * v:
                owner = m
                w = w + prm.alpha
                k = prm.alpha / w
                # explicit FMAs, as mog2_general_impl.h moves a block's modes
                for c in range(C):
                    mu[c] = _fma(k, x[c] - mode[(2 + c) * P], mode[(2 + c) * P])
                v = _fma(k, d2 - v, v)
                if v < prm.var_min:
                    v = prm.var_min
                if v > prm.var_max:
                    v = prm.var_max
                # move up past lighter modes (their weights are already updated)
                j = m
                while j > 0 and w >= s[(j - 1) * MS]:
                    _copy_mode(s, j, j - 1, P, MS, C)
                    j = j - 1
                mode = s + j * MS
                mode[0] = w
                mode[P] = v
                for c in range(C):
                    mode[(2 + c) * P] = mu[c]
                tot = tot + w
                continue
        if w < prm.prune:
            w = 0.0
            keep = keep - 1
        mode[0] = w
        tot = tot + w

    if owner >= 0:
        if tot > 0.0:
            inv = 1.0 / tot
            for m in range(keep):
                s[m * MS] = s[m * MS] * inv
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
            # normalise, then make room for the new weight (two roundings, kept
            # in this order: a weight of exactly TB decides the shadow test)
            inv = 1.0 / tot if tot > 0.0 else 1.0
            for m in range(keep - 1):
                s[m * MS] = (s[m * MS] * inv) * prm.a1
        while j > 0 and w >= s[(j - 1) * MS]:
            _copy_mode(s, j, j - 1, P, MS, C)
            j = j - 1
        mode = s + j * MS
        mode[0] = w
        mode[P] = prm.var_init
        for c in range(C):
            mode[(2 + c) * P] = x[c]
    nmodes[0] = <uint8_t>keep

    if bg:
        return 0
    if prm.detect_shadows and _is_shadow(x, s, P, MS, keep, C, prm):
        return prm.shadow_value
    return 255


cdef inline void _row(const pixel_t* frame, const uint8_t* known, float* st, uint8_t* nmodes,
                      uint8_t* mask, uint8_t* flag, Py_ssize_t y, Py_ssize_t width,
                      Py_ssize_t P, Py_ssize_t MS, const int C, const Params* prm,
                      const mog2_fast_params* fprm) noexcept nogil:
    """Process one image row: pixels y*width .. y*width + width - 1.

    ``flag`` is the thread's scratch: ``width`` flag bytes, then, from byte
    ``(width + 127) // 64 * 64``, room for ``width`` int32 pixel indices, then two int32
    (see apply): how many pixels the vectorised common case left in the last row it ran
    on, and how many rows this thread has done since without it.
    """
    cdef Py_ssize_t i, j, n_todo, p, off = y * width
    cdef int c
    cdef float x[MAXC]
    cdef const pixel_t* src
    cdef uint64_t word
    cdef int32_t* todo = <int32_t*>(flag + (width + 127) // 64 * 64)
    cdef int32_t* hint = <int32_t*>(flag + (width + 127) // 64 * 64 + (4 * width + 63) // 64 * 64)
    # the blocks of the general update run for this model (else every such pixel is scalar)
    cdef bint general = MOG2_GENERAL and prm.K <= MOG2_KMAX and C <= MOG2_MAXC
    cdef bint common
    _team_mark()
    if not prm.learn:
        for i in range(width):
            flag[i] = 3
    elif known != NULL:
        for i in range(width):
            flag[i] = 3 if known[off + i] else 0
    else:
        for i in range(width):
            flag[i] = 0
    # Where many pixels need the general update (a shaking camera: 98 % on cdnet-traffic;
    # a mature model of a busy road holds 3-5 modes in most pixels) the common-case pass
    # costs more than it saves, so a row skips it when more than a quarter of the last
    # row the thread ran it on was left over; it runs again every 8th row to see whether
    # that still holds.  (With 3/4 instead of 1/4 the kernel took 2.5-3 % longer on the
    # pipeline's mature traffic clip and 7 % on CDnet highway; steady 640x480 frames and
    # noise frames were unchanged.)  Either way each pixel gets the same bits: the
    # general update of a pixel the common case would take does the same operations.
    n_todo = 0
    common = prm.learn and (not general or hint[0] * 4 <= width or hint[1] >= 8)
    if common:
        # the common case, vectorised; it marks the pixels it has handled
        if pixel_t is uint8_t:
            mog2_fast_u8(C, prm.K >= 2, frame + off * C, st, P, MS, off, width, nmodes + off, mask + off,
                         flag, fprm)
        else:
            mog2_fast_f32(C, prm.K >= 2, frame + off * C, st, P, MS, off, width, nmodes + off, mask + off,
                          flag, fprm)
        if general:     # the hint is read only where the blocks can run
            # the pixels the blocks take: those to learn (flag 0) and held ones (flag 3);
            # counting only the former sent rows of held pixels to the scalar classify (the
            # adaptive pipeline on the mature traffic clip, 11 % held: the kernel 2.59-2.66
            # -> 2.50-2.53 ms).  Flag 2 (done, foreground) needs only the shadow test.
            for i in range(width):
                n_todo = n_todo + (flag[i] == 0) + (flag[i] == 3)
            hint[0] = <int32_t>n_todo
            hint[1] = 0
    elif prm.learn:
        hint[1] = hint[1] + 1
    # The blocks only where at least a quarter of the row needs the general update: on a
    # steady scene the few such pixels hold one to three modes and the scalar update of
    # each costs less than a block (640x480 generated frames: blocks of >= 2, 4 or 6 such
    # pixels made the kernel 5-8 % slower than main's)
    if general and prm.learn and (not common or n_todo * 4 > width):
        # the general update of the pixels it left, in blocks of neighbouring pixels where
        # enough of a block needs it (mog2_general_impl.h: the same bits as _update); it
        # marks them as the vectorised pass does, and leaves the rest to the loop below
        if pixel_t is uint8_t:
            mog2_general_u8(C, frame + off * C, st, P, MS, off, width, nmodes + off, mask + off,
                            flag, fprm)
        else:
            mog2_general_f32(C, frame + off * C, st, P, MS, off, width, nmodes + off, mask + off,
                             flag, fprm)
    # List the pixels the vectorised pass left (flag != 1), eight flags at a time, before
    # doing them: a single loop over all pixels with the general update inlined in it kept
    # its frame pointer in memory, and the skipped pixels cost ~6 cycles each (a quarter
    # of a 1080p frame's time).
    n_todo = 0
    i = 0
    while i + 8 <= width:
        memcpy(&word, flag + i, 8)
        if word != 0x0101010101010101ULL:
            for j in range(i, i + 8):
                if flag[j] != 1:
                    todo[n_todo] = <int32_t>j
                    n_todo = n_todo + 1
        i = i + 8
    while i < width:
        if flag[i] != 1:
            todo[n_todo] = <int32_t>i
            n_todo = n_todo + 1
        i = i + 1
    for j in range(n_todo):
        i = todo[j]
        p = off + i
        src = frame + p * C
        for c in range(C):
            x[c] = <float>src[c]
        if flag[i] == 0:
            mask[p] = _update(x, st + p, nmodes + p, P, MS, C, prm)
        elif flag[i] == 2:
            if prm.detect_shadows and _is_shadow(x, st + p, P, MS, nmodes[p], C, prm):
                mask[p] = prm.shadow_value
            else:
                mask[p] = 255
        else:
            mask[p] = _classify(x, st + p, P, MS, nmodes[p], C, prm)


cdef void _run(const pixel_t* frames, const uint8_t* known, float* st, uint8_t* nmodes,
               uint8_t* masks, uint8_t* scratch, Py_ssize_t sstride, Py_ssize_t n_frames,
               Py_ssize_t height, Py_ssize_t width, Py_ssize_t P, Py_ssize_t MS, int C,
               const Params* prm, const mog2_fast_params* fprm, int n_threads) noexcept nogil:
    """``n_frames`` consecutive frames, row by row; ``scratch`` holds each thread's row of
    flags and of pixel indices (see _row), ``sstride`` bytes apart.

    Frame t is ``frames + t * height * width * C``, its mask (and its known-foreground
    mask, when ``known`` is not NULL) ``t * height * width`` bytes on, and it is learnt
    with ``prm[t]``/``fprm[t]``.  A row of the state takes all the frames before the next
    row: pixels are independent, so this is the same as applying the frames one by one,
    but the row's state is read from memory once per call rather than once per frame
    (at 1080p a frame's state traffic is ~100 MB: about 2 of the ~5 ms a frame costs when
    frames come one at a time, and the part that gains least from a second thread).

    P and MS are the distances between two planes of a mode and between two modes of the
    state, in floats (P >= height * width, MS >= (2 + C) * P).
    """
    cdef Py_ssize_t y, t, hw = height * width
    # Rows go out in tasks of ~1/16 of a thread's share.  The cost of a row varies a lot
    # (moving objects take the scalar path): 'guided' gave each of two threads half the
    # frame in its first grab, so the half with the moving objects set the frame time.
    # Tasks of a few rows are worse still (1 row: 1.2x on 2 threads, 4 rows: 1.8x), as
    # the threads then work on neighbouring rows and contend for the lines between them.
    cdef Py_ssize_t rows_per_task = height // (16 * n_threads)
    if rows_per_task < 4:
        rows_per_task = 4
    cdef uint8_t* flag
    # C is a literal in each call so the compiler unrolls the channel loops
    if C == 3:
        for y in prange(height, schedule='dynamic', chunksize=rows_per_task,
                          num_threads=n_threads):
            flag = scratch + openmp.omp_get_thread_num() * sstride
            for t in range(n_frames):
                _row(frames + t * hw * 3, known + t * hw if known != NULL else NULL, st, nmodes,
                     masks + t * hw, flag, y, width, P, MS, 3, prm + t, fprm + t)
    elif C == 1:
        for y in prange(height, schedule='dynamic', chunksize=rows_per_task,
                          num_threads=n_threads):
            flag = scratch + openmp.omp_get_thread_num() * sstride
            for t in range(n_frames):
                _row(frames + t * hw, known + t * hw if known != NULL else NULL, st, nmodes,
                     masks + t * hw, flag, y, width, P, MS, 1, prm + t, fprm + t)
    else:
        for y in prange(height, schedule='dynamic', chunksize=rows_per_task,
                          num_threads=n_threads):
            flag = scratch + openmp.omp_get_thread_num() * sstride
            for t in range(n_frames):
                _row(frames + t * hw * C, known + t * hw if known != NULL else NULL, st, nmodes,
                     masks + t * hw, flag, y, width, P, MS, C, prm + t, fprm + t)


def apply(const pixel_t[:, :, :, ::1] frames not None, const uint8_t[:, :, ::1] known,
          float[:, :, :, :] state not None, uint8_t[:, ::1] nmodes not None,
          uint8_t[:, :, ::1] masks not None, const double[::1] alphas not None, double var_threshold, double var_threshold_gen,
          double background_ratio, double var_init, double var_min, double var_max,
          double complexity_reduction, bint detect_shadows, int shadow_value,
          double shadow_threshold, int n_threads):
    """Classify ``frames`` (T, H, W, C) into ``masks`` (T, H, W) and learn them in order.

    Frame t is learnt with rate ``alphas[t]`` (0: classified only, the model is left
    as it is).  ``state`` (K, 2 + C, H, W) and ``nmodes`` (H, W) are updated in place.
    ``known`` is None or (T, H, W) uint8: non-zero pixels are classified but not
    learnt.  The caller validates values; shapes are checked here.
    """
    cdef Py_ssize_t T = frames.shape[0], H = frames.shape[1], W = frames.shape[2]
    cdef int C = <int>frames.shape[3] if frames.shape[3] <= MAXC else MAXC + 1
    cdef Py_ssize_t t
    cdef const uint8_t* kp = NULL
    check_threads(n_threads)
    if C < 1 or C > MAXC:
        raise ValueError(f"frames must have 1 to {MAXC} channels, got {frames.shape[3]}")
    if (state.shape[1] != 2 + C or state.shape[2] != H or state.shape[3] != W
            or nmodes.shape[0] != H or nmodes.shape[1] != W or masks.shape[0] != T
            or masks.shape[1] != H or masks.shape[2] != W or state.shape[0] > 255
            or alphas.shape[0] != T or state.shape[0] < 1):
        raise ValueError("state arrays do not match the frames' shape")
    # a pixel's modes are read up to nmodes[y, x]
    check_u8_values("nmodes", nmodes, 0, state.shape[0])
    # modes may be padded apart (see gmmfast.background._padded_state): rows of W floats,
    # planes of at least H*W floats, modes of at least 2 + C planes
    cdef Py_ssize_t P = state.strides[1] // <Py_ssize_t>sizeof(float)
    cdef Py_ssize_t MS = state.strides[0] // <Py_ssize_t>sizeof(float)
    if (state.strides[3] != <Py_ssize_t>sizeof(float) or state.strides[2] != W * <Py_ssize_t>sizeof(float)
            or P < H * W or MS < (2 + C) * P or state.strides[1] % sizeof(float) != 0
            or state.strides[0] % sizeof(float) != 0):
        raise ValueError("the state array must be rows of W floats, planes of at least H*W floats "
                         "and modes of at least 2 + C planes")
    if known is not None:
        if known.shape[0] != T or known.shape[1] != H or known.shape[2] != W:
            raise ValueError("known-foreground masks do not match the frames' shape")
        if T > 0 and H > 0 and W > 0:
            kp = &known[0, 0, 0]
    if T == 0 or H == 0 or W == 0:
        return
    # per thread, in cache lines of its own (no false sharing): a row of flags, a row of
    # int32 pixel indices and a line for the common-case hint (see _row)
    cdef Py_ssize_t sstride = (W + 127) // 64 * 64 + (4 * W + 63) // 64 * 64 + 64
    # per-frame parameters: C allocations, not NumPy arrays (each NumPy call costs ~10 us,
    # several times that with the caches cold from the previous frame's kernels)
    cdef uint8_t* scratch = <uint8_t*>calloc(n_threads * sstride + 64, 1)   # the hints start at 0
    cdef Params* prm = <Params*>malloc(T * sizeof(Params))
    cdef mog2_fast_params* fprm = <mog2_fast_params*>malloc(T * sizeof(mog2_fast_params))
    if scratch == NULL or prm == NULL or fprm == NULL:
        free(scratch)
        free(prm)
        free(fprm)
        raise MemoryError()
    cdef uint8_t* sp = scratch + (64 - <size_t>scratch % 64) % 64
    cdef Params base
    cdef double alpha
    base.Tb = <float>var_threshold
    base.Tg = <float>var_threshold_gen
    base.TB = <float>background_ratio
    base.var_init = <float>var_init
    base.var_min = <float>var_min
    base.var_max = <float>var_max
    base.tau = <float>shadow_threshold
    base.K = <int>state.shape[0]
    base.detect_shadows = detect_shadows
    base.shadow_value = <uint8_t>shadow_value
    for t in range(T):
        # only the learning rate and what follows from it change from frame to frame
        alpha = alphas[t]
        prm[t] = base
        prm[t].learn = alpha > 0.0
        prm[t].alpha = <float>alpha if prm[t].learn else 0.0
        prm[t].a1 = 1.0 - prm[t].alpha
        prm[t].prune = <float>(alpha * complexity_reduction) if prm[t].learn else 0.0
        fprm[t].alpha = prm[t].alpha
        fprm[t].a1 = prm[t].a1
        fprm[t].prune = prm[t].prune
        fprm[t].Tb = base.Tb
        fprm[t].Tg = base.Tg
        fprm[t].var_min = base.var_min
        fprm[t].var_max = base.var_max
        fprm[t].TB = base.TB
        fprm[t].var_init = base.var_init
        fprm[t].K = base.K
    try:
        with nogil:
            _run(&frames[0, 0, 0, 0], kp, &state[0, 0, 0, 0], &nmodes[0, 0], &masks[0, 0, 0],
                 sp, sstride, T, H, W, P, MS, C, prm, fprm, n_threads)
    finally:
        free(scratch)
        free(prm)
        free(fprm)


def background(const float[:, :, :, :] state not None, const uint8_t[:, ::1] nmodes not None,
               double background_ratio, int n_threads):
    """Weighted mean of each pixel's heaviest modes, up to ``background_ratio``.

    Returns float32 (H, W, C).
    """
    cdef Py_ssize_t H = state.shape[2], W = state.shape[3]
    cdef int C = <int>state.shape[1] - 2 if state.shape[1] <= MAXC + 2 else MAXC + 1
    check_threads(n_threads)
    if C < 1 or C > MAXC:
        raise ValueError(f"state must have 3 to {MAXC + 2} planes per mode, got {state.shape[1]}")
    if nmodes.shape[0] != H or nmodes.shape[1] != W:
        raise ValueError("nmodes does not match the state's (H, W)")
    check_u8_values("nmodes", nmodes, 0, state.shape[0])
    out_arr = np.empty((H, W, C), dtype=np.float32)    # every value is written below
    if H == 0 or W == 0:
        return out_arr
    # element strides of the (possibly padded, see _padded_state) state: the loops below
    # walk pointers rather than index a 4-D strided view (8x faster at 320x240; the shake
    # search re-reads the background every 30 frames)
    if (state.strides[0] | state.strides[1] | state.strides[2] | state.strides[3]) % sizeof(float):
        raise ValueError("state's strides must be whole floats")
    cdef const float* base = &state[0, 0, 0, 0]
    cdef Py_ssize_t sm = state.strides[0] // sizeof(float), sf = state.strides[1] // sizeof(float)
    cdef Py_ssize_t sy = state.strides[2] // sizeof(float), sx = state.strides[3] // sizeof(float)
    cdef float* out = <float*>cnp.PyArray_DATA(out_arr)
    cdef Py_ssize_t y, i, m
    cdef float tot, w, a0, a1, a2, a3, TB = <float>background_ratio
    cdef const float* q
    cdef float* o
    with nogil:
        for y in prange(H, schedule='static', num_threads=n_threads):
            for i in range(W):
                # heaviest mode first, channel sums in mode order: the same float operations
                # in the same order as an indexed loop (background_image() is unchanged)
                a0 = 0.0
                a1 = 0.0
                a2 = 0.0
                a3 = 0.0
                tot = 0.0
                for m in range(nmodes[y, i]):
                    q = base + m * sm + y * sy + i * sx
                    w = q[0]
                    a0 = a0 + w * q[2 * sf]
                    if C > 1:
                        a1 = a1 + w * q[3 * sf]
                    if C > 2:
                        a2 = a2 + w * q[4 * sf]
                    if C > 3:
                        a3 = a3 + w * q[5 * sf]
                    tot = tot + w
                    if tot > TB:
                        break
                if tot > 0.0:
                    a0 = a0 / tot
                    a1 = a1 / tot
                    a2 = a2 / tot
                    a3 = a3 / tot
                o = out + (y * W + i) * C
                o[0] = a0
                if C > 1:
                    o[1] = a1
                if C > 2:
                    o[2] = a2
                if C > 3:
                    o[3] = a3
    return out_arr


def window_count_filter(const uint8_t[:, ::1] src not None, int radius, int lo, int n_threads):
    """Binary rank filter: out = 1 where the (2r+1)^2 window holds >= ``lo`` non-zeros.

    Edges are replicated.  ``lo = (2r+1)^2 // 2 + 1`` is the median of a binary
    image, ``lo = 1`` a dilation, ``lo = (2r+1)^2`` an erosion.  Separable: a
    column count over 2r+1 rows, then a sum of 2r+1 neighbouring counts; both
    loops run over a row with SIMD lanes.
    """
    cdef Py_ssize_t H = src.shape[0], W = src.shape[1]
    check_threads(n_threads)
    if radius < 0 or radius > 100:
        raise ValueError("radius must be in 0..100")
    out_arr = np.empty((H, W), dtype=np.uint8)    # every byte is written below
    if H == 0 or W == 0:
        return out_arr
    cdef uint8_t[:, ::1] out = out_arr
    cdef int r = radius
    cdef Py_ssize_t Wp = W + 2 * r
    cdef uint8_t[:, ::1] scratch8
    if r <= MASK_COUNT_MAX_R and 1 <= lo <= (2 * r + 1) * (2 * r + 1):
        # byte counts, slid from row to row (mask_count.h): 32 lanes a vector instead of 8,
        # the same integer counts
        scratch8 = np.empty((n_threads, Wp), dtype=np.uint8)
        with nogil:
            _count_pass(&src[0, 0], &out[0, 0], H, W, r, lo, &scratch8[0, 0], Wp, n_threads,
                        NULL, NULL, NULL, NULL, 0, 0, 0)
        return out_arr
    scratch_arr = np.empty((n_threads, Wp), dtype=np.uint16)
    cdef uint16_t[:, ::1] scratch = scratch_arr
    cdef Py_ssize_t y, yy, i, j
    cdef int t
    cdef uint16_t s
    cdef uint16_t* col
    cdef const uint8_t* row
    cdef uint8_t* o
    with nogil:
        for y in prange(H, schedule='static', num_threads=n_threads):
            col = &scratch[openmp.omp_get_thread_num(), 0]
            o = &out[y, 0]
            for i in range(W):
                col[r + i] = 0
            for t in range(-r, r + 1):
                yy = y + t
                if yy < 0:
                    yy = 0
                if yy > H - 1:
                    yy = H - 1
                row = &src[yy, 0]
                for i in range(W):
                    col[r + i] += row[i] != 0
            for j in range(r):
                col[j] = col[r]
                col[r + W + j] = col[r + W - 1]
            if r == 1:
                for i in range(W):
                    o[i] = (col[i] + col[i + 1] + col[i + 2]) >= lo
            elif r == 2:
                for i in range(W):
                    o[i] = (col[i] + col[i + 1] + col[i + 2] + col[i + 3] + col[i + 4]) >= lo
            else:
                for i in range(W):
                    s = 0
                    for j in range(2 * r + 1):
                        s = s + col[i + j]
                    o[i] = s >= lo
    return out_arr
