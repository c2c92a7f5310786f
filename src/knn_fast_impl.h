/*
 * The count of knn_fast.h for one sample type (see template.h): included once per type with
 *   KNN_SAMP  the samples' (and frames') element type: uint8_t or float
 *   KNN_ACC   the type distances are summed in: float for uint8_t, double for float
 *   KNN_SUF   u8 or f32: the suffix of every name defined here
 * which this file #undefs at its end.
 */
#define SAMP KNN_SAMP
#define ACC KNN_ACC
#define FN(name) GMMFAST_NAME(name, KNN_SUF)

/* Squared distance between x (channel c at xs[c * W]) and the record of pixel i in the
   sample plane s (already at the row), and that record's flag. */
GMMFAST_INLINE ACC FN(knn_terms)(const ACC *restrict xs, ptrdiff_t W, const SAMP *restrict s,
                                 ptrdiff_t i, uint8_t *flag, const int C)
{
    ACC d2 = 0;
    if (sizeof(SAMP) == 1) {
        /* the record as one word, so that a sample costs one load (32-bit lanes but
           for 4 channels, whose 8-byte records need 64-bit ones) */
        if (C == 4) {
            const uint64_t v = ((const knn_w64 *)s)[i];
            _Pragma("GCC unroll 4")
            for (int c = 0; c < C; c++) {
                const ACC d = xs[c * W] - (ACC)(uint32_t)((v >> (8 * c)) & 255u);
                d2 += d * d;
            }
            *flag = (uint8_t)((v >> 56) & 1u);
        } else {
            const uint32_t v = C == 1 ? (uint32_t)((const knn_w16 *)s)[i] : (uint32_t)((const knn_w32 *)s)[i];
            _Pragma("GCC unroll 4")
            for (int c = 0; c < C; c++) {
                const ACC d = xs[c * W] - (ACC)((v >> (8 * c)) & 255u);
                d2 += d * d;
            }
            *flag = (uint8_t)((v >> (8 * (KNN_RECORD(C) - 1))) & 1u);
        }
    } else {
        const SAMP *r = s + i * KNN_RECORD(C);
        _Pragma("GCC unroll 4")
        for (int c = 0; c < C; c++) {
            const ACC d = xs[c * W] - (ACC)r[c];
            d2 += d * d;
        }
        *flag = (uint8_t)(r[KNN_RECORD(C) - 1] != 0);
    }
    return d2;
}

/* The count of a row of n pixels (and nc: the confirmed samples among those compared,
   all of them for a pixel left with pbf < k).  It runs sample after sample over the whole
   row with SIMD lanes while more than 1/16 of the pixels are unsettled (pbf < k), then
   finishes the few that are left one by one (their indices go to `left`, n int32).
   Foreground pixels are scattered: a lane-wise stop for whole blocks of pixels would keep
   every block with one of them on all 3N samples. */
GMMFAST_INLINE void FN(knn_count_row)(const ACC *restrict xs, ptrdiff_t W, const SAMP *restrict sp,
                                      ptrdiff_t SS, int S, ptrdiff_t n, ACC T, int k,
                                      uint8_t *restrict pb, uint8_t *restrict pbf,
                                      uint8_t *restrict nc, int32_t *restrict left, const int C)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        pb[i] = 0;
        pbf[i] = 0;
        nc[i] = 0;
    }
    int j = 0;
    uint32_t unsettled = (uint32_t)n;
    while (j < S) {
        const SAMP *restrict s = sp + j * SS;
        _Pragma("omp simd")
        for (ptrdiff_t i = 0; i < n; i++) {
            uint8_t flag;
            const uint8_t m = (uint8_t)(FN(knn_terms)(xs + i, W, s, i, &flag, C) < T);
            pb[i] = (uint8_t)(pb[i] + m);
            pbf[i] = (uint8_t)(pbf[i] + (m & flag));
            nc[i] = (uint8_t)(nc[i] + flag);
        }
        j++;
        if (j >= k) {
            unsettled = 0;
            for (ptrdiff_t i = 0; i < n; i++)
                unsettled += (uint32_t)(pbf[i] < k);
            if ((ptrdiff_t)unsettled * 16 <= n)
                break;
        }
    }
    if (j >= S || unsettled == 0)
        return;
    ptrdiff_t nl = 0;
    for (ptrdiff_t i = 0; i < n; i++)
        if (pbf[i] < k)
            left[nl++] = (int32_t)i;
    for (ptrdiff_t q = 0; q < nl; q++) {
        const ptrdiff_t i = left[q];
        int b = pb[i], f = pbf[i], cf = nc[i];
        for (int jj = j; jj < S && f < k; jj++) {
            uint8_t flag;
            const int m = FN(knn_terms)(xs + i, W, sp + jj * SS, i, &flag, C) < T;
            b += m;
            f += m & flag;
            cf += flag;
        }
        pb[i] = (uint8_t)b;
        pbf[i] = (uint8_t)f;
        nc[i] = (uint8_t)cf;
    }
}

/* C channels, 1 to 4 (other counts are refused by the caller). */
static void FN(knn_count)(int C, const ACC *xs, ptrdiff_t W, const SAMP *sp, ptrdiff_t SS, int S,
                          ptrdiff_t n, ACC T, int k, uint8_t *pb, uint8_t *pbf, uint8_t *nc,
                          int32_t *left)
{
    GMMFAST_LITERAL_1TO4(C, FN(knn_count_row), xs, W, sp, SS, S, n, T, k, pb, pbf, nc, left);
}

/* The row's C interleaved channels as C planes of W values. */
static void FN(knn_planes)(int C, const SAMP *restrict src, ptrdiff_t n, ACC *restrict xs, ptrdiff_t W)
{
    if (C == 1) {
        for (ptrdiff_t i = 0; i < n; i++)
            xs[i] = (ACC)src[i];
    } else if (C == 3) {
        for (ptrdiff_t i = 0; i < n; i++) {
            xs[i] = (ACC)src[3 * i];
            xs[W + i] = (ACC)src[3 * i + 1];
            xs[2 * W + i] = (ACC)src[3 * i + 2];
        }
    } else {
        for (int c = 0; c < C; c++)
            for (ptrdiff_t i = 0; i < n; i++)
                xs[c * W + i] = (ACC)src[C * i + c];
    }
}

#undef FN
#undef ACC
#undef SAMP
#undef KNN_SAMP
#undef KNN_ACC
#undef KNN_SUF
