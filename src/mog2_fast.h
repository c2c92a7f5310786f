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

#define MOG2_FAST_DEFINE(NAME, PIX, C, TWO)                                         \
static void NAME(const PIX* restrict src, float* restrict st, ptrdiff_t P, ptrdiff_t MS, \
                 ptrdiff_t off, ptrdiff_t n, uint8_t* restrict nmodes,                 \
                 uint8_t* restrict mask, uint8_t* restrict flag,                      \
                 const mog2_fast_params* prm)                                         \
{                                                                                     \
    const float alpha = prm->alpha, a1 = prm->a1, prune = prm->prune;                 \
    const float Tb = prm->Tb, Tg = prm->Tg, vmin = prm->var_min, vmax = prm->var_max; \
    float* restrict w0 = st + off;                                                    \
    float* restrict v0 = st + P + off;                                                \
    float* restrict m0 = st + 2 * P + off;                                            \
    float* restrict w1 = TWO ? st + MS + off : (float*)0;                             \
    _Pragma("omp simd")                                                               \
    for (ptrdiff_t i = 0; i < n; i++) {                                               \
        float x[C], mu[C];                                                            \
        const int nm = nmodes[i];                                                     \
        const float W0 = w0[i], V0 = v0[i], W1 = TWO ? w1[i] : 0.0f;                  \
        float d2 = 0.0f;                                                              \
        _Pragma("GCC unroll 4")                                                       \
        for (int c = 0; c < C; c++) {                                                 \
            x[c] = (float)src[i * C + c];                                             \
            mu[c] = m0[c * P + i];                                                    \
            const float d = x[c] - mu[c];                                             \
            d2 = MOG2_FMA(d, d, d2);                                                  \
        }                                                                             \
        const int ok = (flag[i] == 0) & (nm >= 1) & (nm <= 2) & (d2 < Tg * V0);       \
        const int bg = d2 < Tb * V0;                                                  \
        const float w0n = a1 * W0 - prune + alpha;                                    \
        const float k = alpha / w0n;                                                  \
        float vn = V0 + k * (d2 - V0);                                                \
        vn = vn < vmin ? vmin : vn;                                                   \
        vn = vn > vmax ? vmax : vn;                                                   \
        const int has2 = TWO && nm == 2;                                              \
        float w1n = a1 * W1 - prune;                                                  \
        const int drop = has2 & (w1n < prune);                                        \
        w1n = (has2 & !drop) ? w1n : 0.0f;                                            \
        const float inv = 1.0f / (w0n + w1n);                                         \
        w0[i] = ok ? w0n * inv : W0;                                                  \
        v0[i] = ok ? vn : V0;                                                         \
        if (TWO) MOG2_STORE_IF(ok & has2, w1[i], w1n * inv, W1);                      \
        _Pragma("GCC unroll 4")                                                       \
        for (int c = 0; c < C; c++)                                                   \
            m0[c * P + i] = ok ? mu[c] + k * (x[c] - mu[c]) : mu[c];                  \
        MOG2_STORE_IF(ok & drop, nmodes[i], (uint8_t)(nm - 1), (uint8_t)nm);          \
        mask[i] = (uint8_t)(255 - 255 * (ok & bg));                                   \
        flag[i] = (uint8_t)(flag[i] + ok * (2 - bg)); /* flag[i] is 0 when ok */     \
    }                                                                                 \
}

/* Every pixel type x channel count (1-4) x model size: TWO = 1 for models of two or
   more modes, 0 for one-mode models, which have no second mode's plane (without
   their own variant they took the general path for every pixel, 5x slower; so did
   2 and 4 channels, 7-9x).  mog2_fast_<pix> picks one. */
#define MOG2_FAST_ALL(PIXNAME, PIX)                                                   \
MOG2_FAST_DEFINE(mog2_fast_##PIXNAME##_c1_m1, PIX, 1, 0)                              \
MOG2_FAST_DEFINE(mog2_fast_##PIXNAME##_c1_m2, PIX, 1, 1)                              \
MOG2_FAST_DEFINE(mog2_fast_##PIXNAME##_c2_m1, PIX, 2, 0)                              \
MOG2_FAST_DEFINE(mog2_fast_##PIXNAME##_c2_m2, PIX, 2, 1)                              \
MOG2_FAST_DEFINE(mog2_fast_##PIXNAME##_c3_m1, PIX, 3, 0)                              \
MOG2_FAST_DEFINE(mog2_fast_##PIXNAME##_c3_m2, PIX, 3, 1)                              \
MOG2_FAST_DEFINE(mog2_fast_##PIXNAME##_c4_m1, PIX, 4, 0)                              \
MOG2_FAST_DEFINE(mog2_fast_##PIXNAME##_c4_m2, PIX, 4, 1)                              \
static void mog2_fast_##PIXNAME(int C, int two, const PIX* src, float* st, ptrdiff_t P, \
        ptrdiff_t MS, ptrdiff_t off, ptrdiff_t n, uint8_t* nmodes, uint8_t* mask,       \
        uint8_t* flag, const mog2_fast_params* prm)                                   \
{                                                                                     \
    /* C channels; two: the model has two or more modes */                            \
    switch (C * 2 + (two != 0)) {                                                     \
    case 2: mog2_fast_##PIXNAME##_c1_m1(src, st, P, MS, off, n, nmodes, mask, flag, prm); break; \
    case 3: mog2_fast_##PIXNAME##_c1_m2(src, st, P, MS, off, n, nmodes, mask, flag, prm); break; \
    case 4: mog2_fast_##PIXNAME##_c2_m1(src, st, P, MS, off, n, nmodes, mask, flag, prm); break; \
    case 5: mog2_fast_##PIXNAME##_c2_m2(src, st, P, MS, off, n, nmodes, mask, flag, prm); break; \
    case 6: mog2_fast_##PIXNAME##_c3_m1(src, st, P, MS, off, n, nmodes, mask, flag, prm); break; \
    case 7: mog2_fast_##PIXNAME##_c3_m2(src, st, P, MS, off, n, nmodes, mask, flag, prm); break; \
    case 8: mog2_fast_##PIXNAME##_c4_m1(src, st, P, MS, off, n, nmodes, mask, flag, prm); break; \
    case 9: mog2_fast_##PIXNAME##_c4_m2(src, st, P, MS, off, n, nmodes, mask, flag, prm); break; \
    default: break;   /* other channel counts: every pixel goes to the general path */ \
    }                                                                                 \
}

MOG2_FAST_ALL(u8, uint8_t)
MOG2_FAST_ALL(f32, float)

#endif
