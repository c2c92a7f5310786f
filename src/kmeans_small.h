/*
 * Inner loops of the k-means kernels for 1 to 4 features, on a
 * structure-of-arrays chunk (feature j of sample i at xT[j * st + i]).
 * As in gmm_small.h, each entry point switches to a body with a literal
 * feature count so the compiler keeps a sample in registers and vectorises
 * over samples.
 *
 * assign:    best[i] = min_k ||x_i - c_k||^2 and lab[i] = its argmin (first
 *            minimum wins, as in scikit-learn).
 * sums:      o[k*(d+1)] += count of lab == k, o[k*(d+1)+1+j] += sum of x_j
 *            over it: per component, the 0/1 indicator times x (no scatter;
 *            written as a product because GCC turned the conditional form into
 *            masked loads and blends, 17 instead of 6.5 instructions per sample).
 * potential: returns sum_i min(closest[i], ||x_i - c||^2); with update,
 *            also stores that minimum into closest.
 */
#ifndef GMMFAST_KMEANS_SMALL_H
#define GMMFAST_KMEANS_SMALL_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define KMS_INLINE static inline __attribute__((always_inline))
#else
#define KMS_INLINE static inline
#endif

#define KMS_DIST(T, D, x0, x1, x2, x3, i, c0, c1, c2, c3, out)                       \
    do {                                                                             \
        T t_ = x0[i] - c0;                                                           \
        out = t_ * t_;                                                               \
        if (D > 1) { t_ = x1[i] - c1; out += t_ * t_; }                              \
        if (D > 2) { t_ = x2[i] - c2; out += t_ * t_; }                              \
        if (D > 3) { t_ = x3[i] - c3; out += t_ * t_; }                              \
    } while (0)

#define KMS_DEFINE(T, SUF)                                                           \
KMS_INLINE void kms_assign_##SUF(const T *xT, ptrdiff_t n, ptrdiff_t st, ptrdiff_t K, \
        const T *C, int32_t *lab, T *best, const int D)                              \
{                                                                                    \
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;           \
    for (ptrdiff_t k = 0; k < K; k++) {                                              \
        const T c0 = C[k * D], c1 = D > 1 ? C[k * D + 1] : 0;                        \
        const T c2 = D > 2 ? C[k * D + 2] : 0, c3 = D > 3 ? C[k * D + 3] : 0;        \
        const int32_t kk = (int32_t)k;                                               \
        if (k == 0) {                                                                \
            _Pragma("omp simd")                                                      \
            for (ptrdiff_t i = 0; i < n; i++) {                                      \
                T dist;                                                              \
                KMS_DIST(T, D, x0, x1, x2, x3, i, c0, c1, c2, c3, dist);             \
                best[i] = dist;                                                      \
                lab[i] = 0;                                                          \
            }                                                                        \
        } else {                                                                     \
            _Pragma("omp simd")                                                      \
            for (ptrdiff_t i = 0; i < n; i++) {                                      \
                T dist;                                                              \
                KMS_DIST(T, D, x0, x1, x2, x3, i, c0, c1, c2, c3, dist);             \
                int better = dist < best[i];                                         \
                best[i] = better ? dist : best[i];                                   \
                lab[i] = better ? kk : lab[i];                                       \
            }                                                                        \
        }                                                                            \
    }                                                                                \
}                                                                                    \
                                                                                     \
KMS_INLINE void kms_sums_##SUF(const T *xT, const int32_t *lab, ptrdiff_t n,         \
        ptrdiff_t st, ptrdiff_t K, double *o, const int D)                           \
{                                                                                    \
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;           \
    for (ptrdiff_t k = 0; k < K; k++) {                                              \
        const int32_t kk = (int32_t)k;                                               \
        T cnt = 0, s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                   \
        _Pragma("omp simd reduction(+:cnt,s0,s1,s2,s3)")                             \
        for (ptrdiff_t i = 0; i < n; i++) {                                          \
            const T m = (T)(lab[i] == kk);   /* 0 or 1: multiply, no masked loads */  \
            cnt += m;                                                                \
            s0 += m * x0[i];                                                         \
            if (D > 1) s1 += m * x1[i];                                              \
            if (D > 2) s2 += m * x2[i];                                              \
            if (D > 3) s3 += m * x3[i];                                              \
        }                                                                            \
        double *q = o + k * (D + 1);                                                 \
        q[0] += cnt;                                                                 \
        q[1] += s0;                                                                  \
        if (D > 1) q[2] += s1;                                                       \
        if (D > 2) q[3] += s2;                                                       \
        if (D > 3) q[4] += s3;                                                       \
    }                                                                                \
}                                                                                    \
                                                                                     \
KMS_INLINE double kms_potential_##SUF(const T *xT, ptrdiff_t n, ptrdiff_t st,        \
        const T *c, double *closest, int update, const int D)                        \
{                                                                                    \
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;           \
    const T c0 = c[0], c1 = D > 1 ? c[1] : 0, c2 = D > 2 ? c[2] : 0,                 \
            c3 = D > 3 ? c[3] : 0;                                                   \
    double pot = 0;                                                                  \
    if (update) {                                                                    \
        _Pragma("omp simd reduction(+:pot)")                                         \
        for (ptrdiff_t i = 0; i < n; i++) {                                          \
            T dist;                                                                  \
            KMS_DIST(T, D, x0, x1, x2, x3, i, c0, c1, c2, c3, dist);                 \
            double dd = (double)dist;                                                \
            double v = dd < closest[i] ? dd : closest[i];                            \
            closest[i] = v;                                                          \
            pot += v;                                                                \
        }                                                                            \
    } else {                                                                         \
        _Pragma("omp simd reduction(+:pot)")                                         \
        for (ptrdiff_t i = 0; i < n; i++) {                                          \
            T dist;                                                                  \
            KMS_DIST(T, D, x0, x1, x2, x3, i, c0, c1, c2, c3, dist);                 \
            double dd = (double)dist;                                                \
            pot += dd < closest[i] ? dd : closest[i];                                \
        }                                                                            \
    }                                                                                \
    return pot;                                                                      \
}                                                                                    \
                                                                                     \
static void kmeans_small_assign_##SUF(const T *xT, ptrdiff_t n, ptrdiff_t st, int d,  \
        ptrdiff_t K, const T *C, int32_t *lab, T *best)                              \
{                                                                                    \
    switch (d) {                                                                     \
    case 1: kms_assign_##SUF(xT, n, st, K, C, lab, best, 1); break;                  \
    case 2: kms_assign_##SUF(xT, n, st, K, C, lab, best, 2); break;                  \
    case 3: kms_assign_##SUF(xT, n, st, K, C, lab, best, 3); break;                  \
    default: kms_assign_##SUF(xT, n, st, K, C, lab, best, 4); break;                 \
    }                                                                                \
}                                                                                    \
                                                                                     \
static void kmeans_small_sums_##SUF(const T *xT, const int32_t *lab, ptrdiff_t n,    \
        ptrdiff_t st, int d, ptrdiff_t K, double *o)                                 \
{                                                                                    \
    switch (d) {                                                                     \
    case 1: kms_sums_##SUF(xT, lab, n, st, K, o, 1); break;                          \
    case 2: kms_sums_##SUF(xT, lab, n, st, K, o, 2); break;                          \
    case 3: kms_sums_##SUF(xT, lab, n, st, K, o, 3); break;                          \
    default: kms_sums_##SUF(xT, lab, n, st, K, o, 4); break;                         \
    }                                                                                \
}                                                                                    \
                                                                                     \
static double kmeans_small_potential_##SUF(const T *xT, ptrdiff_t n, ptrdiff_t st,   \
        int d, const T *c, double *closest, int update)                              \
{                                                                                    \
    switch (d) {                                                                     \
    case 1: return kms_potential_##SUF(xT, n, st, c, closest, update, 1);            \
    case 2: return kms_potential_##SUF(xT, n, st, c, closest, update, 2);            \
    case 3: return kms_potential_##SUF(xT, n, st, c, closest, update, 3);            \
    default: return kms_potential_##SUF(xT, n, st, c, closest, update, 4);           \
    }                                                                                \
}

KMS_DEFINE(float, f32)
KMS_DEFINE(double, f64)

#endif
