/*
 * The vectorised pass of mog2_fast.h for one pixel type (see template.h): included once
 * per type with
 *   MOG2_PIX  the frame's element type (uint8_t or float)
 *   MOG2_SUF  u8 or f32: the suffix of every name defined here
 * which this file #undefs at its end.
 */
#define PIX MOG2_PIX
#define FN(name) GMMFAST_NAME(name, MOG2_SUF)

/* One row of n pixels with C channels (a literal, 1..MOG2_MAXC); TWO = 1 for models of
   two or more modes, 0 for one-mode models, which have no second mode's plane. */
GMMFAST_INLINE void FN(mog2_fast_row)(const PIX *restrict src, float *restrict st, ptrdiff_t P,
                                      ptrdiff_t MS, ptrdiff_t off, ptrdiff_t n,
                                      uint8_t *restrict nmodes, uint8_t *restrict mask,
                                      uint8_t *restrict flag, const mog2_fast_params *prm,
                                      const int TWO, const int C)
{
    const float alpha = prm->alpha, a1 = prm->a1, prune = prm->prune;
    const float Tb = prm->Tb, Tg = prm->Tg, vmin = prm->var_min, vmax = prm->var_max;
    float *restrict w0 = st + off;
    float *restrict v0 = st + P + off;
    float *restrict m0 = st + 2 * P + off;
    float *restrict w1 = TWO ? st + MS + off : (float *)0;
    _Pragma("omp simd")
    for (ptrdiff_t i = 0; i < n; i++) {
        float x[MOG2_MAXC], mu[MOG2_MAXC];
        const int nm = nmodes[i];
        const float W0 = w0[i], V0 = v0[i], W1 = TWO ? w1[i] : 0.0f;
        float d2 = 0.0f;
        _Pragma("GCC unroll 4")
        for (int c = 0; c < C; c++) {
            x[c] = (float)src[i * C + c];
            mu[c] = m0[c * P + i];
            const float d = x[c] - mu[c];
            d2 = MOG2_FMA(d, d, d2);
        }
        /* ok: the heaviest mode explains x (the general code would stop at it); upd: and
           the pixel is learnt (flag 3, known foreground, is classified only: as
           _classify does, background iff within Tb of that mode, else shadow or 255) */
        const int learn = flag[i] == 0;
        const int ok = (learn | (flag[i] == 3)) & (nm >= 1) & (nm <= 2) & (d2 < Tg * V0);
        const int upd = ok & learn;
        const int bg = d2 < Tb * V0;
        const float w0n = a1 * W0 - prune + alpha;
        const float k = alpha / w0n;
        float vn = MOG2_FMA(k, d2 - V0, V0);      /* explicit FMAs, as every path moves a mode */
        vn = vn < vmin ? vmin : vn;
        vn = vn > vmax ? vmax : vn;
        const int has2 = TWO && nm == 2;
        float w1n = a1 * W1 - prune;
        const int drop = has2 & (w1n < prune);
        w1n = (has2 & !drop) ? w1n : 0.0f;
        const float inv = 1.0f / (w0n + w1n);
        w0[i] = upd ? w0n * inv : W0;
        v0[i] = upd ? vn : V0;
        if (TWO) MOG2_STORE_IF(upd & has2, w1[i], w1n * inv, W1);
        _Pragma("GCC unroll 4")
        for (int c = 0; c < C; c++)
            m0[c * P + i] = upd ? MOG2_FMA(k, x[c] - mu[c], mu[c]) : mu[c];
        MOG2_STORE_IF(upd & drop, nmodes[i], (uint8_t)(nm - 1), (uint8_t)nm);
        mask[i] = (uint8_t)(255 - 255 * (ok & bg));
        flag[i] = (uint8_t)(flag[i] + ok * (2 - bg - flag[i]));   /* 1 or 2 where ok */
    }
}

/* C channels (other counts: nothing, every pixel goes to the general path); two: the
   model has two or more modes (without a copy for one-mode models, and for 2 and 4
   channels, those pixels all took the general path, 5-9x slower). */
static void FN(mog2_fast)(int C, int two, const PIX *src, float *st, ptrdiff_t P, ptrdiff_t MS,
                          ptrdiff_t off, ptrdiff_t n, uint8_t *nmodes, uint8_t *mask,
                          uint8_t *flag, const mog2_fast_params *prm)
{
    if (C < 1 || C > MOG2_MAXC)
        return;
    if (two)
        GMMFAST_LITERAL_1TO4(C, FN(mog2_fast_row), src, st, P, MS, off, n, nmodes, mask, flag, prm, 1);
    else
        GMMFAST_LITERAL_1TO4(C, FN(mog2_fast_row), src, st, P, MS, off, n, nmodes, mask, flag, prm, 0);
}

#undef FN
#undef PIX
#undef MOG2_PIX
#undef MOG2_SUF
