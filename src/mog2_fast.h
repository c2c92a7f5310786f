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
 * A flag-3 pixel whose heaviest mode explains it is classified here too (its state is
 * left as it is), so held pixels do not fall to the scalar code.
 *
 * State layout: planes of H*W floats (P apart); mode m, field f (0 weight,
 * 1 variance, 2.. channel means) is the plane st + m * MS + f * P.
 */
#ifndef GMMFAST_MOG2_FAST_H
#define GMMFAST_MOG2_FAST_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "template.h"

typedef struct {
    float alpha, a1, prune, Tb, Tg, var_min, var_max;
    float TB, var_init;     /* read by the general update only (mog2_general_impl.h) */
    int K;                  /* the model's most modes, idem */
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

/* The general update, vectorised over blocks of neighbouring pixels (mog2_general_impl.h):
   GCC/Clang vector extensions, as the other kernels use, in builds with AVX2 (the avx2 and
   avx512 variants).  In the baseline build each 8-lane operation is split into SSE halves:
   the module grew from 0.37 to 1.08 MB (0.16 -> 0.46 MB compressed), which alone took the
   wheel past its 4 MB budget (bench/RESULTS.md, Wheels).  MOG2_GENERAL is 0 there, and
   mog2_general_<pix> does nothing (mog2_general_impl.h): every such pixel takes the scalar
   path, same bits. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__AVX2__)
#define MOG2_GENERAL 1
#if defined(__AVX__)
#include <immintrin.h>     /* blends, FMA and byte conversions below */
#endif
/* the vector helpers are always inlined: no vector is passed by the ABI (Clang warned
   in the baseline build) */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi"
#elif defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
/* lanes (pixels) per block: 8 on every build, so that every variant makes the same choice
   between block and scalar pixel and the same operations run (the bits do not depend on
   it either way) */
#define MOG2_GW 8    /* mog2_general_impl.h fills the 8 lanes of a pixel's channel by name */
/* most modes a model may have for the blocks (the mode fields of a block are kept in
   arrays of this size); larger models take the scalar path */
#define MOG2_KMAX 8
/* fewest pixels of a block that need the general update for it to run as a block, on the
   rows where the blocks run at all (_row in _mog2.pyx: a quarter of the row or more); on
   cdnet-traffic, where most blocks are full anyway, 4 and 6 were no faster than 2 */
#define MOG2_GMIN 2
typedef float mog2_vf __attribute__((vector_size(4 * MOG2_GW)));
typedef int32_t mog2_vi __attribute__((vector_size(4 * MOG2_GW)));
/* for loads and stores: a block's planes are only float-aligned */
typedef float mog2_vfu __attribute__((vector_size(4 * MOG2_GW), aligned(4)));
GMMFAST_INLINE mog2_vf mog2_ld(const float *p) { return *(const mog2_vfu *)p; }
GMMFAST_INLINE void mog2_st(float *p, mog2_vf v) { *(mog2_vfu *)p = v; }
/* MOG2_GW bytes to int32 lanes and back (values 0..255) */
typedef uint8_t mog2_vb __attribute__((vector_size(MOG2_GW)));
typedef uint8_t mog2_vbu __attribute__((vector_size(MOG2_GW), aligned(1)));
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define MOG2_HAVE_SHUFFLE 1       /* __builtin_shufflevector */
#else
#define MOG2_HAVE_SHUFFLE 0
#endif
#if defined(__AVX2__) && MOG2_GW == 8
/* GCC 12 went through general registers a byte at a time for the conversions below */
GMMFAST_INLINE mog2_vi mog2_ldb(const uint8_t *p)
{
    return (mog2_vi)_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}
GMMFAST_INLINE void mog2_stb(uint8_t *p, mog2_vi v)
{
    const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128((__m256i)v),
                                       _mm256_extracti128_si256((__m256i)v, 1));
    _mm_storel_epi64((__m128i *)p, _mm_packus_epi16(w, w));
}
#else
GMMFAST_INLINE mog2_vi mog2_ldb(const uint8_t *p)
{
    mog2_vb b;
    memcpy(&b, p, sizeof b);
    return __builtin_convertvector(b, mog2_vi);
}
GMMFAST_INLINE void mog2_stb(uint8_t *p, mog2_vi v)
{
    const mog2_vb b = __builtin_convertvector(v, mog2_vb);
    memcpy(p, &b, sizeof b);
}
#endif
GMMFAST_INLINE mog2_vf mog2_set1(float c) { return ((mog2_vf){0}) + c; }
GMMFAST_INLINE mog2_vi mog2_set1i(int32_t c) { return ((mog2_vi){0}) + c; }
/* m ? a : b, lane by lane (m: all ones or all zeros per lane): one blend instruction
   where the build has AVX (the compilers did not turn the three bit operations into one) */
#if defined(__AVX__) && MOG2_GW == 8
GMMFAST_INLINE mog2_vf mog2_sel(mog2_vi m, mog2_vf a, mog2_vf b)
{
    return (mog2_vf)_mm256_blendv_ps((__m256)b, (__m256)a, (__m256)m);
}
GMMFAST_INLINE mog2_vi mog2_sel_i(mog2_vi m, mog2_vi a, mog2_vi b)
{
    return (mog2_vi)_mm256_blendv_ps((__m256)b, (__m256)a, (__m256)m);
}
#else
GMMFAST_INLINE mog2_vf mog2_sel(mog2_vi m, mog2_vf a, mog2_vf b)
{
    return (mog2_vf)(((mog2_vi)a & m) | ((mog2_vi)b & ~m));
}
GMMFAST_INLINE mog2_vi mog2_sel_i(mog2_vi m, mog2_vi a, mog2_vi b) { return (a & m) | (b & ~m); }
#endif
/* c + a * b rounded as MOG2_FMA rounds it: one fused operation where the build has FMA */
#if defined(__FMA__) && defined(__AVX__) && MOG2_GW == 8
#define MOG2_VFMA(a, b, c) ((mog2_vf)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
#else
#define MOG2_VFMA(a, b, c) ((c) + (a) * (b))
#endif
#else
#define MOG2_GENERAL 0
#define MOG2_KMAX 0
#endif

/* Every pixel type x channel count (1-4) x model size has its own copy of the loop
   (mog2_fast_impl.h, included once per pixel type; mog2_fast_<pix> picks the copy), and
   of the general update's blocks (mog2_general_impl.h, mog2_general_<pix>). */
#define MOG2_PIX uint8_t
#define MOG2_SUF u8
#define MOG2_PIX_IS_U8 1
#include "mog2_general_impl.h"
#undef MOG2_PIX_IS_U8
#include "mog2_fast_impl.h"
#define MOG2_PIX float
#define MOG2_SUF f32
#define MOG2_PIX_IS_U8 0
#include "mog2_general_impl.h"
#undef MOG2_PIX_IS_U8
#include "mog2_fast_impl.h"

#endif
