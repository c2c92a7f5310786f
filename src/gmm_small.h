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
 */
#ifndef GMMFAST_GMM_SMALL_H
#define GMMFAST_GMM_SMALL_H

#include <math.h>
#include <stddef.h>
#include <string.h>
#include "fastmath.h"

#if defined(__GNUC__)
#define GMMS_INLINE static inline __attribute__((always_inline))
#else
#define GMMS_INLINE static inline
#endif

/*
 * Vectors of the build's width (GCC/Clang vector extensions) for the statistics
 * loops.  Written with `omp simd reduction`, each call ended with its 7-15
 * accumulators summed lane by lane in order through the stack (16 dependent adds
 * each at 16 lanes); gmmv_hsum folds a vector in halves instead (four adds at 16
 * lanes) and sums the last four lanes (two in double) in double.  In isolation the
 * statistics of a 1M x 3 float32 pass took 15-22 % less (avx512; avx2 and baseline
 * unchanged), inside the whole pass 0-2 %.
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
#define GMMV_LOAD_DEFINE(T, SUF)                                                      \
GMMS_INLINE gmmv_##SUF gmmv_load_##SUF(const T *p)                                    \
{                                                                                     \
    gmmv_##SUF v;                                                                     \
    memcpy(&v, p, sizeof v);                                                          \
    return v;                                                                         \
}
GMMV_LOAD_DEFINE(float, f32)
GMMV_LOAD_DEFINE(double, f64)
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

/* p00 .. p33: the upper-triangular factor P (row-major, D x D, D <= 4) times G, each
   product in double rounded once to T; entries past D are 0. */
#define GMMS_TRIANGLE(T, P, D, G)                                                     \
    const T p00 = (T)((P)[0] * (G));                                                  \
    const T p01 = (D) > 1 ? (T)((P)[1] * (G)) : 0,                                    \
            p11 = (D) > 1 ? (T)((P)[(D) + 1] * (G)) : 0;                              \
    const T p02 = (D) > 2 ? (T)((P)[2] * (G)) : 0,                                    \
            p12 = (D) > 2 ? (T)((P)[(D) + 2] * (G)) : 0,                              \
            p22 = (D) > 2 ? (T)((P)[2 * (D) + 2] * (G)) : 0;                          \
    const T p03 = (D) > 3 ? (T)((P)[3] * (G)) : 0,                                    \
            p13 = (D) > 3 ? (T)((P)[(D) + 3] * (G)) : 0,                              \
            p23 = (D) > 3 ? (T)((P)[2 * (D) + 3] * (G)) : 0,                          \
            p33 = (D) > 3 ? (T)((P)[3 * (D) + 3] * (G)) : 0

/* Position of (j, j) in the rows of a 4 x 4 upper triangle: (0,0) (0,1) .. (0,3) (1,1) .. */
#define GMMS_ROW4(j) ((j) * 4 - (j) * ((j) - 1) / 2)

#define GMMS_DEFINE(T, SUF)                                                           \
GMMS_INLINE void gmms_logprob_full_##SUF(const T *xT, ptrdiff_t n, ptrdiff_t st,      \
        const T *mean, const T *P, T c, T h, T *lp, const int D)                      \
{                                                                                     \
    const T m0 = mean[0], m1 = D > 1 ? mean[1] : 0, m2 = D > 2 ? mean[2] : 0,         \
            m3 = D > 3 ? mean[3] : 0;                                                 \
    /* P carries sqrt(h), so each square is subtracted from c by one FMA */          \
    GMMS_TRIANGLE(T, P, D, sqrt((double)h));                                          \
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;            \
    _Pragma("omp simd")                                                               \
    for (ptrdiff_t i = 0; i < n; i++) {                                               \
        T d0 = x0[i] - m0;                                                            \
        T y0 = d0 * p00;                                                              \
        T t = c - y0 * y0;                                                            \
        if (D > 1) {                                                                  \
            T d1 = x1[i] - m1;                                                        \
            T y1 = d0 * p01 + d1 * p11;                                               \
            t -= y1 * y1;                                                             \
            if (D > 2) {                                                              \
                T d2 = x2[i] - m2;                                                    \
                T y2 = d0 * p02 + d1 * p12 + d2 * p22;                                \
                t -= y2 * y2;                                                         \
                if (D > 3) {                                                          \
                    T d3 = x3[i] - m3;                                                \
                    T y3 = d0 * p03 + d1 * p13 + d2 * p23 + d3 * p33;                 \
                    t -= y3 * y3;                                                     \
                }                                                                     \
            }                                                                         \
        }                                                                             \
        lp[i] = t;                                                                    \
    }                                                                                 \
}                                                                                     \
                                                                                      \
GMMS_INLINE void gmms_logprob_diag_##SUF(const T *xT, ptrdiff_t n, ptrdiff_t st,      \
        const T *mean, const T *P, T c, T h, T *lp, const int D)                      \
{                                                                                     \
    /* (x - m) q computed as x q - m q: one FMA per feature (the full form keeps      \
       the subtraction: GCC spills its constants otherwise); q carries sqrt(h), so     \
       each square is subtracted from c by one FMA */                                 \
    const double g = sqrt((double)h);                                                 \
    const double g0 = P[0] * g, g1 = D > 1 ? P[1] * g : 0, g2 = D > 2 ? P[2] * g : 0, \
                 g3 = D > 3 ? P[3] * g : 0;                                           \
    const T q0 = (T)g0, q1 = (T)g1, q2 = (T)g2, q3 = (T)g3;                           \
    const T b0 = (T)((double)mean[0] * g0);                                           \
    const T b1 = D > 1 ? (T)((double)mean[1] * g1) : 0;                               \
    const T b2 = D > 2 ? (T)((double)mean[2] * g2) : 0;                               \
    const T b3 = D > 3 ? (T)((double)mean[3] * g3) : 0;                               \
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;            \
    _Pragma("omp simd")                                                               \
    for (ptrdiff_t i = 0; i < n; i++) {                                               \
        T y = x0[i] * q0 - b0;                                                        \
        T t = c - y * y;                                                              \
        if (D > 1) { y = x1[i] * q1 - b1; t -= y * y; }                               \
        if (D > 2) { y = x2[i] * q2 - b2; t -= y * y; }                               \
        if (D > 3) { y = x3[i] * q3 - b3; t -= y * y; }                               \
        lp[i] = t;                                                                    \
    }                                                                                 \
}                                                                                     \
                                                                                      \
GMMS_INLINE void gmms_stats_##SUF(const T *xT, const T *r, const T *scale,            \
        ptrdiff_t n, ptrdiff_t st, const T *mean, double *o, const int D,             \
        const int full, const int scaled)                                             \
{                                                                                     \
    typedef gmmv_##SUF V;                                                             \
    enum { L = sizeof(V) / sizeof(T) };                                               \
    const T m0 = mean[0], m1 = D > 1 ? mean[1] : 0, m2 = D > 2 ? mean[2] : 0,         \
            m3 = D > 3 ? mean[3] : 0;                                                 \
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;            \
    V s = {0}, a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                                \
    V b00 = {0}, b01 = {0}, b02 = {0}, b03 = {0}, b11 = {0}, b12 = {0}, b13 = {0};    \
    V b22 = {0}, b23 = {0}, b33 = {0};                                                \
    ptrdiff_t i = 0;                                                                  \
    for (; i + L <= n; i += L) {                                                      \
        V ri = gmmv_load_##SUF(r + i);                                                \
        if (scaled) ri *= gmmv_load_##SUF(scale + i);                                 \
        V d0 = gmmv_load_##SUF(x0 + i) - m0;                                          \
        V d1 = D > 1 ? gmmv_load_##SUF(x1 + i) - m1 : d0;                             \
        V d2 = D > 2 ? gmmv_load_##SUF(x2 + i) - m2 : d0;                             \
        V d3 = D > 3 ? gmmv_load_##SUF(x3 + i) - m3 : d0;                             \
        V e0 = ri * d0, e1 = ri * d1, e2 = ri * d2, e3 = ri * d3;                     \
        s += ri;                                                                      \
        a0 += e0; b00 += e0 * d0;                                                     \
        if (D > 1) {                                                                  \
            a1 += e1; b11 += e1 * d1;                                                 \
            if (full) b01 += e0 * d1;                                                 \
        }                                                                             \
        if (D > 2) {                                                                  \
            a2 += e2; b22 += e2 * d2;                                                 \
            if (full) { b02 += e0 * d2; b12 += e1 * d2; }                             \
        }                                                                             \
        if (D > 3) {                                                                  \
            a3 += e3; b33 += e3 * d3;                                                 \
            if (full) { b03 += e0 * d3; b13 += e1 * d3; b23 += e2 * d3; }             \
        }                                                                             \
    }                                                                                 \
    double S = gmmv_hsum_##SUF(s), A[4], B[10];                                       \
    A[0] = gmmv_hsum_##SUF(a0); A[1] = gmmv_hsum_##SUF(a1);                           \
    A[2] = gmmv_hsum_##SUF(a2); A[3] = gmmv_hsum_##SUF(a3);                           \
    B[0] = gmmv_hsum_##SUF(b00); B[1] = gmmv_hsum_##SUF(b01);                         \
    B[2] = gmmv_hsum_##SUF(b02); B[3] = gmmv_hsum_##SUF(b03);                         \
    B[4] = gmmv_hsum_##SUF(b11); B[5] = gmmv_hsum_##SUF(b12);                         \
    B[6] = gmmv_hsum_##SUF(b13); B[7] = gmmv_hsum_##SUF(b22);                         \
    B[8] = gmmv_hsum_##SUF(b23); B[9] = gmmv_hsum_##SUF(b33);                         \
    for (; i < n; i++) {                                                              \
        const double ri = scaled ? (double)(r[i] * scale[i]) : (double)r[i];         \
        const double d[4] = {(double)(x0[i] - m0), D > 1 ? (double)(x1[i] - m1) : 0,  \
                             D > 2 ? (double)(x2[i] - m2) : 0,                        \
                             D > 3 ? (double)(x3[i] - m3) : 0};                       \
        S += ri;                                                                      \
        for (int j = 0; j < D; j++) {                                                 \
            A[j] += ri * d[j];                                                        \
            for (int l = j; l < D; l++) B[GMMS_ROW4(j) + l - j] += ri * d[j] * d[l]; \
        }                                                                             \
    }                                                                                 \
    o[0] += S;                                                                        \
    for (int j = 0; j < D; j++) o[1 + j] += A[j];                                     \
    double *q = o + 1 + D;                                                            \
    for (int j = 0; j < D; j++) {     /* B: rows of the 4 x 4 upper triangle */       \
        if (full) for (int l = j; l < D; l++) *q++ += B[GMMS_ROW4(j) + l - j];        \
        else q[j] += B[GMMS_ROW4(j)];                                                 \
    }                                                                                 \
}                                                                                     \
                                                                                      \
/* Tied: z = P^T x for every sample (P upper triangular, row-major), so that each   \
   component's log-probability is c - h * ||z - P^T mean||^2, gmms_logprob_sph's      \
   form with hq = h: the triangular product is done once per sample, not per          \
   component (4 FMA-pipe operations per sample and component remain, full: 9). */     \
GMMS_INLINE void gmms_tied_z_##SUF(const T *xT, ptrdiff_t n, ptrdiff_t st,            \
        const T *P, T *z, const int D)                                                \
{                                                                                     \
    GMMS_TRIANGLE(T, P, D, 1.0);                                                      \
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;            \
    T *z0 = z, *z1 = z + st, *z2 = z + 2 * st, *z3 = z + 3 * st;                      \
    _Pragma("omp simd")                                                               \
    for (ptrdiff_t i = 0; i < n; i++) {                                               \
        const T a0 = x0[i];                                                           \
        z0[i] = a0 * p00;                                                             \
        if (D > 1) {                                                                  \
            const T a1 = x1[i];                                                       \
            z1[i] = a0 * p01 + a1 * p11;                                              \
            if (D > 2) {                                                              \
                const T a2 = x2[i];                                                   \
                z2[i] = a0 * p02 + a1 * p12 + a2 * p22;                               \
                if (D > 3) z3[i] = a0 * p03 + a1 * p13 + a2 * p23 + x3[i] * p33;      \
            }                                                                         \
        }                                                                             \
    }                                                                                 \
}                                                                                     \
                                                                                      \
/* Spherical: lp[i] = c - hq * ||x_i - mean||^2 with hq = h * precision (one per      \
   component), and with keep the squared distance goes to sq[i] for the statistics,   \
   which then need one FMA for their second moment instead of one per feature: the    \
   subtractions go to the adder pipes and 4 FMA-pipe operations per sample and        \
   component remain (diag: 7), 2.85-2.95 against 3.3-3.4 ms per 1M x 3 float32 pass. */ \
GMMS_INLINE void gmms_logprob_sph_##SUF(const T *xT, ptrdiff_t n, ptrdiff_t st,       \
        const T *mean, T c, T hq, T *lp, T *sq, const int D, const int keep)          \
{                                                                                     \
    const T m0 = mean[0], m1 = D > 1 ? mean[1] : 0, m2 = D > 2 ? mean[2] : 0,         \
            m3 = D > 3 ? mean[3] : 0;                                                 \
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;            \
    _Pragma("omp simd")                                                               \
    for (ptrdiff_t i = 0; i < n; i++) {                                               \
        T d0 = x0[i] - m0;                                                            \
        T s2 = d0 * d0;                                                               \
        if (D > 1) { T d1 = x1[i] - m1; s2 += d1 * d1; }                              \
        if (D > 2) { T d2 = x2[i] - m2; s2 += d2 * d2; }                              \
        if (D > 3) { T d3 = x3[i] - m3; s2 += d3 * d3; }                              \
        if (keep) sq[i] = s2;                                                         \
        lp[i] = c - hq * s2;                                                          \
    }                                                                                 \
}                                                                                     \
                                                                                      \
/* o += [sum r, sum r*d_j, sum r*||d||^2] with ||d||^2 from gmms_logprob_sph's sq. */  \
GMMS_INLINE void gmms_stats_sph_##SUF(const T *xT, const T *r, const T *scale,        \
        const T *sq, ptrdiff_t n, ptrdiff_t st, const T *mean, double *o,             \
        const int D, const int scaled)                                                \
{                                                                                     \
    typedef gmmv_##SUF V;                                                             \
    enum { L = sizeof(V) / sizeof(T) };                                               \
    const T m0 = mean[0], m1 = D > 1 ? mean[1] : 0, m2 = D > 2 ? mean[2] : 0,         \
            m3 = D > 3 ? mean[3] : 0;                                                 \
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;            \
    V s = {0}, a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b = {0};                       \
    ptrdiff_t i = 0;                                                                  \
    for (; i + L <= n; i += L) {                                                      \
        V ri = gmmv_load_##SUF(r + i);                                                \
        if (scaled) ri *= gmmv_load_##SUF(scale + i);                                 \
        s += ri;                                                                      \
        a0 += ri * (gmmv_load_##SUF(x0 + i) - m0);                                    \
        if (D > 1) a1 += ri * (gmmv_load_##SUF(x1 + i) - m1);                         \
        if (D > 2) a2 += ri * (gmmv_load_##SUF(x2 + i) - m2);                         \
        if (D > 3) a3 += ri * (gmmv_load_##SUF(x3 + i) - m3);                         \
        b += ri * gmmv_load_##SUF(sq + i);                                            \
    }                                                                                 \
    double S = gmmv_hsum_##SUF(s), B = gmmv_hsum_##SUF(b), A[4];                      \
    A[0] = gmmv_hsum_##SUF(a0); A[1] = gmmv_hsum_##SUF(a1);                           \
    A[2] = gmmv_hsum_##SUF(a2); A[3] = gmmv_hsum_##SUF(a3);                           \
    for (; i < n; i++) {                                                              \
        const double ri = scaled ? (double)(r[i] * scale[i]) : (double)r[i];         \
        S += ri;                                                                      \
        A[0] += ri * (double)(x0[i] - m0);                                            \
        if (D > 1) A[1] += ri * (double)(x1[i] - m1);                                 \
        if (D > 2) A[2] += ri * (double)(x2[i] - m2);                                 \
        if (D > 3) A[3] += ri * (double)(x3[i] - m3);                                 \
        B += ri * (double)sq[i];                                                      \
    }                                                                                 \
    o[0] += S;                                                                        \
    for (int j = 0; j < D; j++) o[1 + j] += A[j];                                     \
    o[1 + D] += B;                                                                    \
}                                                                                     \
                                                                                      \
/* Entry points with a literal feature count (1..4) per case. */                      \
static void gmm_small_logprob_##SUF(const T *xT, ptrdiff_t n, ptrdiff_t st, int d,    \
        int full, const T *mean, const T *P, T c, T h, T *lp)                         \
{                                                                                     \
    if (full) {                                                                       \
        switch (d) {                                                                  \
        case 1: gmms_logprob_full_##SUF(xT, n, st, mean, P, c, h, lp, 1); break;      \
        case 2: gmms_logprob_full_##SUF(xT, n, st, mean, P, c, h, lp, 2); break;      \
        case 3: gmms_logprob_full_##SUF(xT, n, st, mean, P, c, h, lp, 3); break;      \
        default: gmms_logprob_full_##SUF(xT, n, st, mean, P, c, h, lp, 4); break;     \
        }                                                                             \
    } else {                                                                          \
        switch (d) {                                                                  \
        case 1: gmms_logprob_diag_##SUF(xT, n, st, mean, P, c, h, lp, 1); break;      \
        case 2: gmms_logprob_diag_##SUF(xT, n, st, mean, P, c, h, lp, 2); break;      \
        case 3: gmms_logprob_diag_##SUF(xT, n, st, mean, P, c, h, lp, 3); break;      \
        default: gmms_logprob_diag_##SUF(xT, n, st, mean, P, c, h, lp, 4); break;     \
        }                                                                             \
    }                                                                                 \
}                                                                                     \
                                                                                      \
static void gmm_small_stats_##SUF(const T *xT, const T *r, const T *scale,            \
        ptrdiff_t n, ptrdiff_t st, int d, int full, const T *mean, double *o)         \
{                                                                                     \
    /* scale NULL: r already holds the responsibilities */                           \
    const int sc = scale != NULL;                                                     \
    switch ((d * 2 + (full != 0)) * 2 + sc) {                                         \
    case 4: gmms_stats_##SUF(xT, r, scale, n, st, mean, o, 1, 0, 0); break;           \
    case 5: gmms_stats_##SUF(xT, r, scale, n, st, mean, o, 1, 0, 1); break;           \
    case 6: gmms_stats_##SUF(xT, r, scale, n, st, mean, o, 1, 1, 0); break;           \
    case 7: gmms_stats_##SUF(xT, r, scale, n, st, mean, o, 1, 1, 1); break;           \
    case 8: gmms_stats_##SUF(xT, r, scale, n, st, mean, o, 2, 0, 0); break;           \
    case 9: gmms_stats_##SUF(xT, r, scale, n, st, mean, o, 2, 0, 1); break;           \
    case 10: gmms_stats_##SUF(xT, r, scale, n, st, mean, o, 2, 1, 0); break;          \
    case 11: gmms_stats_##SUF(xT, r, scale, n, st, mean, o, 2, 1, 1); break;          \
    case 12: gmms_stats_##SUF(xT, r, scale, n, st, mean, o, 3, 0, 0); break;          \
    case 13: gmms_stats_##SUF(xT, r, scale, n, st, mean, o, 3, 0, 1); break;          \
    case 14: gmms_stats_##SUF(xT, r, scale, n, st, mean, o, 3, 1, 0); break;          \
    case 15: gmms_stats_##SUF(xT, r, scale, n, st, mean, o, 3, 1, 1); break;          \
    case 16: gmms_stats_##SUF(xT, r, scale, n, st, mean, o, 4, 0, 0); break;          \
    case 17: gmms_stats_##SUF(xT, r, scale, n, st, mean, o, 4, 0, 1); break;          \
    case 18: gmms_stats_##SUF(xT, r, scale, n, st, mean, o, 4, 1, 0); break;          \
    default: gmms_stats_##SUF(xT, r, scale, n, st, mean, o, 4, 1, 1); break;          \
    }                                                                                 \
}                                                                                     \
                                                                                      \
static void gmm_small_tied_z_##SUF(const T *xT, ptrdiff_t n, ptrdiff_t st, int d,    \
        const T *P, T *z)                                                             \
{                                                                                     \
    switch (d) {                                                                      \
    case 1: gmms_tied_z_##SUF(xT, n, st, P, z, 1); break;                             \
    case 2: gmms_tied_z_##SUF(xT, n, st, P, z, 2); break;                             \
    case 3: gmms_tied_z_##SUF(xT, n, st, P, z, 3); break;                             \
    default: gmms_tied_z_##SUF(xT, n, st, P, z, 4); break;                            \
    }                                                                                 \
}                                                                                     \
                                                                                      \
/* sq NULL: the squared distances are not kept (no statistics follow). */             \
static void gmm_small_logprob_sph_##SUF(const T *xT, ptrdiff_t n, ptrdiff_t st, int d, \
        const T *mean, T c, T hq, T *lp, T *sq)                                       \
{                                                                                     \
    const int keep = sq != NULL;                                                      \
    switch (d * 2 + keep) {                                                           \
    case 2: gmms_logprob_sph_##SUF(xT, n, st, mean, c, hq, lp, sq, 1, 0); break;      \
    case 3: gmms_logprob_sph_##SUF(xT, n, st, mean, c, hq, lp, sq, 1, 1); break;      \
    case 4: gmms_logprob_sph_##SUF(xT, n, st, mean, c, hq, lp, sq, 2, 0); break;      \
    case 5: gmms_logprob_sph_##SUF(xT, n, st, mean, c, hq, lp, sq, 2, 1); break;      \
    case 6: gmms_logprob_sph_##SUF(xT, n, st, mean, c, hq, lp, sq, 3, 0); break;      \
    case 7: gmms_logprob_sph_##SUF(xT, n, st, mean, c, hq, lp, sq, 3, 1); break;      \
    case 8: gmms_logprob_sph_##SUF(xT, n, st, mean, c, hq, lp, sq, 4, 0); break;      \
    default: gmms_logprob_sph_##SUF(xT, n, st, mean, c, hq, lp, sq, 4, 1); break;     \
    }                                                                                 \
}                                                                                     \
                                                                                      \
static void gmm_small_stats_sph_##SUF(const T *xT, const T *r, const T *scale,        \
        const T *sq, ptrdiff_t n, ptrdiff_t st, int d, const T *mean, double *o)      \
{                                                                                     \
    const int sc = scale != NULL;                                                     \
    switch (d * 2 + sc) {                                                             \
    case 2: gmms_stats_sph_##SUF(xT, r, scale, sq, n, st, mean, o, 1, 0); break;      \
    case 3: gmms_stats_sph_##SUF(xT, r, scale, sq, n, st, mean, o, 1, 1); break;      \
    case 4: gmms_stats_sph_##SUF(xT, r, scale, sq, n, st, mean, o, 2, 0); break;      \
    case 5: gmms_stats_sph_##SUF(xT, r, scale, sq, n, st, mean, o, 2, 1); break;      \
    case 6: gmms_stats_sph_##SUF(xT, r, scale, sq, n, st, mean, o, 3, 0); break;      \
    case 7: gmms_stats_sph_##SUF(xT, r, scale, sq, n, st, mean, o, 3, 1); break;      \
    case 8: gmms_stats_sph_##SUF(xT, r, scale, sq, n, st, mean, o, 4, 0); break;      \
    default: gmms_stats_sph_##SUF(xT, r, scale, sq, n, st, mean, o, 4, 1); break;     \
    }                                                                                 \
}

GMMS_DEFINE(float, f32)
GMMS_DEFINE(double, f64)

/*
 * More than 4 features, full covariances: lp[i] = c - h * ||P^T diff_i||^2 with diff
 * already centred (diff[l * st + i]) and P upper triangular (d x d, row-major).
 * Blocks of GMMG_B samples whose partial results stay in registers: each term is one
 * load and one FMA, where a loop per (l, j) pair over all samples needs two loads
 * and a store.  32 samples are two 16-lane vectors (four 8-lane ones), i.e. two or
 * more independent chains of FMAs per y, which a 16-sample block made wait on the
 * FMA latency: 16-feature pass 16.9 -> 15.0-15.4 ms (float32, avx512), float64
 * 41.4 -> 38.5-39.8 ms; 64 was no better overall (slower at 5 features and in the
 * baseline build).  The last block may run past n: the buffers hold whole blocks
 * (st and their size are multiples of GMMG_B) and lanes past n are not used.
 */
#define GMMG_B 32
#define GMMG_DEFINE(T, SUF)                                                           \
static void gmm_general_logprob_full_##SUF(const T *diff, ptrdiff_t n, ptrdiff_t st,  \
        int d, const T *P, T c, T h, T *lp)                                           \
{                                                                                     \
    for (ptrdiff_t i0 = 0; i0 < n; i0 += GMMG_B) {                                    \
        T sq[GMMG_B];                                                                 \
        _Pragma("omp simd")                                                           \
        for (int w = 0; w < GMMG_B; w++) sq[w] = 0;                                   \
        for (int j = 0; j < d; j++) {                                                 \
            T y[GMMG_B];                                                              \
            const T p0 = P[j];                                                        \
            _Pragma("omp simd")                                                       \
            for (int w = 0; w < GMMG_B; w++) y[w] = diff[i0 + w] * p0;                \
            for (int l = 1; l <= j; l++) {                                            \
                const T p = P[l * d + j];                                             \
                const T *dl = diff + l * st + i0;                                     \
                _Pragma("omp simd")                                                   \
                for (int w = 0; w < GMMG_B; w++) y[w] += dl[w] * p;                   \
            }                                                                         \
            _Pragma("omp simd")                                                       \
            for (int w = 0; w < GMMG_B; w++) sq[w] += y[w] * y[w];                    \
        }                                                                             \
        _Pragma("omp simd")                                                           \
        for (int w = 0; w < GMMG_B; w++) lp[i0 + w] = c - h * sq[w];                  \
    }                                                                                 \
}

GMMG_DEFINE(float, f32)
GMMG_DEFINE(double, f64)

/*
 * Dot product of a[:n] and b[:n] in double, for the statistics of more than 4
 * features (one call per pair of features, component and chunk: 680 calls per
 * 512-sample chunk at 16 features and K = 5).  Four independent vector partial sums
 * (one would make the loop wait on the FMA's latency), folded in halves by
 * gmmv_hsum.
 */

#define GMMD_DEFINE(T, SUF)                                                           \
static double gmm_general_dot_##SUF(const T *a, const T *b, ptrdiff_t n)              \
{                                                                                     \
    typedef gmmv_##SUF V;                                                             \
    enum { L = sizeof(V) / sizeof(T) };                                               \
    V s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};                                         \
    ptrdiff_t i = 0;                                                                  \
    for (; i + 4 * L <= n; i += 4 * L) {                                              \
        s0 += gmmv_load_##SUF(a + i) * gmmv_load_##SUF(b + i);                        \
        s1 += gmmv_load_##SUF(a + i + L) * gmmv_load_##SUF(b + i + L);                \
        s2 += gmmv_load_##SUF(a + i + 2 * L) * gmmv_load_##SUF(b + i + 2 * L);        \
        s3 += gmmv_load_##SUF(a + i + 3 * L) * gmmv_load_##SUF(b + i + 3 * L);        \
    }                                                                                 \
    for (; i + L <= n; i += L)                                                        \
        s0 += gmmv_load_##SUF(a + i) * gmmv_load_##SUF(b + i);                        \
    double s = gmmv_hsum_##SUF(s0 + ((s1 + s2) + s3));                                \
    for (; i < n; i++) s += (double)a[i] * (double)b[i];                              \
    return s;                                                                         \
}

GMMD_DEFINE(float, f32)
GMMD_DEFINE(double, f64)

/* x (positive, normal) = m * 2^e with m in [1, 2): adds e to *e2 and returns m. */
GMMS_INLINE double gmmn_split_exponent(double x, long long *e2)
{
    union { double d; unsigned long long u; } b;
    b.d = x;
    *e2 += (long long)((b.u >> 52) & 0x7ff) - 1023;
    b.u = (b.u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
    return b.d;
}

/* The normalisations below vectorise over samples only once their loops over the K
   components are fully unrolled.  Two ways that failed, each a 2.5-4x slower pass:
   the float64 body at K = 8 (degree-12 exponentials) was over GCC's size limit for
   complete unrolling, hence the "GCC unroll 8" on every component loop; and at K = 2
   the running max's loop of one iteration kept GCC (12) from vectorising, hence
   GMMN_MAX_FROM: the first k of that max, started at k = 0's value, is 1 but 0 when
   K = 2 (a second look at k = 0 changes nothing). */
#define GMMN_MAX_FROM(K) ((K) == 2 ? 0 : 1)

/* M = max over k < K of LP[k * ST + I] (a statement, for both normalisations). */
#define GMMN_COLUMN_MAX(M, LP, ST, I, K)                                              \
    do {                                                                              \
        (M) = (LP)[I];                                                                \
        _Pragma("GCC unroll 8")                                                       \
        for (int k_ = GMMN_MAX_FROM(K); k_ < (K); k_++) {                             \
            const __typeof__(M) v_ = (LP)[k_ * (ST) + (I)];                           \
            (M) = v_ > (M) ? v_ : (M);                                                \
        }                                                                             \
    } while (0)

/*
 * normalise: for base-2 log-probabilities lp[k * st + i] of K components,
 * lp <- 2^(lp - max_k lp), scale[i] = 1 / sum_k of those and
 * lse[i] = ln 2 * max + log(sum) (natural units).  One pass over the samples
 * with the component loop inside, unrolled for a literal K, so the running
 * max and sum stay in registers.  Returns 0 (and does nothing) for K > 8.
 */
#define GMMN_DEFINE(T, SUF)                                                           \
GMMS_INLINE void gmmn_normalise_##SUF(T *lp, ptrdiff_t n, ptrdiff_t st, T *scale,     \
        T *lse, const int K)                                                          \
{                                                                                     \
    _Pragma("omp simd")                                                               \
    for (ptrdiff_t i = 0; i < n; i++) {                                               \
        T m;                                                                          \
        GMMN_COLUMN_MAX(m, lp, st, i, K);                                             \
        T t = 0;                                                                      \
        _Pragma("GCC unroll 8")                                                       \
        for (int k = 0; k < K; k++) {                                                 \
            T e = gmm_exp2_neg_##SUF(lp[k * st + i] - m);                             \
            lp[k * st + i] = e;                                                       \
            t += e;                                                                   \
        }                                                                             \
        lse[i] = m * (T)GMM_LN2 + gmm_log_##SUF(t);                                   \
        scale[i] = (T)1 / t;                                                          \
    }                                                                                 \
}                                                                                     \
                                                                                      \
/* For the EM pass: lp <- responsibilities 2^(lp - max) / sum_k, and the return value  \
   is sum_i lse[i] (natural units), the only use the pass has for lse.  The K          \
   exponentials stay in registers until their sum is known.  Instead of a log per      \
   sample, the sums t_i (each in [1, K], K <= 8) go to tbuf and are multiplied in 16   \
   lanes of at most 32 factors each (8^32 = 2^96, inside float's range; a product of   \
   32 roundings is as close as a sum of 32 logs); the 16 lane products are then        \
   multiplied in double with the exponent moved into an integer                        \
   (gmmn_split_exponent), so a call takes one libm log.  The maxima are summed in the  \
   main loop's lanes.  Every reduction is across lanes once per 512 samples, not per  \
   few samples (a horizontal sum of 16 lanes is 16 dependent scalar adds). */          \
GMMS_INLINE double gmmn_normalise_em_##SUF(T *lp, ptrdiff_t n, ptrdiff_t st,          \
        T *tbuf, const int K)                                                         \
{                                                                                     \
    double total = 0.0, acc = 1.0;                                                    \
    long long e2 = 0;                                                                 \
    for (ptrdiff_t s0 = 0; s0 < n; s0 += 512) {                                       \
        const ptrdiff_t s1 = n - s0 < 512 ? n : s0 + 512;                             \
        T msum = 0;                                                                   \
        _Pragma("omp simd reduction(+:msum)")                                         \
        for (ptrdiff_t i = s0; i < s1; i++) {                                         \
            T m;                                                                      \
            GMMN_COLUMN_MAX(m, lp, st, i, K);                                         \
            T e[8];                                                                   \
            T t = 0;                                                                  \
            _Pragma("GCC unroll 8")                                                   \
            for (int k = 0; k < K; k++) {                                             \
                e[k] = gmm_exp2_neg_##SUF(lp[k * st + i] - m);                        \
                t += e[k];                                                            \
            }                                                                         \
            const T inv = (T)1 / t;                                                   \
            _Pragma("GCC unroll 8")                                                   \
            for (int k = 0; k < K; k++)                                               \
                lp[k * st + i] = e[k] * inv;                                          \
            tbuf[i - s0] = t;                                                         \
            msum += m;                                                                \
        }                                                                             \
        total += (double)msum * GMM_LN2;                                              \
        T p[16];                                                                      \
        _Pragma("omp simd")                                                           \
        for (int w = 0; w < 16; w++) p[w] = 1;                                        \
        const ptrdiff_t nw = (s1 - s0) / 16 * 16;                                     \
        for (ptrdiff_t i0 = 0; i0 < nw; i0 += 16) {                                   \
            _Pragma("omp simd")                                                       \
            for (int w = 0; w < 16; w++) p[w] *= tbuf[i0 + w];                        \
        }                                                                             \
        for (ptrdiff_t i = nw; i < s1 - s0; i++) acc *= (double)tbuf[i];              \
        for (int w = 0; w < 16; w++)                                                  \
            acc = gmmn_split_exponent(acc * (double)p[w], &e2);                       \
    }                                                                                 \
    return total + (double)e2 * GMM_LN2 + log(acc);                                   \
}                                                                                     \
                                                                                      \
/* Returns 0 (and does nothing) for K > 8; else adds sum_i lse[i] to *ll.  tbuf:     \
   scratch for min(n, 512) values. */                                                 \
static int gmm_small_normalise_em_##SUF(T *lp, ptrdiff_t n, ptrdiff_t st, int K,      \
        T *tbuf, double *ll)                                                          \
{                                                                                     \
    switch (K) {                                                                      \
    case 1: *ll += gmmn_normalise_em_##SUF(lp, n, st, tbuf, 1); return 1;             \
    case 2: *ll += gmmn_normalise_em_##SUF(lp, n, st, tbuf, 2); return 1;             \
    case 3: *ll += gmmn_normalise_em_##SUF(lp, n, st, tbuf, 3); return 1;             \
    case 4: *ll += gmmn_normalise_em_##SUF(lp, n, st, tbuf, 4); return 1;             \
    case 5: *ll += gmmn_normalise_em_##SUF(lp, n, st, tbuf, 5); return 1;             \
    case 6: *ll += gmmn_normalise_em_##SUF(lp, n, st, tbuf, 6); return 1;             \
    case 7: *ll += gmmn_normalise_em_##SUF(lp, n, st, tbuf, 7); return 1;             \
    case 8: *ll += gmmn_normalise_em_##SUF(lp, n, st, tbuf, 8); return 1;             \
    default: return 0;                                                                \
    }                                                                                 \
}                                                                                     \
                                                                                      \
static int gmm_small_normalise_##SUF(T *lp, ptrdiff_t n, ptrdiff_t st, int K,         \
        T *scale, T *lse)                                                             \
{                                                                                     \
    switch (K) {                                                                      \
    case 1: gmmn_normalise_##SUF(lp, n, st, scale, lse, 1); return 1;                 \
    case 2: gmmn_normalise_##SUF(lp, n, st, scale, lse, 2); return 1;                 \
    case 3: gmmn_normalise_##SUF(lp, n, st, scale, lse, 3); return 1;                 \
    case 4: gmmn_normalise_##SUF(lp, n, st, scale, lse, 4); return 1;                 \
    case 5: gmmn_normalise_##SUF(lp, n, st, scale, lse, 5); return 1;                 \
    case 6: gmmn_normalise_##SUF(lp, n, st, scale, lse, 6); return 1;                 \
    case 7: gmmn_normalise_##SUF(lp, n, st, scale, lse, 7); return 1;                 \
    case 8: gmmn_normalise_##SUF(lp, n, st, scale, lse, 8); return 1;                 \
    default: return 0;                                                                \
    }                                                                                 \
}

GMMN_DEFINE(float, f32)
GMMN_DEFINE(double, f64)

#endif
