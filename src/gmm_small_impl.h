/*
 * The EM inner loops of gmm_small.h for one compute type (see template.h for why the
 * code is specialised this way).  gmm_small.h includes this file once per type with
 *   GMM_T    float or double
 *   GMM_SUF  f32 or f64: the suffix of every name defined here
 * and this file #undefs both at its end.  Feature counts (1..4) and component counts
 * (1..8) reach the always-inlined bodies as literals, so their loops unroll.
 */
#define T GMM_T
#define FN(name) GMMFAST_NAME(name, GMM_SUF)
#define V FN(gmmv)

GMMS_INLINE V FN(gmmv_load)(const T *p)
{
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The upper-triangular factor P (row-major, D x D, D <= 4) times g: u.pjl = P[j, l] g,
   each product in double rounded once to T; entries past D are 0. */
typedef struct { T p00, p01, p11, p02, p12, p22, p03, p13, p23, p33; } FN(gmms_upper);

GMMS_INLINE FN(gmms_upper) FN(gmms_scaled_upper)(const T *P, const int D, const double g)
{
    FN(gmms_upper) u = {0};
    u.p00 = (T)(P[0] * g);
    if (D > 1) {
        u.p01 = (T)(P[1] * g);
        u.p11 = (T)(P[D + 1] * g);
    }
    if (D > 2) {
        u.p02 = (T)(P[2] * g);
        u.p12 = (T)(P[D + 2] * g);
        u.p22 = (T)(P[2 * D + 2] * g);
    }
    if (D > 3) {
        u.p03 = (T)(P[3] * g);
        u.p13 = (T)(P[D + 3] * g);
        u.p23 = (T)(P[2 * D + 3] * g);
        u.p33 = (T)(P[3 * D + 3] * g);
    }
    return u;
}

GMMS_INLINE void FN(gmms_logprob_full)(const T *xT, ptrdiff_t n, ptrdiff_t st, const T *mean,
                                       const T *P, T c, T h, T *lp, const int D)
{
    const T m0 = mean[0], m1 = D > 1 ? mean[1] : 0, m2 = D > 2 ? mean[2] : 0,
            m3 = D > 3 ? mean[3] : 0;
    /* P carries sqrt(h), so each square is subtracted from c by one FMA */
    const FN(gmms_upper) u = FN(gmms_scaled_upper)(P, D, sqrt((double)h));
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;
    _Pragma("omp simd")
    for (ptrdiff_t i = 0; i < n; i++) {
        const T d0 = x0[i] - m0, d1 = D > 1 ? x1[i] - m1 : 0, d2 = D > 2 ? x2[i] - m2 : 0,
                d3 = D > 3 ? x3[i] - m3 : 0;
        const T y0 = d0 * u.p00;
        T t = c - y0 * y0;
        if (D > 1) {
            const T y1 = d0 * u.p01 + d1 * u.p11;
            t -= y1 * y1;
        }
        if (D > 2) {
            const T y2 = d0 * u.p02 + d1 * u.p12 + d2 * u.p22;
            t -= y2 * y2;
        }
        if (D > 3) {
            const T y3 = d0 * u.p03 + d1 * u.p13 + d2 * u.p23 + d3 * u.p33;
            t -= y3 * y3;
        }
        lp[i] = t;
    }
}

GMMS_INLINE void FN(gmms_logprob_diag)(const T *xT, ptrdiff_t n, ptrdiff_t st, const T *mean,
                                       const T *P, T c, T h, T *lp, const int D)
{
    /* (x - m) q computed as x q - m q: one FMA per feature (the full form keeps the
       subtraction: GCC spills its constants otherwise); q carries sqrt(h), so each
       square is subtracted from c by one FMA */
    const double g = sqrt((double)h);
    const double g0 = P[0] * g, g1 = D > 1 ? P[1] * g : 0, g2 = D > 2 ? P[2] * g : 0,
                 g3 = D > 3 ? P[3] * g : 0;
    const T q0 = (T)g0, q1 = (T)g1, q2 = (T)g2, q3 = (T)g3;
    const T b0 = (T)((double)mean[0] * g0);
    const T b1 = D > 1 ? (T)((double)mean[1] * g1) : 0;
    const T b2 = D > 2 ? (T)((double)mean[2] * g2) : 0;
    const T b3 = D > 3 ? (T)((double)mean[3] * g3) : 0;
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;
    _Pragma("omp simd")
    for (ptrdiff_t i = 0; i < n; i++) {
        T y = x0[i] * q0 - b0;
        T t = c - y * y;
        if (D > 1) { y = x1[i] * q1 - b1; t -= y * y; }
        if (D > 2) { y = x2[i] * q2 - b2; t -= y * y; }
        if (D > 3) { y = x3[i] * q3 - b3; t -= y * y; }
        lp[i] = t;
    }
}

GMMS_INLINE void FN(gmms_stats)(const T *xT, const T *r, const T *scale, ptrdiff_t n,
                                ptrdiff_t st, const T *mean, double *o, const int full,
                                const int scaled, const int D)
{
    enum { L = sizeof(V) / sizeof(T) };
    const T m0 = mean[0], m1 = D > 1 ? mean[1] : 0, m2 = D > 2 ? mean[2] : 0,
            m3 = D > 3 ? mean[3] : 0;
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;
    V s = {0}, a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    V b00 = {0}, b01 = {0}, b02 = {0}, b03 = {0}, b11 = {0}, b12 = {0}, b13 = {0};
    V b22 = {0}, b23 = {0}, b33 = {0};
    ptrdiff_t i = 0;
    for (; i + L <= n; i += L) {
        V ri = FN(gmmv_load)(r + i);
        if (scaled) ri *= FN(gmmv_load)(scale + i);
        V d0 = FN(gmmv_load)(x0 + i) - m0;
        V d1 = D > 1 ? FN(gmmv_load)(x1 + i) - m1 : d0;
        V d2 = D > 2 ? FN(gmmv_load)(x2 + i) - m2 : d0;
        V d3 = D > 3 ? FN(gmmv_load)(x3 + i) - m3 : d0;
        V e0 = ri * d0, e1 = ri * d1, e2 = ri * d2, e3 = ri * d3;
        s += ri;
        a0 += e0; b00 += e0 * d0;
        if (D > 1) {
            a1 += e1; b11 += e1 * d1;
            if (full) b01 += e0 * d1;
        }
        if (D > 2) {
            a2 += e2; b22 += e2 * d2;
            if (full) { b02 += e0 * d2; b12 += e1 * d2; }
        }
        if (D > 3) {
            a3 += e3; b33 += e3 * d3;
            if (full) { b03 += e0 * d3; b13 += e1 * d3; b23 += e2 * d3; }
        }
    }
    double S = FN(gmmv_hsum)(s), A[4], B[10];
    A[0] = FN(gmmv_hsum)(a0); A[1] = FN(gmmv_hsum)(a1);
    A[2] = FN(gmmv_hsum)(a2); A[3] = FN(gmmv_hsum)(a3);
    B[0] = FN(gmmv_hsum)(b00); B[1] = FN(gmmv_hsum)(b01);
    B[2] = FN(gmmv_hsum)(b02); B[3] = FN(gmmv_hsum)(b03);
    B[4] = FN(gmmv_hsum)(b11); B[5] = FN(gmmv_hsum)(b12);
    B[6] = FN(gmmv_hsum)(b13); B[7] = FN(gmmv_hsum)(b22);
    B[8] = FN(gmmv_hsum)(b23); B[9] = FN(gmmv_hsum)(b33);
    for (; i < n; i++) {
        const double ri = scaled ? (double)(r[i] * scale[i]) : (double)r[i];
        const double d[4] = {(double)(x0[i] - m0), D > 1 ? (double)(x1[i] - m1) : 0,
                             D > 2 ? (double)(x2[i] - m2) : 0,
                             D > 3 ? (double)(x3[i] - m3) : 0};
        S += ri;
        for (int j = 0; j < D; j++) {
            A[j] += ri * d[j];
            for (int l = j; l < D; l++) B[GMMS_ROW4(j) + l - j] += ri * d[j] * d[l];
        }
    }
    o[0] += S;
    for (int j = 0; j < D; j++) o[1 + j] += A[j];
    double *q = o + 1 + D;
    for (int j = 0; j < D; j++) {     /* B: rows of the 4 x 4 upper triangle */
        if (full) for (int l = j; l < D; l++) *q++ += B[GMMS_ROW4(j) + l - j];
        else q[j] += B[GMMS_ROW4(j)];
    }
}

/* Tied: z = P^T x for every sample (P upper triangular, row-major), so that each
   component's log-probability is c - h * ||z - P^T mean||^2, gmms_logprob_sph's form with
   hq = h: the triangular product is done once per sample, not per component (4 FMA-pipe
   operations per sample and component remain, full: 9). */
GMMS_INLINE void FN(gmms_tied_z)(const T *xT, ptrdiff_t n, ptrdiff_t st, const T *P, T *z,
                                 const int D)
{
    const FN(gmms_upper) u = FN(gmms_scaled_upper)(P, D, 1.0);
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;
    T *z0 = z, *z1 = z + st, *z2 = z + 2 * st, *z3 = z + 3 * st;
    _Pragma("omp simd")
    for (ptrdiff_t i = 0; i < n; i++) {
        const T a0 = x0[i];
        z0[i] = a0 * u.p00;
        if (D > 1) z1[i] = a0 * u.p01 + x1[i] * u.p11;
        if (D > 2) z2[i] = a0 * u.p02 + x1[i] * u.p12 + x2[i] * u.p22;
        if (D > 3) z3[i] = a0 * u.p03 + x1[i] * u.p13 + x2[i] * u.p23 + x3[i] * u.p33;
    }
}

/* Spherical: lp[i] = c - hq * ||x_i - mean||^2 with hq = h * precision (one per component),
   and with keep the squared distance goes to sq[i] for the statistics, which then need
   one FMA for their second moment instead of one per feature: the subtractions go to
   the adder pipes and 4 FMA-pipe operations per sample and component remain (diag: 7). */
GMMS_INLINE void FN(gmms_logprob_sph)(const T *xT, ptrdiff_t n, ptrdiff_t st, const T *mean,
                                      T c, T hq, T *lp, T *sq, const int keep, const int D)
{
    const T m0 = mean[0], m1 = D > 1 ? mean[1] : 0, m2 = D > 2 ? mean[2] : 0,
            m3 = D > 3 ? mean[3] : 0;
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;
    _Pragma("omp simd")
    for (ptrdiff_t i = 0; i < n; i++) {
        T d0 = x0[i] - m0;
        T s2 = d0 * d0;
        if (D > 1) { T d1 = x1[i] - m1; s2 += d1 * d1; }
        if (D > 2) { T d2 = x2[i] - m2; s2 += d2 * d2; }
        if (D > 3) { T d3 = x3[i] - m3; s2 += d3 * d3; }
        if (keep) sq[i] = s2;
        lp[i] = c - hq * s2;
    }
}

/* o += [sum r, sum r*d_j, sum r*||d||^2] with ||d||^2 from gmms_logprob_sph's sq. */
GMMS_INLINE void FN(gmms_stats_sph)(const T *xT, const T *r, const T *scale, const T *sq,
                                    ptrdiff_t n, ptrdiff_t st, const T *mean, double *o,
                                    const int scaled, const int D)
{
    enum { L = sizeof(V) / sizeof(T) };
    const T m0 = mean[0], m1 = D > 1 ? mean[1] : 0, m2 = D > 2 ? mean[2] : 0,
            m3 = D > 3 ? mean[3] : 0;
    const T *x0 = xT, *x1 = xT + st, *x2 = xT + 2 * st, *x3 = xT + 3 * st;
    V s = {0}, a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b = {0};
    ptrdiff_t i = 0;
    for (; i + L <= n; i += L) {
        V ri = FN(gmmv_load)(r + i);
        if (scaled) ri *= FN(gmmv_load)(scale + i);
        s += ri;
        a0 += ri * (FN(gmmv_load)(x0 + i) - m0);
        if (D > 1) a1 += ri * (FN(gmmv_load)(x1 + i) - m1);
        if (D > 2) a2 += ri * (FN(gmmv_load)(x2 + i) - m2);
        if (D > 3) a3 += ri * (FN(gmmv_load)(x3 + i) - m3);
        b += ri * FN(gmmv_load)(sq + i);
    }
    double S = FN(gmmv_hsum)(s), B = FN(gmmv_hsum)(b), A[4];
    A[0] = FN(gmmv_hsum)(a0); A[1] = FN(gmmv_hsum)(a1);
    A[2] = FN(gmmv_hsum)(a2); A[3] = FN(gmmv_hsum)(a3);
    for (; i < n; i++) {
        const double ri = scaled ? (double)(r[i] * scale[i]) : (double)r[i];
        S += ri;
        A[0] += ri * (double)(x0[i] - m0);
        if (D > 1) A[1] += ri * (double)(x1[i] - m1);
        if (D > 2) A[2] += ri * (double)(x2[i] - m2);
        if (D > 3) A[3] += ri * (double)(x3[i] - m3);
        B += ri * (double)sq[i];
    }
    o[0] += S;
    for (int j = 0; j < D; j++) o[1 + j] += A[j];
    o[1 + D] += B;
}

/* Entry points: d features (1..4), each flag a literal in its own copy of the loops. */
static void FN(gmm_small_logprob)(const T *xT, ptrdiff_t n, ptrdiff_t st, int d, int full,
                                  const T *mean, const T *P, T c, T h, T *lp)
{
    if (full)
        GMMFAST_LITERAL_1TO4(d, FN(gmms_logprob_full), xT, n, st, mean, P, c, h, lp);
    else
        GMMFAST_LITERAL_1TO4(d, FN(gmms_logprob_diag), xT, n, st, mean, P, c, h, lp);
}

/* scale NULL: r already holds the responsibilities */
static void FN(gmm_small_stats)(const T *xT, const T *r, const T *scale, ptrdiff_t n,
                                ptrdiff_t st, int d, int full, const T *mean, double *o)
{
    if (full && scale)
        GMMFAST_LITERAL_1TO4(d, FN(gmms_stats), xT, r, scale, n, st, mean, o, 1, 1);
    else if (full)
        GMMFAST_LITERAL_1TO4(d, FN(gmms_stats), xT, r, scale, n, st, mean, o, 1, 0);
    else if (scale)
        GMMFAST_LITERAL_1TO4(d, FN(gmms_stats), xT, r, scale, n, st, mean, o, 0, 1);
    else
        GMMFAST_LITERAL_1TO4(d, FN(gmms_stats), xT, r, scale, n, st, mean, o, 0, 0);
}

static void FN(gmm_small_tied_z)(const T *xT, ptrdiff_t n, ptrdiff_t st, int d, const T *P,
                                 T *z)
{
    GMMFAST_LITERAL_1TO4(d, FN(gmms_tied_z), xT, n, st, P, z);
}

/* sq NULL: the squared distances are not kept (no statistics follow). */
static void FN(gmm_small_logprob_sph)(const T *xT, ptrdiff_t n, ptrdiff_t st, int d,
                                      const T *mean, T c, T hq, T *lp, T *sq)
{
    if (sq)
        GMMFAST_LITERAL_1TO4(d, FN(gmms_logprob_sph), xT, n, st, mean, c, hq, lp, sq, 1);
    else
        GMMFAST_LITERAL_1TO4(d, FN(gmms_logprob_sph), xT, n, st, mean, c, hq, lp, sq, 0);
}

static void FN(gmm_small_stats_sph)(const T *xT, const T *r, const T *scale, const T *sq,
                                    ptrdiff_t n, ptrdiff_t st, int d, const T *mean, double *o)
{
    if (scale)
        GMMFAST_LITERAL_1TO4(d, FN(gmms_stats_sph), xT, r, scale, sq, n, st, mean, o, 1);
    else
        GMMFAST_LITERAL_1TO4(d, FN(gmms_stats_sph), xT, r, scale, sq, n, st, mean, o, 0);
}

/*
 * More than 4 features, full covariances: lp[i] = c - h * ||P^T diff_i||^2 with diff
 * already centred (diff[l * st + i]) and P upper triangular (d x d, row-major).
 * Blocks of GMMG_B samples whose partial results stay in registers: each term is one
 * load and one FMA, where a loop per (l, j) pair over all samples needs two loads and a
 * store.  32 samples are two 16-lane vectors (four 8-lane ones), i.e. two or more
 * independent chains of FMAs per y, which a 16-sample block made wait on the FMA
 * latency.  The last block may run past n: the buffers hold whole blocks (st and their
 * size are multiples of GMMG_B) and lanes past n are not used.
 */
static void FN(gmm_general_logprob_full)(const T *diff, ptrdiff_t n, ptrdiff_t st, int d,
                                         const T *P, T c, T h, T *lp)
{
    for (ptrdiff_t i0 = 0; i0 < n; i0 += GMMG_B) {
        T sq[GMMG_B];
        _Pragma("omp simd")
        for (int w = 0; w < GMMG_B; w++) sq[w] = 0;
        for (int j = 0; j < d; j++) {
            T y[GMMG_B];
            const T p0 = P[j];
            _Pragma("omp simd")
            for (int w = 0; w < GMMG_B; w++) y[w] = diff[i0 + w] * p0;
            for (int l = 1; l <= j; l++) {
                const T p = P[l * d + j];
                const T *dl = diff + l * st + i0;
                _Pragma("omp simd")
                for (int w = 0; w < GMMG_B; w++) y[w] += dl[w] * p;
            }
            _Pragma("omp simd")
            for (int w = 0; w < GMMG_B; w++) sq[w] += y[w] * y[w];
        }
        _Pragma("omp simd")
        for (int w = 0; w < GMMG_B; w++) lp[i0 + w] = c - h * sq[w];
    }
}

/*
 * Dot product of a[:n] and b[:n] in double, for the statistics of more than 4 features
 * (one call per pair of features, component and chunk: 680 calls per 512-sample chunk
 * at 16 features and K = 5).  Four independent vector partial sums (one would make the
 * loop wait on the FMA's latency), folded in halves by gmmv_hsum.
 */
static double FN(gmm_general_dot)(const T *a, const T *b, ptrdiff_t n)
{
    enum { L = sizeof(V) / sizeof(T) };
    V s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    ptrdiff_t i = 0;
    for (; i + 4 * L <= n; i += 4 * L) {
        s0 += FN(gmmv_load)(a + i) * FN(gmmv_load)(b + i);
        s1 += FN(gmmv_load)(a + i + L) * FN(gmmv_load)(b + i + L);
        s2 += FN(gmmv_load)(a + i + 2 * L) * FN(gmmv_load)(b + i + 2 * L);
        s3 += FN(gmmv_load)(a + i + 3 * L) * FN(gmmv_load)(b + i + 3 * L);
    }
    for (; i + L <= n; i += L)
        s0 += FN(gmmv_load)(a + i) * FN(gmmv_load)(b + i);
    double s = FN(gmmv_hsum)(s0 + ((s1 + s2) + s3));
    for (; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

/* max over k < K of lp[k * st + i], for both normalisations.  They vectorise over
   samples only once their loops over the K components are fully unrolled.  Two ways
   that failed, each a 2.5-4x slower pass: the float64 body at K = 8 (degree-12
   exponentials) was over GCC's size limit for complete unrolling, hence the
   "GCC unroll 8" on every component loop; and at K = 2 the running max's loop of one
   iteration kept GCC (12) from vectorising, hence GMMN_MAX_FROM: the first k, started
   at k = 0's value, is 1 but 0 when K = 2 (a second look at k = 0 changes nothing). */
GMMS_INLINE T FN(gmmn_column_max)(const T *lp, ptrdiff_t st, ptrdiff_t i, const int K)
{
    T m = lp[i];
    _Pragma("GCC unroll 8")
    for (int k = GMMN_MAX_FROM(K); k < K; k++) {
        const T v = lp[k * st + i];
        m = v > m ? v : m;
    }
    return m;
}

/*
 * normalise: for base-2 log-probabilities lp[k * st + i] of K components,
 * lp <- 2^(lp - max_k lp), scale[i] = 1 / sum_k of those and
 * lse[i] = ln 2 * max + log(sum) (natural units).  One pass over the samples with the
 * component loop inside, unrolled for a literal K, so the running max and sum stay in
 * registers.
 */
GMMS_INLINE void FN(gmmn_normalise)(T *lp, ptrdiff_t n, ptrdiff_t st, T *scale, T *lse,
                                    const int K)
{
    _Pragma("omp simd")
    for (ptrdiff_t i = 0; i < n; i++) {
        const T m = FN(gmmn_column_max)(lp, st, i, K);
        T t = 0;
        _Pragma("GCC unroll 8")
        for (int k = 0; k < K; k++) {
            T e = FN(gmm_exp2_neg)(lp[k * st + i] - m);
            lp[k * st + i] = e;
            t += e;
        }
        lse[i] = m * (T)GMM_LN2 + FN(gmm_log)(t);
        scale[i] = (T)1 / t;
    }
}

/* For the EM pass: lp <- responsibilities 2^(lp - max) / sum_k, and the return value is
   sum_i lse[i] (natural units), the only use the pass has for lse.  The K exponentials
   stay in registers until their sum is known.  Instead of a log per sample, the sums t_i
   (each in [1, K], K <= 8) go to tbuf and are multiplied in 16 lanes of at most 32
   factors each (8^32 = 2^96, inside float's range; a product of 32 roundings is as close
   as a sum of 32 logs); the 16 lane products are then multiplied in double with the
   exponent moved into an integer (gmmn_split_exponent), so a call takes one libm log.
   The maxima are summed in the main loop's lanes.  Every reduction is across lanes once
   per 512 samples, not per few samples (a horizontal sum of 16 lanes is 16 dependent
   scalar adds). */
GMMS_INLINE double FN(gmmn_normalise_em)(T *lp, ptrdiff_t n, ptrdiff_t st, T *tbuf,
                                         const int K)
{
    double total = 0.0, acc = 1.0;
    long long e2 = 0;
    for (ptrdiff_t s0 = 0; s0 < n; s0 += 512) {
        const ptrdiff_t s1 = n - s0 < 512 ? n : s0 + 512;
        T msum = 0;
        _Pragma("omp simd reduction(+:msum)")
        for (ptrdiff_t i = s0; i < s1; i++) {
            const T m = FN(gmmn_column_max)(lp, st, i, K);
            T e[8];
            T t = 0;
            _Pragma("GCC unroll 8")
            for (int k = 0; k < K; k++) {
                e[k] = FN(gmm_exp2_neg)(lp[k * st + i] - m);
                t += e[k];
            }
            const T inv = (T)1 / t;
            _Pragma("GCC unroll 8")
            for (int k = 0; k < K; k++)
                lp[k * st + i] = e[k] * inv;
            tbuf[i - s0] = t;
            msum += m;
        }
        total += (double)msum * GMM_LN2;
        T p[16];
        _Pragma("omp simd")
        for (int w = 0; w < 16; w++) p[w] = 1;
        const ptrdiff_t nw = (s1 - s0) / 16 * 16;
        for (ptrdiff_t i0 = 0; i0 < nw; i0 += 16) {
            _Pragma("omp simd")
            for (int w = 0; w < 16; w++) p[w] *= tbuf[i0 + w];
        }
        for (ptrdiff_t i = nw; i < s1 - s0; i++) acc *= (double)tbuf[i];
        for (int w = 0; w < 16; w++)
            acc = gmmn_split_exponent(acc * (double)p[w], &e2);
    }
    return total + (double)e2 * GMM_LN2 + log(acc);
}

/* Returns 0 (and does nothing) for K > 8; else adds sum_i lse[i] to *ll.  tbuf: scratch
   for min(n, 512) values. */
static int FN(gmm_small_normalise_em)(T *lp, ptrdiff_t n, ptrdiff_t st, int K, T *tbuf,
                                      double *ll)
{
    switch (K) {
    case 1: *ll += FN(gmmn_normalise_em)(lp, n, st, tbuf, 1); return 1;
    case 2: *ll += FN(gmmn_normalise_em)(lp, n, st, tbuf, 2); return 1;
    case 3: *ll += FN(gmmn_normalise_em)(lp, n, st, tbuf, 3); return 1;
    case 4: *ll += FN(gmmn_normalise_em)(lp, n, st, tbuf, 4); return 1;
    case 5: *ll += FN(gmmn_normalise_em)(lp, n, st, tbuf, 5); return 1;
    case 6: *ll += FN(gmmn_normalise_em)(lp, n, st, tbuf, 6); return 1;
    case 7: *ll += FN(gmmn_normalise_em)(lp, n, st, tbuf, 7); return 1;
    case 8: *ll += FN(gmmn_normalise_em)(lp, n, st, tbuf, 8); return 1;
    default: return 0;
    }
}

/* Returns 0 (and does nothing) for K > 8. */
static int FN(gmm_small_normalise)(T *lp, ptrdiff_t n, ptrdiff_t st, int K, T *scale, T *lse)
{
    switch (K) {
    case 1: FN(gmmn_normalise)(lp, n, st, scale, lse, 1); return 1;
    case 2: FN(gmmn_normalise)(lp, n, st, scale, lse, 2); return 1;
    case 3: FN(gmmn_normalise)(lp, n, st, scale, lse, 3); return 1;
    case 4: FN(gmmn_normalise)(lp, n, st, scale, lse, 4); return 1;
    case 5: FN(gmmn_normalise)(lp, n, st, scale, lse, 5); return 1;
    case 6: FN(gmmn_normalise)(lp, n, st, scale, lse, 6); return 1;
    case 7: FN(gmmn_normalise)(lp, n, st, scale, lse, 7); return 1;
    case 8: FN(gmmn_normalise)(lp, n, st, scale, lse, 8); return 1;
    default: return 0;
    }
}

#undef V
#undef FN
#undef T
#undef GMM_T
#undef GMM_SUF
