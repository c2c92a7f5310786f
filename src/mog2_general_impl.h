/*
 * The vectorised general update of mog2_fast.h for one pixel type (see template.h):
 * included once per type, just before mog2_fast_impl.h, with the same MOG2_PIX and
 * MOG2_SUF (which mog2_fast_impl.h #undefs, and this file leaves).
 *
 * One block of MOG2_GW neighbouring pixels of a row at a time, one pixel per lane, every
 * mode of the model in a vector per field.  It is _update of _mog2.pyx with each branch
 * turned into a lane mask, and gives the same bits (tests/test_mog2.py checks it against
 * the scalar path and OpenCV): every lane goes through the same float operations as the
 * scalar code, in the same order, with the results kept or dropped by selects.  What the
 * scalar code does in place while it walks the modes is done here in three steps:
 *
 *   1. walk the modes in rank order: decay every weight (a1 w - prune), find the first
 *      mode that owns x (d2 < Tg v) and whether x is background (d2 < Tb v while the
 *      weights summed before stay below TB), zero the weights that fall below prune, and
 *      sum the weights (the owner's with alpha added) in the same order as the scalar
 *      loop;
 *   2. the mode that moves: the owner with its updated mean and variance, or a new mode
 *      for x at the slot the scalar code gives it (the lightest when all K are in use,
 *      else the first free one), after the new-mode renormalisation ((w / tot) * a1);
 *   3. it moves up past lighter modes (one pass of compare-and-shift from the bottom: the
 *      weights above it are already final, as in the scalar loop), and the owner case
 *      renormalises the weights of the kept modes at their final slots.
 *
 * Lanes not to be learnt (flag != 0) and the slots a lane does not use are written back
 * with the values they were read with.  The shadow test is left to the caller (flag 2),
 * which runs it on the updated state exactly as after the scalar update.  Lanes to be
 * classified only (flag 3: the pipeline's held pixels) ride along: the same walk with the
 * weights as read (the scalar _classify: background if a mode before the owner, or the
 * owner, is within Tb while the weights before it sum to less than TB) gives their flag 1
 * (mask 0) or 2.
 */
#define PIX MOG2_PIX
#define FN(name) GMMFAST_NAME(name, MOG2_SUF)

#if !MOG2_GENERAL
/* builds without the blocks (mog2_fast.h): the entry point does nothing and every pixel the
   common case leaves takes the scalar update (_mog2.pyx, which does not call this there) */
static void FN(mog2_general)(int C, const PIX *src, float *st, ptrdiff_t P, ptrdiff_t MS,
                             ptrdiff_t off, ptrdiff_t n, uint8_t *nmodes, uint8_t *mask,
                             uint8_t *flag, const mog2_fast_params *prm)
{
    (void)C; (void)src; (void)st; (void)P; (void)MS; (void)off; (void)n;
    (void)nmodes; (void)mask; (void)flag; (void)prm;
}
#else

/* The channels of the block's MOG2_GW (8) pixels, one vector per channel.  uint8 RGB and
   RGBA: one load and a byte shuffle per channel (built lane by lane, a vector of bytes went
   through general registers, 8 shifts per channel); other cases lane by lane. */
/* bytes to floats by way of int32 (GCC 12 converted uint8 straight to float lane by lane) */
#define MOG2_U8F(b) __builtin_convertvector(__builtin_convertvector((b), mog2_vi), mog2_vf)
GMMFAST_INLINE void FN(mog2_channels)(const PIX *restrict src, mog2_vf *x, const int C)
{
#if MOG2_PIX_IS_U8 && defined(__AVX2__)
    if (C == 3) {
        /* bytes c, c + 3, ..., c + 21 of the 24: a byte shuffle of each 16-byte half (-1
           zeroes a byte), then to int32 and float (GCC 12 compiled the shufflevector
           version below into a byte extract per lane) */
        const __m128i lo = _mm_loadu_si128((const __m128i *)src);
        const __m128i hi = _mm_loadl_epi64((const __m128i *)(src + 16));
#define MOG2_CH3(c) (mog2_vf)_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_or_si128( \
            _mm_shuffle_epi8(lo, _mm_setr_epi8(c, c + 3, c + 6, c + 9, c + 12, (c + 15) < 16 ? c + 15 : -1, \
                                               -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)), \
            _mm_shuffle_epi8(hi, _mm_setr_epi8(-1, -1, -1, -1, -1, (c + 15) < 16 ? -1 : c - 1, c + 2, c + 5, \
                                               -1, -1, -1, -1, -1, -1, -1, -1)))))
        x[0] = MOG2_CH3(0);
        x[1] = MOG2_CH3(1);
        x[2] = MOG2_CH3(2);
#undef MOG2_CH3
        return;
    }
#endif
#if MOG2_PIX_IS_U8 && MOG2_HAVE_SHUFFLE
    if (C == 3 || C == 4) {
        typedef uint8_t vb32 __attribute__((vector_size(32)));
        vb32 b = {0};
        memcpy(&b, src, (size_t)(8 * C));
        if (C == 3) {
            x[0] = MOG2_U8F(__builtin_shufflevector(b, b, 0, 3, 6, 9, 12, 15, 18, 21));
            x[1] = MOG2_U8F(__builtin_shufflevector(b, b, 1, 4, 7, 10, 13, 16, 19, 22));
            x[2] = MOG2_U8F(__builtin_shufflevector(b, b, 2, 5, 8, 11, 14, 17, 20, 23));
        } else {
            x[0] = MOG2_U8F(__builtin_shufflevector(b, b, 0, 4, 8, 12, 16, 20, 24, 28));
            x[1] = MOG2_U8F(__builtin_shufflevector(b, b, 1, 5, 9, 13, 17, 21, 25, 29));
            x[2] = MOG2_U8F(__builtin_shufflevector(b, b, 2, 6, 10, 14, 18, 22, 26, 30));
            x[3] = MOG2_U8F(__builtin_shufflevector(b, b, 3, 7, 11, 15, 19, 23, 27, 31));
        }
        return;
    }
    if (C == 1) {
        x[0] = MOG2_U8F(*(const mog2_vbu *)src);
        return;
    }
#endif
    for (int c = 0; c < C; c++)
        x[c] = (mog2_vf){(float)src[c], (float)src[C + c], (float)src[2 * C + c], (float)src[3 * C + c],
                         (float)src[4 * C + c], (float)src[5 * C + c], (float)src[6 * C + c],
                         (float)src[7 * C + c]};
}

/* Learn the lanes of the block at plane offset off whose flag is 0; C (1..MOG2_MAXC) is a
   literal, the model has K <= MOG2_KMAX modes and the block's lanes use at most L - 1 of
   them (L <= K; slot L - 1 is where a lane with L - 1 modes would put a new one). */
GMMFAST_INLINE void FN(mog2_general_block)(const PIX *restrict src, float *restrict st, ptrdiff_t P,
                                           ptrdiff_t MS, ptrdiff_t off, uint8_t *restrict nmodes,
                                           uint8_t *restrict mask, uint8_t *restrict flag,
                                           const mog2_fast_params *prm, const int L, const int C,
                                           const int CLS)
{
    const int K = prm->K;
    const mog2_vf alpha = mog2_set1(prm->alpha), a1 = mog2_set1(prm->a1);
    const mog2_vf prune = mog2_set1(prm->prune), Tb = mog2_set1(prm->Tb), Tg = mog2_set1(prm->Tg);
    const mog2_vf TB = mog2_set1(prm->TB), zero = mog2_set1(0.0f), one = mog2_set1(1.0f);
    const mog2_vf vmin = mog2_set1(prm->var_min), vmax = mog2_set1(prm->var_max);
    /* bytes to lanes with vector conversions: lanes stored one by one and then loaded as a
       vector stall the load (no store forwarding), and per-lane branches mispredict */
    const mog2_vi flag_in = mog2_ldb(flag), nm = mog2_ldb(nmodes), act = flag_in == 0;
    const mog2_vi cls = flag_in == 3;
    mog2_vf x[MOG2_MAXC];
    FN(mog2_channels)(src, x, C);

    /* the block's fields, slot by slot: weight, variance, means */
    mog2_vf W[MOG2_KMAX], V[MOG2_KMAX], M[MOG2_KMAX][MOG2_MAXC];
    for (int m = 0; m < L; m++) {
        const float *s = st + m * MS + off;
        W[m] = mog2_ld(s);
        V[m] = mog2_ld(s + P);
        for (int c = 0; c < C; c++)
            M[m][c] = mog2_ld(s + (2 + c) * P);
    }

    /* 1. the walk over the modes */
    mog2_vf tot = zero, ow = zero, ov = zero, od2 = zero, om[MOG2_MAXC], ctot = zero;
    mog2_vi found = mog2_set1i(0), bg = mog2_set1i(0), keep = nm, own = mog2_set1i(-1);
    mog2_vi cdone = mog2_set1i(0), cbg = mog2_set1i(0);
    for (int c = 0; c < C; c++)
        om[c] = zero;
    for (int m = 0; m < L; m++) {
        const mog2_vi a = act & (nm > m);
        mog2_vf w = a1 * W[m] - prune;
        const mog2_vi srch = a & ~found;
        mog2_vf d2 = zero;
        for (int c = 0; c < C; c++) {
            const mog2_vf d = x[c] - M[m][c];
            d2 = MOG2_VFMA(d, d, d2);
        }
        bg |= srch & (tot < TB) & (d2 < Tb * V[m]);
        const mog2_vi oh = srch & (d2 < Tg * V[m]);
        if (CLS) {  /* classify-only lanes: the walk stops at the owner (or the last mode) */
            const mog2_vi csrch = cls & (nm > m) & ~cdone;
            cbg |= csrch & (ctot < TB) & (d2 < Tb * V[m]);
            cdone |= csrch & (d2 < Tg * V[m]);
            ctot = mog2_sel(csrch, ctot + W[m], ctot);
        }
        const mog2_vi dr = a & ~oh & (w < prune);
        keep += dr;                                   /* dr is -1 where a mode is dropped */
        w = mog2_sel(dr, zero, w);
        w = mog2_sel(oh, w + alpha, w);
        ow = mog2_sel(oh, w, ow);
        ov = mog2_sel(oh, V[m], ov);
        od2 = mog2_sel(oh, d2, od2);
        for (int c = 0; c < C; c++)
            om[c] = mog2_sel(oh, M[m][c], om[c]);
        own = mog2_sel_i(oh, mog2_set1i(m), own);
        found |= oh;
        W[m] = mog2_sel(a, w, W[m]);
        tot = mog2_sel(a, tot + w, tot);
    }

    /* 2. the mode that moves: the owner, updated ... */
    const mog2_vf k = alpha / mog2_sel(found, ow, one);
    /* the moves as explicit FMAs, as _update (_mog2.pyx) writes them: left to the compiler,
       the avx512 build fused them here and not in the scalar code for 2 and 4 channels,
       and some means and variances came out 1 ulp apart */
    mog2_vf vsp = MOG2_VFMA(k, od2 - ov, ov);
    vsp = mog2_sel(vsp < vmin, vmin, vsp);
    vsp = mog2_sel(vsp > vmax, vmax, vsp);
    mog2_vf msp[MOG2_MAXC];
    for (int c = 0; c < C; c++)
        msp[c] = MOG2_VFMA(k, x[c] - om[c], om[c]);
    /* ... or a new mode (w alpha, or 1 for a lone mode; v var_init, mu x) at slot j */
    const mog2_vi newm = act & ~found;
    const mog2_vi full = keep == K;
    const mog2_vi j = keep + full;                    /* full is -1: keep - 1 */
    keep = keep - (newm & ~full);                     /* keep + 1 where a slot is free */
    const mog2_vi lone = keep == 1;
    const mog2_vi pos_tot = tot > zero;
    const mog2_vf inv0 = mog2_sel(pos_tot, one / mog2_sel(pos_tot, tot, one), one);
    for (int m = 0; m < L - 1; m++) {
        const mog2_vi nrm = newm & ~lone & (keep - 1 > m);
        W[m] = mog2_sel(nrm, (W[m] * inv0) * a1, W[m]);
    }
    const mog2_vf wsp = mog2_sel(found, ow, mog2_sel(lone, one, alpha));
    vsp = mog2_sel(found, vsp, mog2_set1(prm->var_init));
    for (int c = 0; c < C; c++)
        msp[c] = mog2_sel(found, msp[c], x[c]);
    mog2_vi pos = mog2_sel_i(found, own, mog2_sel_i(newm, j, mog2_set1i(-1)));

    /* 3. it moves up while it weighs at least as much as the mode above it: slot i, from the
       bottom, takes the mode above it if the moving mode passes that one, the moving mode if
       it stops here, else keeps its own; the owner case then renormalises the kept modes at
       their final slots.  A slot is final once done, and is stored then (fewer vectors held
       at once: with all of them kept to the end, a third of the block's instructions were
       spills to the stack). */
    const mog2_vf inv1 = one / mog2_sel(pos_tot, tot, one);
    const mog2_vi renorm = found & pos_tot;
    for (int i = L - 1; i >= 0; i--) {
        mog2_vf wi, vi, mi[MOG2_MAXC];
        const mog2_vi here = pos == i;
        if (i > 0) {
            const mog2_vi mv = here & (wsp >= W[i - 1]);
            const mog2_vi at = here & ~mv;
            wi = mog2_sel(mv, W[i - 1], mog2_sel(at, wsp, W[i]));
            vi = mog2_sel(mv, V[i - 1], mog2_sel(at, vsp, V[i]));
            for (int c = 0; c < C; c++)
                mi[c] = mog2_sel(mv, M[i - 1][c], mog2_sel(at, msp[c], M[i][c]));
            pos = mog2_sel_i(mv, mog2_set1i(i - 1), pos);
        } else {
            wi = mog2_sel(here, wsp, W[0]);
            vi = mog2_sel(here, vsp, V[0]);
            for (int c = 0; c < C; c++)
                mi[c] = mog2_sel(here, msp[c], M[0][c]);
        }
        wi = mog2_sel(renorm & (keep > i), wi * inv1, wi);
        float *s = st + i * MS + off;
        mog2_st(s, wi);
        mog2_st(s + P, vi);
        for (int c = 0; c < C; c++)
            mog2_st(s + (2 + c) * P, mi[c]);
    }
    /* per lane, without branches: learnt lanes get their mode count and flag 1 (done,
       background: mask 0) or 2 (done, not background); the others keep theirs */
    mog2_stb(nmodes, mog2_sel_i(act, keep, nm));
    if (CLS) {     /* classify-only lanes likewise: flag 1 (mask 0) or 2 */
        mog2_stb(flag, mog2_sel_i(act, mog2_set1i(2) + bg,
                                  mog2_sel_i(cls, mog2_set1i(2) + cbg, flag_in)));   /* bg is -1 or 0 */
        mog2_stb(mask, mog2_sel_i((act & bg) | (cls & cbg), mog2_set1i(0), mog2_ldb(mask)));
    } else {
        mog2_stb(flag, mog2_sel_i(act, mog2_set1i(2) + bg, flag_in));
        mog2_stb(mask, mog2_sel_i(act & bg, mog2_set1i(0), mog2_ldb(mask)));
    }
}

/* The general update of the pixels of a row (n pixels from plane offset off) that the
   vectorised pass left with flag 0, MOG2_GW at a time, where a block holds at least
   MOG2_GMIN of them (fewer: cheaper one by one); the others keep their flag for the scalar
   path.  C channels, 1..MOG2_MAXC; models of up to MOG2_KMAX modes (else nothing is done). */
GMMFAST_INLINE void FN(mog2_general_row)(const PIX *src, float *st, ptrdiff_t P, ptrdiff_t MS,
                                         ptrdiff_t off, ptrdiff_t n, uint8_t *nmodes, uint8_t *mask,
                                         uint8_t *flag, const mog2_fast_params *prm, const int C)
{
    const int K = prm->K;
    for (ptrdiff_t i = 0; i + MOG2_GW <= n; i += MOG2_GW) {
        /* a block the common case has done entirely (most blocks of a steady scene): one
           test of its 8 flags (counting them cost 6 % of the kernel at 640x480) */
        uint64_t word;
        memcpy(&word, flag + i, sizeof word);
        if (word == 0x0101010101010101ULL)
            continue;
        /* pixels to learn, and the most modes one of them has, without branches (the
           flags are coin flips on a shaking scene): a bit per mode count seen */
        int cnt = 0, ncls = 0;
        unsigned seen = 1;
        for (int l = 0; l < MOG2_GW; l++) {
            const unsigned a = flag[i + l] == 0, c = flag[i + l] == 3;
            cnt += (int)a;
            ncls += (int)c;
            /* classify-only lanes are done in the block too: their modes must be walked */
            seen |= (a | c) << nmodes[i + l];   /* nmodes <= K <= MOG2_KMAX < 32 */
        }
        if (cnt < MOG2_GMIN)
            continue;
        const int nmax = 31 - __builtin_clz(seen);
        const int L = nmax + 1 < K ? nmax + 1 : K;
        /* L as a literal for grey and RGB models of up to 5 modes (OpenCV's and the
           pipeline's default): the loops over the slots unroll and their vectors stay in
           registers, 7 % of the kernel's time on cdnet-traffic.  Every other case takes the
           loops as they are (a copy per L and C for all of them took minutes to compile). */
        /* the walk for classify-only lanes as a literal too: a block without them (every
           block of a young or a steady model) runs the code it ran before they were added */
        if ((C == 1 || C == 3) && L <= 5) {
            switch (L + 8 * (ncls > 0)) {
#define MOG2_BLOCK_L(l, c) case l + 8 * c: FN(mog2_general_block)(src + i * C, st, P, MS, off + i, \
                                         nmodes + i, mask + i, flag + i, prm, l, C, c); break;
            MOG2_BLOCK_L(1, 0) MOG2_BLOCK_L(2, 0) MOG2_BLOCK_L(3, 0) MOG2_BLOCK_L(4, 0) MOG2_BLOCK_L(5, 0)
            MOG2_BLOCK_L(1, 1) MOG2_BLOCK_L(2, 1) MOG2_BLOCK_L(3, 1) MOG2_BLOCK_L(4, 1) MOG2_BLOCK_L(5, 1)
#undef MOG2_BLOCK_L
            }
        } else {
            FN(mog2_general_block)(src + i * C, st, P, MS, off + i, nmodes + i, mask + i, flag + i,
                                   prm, L, C, ncls > 0);
        }
    }
}

static void FN(mog2_general)(int C, const PIX *src, float *st, ptrdiff_t P, ptrdiff_t MS,
                             ptrdiff_t off, ptrdiff_t n, uint8_t *nmodes, uint8_t *mask,
                             uint8_t *flag, const mog2_fast_params *prm)
{
    if (C < 1 || C > MOG2_MAXC || prm->K < 1 || prm->K > MOG2_KMAX)
        return;
    GMMFAST_LITERAL_1TO4(C, FN(mog2_general_row), src, st, P, MS, off, n, nmodes, mask, flag, prm);
}

#undef MOG2_U8F
#endif /* MOG2_GENERAL */
#undef FN
#undef PIX
