/*
 * Vectorised common case of the online mixture update (see _mog2.pyx).
 *
 * Most pixels of a video are explained by their heaviest mode and use at
 * most two modes.  For those the update has no data-dependent control flow
 * (no reordering, no new mode), so one row is processed with SIMD lanes over
 * pixels (the uint8 results are written arithmetically, not with ?:, so that
 * GCC if-converts and vectorises the loop): the heaviest mode's weight, variance and means are updated, the
 * second mode's weight decays (and is dropped when the prior says so), and
 * both are renormalised.  Every other pixel is left to the general scalar
 * code in _mog2.pyx, which reads the flag this pass writes:
 *
 *   flag[i] in: 0 learn this pixel, 3 classify only (known foreground)
 *   flag[i] out: 1 done, background (mask 0)
 *                2 done, not background (the caller decides shadow/255)
 *                0 / 3 unchanged: the general path must handle the pixel
 *
 * State layout: planes of H*W floats (P apart); mode m, field f (0 weight,
 * 1 variance, 2.. channel means) is the plane st + m * MS + f * P.
 */
#ifndef GMMFAST_MOG2_FAST_H
#define GMMFAST_MOG2_FAST_H

#include <stddef.h>
#include <stdint.h>
#include "template.h"

typedef struct {
    float alpha, a1, prune, Tb, Tg, var_min, var_max;
} mog2_fast_params;

/* dst = cond ? val : old.  With AVX-512 a conditional store compiles to a masked
 * store, which leaves lines where no lane stores clean (not written back): the second
 * mode's weight and the mode counts change in few pixels, and at 1080p these planes
 * are ~10 MB of a frame's ~110 MB of traffic.  Without masked byte stores (AVX2 and
 * older) GCC would not vectorise the loop with it, so there it stays a select. */
#if defined(__AVX512F__) && defined(__AVX512BW__)
#define MOG2_STORE_IF(cond, dst, val, old) do { if (cond) (dst) = (val); } while (0)
#else
#define MOG2_STORE_IF(cond, dst, val, old) ((dst) = (cond) ? (val) : (old))
#endif

/* c + a * b as one fused multiply-add where the build has FMA, else a multiply and an
   add: the squared distance is summed this way here and in the general update
   (_mog2.pyx), so that a pixel's result does not depend on the path that took it
   (left to the compiler, the general update's 4-channel loop was vectorised with
   unfused products and some variances came out 1 ulp apart). */
#if defined(__FMA__)
#define MOG2_FMA(a, b, c) __builtin_fmaf((a), (b), (c))
#else
#define MOG2_FMA(a, b, c) ((c) + (a) * (b))
#endif

/* Most channels a pixel of the fast path has. */
#define MOG2_MAXC 4

/* Every pixel type x channel count (1-4) x model size has its own copy of the loop
   (mog2_fast_impl.h, included once per pixel type; mog2_fast_<pix> picks the copy). */
#define MOG2_PIX uint8_t
#define MOG2_SUF u8
#include "mog2_fast_impl.h"
#define MOG2_PIX float
#define MOG2_SUF f32
#include "mog2_fast_impl.h"

#endif
