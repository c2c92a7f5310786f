/*
 * The k-means inner loops of kmeans_small.h for one type (see template.h): included
 * once per type with
 *   KMS_T    float or double
 *   KMS_SUF  f32 or f64: the suffix of every name defined here
 * which this file #undefs at its end.
 */
#define T KMS_T
#define FN(name) GMMFAST_NAME(name, KMS_SUF)

/* ||x_i - c||^2 over the first D features (x0..x3: the feature rows of the chunk) */
GMMFAST_INLINE T FN(kms_dist)(const T *x0, const T *x1, const T *x2, const T *x3, ptrdiff_t i,
                              T c0, T c1, T c2, T c3, const int D)
{
    T t = x0[i] - c0;
    T out = t * t;
    if (D > 1) { t = x1[i] - c1; out += t * t; }
    if (D > 2) { t = x2[i] - c2; out += t * t; }
    if (D > 3) { t = x3[i] - c3; out += t * t; }
    return out;
}

GMMFAST_INLINE void FN(kms_assign)(const T *xT, ptrdiff_t n, ptrdiff_t st, ptrdiff_t K,
                                   const T *C, int32_t *lab, T *best, const int D)
{
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;
    for (ptrdiff_t k = 0; k < K; k++) {
        const T c0 = C[k * D], c1 = D > 1 ? C[k * D + 1] : 0;
        const T c2 = D > 2 ? C[k * D + 2] : 0, c3 = D > 3 ? C[k * D + 3] : 0;
        const int32_t kk = (int32_t)k;
        if (k == 0) {
            _Pragma("omp simd")
            for (ptrdiff_t i = 0; i < n; i++) {
                best[i] = FN(kms_dist)(x0, x1, x2, x3, i, c0, c1, c2, c3, D);
                lab[i] = 0;
            }
            continue;
        }
        _Pragma("omp simd")
        for (ptrdiff_t i = 0; i < n; i++) {
            const T dist = FN(kms_dist)(x0, x1, x2, x3, i, c0, c1, c2, c3, D);
            int better = dist < best[i];
            best[i] = better ? dist : best[i];
            lab[i] = better ? kk : lab[i];
        }
    }
}

GMMFAST_INLINE void FN(kms_sums)(const T *xT, const int32_t *lab, ptrdiff_t n, ptrdiff_t st,
                                 ptrdiff_t K, double *o, const int D)
{
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;
    for (ptrdiff_t k = 0; k < K; k++) {
        const int32_t kk = (int32_t)k;
        T cnt = 0, s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        _Pragma("omp simd reduction(+:cnt,s0,s1,s2,s3)")
        for (ptrdiff_t i = 0; i < n; i++) {
            const T m = (T)(lab[i] == kk);   /* 0 or 1: multiply, no masked loads */
            cnt += m;
            s0 += m * x0[i];
            if (D > 1) s1 += m * x1[i];
            if (D > 2) s2 += m * x2[i];
            if (D > 3) s3 += m * x3[i];
        }
        double *q = o + k * (D + 1);
        q[0] += cnt;
        q[1] += s0;
        if (D > 1) q[2] += s1;
        if (D > 2) q[3] += s2;
        if (D > 3) q[4] += s3;
    }
}

GMMFAST_INLINE double FN(kms_potential)(const T *xT, ptrdiff_t n, ptrdiff_t st, const T *c,
                                        double *closest, int update, const int D)
{
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;
    const T c0 = c[0], c1 = D > 1 ? c[1] : 0, c2 = D > 2 ? c[2] : 0, c3 = D > 3 ? c[3] : 0;
    double pot = 0;
    if (update) {
        _Pragma("omp simd reduction(+:pot)")
        for (ptrdiff_t i = 0; i < n; i++) {
            const double dd = (double)FN(kms_dist)(x0, x1, x2, x3, i, c0, c1, c2, c3, D);
            double v = dd < closest[i] ? dd : closest[i];
            closest[i] = v;
            pot += v;
        }
        return pot;
    }
    _Pragma("omp simd reduction(+:pot)")
    for (ptrdiff_t i = 0; i < n; i++) {
        const double dd = (double)FN(kms_dist)(x0, x1, x2, x3, i, c0, c1, c2, c3, D);
        pot += dd < closest[i] ? dd : closest[i];
    }
    return pot;
}

/* Entry points: d features (1..4). */
static void FN(kmeans_small_assign)(const T *xT, ptrdiff_t n, ptrdiff_t st, int d, ptrdiff_t K,
                                    const T *C, int32_t *lab, T *best)
{
    GMMFAST_LITERAL_1TO4(d, FN(kms_assign), xT, n, st, K, C, lab, best);
}

static void FN(kmeans_small_sums)(const T *xT, const int32_t *lab, ptrdiff_t n, ptrdiff_t st,
                                  int d, ptrdiff_t K, double *o)
{
    GMMFAST_LITERAL_1TO4(d, FN(kms_sums), xT, lab, n, st, K, o);
}

static double FN(kmeans_small_potential)(const T *xT, ptrdiff_t n, ptrdiff_t st, int d,
                                         const T *c, double *closest, int update)
{
    return GMMFAST_LITERAL_1TO4(d, FN(kms_potential), xT, n, st, c, closest, update);
}

#undef FN
#undef T
#undef KMS_T
#undef KMS_SUF
