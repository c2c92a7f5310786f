/*
 * The fused two-component passes of pixelgmm_fused.h for one channel count (see
 * template.h): included once per count with
 *   PGMM_D    channels (1 or 3)
 *   PGMM_SUF  d1 or d3: the suffix of every name defined here
 * which this file #undefs at its end.  Each pass handles the PGMM_L lanes of a block,
 * PGMM_W at a time.
 */
#define D PGMM_D
#define FN(name) GMMFAST_NAME(name, PGMM_SUF)

/* EM statistics of two components over the T frames: for lane b, nk = sum r,
   s1 = sum r (x - mu), s2 = sum r (x - mu)^2 per component and channel, and with LL
   ll = the summed log-likelihood (mu, prec: means and precisions, lc: log-constants). */
GMMFAST_INLINE void FN(pgmm_em2_body)(const float *restrict xb, ptrdiff_t T,
                                      const float *restrict mu, const float *restrict prec,
                                      const float *restrict lc, float *restrict nk,
                                      float *restrict s1, float *restrict s2,
                                      float *restrict ll, const int LL)
{
    for (int b = 0; b < PGMM_L; b += PGMM_W) {
        pgmm_vf m0[D], m1[D], h0[D], h1[D], a0[D], a1[D], q0[D], q1[D];
        const pgmm_vf c0 = pgmm_ld(lc + b), c1 = pgmm_ld(lc + PGMM_L + b);
        const pgmm_vf zero = pgmm_set1(0.0f);
        _Pragma("GCC unroll 4")
        for (int c = 0; c < D; c++) {
            m0[c] = pgmm_ld(mu + c * PGMM_L + b);
            m1[c] = pgmm_ld(mu + (D + c) * PGMM_L + b);
            h0[c] = 0.5f * pgmm_ld(prec + c * PGMM_L + b);
            h1[c] = 0.5f * pgmm_ld(prec + (D + c) * PGMM_L + b);
            a0[c] = a1[c] = q0[c] = q1[c] = zero;
        }
        pgmm_vf n0 = zero, n1 = zero, lsum = zero;
        for (ptrdiff_t t = 0; t < T; t++) {
            const float *xt = xb + t * (D * PGMM_L) + b;
            pgmm_vf e0[D], e1[D];
            pgmm_vf l0 = c0, l1 = c1;
            _Pragma("GCC unroll 4")
            for (int c = 0; c < D; c++) {
                const pgmm_vf x = pgmm_ld(xt + c * PGMM_L);
                e0[c] = x - m0[c];
                e1[c] = x - m1[c];
                l0 -= h0[c] * (e0[c] * e0[c]);
                l1 -= h1[c] * (e1[c] * e1[c]);
            }
            const pgmm_vf dq = l1 - l0;
            const pgmm_vi up = dq > 0.0f;
            const pgmm_vf ex = pgmm_exp_neg(pgmm_sel(up, -dq, dq));
            const pgmm_vf inv = 1.0f / (1.0f + ex);
            const pgmm_vf rs = ex * inv;
            const pgmm_vf r1 = pgmm_sel(up, inv, rs);
            const pgmm_vf r0 = pgmm_sel(up, rs, inv);
            if (LL) lsum += pgmm_sel(up, l1, l0) + pgmm_log(1.0f + ex);
            n0 += r0;
            n1 += r1;
            _Pragma("GCC unroll 4")
            for (int c = 0; c < D; c++) {
                const pgmm_vf t0 = r0 * e0[c], t1 = r1 * e1[c];
                a0[c] += t0;
                q0[c] += t0 * e0[c];
                a1[c] += t1;
                q1[c] += t1 * e1[c];
            }
        }
        pgmm_st(nk + b, n0);
        pgmm_st(nk + PGMM_L + b, n1);
        _Pragma("GCC unroll 4")
        for (int c = 0; c < D; c++) {
            pgmm_st(s1 + c * PGMM_L + b, a0[c]);
            pgmm_st(s2 + c * PGMM_L + b, q0[c]);
            pgmm_st(s1 + (D + c) * PGMM_L + b, a1[c]);
            pgmm_st(s2 + (D + c) * PGMM_L + b, q1[c]);
        }
        pgmm_st(ll + b, lsum);
    }
}

static void FN(pgmm_em2)(const float *xb, ptrdiff_t T, const float *mu, const float *prec,
                         const float *lc, float *nk, float *s1, float *s2, float *ll)
{
    FN(pgmm_em2_body)(xb, T, mu, prec, lc, nk, s1, s2, ll, 0);
}

static void FN(pgmm_em2_ll)(const float *xb, ptrdiff_t T, const float *mu, const float *prec,
                            const float *lc, float *nk, float *s1, float *s2, float *ll)
{
    FN(pgmm_em2_body)(xb, T, mu, prec, lc, nk, s1, s2, ll, 1);
}

/* Running sums of a two-centre assignment of PGMM_W lanes: counts, sums and sums of
   squares per centre and channel. */
typedef struct {
    pgmm_vf n0, n1, a0[D], a1[D], q0[D], q1[D];
} FN(pgmm_km2_sums);

/* One pass over the T frames: each value goes to the nearer of the centres m0, m1 (ties
   to m0) and into that centre's count and sums, and with SQ its sums of squares. */
GMMFAST_INLINE void FN(pgmm_km2_pass)(const float *restrict xb, ptrdiff_t T, int b,
                                      const pgmm_vf *m0, const pgmm_vf *m1,
                                      FN(pgmm_km2_sums) *s, const int SQ)
{
    const pgmm_vf zero = pgmm_set1(0.0f), one = pgmm_set1(1.0f);
    for (ptrdiff_t t = 0; t < T; t++) {
        const float *xt = xb + t * (D * PGMM_L) + b;
        pgmm_vf x[D], d0 = zero, d1 = zero;
        _Pragma("GCC unroll 4")
        for (int c = 0; c < D; c++) {
            x[c] = pgmm_ld(xt + c * PGMM_L);
            const pgmm_vf e0 = x[c] - m0[c], e1 = x[c] - m1[c];
            d0 += e0 * e0;
            d1 += e1 * e1;
        }
        const pgmm_vi in1 = d1 < d0;
        const pgmm_vf one1 = pgmm_sel(in1, one, zero), one0 = one - one1;
        s->n0 += one0;
        s->n1 += one1;
        _Pragma("GCC unroll 4")
        for (int c = 0; c < D; c++) {
            const pgmm_vf x0 = one0 * x[c], x1 = one1 * x[c];
            s->a0[c] += x0;
            s->a1[c] += x1;
            if (SQ) {
                s->q0[c] += x0 * x[c];
                s->q1[c] += x1 * x[c];
            }
        }
    }
}

/* Per-lane lowest and highest value by channel sum (first occurrence): lx, hx. */
GMMFAST_INLINE void FN(pgmm_km2_range)(const float *restrict xb, ptrdiff_t T, int b,
                                       pgmm_vf *lx, pgmm_vf *hx)
{
    pgmm_vf lo = pgmm_set1(3.0e38f), hi = pgmm_set1(-3.0e38f);
    _Pragma("GCC unroll 4")
    for (int c = 0; c < D; c++)
        lx[c] = hx[c] = pgmm_ld(xb + c * PGMM_L + b);
    for (ptrdiff_t t = 0; t < T; t++) {
        const float *xt = xb + t * (D * PGMM_L) + b;
        pgmm_vf v = pgmm_ld(xt);
        _Pragma("GCC unroll 4")
        for (int c = 1; c < D; c++)
            v += pgmm_ld(xt + c * PGMM_L);
        const pgmm_vi islo = v < lo, ishi = v > hi;
        lo = pgmm_sel(islo, v, lo);
        hi = pgmm_sel(ishi, v, hi);
        _Pragma("GCC unroll 4")
        for (int c = 0; c < D; c++) {
            const pgmm_vf x = pgmm_ld(xt + c * PGMM_L);
            lx[c] = pgmm_sel(islo, x, lx[c]);
            hx[c] = pgmm_sel(ishi, x, hx[c]);
        }
    }
}

/* Per-lane Lloyd iterations with two centres, the rule of _kmeans_block: centres at 1/4
   and 3/4 of the way from the darkest to the brightest value (by channel sum, first
   occurrence), ties go to the first centre, an empty cluster keeps its centre.  On
   return mu holds the centres, cnt/acc/acc2 the sizes, sums and sums of squares of the
   assignment to them. */
static void FN(pgmm_km2)(const float *restrict xb, ptrdiff_t T, int n_iter,
                         float *restrict mu, float *restrict cnt, float *restrict acc,
                         float *restrict acc2)
{
    for (int b = 0; b < PGMM_L; b += PGMM_W) {
        pgmm_vf m0[D], m1[D], lx[D], hx[D];
        const pgmm_vf zero = pgmm_set1(0.0f);
        FN(pgmm_km2_sums) s;
        FN(pgmm_km2_range)(xb, T, b, lx, hx);
        _Pragma("GCC unroll 4")
        for (int c = 0; c < D; c++) {
            m0[c] = lx[c] * (1.0f - 0.25f) + hx[c] * 0.25f;
            m1[c] = lx[c] * (1.0f - 0.75f) + hx[c] * 0.75f;
            s.q0[c] = s.q1[c] = zero;
        }
        for (int it = 0;; it++) {
            s.n0 = s.n1 = zero;
            _Pragma("GCC unroll 4")
            for (int c = 0; c < D; c++)
                s.a0[c] = s.a1[c] = zero;
            if (it == n_iter) {
                FN(pgmm_km2_pass)(xb, T, b, m0, m1, &s, 1);
                break;
            }
            FN(pgmm_km2_pass)(xb, T, b, m0, m1, &s, 0);
            const pgmm_vi e0 = s.n0 > 0.0f, e1 = s.n1 > 0.0f;
            _Pragma("GCC unroll 4")
            for (int c = 0; c < D; c++) {
                m0[c] = pgmm_sel(e0, s.a0[c] / s.n0, m0[c]);
                m1[c] = pgmm_sel(e1, s.a1[c] / s.n1, m1[c]);
            }
        }
        pgmm_st(cnt + b, s.n0);
        pgmm_st(cnt + PGMM_L + b, s.n1);
        _Pragma("GCC unroll 4")
        for (int c = 0; c < D; c++) {
            pgmm_st(mu + c * PGMM_L + b, m0[c]);
            pgmm_st(mu + (D + c) * PGMM_L + b, m1[c]);
            pgmm_st(acc + c * PGMM_L + b, s.a0[c]);
            pgmm_st(acc + (D + c) * PGMM_L + b, s.a1[c]);
            pgmm_st(acc2 + c * PGMM_L + b, s.q0[c]);
            pgmm_st(acc2 + (D + c) * PGMM_L + b, s.q1[c]);
        }
    }
}

#undef FN
#undef D
#undef PGMM_D
#undef PGMM_SUF
