/*
 * Two-component PixelGMM fits of one block, fused over the frames (the C side of
 * src/_pixelgmm.pyx).
 *
 * The generic loops of _pixelgmm.pyx (any K, d) run frame by frame over the lanes and
 * keep every running sum in memory, so each frame costs a load and a store per sum and
 * lane.  For the common K = 2 with grey or RGB pixels these functions turn the loops
 * around: PGMM_W lanes at a time in a SIMD register (GCC/Clang vector extensions; GCC
 * does not vectorise the outer loop of a loop nest by itself), the frames inside, and
 * every running sum in a register for the whole pass.  With two components the
 * responsibilities need one exponential per value: r_hi = 1 / (1 + e),
 * r_lo = e / (1 + e), e = exp(-|q1 - q0|); the centred differences serve both the
 * E-step and the statistics.  Layouts are those of the Cython code: [t][c][lane] for
 * the values, [k][c][lane] for means, precisions and sums, [k][lane] for the rest.
 * PGMM_FUSED is 0 where vector extensions are missing, and the generic code runs
 * instead.
 */
#ifndef GMMFAST_PIXELGMM_FUSED_H
#define GMMFAST_PIXELGMM_FUSED_H

#include <stddef.h>
#include <stdint.h>
#include "template.h"

#define PGMM_L 32
#if defined(__GNUC__) || defined(__clang__)
#define pgmm_prefetch(p) __builtin_prefetch((p), 0, 3)
#else
#define pgmm_prefetch(p) ((void)(p))
#endif

#if defined(__GNUC__) || defined(__clang__)
#define PGMM_FUSED 1
#if defined(__GNUC__) && !defined(__clang__)
/* the vector helpers are always inlined: no vector is passed by the ABI */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

/* Lanes per vector: 16 in a build for AVX-512 (the avx512 kernels: twice the lanes per
 * instruction, and 32 registers hold all the RGB sums without spilling), else 8.  The
 * same operations run in the same order at either width; the builds agree to float
 * rounding, not to the bit, because GCC fuses multiply-adds differently for the two
 * targets (with -ffp-contract=off they agree bit for bit). */
#if defined(__AVX512F__)
#define PGMM_W 16
#else
#define PGMM_W 8
#endif

typedef float pgmm_vf __attribute__((vector_size(4 * PGMM_W)));
typedef int32_t pgmm_vi __attribute__((vector_size(4 * PGMM_W)));
typedef uint32_t pgmm_vu __attribute__((vector_size(4 * PGMM_W)));
/* for loads and stores: the lanes of a block are only float-aligned */
typedef float pgmm_vfu __attribute__((vector_size(4 * PGMM_W), aligned(4)));

GMMFAST_INLINE pgmm_vf pgmm_ld(const float *p) { return *(const pgmm_vfu *)p; }
GMMFAST_INLINE void pgmm_st(float *p, pgmm_vf v) { *(pgmm_vfu *)p = v; }
GMMFAST_INLINE pgmm_vf pgmm_set1(float c) { return ((pgmm_vf){0}) + c; }

/* m ? a : b, lane by lane (m: all ones or all zeros per lane) */
GMMFAST_INLINE pgmm_vf pgmm_sel(pgmm_vi m, pgmm_vf a, pgmm_vf b)
{
    return (pgmm_vf)(((pgmm_vi)a & m) | ((pgmm_vi)b & ~m));
}

/* exp(x) for x <= 0: gmm_exp_f32 of fastmath.h without its upper clamp, and with x
   clamped at -87 rather than flushed to 0 below it (a negligible responsibility is
   1e-38 rather than 0) */
GMMFAST_INLINE pgmm_vf pgmm_exp_neg(pgmm_vf x)
{
    const pgmm_vf lim = ((pgmm_vf){0}) - 87.0f;
    x = pgmm_sel(x < lim, lim, x);
    const pgmm_vf t = x * 1.44269504088896341f + 12582912.0f;
    const pgmm_vf kf = t - 12582912.0f;
    pgmm_vf r = x - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    pgmm_vf p = r * 1.98412698e-4f + 1.38888889e-3f;
    p = p * r + 8.33333333e-3f;
    p = p * r + 4.16666667e-2f;
    p = p * r + 1.66666667e-1f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    return p * (pgmm_vf)(((pgmm_vi)t + 127) << 23);
}

/* gmm_log_f32 of fastmath.h, the same operations on PGMM_W lanes */
GMMFAST_INLINE pgmm_vf pgmm_log(pgmm_vf x)
{
    const pgmm_vu bu = (pgmm_vu)x;
    const pgmm_vu eb = (bu + 0x004afb0du) >> 23;
    const pgmm_vf m = (pgmm_vf)(bu - ((eb - 127u) << 23));
    const pgmm_vf ed = __builtin_convertvector((pgmm_vi)eb - 127, pgmm_vf);
    const pgmm_vf f = (m - 1.0f) / (m + 1.0f);
    const pgmm_vf s = f * f;
    pgmm_vf p = s * (1.0f / 9.0f) + 1.0f / 7.0f;
    p = p * s + 1.0f / 5.0f;
    p = p * s + 1.0f / 3.0f;
    const pgmm_vf lm = 2.0f * f + (2.0f * f) * (s * p);
    return (ed * -2.12194440e-4f + lm) + ed * 0.693359375f;
}

/* The fused passes for grey (one channel) and RGB (three): pgmm_em2_d1, pgmm_em2_ll_d1,
   pgmm_km2_d1 and the same with _d3 (see pixelgmm_fused_impl.h). */
#define PGMM_D 1
#define PGMM_SUF d1
#include "pixelgmm_fused_impl.h"
#define PGMM_D 3
#define PGMM_SUF d3
#include "pixelgmm_fused_impl.h"

#else
#define PGMM_FUSED 0
#define PGMM_W 0
/* never called (PGMM_FUSED is 0); they only let _pixelgmm.pyx compile */
static void pgmm_em2_d1() {}
static void pgmm_em2_ll_d1() {}
static void pgmm_km2_d1() {}
static void pgmm_em2_d3() {}
static void pgmm_em2_ll_d3() {}
static void pgmm_km2_d3() {}
#endif

#endif
