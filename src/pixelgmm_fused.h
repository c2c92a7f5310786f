/*
 * Two-component PixelGMM fits of one block, fused over the frames
 * (the C side of src/_pixelgmm.pyx).
 *
 * The generic loops below (any K, d) run frame by frame over the lanes and
 * keep every running sum in memory, so each frame costs a load and a store
 * per sum and lane.  For the common K = 2 with grey or RGB pixels these
 * functions turn the loops around: 8 lanes at a time in a SIMD register
 * (GCC/Clang vector extensions; GCC does not vectorise the outer loop of a
 * loop nest by itself), or 16 with AVX-512 where the CPU has it (twice the
 * lanes per instruction, and 32 registers hold all the RGB sums without
 * spilling), the frames inside, and every running sum in a register for
 * the whole pass.  With two components the responsibilities
 * need one exponential per value: r_hi = 1 / (1 + e), r_lo = e / (1 + e),
 * e = exp(-|q1 - q0|); the centred differences serve both the E-step and
 * the statistics.  Layouts are those of the Cython code: [t][c][lane] for
 * the values, [k][c][lane] for means, precisions and sums, [k][lane] for
 * the rest.  PGMM_FUSED is 0 where vector extensions are missing, and the
 * generic code runs instead.
 */
#ifndef GMMFAST_PIXELGMM_FUSED_H
#define GMMFAST_PIXELGMM_FUSED_H

#include <stddef.h>
#include <stdint.h>
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
#define PGMM_LD(p) (*(const PVU*)(p))
#define PGMM_ST(p, v) (*(PVU*)(p) = (v))
#define PGMM_SET1(c) (((PV){0}) + (c))

/* Vector types and helpers for W lanes of float; the functions below are
 * written once with the names PV (vector), PVI (int vector), PVU (unaligned
 * vector), PVW (lanes), PSEL/PEXP/PLOG, PATTR (target attribute) and are
 * instantiated for 8 lanes (the module's own instruction set) and, on x86
 * builds for AVX2, again for 16 lanes with AVX-512, used when the CPU has it:
 * the same operations in the same order, so both give the same bits. */
#define PGMM_HELPERS(SUF, W, ATTR)                                                    \
typedef float pgmm_vf##SUF __attribute__((vector_size(4 * W)));                       \
typedef int32_t pgmm_vi##SUF __attribute__((vector_size(4 * W)));                     \
typedef uint32_t pgmm_vu##SUF __attribute__((vector_size(4 * W)));                    \
typedef float pgmm_vfu##SUF __attribute__((vector_size(4 * W), aligned(4)));          \
static inline ATTR __attribute__((always_inline))                                     \
pgmm_vf##SUF pgmm_sel##SUF(pgmm_vi##SUF m, pgmm_vf##SUF a, pgmm_vf##SUF b)            \
{                                                                                     \
    return (pgmm_vf##SUF)(((pgmm_vi##SUF)a & m) | ((pgmm_vi##SUF)b & ~m));            \
}                                                                                     \
/* exp(x) for x <= 0: gmm_exp_f32 of fastmath.h without its upper clamp, and */      \
/* with x clamped at -87 rather than flushed to 0 below it (a negligible */           \
/* responsibility is 1e-38 rather than 0) */                                          \
static inline ATTR __attribute__((always_inline))                                     \
pgmm_vf##SUF pgmm_exp_neg##SUF(pgmm_vf##SUF x)                                        \
{                                                                                     \
    const pgmm_vf##SUF lim = ((pgmm_vf##SUF){0}) - 87.0f;                             \
    x = pgmm_sel##SUF(x < lim, lim, x);                                               \
    const pgmm_vf##SUF t = x * 1.44269504088896341f + 12582912.0f;                    \
    const pgmm_vf##SUF kf = t - 12582912.0f;                                          \
    pgmm_vf##SUF r = x - kf * 0.693359375f;                                           \
    r = r - kf * -2.12194440e-4f;                                                     \
    pgmm_vf##SUF p = r * 1.98412698e-4f + 1.38888889e-3f;                             \
    p = p * r + 8.33333333e-3f;                                                       \
    p = p * r + 4.16666667e-2f;                                                       \
    p = p * r + 1.66666667e-1f;                                                       \
    p = p * r + 0.5f;                                                                 \
    p = p * r + 1.0f;                                                                 \
    p = p * r + 1.0f;                                                                 \
    return p * (pgmm_vf##SUF)(((pgmm_vi##SUF)t + 127) << 23);                         \
}                                                                                     \
/* gmm_log_f32 of fastmath.h, the same operations on W lanes */                       \
static inline ATTR __attribute__((always_inline))                                     \
pgmm_vf##SUF pgmm_log##SUF(pgmm_vf##SUF x)                                            \
{                                                                                     \
    const pgmm_vu##SUF bu = (pgmm_vu##SUF)x;                                          \
    const pgmm_vu##SUF eb = (bu + 0x004afb0du) >> 23;                                 \
    const pgmm_vf##SUF m = (pgmm_vf##SUF)(bu - ((eb - 127u) << 23));                 \
    const pgmm_vf##SUF ed = __builtin_convertvector((pgmm_vi##SUF)eb - 127,           \
                                                    pgmm_vf##SUF);                    \
    const pgmm_vf##SUF f = (m - 1.0f) / (m + 1.0f);                                   \
    const pgmm_vf##SUF s = f * f;                                                     \
    pgmm_vf##SUF p = s * (1.0f / 9.0f) + 1.0f / 7.0f;                                 \
    p = p * s + 1.0f / 5.0f;                                                          \
    p = p * s + 1.0f / 3.0f;                                                          \
    const pgmm_vf##SUF lm = 2.0f * f + (2.0f * f) * (s * p);                          \
    return (ed * -2.12194440e-4f + lm) + ed * 0.693359375f;                           \
}

#define PGMM_EM2_DEFINE(NAME, D, LL)                                                  \
static PATTR void NAME(const float* restrict xb, ptrdiff_t T, const float* restrict mu,     \
                 const float* restrict prec, const float* restrict lc,                \
                 float* restrict nk, float* restrict s1, float* restrict s2,          \
                 float* restrict ll)                                                  \
{                                                                                     \
    for (int b = 0; b < PGMM_L; b += PVW) {                                             \
        PV m0[D], m1[D], h0[D], h1[D], a0[D], a1[D], q0[D], q1[D];               \
        const PV c0 = PGMM_LD(lc + b), c1 = PGMM_LD(lc + PGMM_L + b);            \
        const PV zero = PGMM_SET1(0.0f);                                                 \
        _Pragma("GCC unroll 4")                                                       \
        for (int c = 0; c < D; c++) {                                                 \
            m0[c] = PGMM_LD(mu + c * PGMM_L + b);                                     \
            m1[c] = PGMM_LD(mu + (D + c) * PGMM_L + b);                               \
            h0[c] = 0.5f * PGMM_LD(prec + c * PGMM_L + b);                            \
            h1[c] = 0.5f * PGMM_LD(prec + (D + c) * PGMM_L + b);                      \
            a0[c] = a1[c] = q0[c] = q1[c] = zero;                                     \
        }                                                                             \
        PV n0 = zero, n1 = zero, lsum = zero;                                    \
        for (ptrdiff_t t = 0; t < T; t++) {                                           \
            const float* xt = xb + t * (D * PGMM_L) + b;                              \
            PV e0[D], e1[D];                                                     \
            PV l0 = c0, l1 = c1;                                                 \
            _Pragma("GCC unroll 4")                                                   \
            for (int c = 0; c < D; c++) {                                             \
                const PV x = PGMM_LD(xt + c * PGMM_L);                           \
                e0[c] = x - m0[c];                                                    \
                e1[c] = x - m1[c];                                                    \
                l0 -= h0[c] * (e0[c] * e0[c]);                                        \
                l1 -= h1[c] * (e1[c] * e1[c]);                                        \
            }                                                                         \
            const PV dq = l1 - l0;                                               \
            const PVI up = dq > 0.0f;                                             \
            const PV ex = PEXP(PSEL(up, -dq, dq));                       \
            const PV inv = 1.0f / (1.0f + ex);                                   \
            const PV rs = ex * inv;                                              \
            const PV r1 = PSEL(up, inv, rs);                                 \
            const PV r0 = PSEL(up, rs, inv);                                 \
            if (LL) lsum += PSEL(up, l1, l0) + PLOG(1.0f + ex);               \
            n0 += r0;                                                                 \
            n1 += r1;                                                                 \
            _Pragma("GCC unroll 4")                                                   \
            for (int c = 0; c < D; c++) {                                             \
                const PV t0 = r0 * e0[c], t1 = r1 * e1[c];                       \
                a0[c] += t0;                                                          \
                q0[c] += t0 * e0[c];                                                  \
                a1[c] += t1;                                                          \
                q1[c] += t1 * e1[c];                                                  \
            }                                                                         \
        }                                                                             \
        PGMM_ST(nk + b, n0);                                                          \
        PGMM_ST(nk + PGMM_L + b, n1);                                                 \
        _Pragma("GCC unroll 4")                                                       \
        for (int c = 0; c < D; c++) {                                                 \
            PGMM_ST(s1 + c * PGMM_L + b, a0[c]);                                      \
            PGMM_ST(s2 + c * PGMM_L + b, q0[c]);                                      \
            PGMM_ST(s1 + (D + c) * PGMM_L + b, a1[c]);                                \
            PGMM_ST(s2 + (D + c) * PGMM_L + b, q1[c]);                                \
        }                                                                             \
        PGMM_ST(ll + b, lsum);                                                        \
    }                                                                                 \
}

/* Per-lane Lloyd iterations with two centres, the rule of _kmeans_block:
 * centres at 1/4 and 3/4 of the way from the darkest to the brightest value
 * (by channel sum, first occurrence), ties go to the first centre, an empty
 * cluster keeps its centre.  On return mu holds the centres, cnt/acc/acc2
 * the sizes, sums and sums of squares of the assignment to them. */
#define PGMM_KM2_PASS(D, SQ)                                                          \
    for (ptrdiff_t t = 0; t < T; t++) {                                               \
        const float* xt = xb + t * (D * PGMM_L) + b;                                  \
        PV x[D], d0 = zero, d1 = zero;                                           \
        _Pragma("GCC unroll 4")                                                       \
        for (int c = 0; c < D; c++) {                                                 \
            x[c] = PGMM_LD(xt + c * PGMM_L);                                          \
            const PV e0 = x[c] - m0[c], e1 = x[c] - m1[c];                       \
            d0 += e0 * e0;                                                            \
            d1 += e1 * e1;                                                            \
        }                                                                             \
        const PVI in1 = d1 < d0;                                                  \
        const PV one1 = PSEL(in1, one, zero), one0 = one - one1;             \
        n0 += one0;                                                                   \
        n1 += one1;                                                                   \
        _Pragma("GCC unroll 4")                                                       \
        for (int c = 0; c < D; c++) {                                                 \
            const PV x0 = one0 * x[c], x1 = one1 * x[c];                         \
            a0[c] += x0;                                                              \
            a1[c] += x1;                                                              \
            if (SQ) {                                                                 \
                q0[c] += x0 * x[c];                                                   \
                q1[c] += x1 * x[c];                                                   \
            }                                                                         \
        }                                                                             \
    }

#define PGMM_KM2_DEFINE(NAME, D)                                                      \
static PATTR void NAME(const float* restrict xb, ptrdiff_t T, int n_iter,                   \
                 float* restrict mu, float* restrict cnt, float* restrict acc,        \
                 float* restrict acc2)                                                \
{                                                                                     \
    for (int b = 0; b < PGMM_L; b += PVW) {                                             \
        PV m0[D], m1[D], lx[D], hx[D], a0[D], a1[D], q0[D], q1[D];               \
        const PV zero = PGMM_SET1(0.0f), one = PGMM_SET1(1.0f);               \
        PV lo = PGMM_SET1(3.0e38f), hi = PGMM_SET1(-3.0e38f);                             \
        _Pragma("GCC unroll 4")                                                       \
        for (int c = 0; c < D; c++)                                                   \
            lx[c] = hx[c] = PGMM_LD(xb + c * PGMM_L + b);                             \
        for (ptrdiff_t t = 0; t < T; t++) {                                           \
            const float* xt = xb + t * (D * PGMM_L) + b;                              \
            PV v = PGMM_LD(xt);                                                  \
            _Pragma("GCC unroll 4")                                                   \
            for (int c = 1; c < D; c++)                                               \
                v += PGMM_LD(xt + c * PGMM_L);                                        \
            const PVI islo = v < lo, ishi = v > hi;                               \
            lo = PSEL(islo, v, lo);                                               \
            hi = PSEL(ishi, v, hi);                                               \
            _Pragma("GCC unroll 4")                                                   \
            for (int c = 0; c < D; c++) {                                             \
                const PV x = PGMM_LD(xt + c * PGMM_L);                           \
                lx[c] = PSEL(islo, x, lx[c]);                                     \
                hx[c] = PSEL(ishi, x, hx[c]);                                     \
            }                                                                         \
        }                                                                             \
        _Pragma("GCC unroll 4")                                                       \
        for (int c = 0; c < D; c++) {                                                 \
            m0[c] = lx[c] * (1.0f - 0.25f) + hx[c] * 0.25f;                           \
            m1[c] = lx[c] * (1.0f - 0.75f) + hx[c] * 0.75f;                           \
            q0[c] = q1[c] = zero;                                                     \
        }                                                                             \
        PV n0, n1;                                                               \
        for (int it = 0;; it++) {                                                     \
            n0 = n1 = zero;                                                           \
            _Pragma("GCC unroll 4")                                                   \
            for (int c = 0; c < D; c++)                                               \
                a0[c] = a1[c] = zero;                                                 \
            if (it == n_iter) {                                                       \
                PGMM_KM2_PASS(D, 1)                                                   \
                break;                                                                \
            }                                                                         \
            PGMM_KM2_PASS(D, 0)                                                       \
            const PVI e0 = n0 > 0.0f, e1 = n1 > 0.0f;                             \
            _Pragma("GCC unroll 4")                                                   \
            for (int c = 0; c < D; c++) {                                             \
                m0[c] = PSEL(e0, a0[c] / n0, m0[c]);                              \
                m1[c] = PSEL(e1, a1[c] / n1, m1[c]);                              \
            }                                                                         \
        }                                                                             \
        PGMM_ST(cnt + b, n0);                                                         \
        PGMM_ST(cnt + PGMM_L + b, n1);                                                \
        _Pragma("GCC unroll 4")                                                       \
        for (int c = 0; c < D; c++) {                                                 \
            PGMM_ST(mu + c * PGMM_L + b, m0[c]);                                      \
            PGMM_ST(mu + (D + c) * PGMM_L + b, m1[c]);                                \
            PGMM_ST(acc + c * PGMM_L + b, a0[c]);                                     \
            PGMM_ST(acc + (D + c) * PGMM_L + b, a1[c]);                               \
            PGMM_ST(acc2 + c * PGMM_L + b, q0[c]);                                    \
            PGMM_ST(acc2 + (D + c) * PGMM_L + b, q1[c]);                              \
        }                                                                             \
    }                                                                                 \
}


#define PGMM_INSTANTIATE(SUF)                                                         \
PGMM_EM2_DEFINE(pgmm_em2_d1##SUF, 1, 0)                                               \
PGMM_EM2_DEFINE(pgmm_em2_d1_ll##SUF, 1, 1)                                            \
PGMM_EM2_DEFINE(pgmm_em2_d3##SUF, 3, 0)                                               \
PGMM_EM2_DEFINE(pgmm_em2_d3_ll##SUF, 3, 1)                                            \
PGMM_KM2_DEFINE(pgmm_km2_d1##SUF, 1)                                                  \
PGMM_KM2_DEFINE(pgmm_km2_d3##SUF, 3)

#define PATTR
#define PV pgmm_vf8
#define PVI pgmm_vi8
#define PVU pgmm_vfu8
#define PVW 8
#define PSEL pgmm_sel8
#define PEXP pgmm_exp_neg8
#define PLOG pgmm_log8
PGMM_HELPERS(8, 8, )
PGMM_INSTANTIATE(_w8)

#if defined(__x86_64__) && defined(__AVX2__) && defined(__GNUC__)
#define PGMM_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#undef PATTR
#undef PV
#undef PVI
#undef PVU
#undef PVW
#undef PSEL
#undef PEXP
#undef PLOG
#define PATTR PGMM_AVX512
#define PV pgmm_vf16
#define PVI pgmm_vi16
#define PVU pgmm_vfu16
#define PVW 16
#define PSEL pgmm_sel16
#define PEXP pgmm_exp_neg16
#define PLOG pgmm_log16
PGMM_HELPERS(16, 16, PGMM_AVX512)
PGMM_INSTANTIATE(_w16)
static int pgmm_wide = 0, pgmm_wide_ok = 0;
static int pgmm_set_wide(int on) { int was = pgmm_wide; pgmm_wide = on && pgmm_wide_ok; return was; }
static int pgmm_get_wide(void) { return pgmm_wide; }
static void pgmm_init(void)
{
    __builtin_cpu_init();
    pgmm_wide = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
                && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
    pgmm_wide_ok = pgmm_wide;
}
#define PGMM_DISPATCH(NAME, ARGS) if (pgmm_wide) NAME##_w16 ARGS; else NAME##_w8 ARGS;
#else
static void pgmm_init(void) {}
static int pgmm_set_wide(int on) { (void)on; return 0; }
static int pgmm_get_wide(void) { return 0; }
#define PGMM_DISPATCH(NAME, ARGS) NAME##_w8 ARGS;
#endif

#define PGMM_EM2_ENTRY(NAME)                                                          \
static void NAME(const float* xb, ptrdiff_t T, const float* mu, const float* prec,    \
                 const float* lc, float* nk, float* s1, float* s2, float* ll)         \
{ PGMM_DISPATCH(NAME, (xb, T, mu, prec, lc, nk, s1, s2, ll)) }
#define PGMM_KM2_ENTRY(NAME)                                                          \
static void NAME(const float* xb, ptrdiff_t T, int n_iter, float* mu, float* cnt,     \
                 float* acc, float* acc2)                                             \
{ PGMM_DISPATCH(NAME, (xb, T, n_iter, mu, cnt, acc, acc2)) }
PGMM_EM2_ENTRY(pgmm_em2_d1)
PGMM_EM2_ENTRY(pgmm_em2_d1_ll)
PGMM_EM2_ENTRY(pgmm_em2_d3)
PGMM_EM2_ENTRY(pgmm_em2_d3_ll)
PGMM_KM2_ENTRY(pgmm_km2_d1)
PGMM_KM2_ENTRY(pgmm_km2_d3)
#else
#define PGMM_FUSED 0
static void pgmm_init(void) {}
static int pgmm_set_wide(int on) { (void)on; return 0; }
static int pgmm_get_wide(void) { return 0; }
#define PGMM_STUB(NAME) static void NAME() {}
PGMM_STUB(pgmm_em2_d1) PGMM_STUB(pgmm_em2_d1_ll) PGMM_STUB(pgmm_em2_d3)
PGMM_STUB(pgmm_em2_d3_ll) PGMM_STUB(pgmm_km2_d1) PGMM_STUB(pgmm_km2_d3)
#endif

#endif
