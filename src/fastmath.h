/*
 * Branch-free exp and log that GCC and Clang auto-vectorise.
 *
 * libm's exp/log are scalar calls, and they dominate the E-step (N*K
 * exponentials per iteration).  These versions use only multiply/add,
 * integer shifts and selects, so the compiler turns a loop over them into
 * SIMD code for whatever instruction set the module is built for.
 *
 * exp: Cody-Waite reduction x = k*ln2 + r, |r| <= ln2/2, a Taylor polynomial
 *      of degree 12 (double) or 7 (float) for exp(r), and 2^k built in the
 *      exponent bits.  Results below the normal range flush to 0.
 * log: x = 2^e * m with m in [sqrt(1/2), sqrt(2)), log(m) = 2*atanh(f) with
 *      f = (m-1)/(m+1), an odd series in f.  Valid for finite x > 0 (the
 *      callers only take logs of sums that are >= 1 or of positive weights).
 *
 * exp2 of a non-positive argument (the EM normalisation works in base 2, so
 *      that exp(lp - max) becomes 2^(lp2 - max2) with no range reduction
 *      multiply): x = k + f, k = round(x), |f| <= 1/2, a polynomial for 2^f
 *      (degree 6 minimax in float, Taylor degree 12 in double) and 2^k added
 *      into the exponent bits.  Below -100 (float) / -1000 (double) the
 *      result is 0: far from the normal range's end, so that responsibilities
 *      and their products in the statistics never become subnormal numbers
 *      (which cost a microcode assist per operation; real images produce
 *      many such far-away components).
 *
 * All are accurate to about 1-2 ulp over the ranges the kernels use; the
 * tests compare them with NumPy on random arguments.
 */
#ifndef GMMFAST_FASTMATH_H
#define GMMFAST_FASTMATH_H

#include <stdint.h>

#if defined(__GNUC__)
#define GMM_INLINE static inline __attribute__((always_inline))
#else
#define GMM_INLINE static inline
#endif

#define GMM_LN2 0.693147180559945309417232121458
#define GMM_LOG2E 1.44269504088896340735992468100

typedef union { double d; uint64_t u; } gmm_bits64;
typedef union { float f; uint32_t u; } gmm_bits32;

GMM_INLINE double gmm_exp_f64(double x)
{
    const double shift = 6755399441055744.0;      /* 1.5 * 2^52 */
    const double log2e = 1.4426950408889634074;
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    int tiny = x < -708.0;
    x = x < -708.0 ? -708.0 : x;
    x = x > 709.0 ? 709.0 : x;
    gmm_bits64 t;
    t.d = x * log2e + shift;
    double kd = t.d - shift;
    double r = x - kd * ln2_hi;
    r = r - kd * ln2_lo;
    double p = 2.08767569878680989792e-09;        /* 1/12! */
    p = p * r + 2.50521083854417187751e-08;       /* 1/11! */
    p = p * r + 2.75573192239858906526e-07;       /* 1/10! */
    p = p * r + 2.75573192239858906526e-06;       /* 1/9!  */
    p = p * r + 2.48015873015873015873e-05;       /* 1/8!  */
    p = p * r + 1.98412698412698412698e-04;       /* 1/7!  */
    p = p * r + 1.38888888888888888889e-03;       /* 1/6!  */
    p = p * r + 8.33333333333333333333e-03;       /* 1/5!  */
    p = p * r + 4.16666666666666666667e-02;       /* 1/4!  */
    p = p * r + 1.66666666666666666667e-01;       /* 1/3!  */
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    gmm_bits64 s;
    s.u = (t.u + 1023u) << 52;
    double y = p * s.d;
    return tiny ? 0.0 : y;
}

GMM_INLINE float gmm_exp_f32(float x)
{
    const float shift = 12582912.0f;              /* 1.5 * 2^23 */
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f;
    const float ln2_lo = -2.12194440e-4f;
    int tiny = x < -87.0f;
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    gmm_bits32 t;
    t.f = x * log2e + shift;
    float kf = t.f - shift;
    float r = x - kf * ln2_hi;
    r = r - kf * ln2_lo;
    float p = 1.98412698e-4f;                     /* 1/7! */
    p = p * r + 1.38888889e-3f;
    p = p * r + 8.33333333e-3f;
    p = p * r + 4.16666667e-2f;
    p = p * r + 1.66666667e-1f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    gmm_bits32 s;
    s.u = (t.u + 127u) << 23;
    float y = p * s.f;
    return tiny ? 0.0f : y;
}

GMM_INLINE double gmm_exp2_neg_f64(double x)
{
    const double shift = 6755399441055744.0;      /* 1.5 * 2^52: adding it rounds to an integer */
    int tiny = x < -1000.0;
    x = tiny ? -1000.0 : x;
    gmm_bits64 t, y;
    t.d = x + shift;
    double f = x - (t.d - shift);                 /* in [-1/2, 1/2] */
    /* 2^f = exp(f ln2), Taylor coefficients ln2^n / n! */
    double p = 2.5678435993488196e-11;
    p = p * f + 4.4455382718708101e-10;
    p = p * f + 7.0549116208011209e-09;
    p = p * f + 1.0178086009239696e-07;
    p = p * f + 1.3215486790144305e-06;
    p = p * f + 1.5252733804059838e-05;
    p = p * f + 1.5403530393381606e-04;
    p = p * f + 1.3333558146428441e-03;
    p = p * f + 9.6181291076284769e-03;
    p = p * f + 5.5504108664821576e-02;
    p = p * f + 2.4022650695910069e-01;
    p = p * f + 6.9314718055994529e-01;
    p = p * f + 1.0;
    y.d = p;
    y.u += t.u << 52;                             /* low bits of t hold k (two's complement) */
    return tiny ? 0.0 : y.d;
}

GMM_INLINE float gmm_exp2_neg_f32(float x)
{
    const float shift = 12582912.0f;              /* 1.5 * 2^23 */
    int tiny = x < -100.0f;
    x = tiny ? -100.0f : x;
    gmm_bits32 t, y;
    t.f = x + shift;
    float f = x - (t.f - shift);
    float p = 1.53458110e-4f;                     /* minimax for 2^f on [-1/2, 1/2], 1e-7 relative */
    p = p * f + 1.33999309e-3f;
    p = p * f + 9.61848907e-3f;
    p = p * f + 5.55032864e-2f;
    p = p * f + 2.40226462e-1f;
    p = p * f + 6.93147182e-1f;
    p = p * f + 1.0f;
    y.f = p;
    y.u += t.u << 23;
    return tiny ? 0.0f : y.f;
}

GMM_INLINE double gmm_log_f64(double x)
{
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    gmm_bits64 b, m, e;
    b.d = x;
    /* biased exponent of x / sqrt(1/2), so that m lands in [sqrt(1/2), sqrt(2)) */
    uint64_t eb = (b.u + 0x00095f619980c433ull) >> 52;
    m.u = b.u - ((eb - 1023u) << 52);
    e.u = 0x4330000000000000ull | eb;             /* 2^52 + eb, exactly */
    double ed = (e.d - 4503599627370496.0) - 1023.0;
    double f = (m.d - 1.0) / (m.d + 1.0);
    double s = f * f;
    double p = 1.0 / 21.0;
    p = p * s + 1.0 / 19.0;
    p = p * s + 1.0 / 17.0;
    p = p * s + 1.0 / 15.0;
    p = p * s + 1.0 / 13.0;
    p = p * s + 1.0 / 11.0;
    p = p * s + 1.0 / 9.0;
    p = p * s + 1.0 / 7.0;
    p = p * s + 1.0 / 5.0;
    p = p * s + 1.0 / 3.0;
    /* 2f + 2f*s*p, then add e*ln2 in two parts */
    double lm = 2.0 * f + (2.0 * f) * (s * p);
    return (ed * ln2_lo + lm) + ed * ln2_hi;
}

GMM_INLINE float gmm_log_f32(float x)
{
    const float ln2_hi = 0.693359375f;
    const float ln2_lo = -2.12194440e-4f;
    gmm_bits32 b, m;
    b.f = x;
    uint32_t eb = (b.u + 0x004afb0du) >> 23;
    m.u = b.u - ((eb - 127u) << 23);
    float ed = (float)((int32_t)eb - 127);
    float f = (m.f - 1.0f) / (m.f + 1.0f);
    float s = f * f;
    float p = 1.0f / 9.0f;
    p = p * s + 1.0f / 7.0f;
    p = p * s + 1.0f / 5.0f;
    p = p * s + 1.0f / 3.0f;
    float lm = 2.0f * f + (2.0f * f) * (s * p);
    return (ed * ln2_lo + lm) + ed * ln2_hi;
}

#endif
