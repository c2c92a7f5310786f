/*
 * Inner loops of the EM kernels for 1 to 4 features (grey, RGB, Lab, RGBA).
 *
 * Called once per chunk and component by src/_gmm.pyx.  The feature count is
 * a literal in each specialised function, so the loops over features unroll
 * into registers and the loop over samples is vectorised (omp simd, which
 * needs only -fopenmp or -fopenmp-simd).  Inputs are a structure-of-arrays
 * chunk: feature j of sample i is xT[j * stride + i].
 *
 * logprob: lp[i] = c - h * ||P^T (x_i - mean)||^2 (h = 1/2 for natural logs,
 *          log2(e)/2 for base-2 ones), where P is the
 *          upper-triangular precision Cholesky factor (full) or the vector
 *          of per-feature precision square roots (diag).
 * stats:   with r = r_raw * scale (unnormalised responsibilities times
 *          1 / their sum over components; r = r_raw when scale is NULL),
 *          o += [sum r, sum r*d_j, sum r*d_j*d_l (packed upper triangle, full)
 *          or sum r*d_j^2 (diag)], with d = x - mean.  Partial sums are kept
 *          per vector lane in the compute type, then folded (gmmv_hsum) into o.
 * The spherical pair (logprob_sph, stats_sph) takes one precision per component
 * and passes ||x_i - mean||^2 from the first to the second, whose last
 * statistic is then sum r*||d||^2.
 *
 * The code itself is gmm_small_impl.h, included below once per compute type (float,
 * double; see template.h); this file holds what does not depend on the type.
 */
#ifndef GMMFAST_GMM_SMALL_H
#define GMMFAST_GMM_SMALL_H

#include <math.h>
#include <stddef.h>
#include <string.h>
#include "fastmath.h"
#include "template.h"

#define GMMS_INLINE GMMFAST_INLINE

/*
 * Vectors of the build's width (GCC/Clang vector extensions) for the statistics
 * loops.  Each accumulator is folded once per call by gmmv_hsum, in halves (four adds
 * at 16 lanes), the last four lanes (two in double) summed in double; an `omp simd
 * reduction` instead ended each call with its 7-15 accumulators summed lane by lane in
 * order through the stack.
 */
#if defined(__AVX512F__)
#define GMMD_VBYTES 64
#elif defined(__AVX__)
#define GMMD_VBYTES 32
#else
#define GMMD_VBYTES 16
#endif

typedef float gmmv_f32 __attribute__((vector_size(GMMD_VBYTES)));
typedef double gmmv_f64 __attribute__((vector_size(GMMD_VBYTES)));
typedef float gmmv4_f32 __attribute__((vector_size(16)));
typedef double gmmv2_f64 __attribute__((vector_size(16)));
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define GMMV_SH __builtin_shufflevector
GMMS_INLINE double gmmv_hsum_f32(gmmv_f32 v)
{
#if GMMD_VBYTES == 64
    typedef float V8 __attribute__((vector_size(32)));
    V8 h = GMMV_SH(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + GMMV_SH(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    gmmv4_f32 q = GMMV_SH(h, h, 0, 1, 2, 3) + GMMV_SH(h, h, 4, 5, 6, 7);
#elif GMMD_VBYTES == 32
    gmmv4_f32 q = GMMV_SH(v, v, 0, 1, 2, 3) + GMMV_SH(v, v, 4, 5, 6, 7);
#else
    gmmv4_f32 q = v;
#endif
    return ((double)q[0] + (double)q[1]) + ((double)q[2] + (double)q[3]);
}
GMMS_INLINE double gmmv_hsum_f64(gmmv_f64 v)
{
#if GMMD_VBYTES == 64
    typedef double V4 __attribute__((vector_size(32)));
    V4 h = GMMV_SH(v, v, 0, 1, 2, 3) + GMMV_SH(v, v, 4, 5, 6, 7);
    gmmv2_f64 q = GMMV_SH(h, h, 0, 1) + GMMV_SH(h, h, 2, 3);
#elif GMMD_VBYTES == 32
    gmmv2_f64 q = GMMV_SH(v, v, 0, 1) + GMMV_SH(v, v, 2, 3);
#else
    gmmv2_f64 q = v;
#endif
    return q[0] + q[1];
}
#else
/* older compilers: no __builtin_shufflevector; the same sums lane by lane */
GMMS_INLINE double gmmv_hsum_f32(gmmv_f32 v)
{
    double s = 0;
    for (int w = 0; w < (int)(sizeof v / sizeof(float)); w++) s += v[w];
    return s;
}
GMMS_INLINE double gmmv_hsum_f64(gmmv_f64 v)
{
    double s = 0;
    for (int w = 0; w < (int)(sizeof v / sizeof(double)); w++) s += v[w];
    return s;
}
#endif

/* Position of (j, j) in the rows of a 4 x 4 upper triangle: (0,0) (0,1) .. (0,3) (1,1) .. */
#define GMMS_ROW4(j) ((j) * 4 - (j) * ((j) - 1) / 2)

/* Samples per block of gmm_general_logprob_full (see there). */
#define GMMG_B 32

/* x (positive, normal) = m * 2^e with m in [1, 2): adds e to *e2 and returns m. */
GMMS_INLINE double gmmn_split_exponent(double x, long long *e2)
{
    union { double d; unsigned long long u; } b;
    b.d = x;
    *e2 += (long long)((b.u >> 52) & 0x7ff) - 1023;
    b.u = (b.u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
    return b.d;
}

/* The first k of the normalisations' running max over components (see
   gmmn_column_max in gmm_small_impl.h). */
#define GMMN_MAX_FROM(K) ((K) == 2 ? 0 : 1)

/* The float and double kernels: one source, included once per type. */
#define GMM_T float
#define GMM_SUF f32
#include "gmm_small_impl.h"
#define GMM_T double
#define GMM_SUF f64
#include "gmm_small_impl.h"

#endif
