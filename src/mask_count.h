/*
 * Binary rank filter of a mask (edges replicated) with byte counts, for the clean-up
 * of the background pipeline (_mog2.pyx window_count_filter, _mog2fb.pyx clean_blink).
 *
 * dst[y, x] = 1 where the (2r+1)^2 window around (y, x) holds >= lo non-zeros, else 0.
 * Separable: per row a count of each column over 2r+1 rows, then the sum of 2r+1
 * neighbouring column counts.  Counts are bytes ((2r+1)^2 <= 225 for r <= 7), so a
 * vector holds 32 pixels with AVX2 (16-bit counts promoted to 32-bit sums held 8), and
 * the column counts of a row are those of the row above plus the row entering the
 * window less the one leaving it, not a new sum of 2r+1 rows.  Integer counts: any
 * order gives the same result.
 */
#ifndef GMMFAST_MASK_COUNT_H
#define GMMFAST_MASK_COUNT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MASK_COUNT_MAX_R 7

static inline ptrdiff_t mask_count_clamp(ptrdiff_t y, ptrdiff_t H)
{
    return y < 0 ? 0 : (y > H - 1 ? H - 1 : y);
}

/* column counts of row y: col[r + i] = #{t in -r..r : src[clamp(y + t), i] != 0} */
static inline void mask_count_columns(const uint8_t *src, ptrdiff_t H, ptrdiff_t W, int r,
                                      ptrdiff_t y, uint8_t *restrict col)
{
    uint8_t *restrict c = col + r;
    memset(c, 0, (size_t)W);
    for (int t = -r; t <= r; t++) {
        const uint8_t *restrict row = src + mask_count_clamp(y + t, H) * W;
        for (ptrdiff_t i = 0; i < W; i++) c[i] = (uint8_t)(c[i] + (row[i] != 0));
    }
}

/* the counts of row y from those of row y - 1 */
static inline void mask_count_slide(const uint8_t *src, ptrdiff_t H, ptrdiff_t W, int r,
                                    ptrdiff_t y, uint8_t *restrict col)
{
    const uint8_t *restrict add = src + mask_count_clamp(y + r, H) * W;
    const uint8_t *restrict sub = src + mask_count_clamp(y - r - 1, H) * W;
    uint8_t *restrict c = col + r;
    if (add == sub) return;     /* both clamped to the same edge row */
    for (ptrdiff_t i = 0; i < W; i++) c[i] = (uint8_t)(c[i] + (add[i] != 0) - (sub[i] != 0));
}

/* one output row from the column counts (col has r pads each side, set here) */
static inline void mask_count_row(uint8_t *restrict col, ptrdiff_t W, int r, int lo,
                                  uint8_t *restrict out)
{
    const uint8_t l = (uint8_t)lo;
    for (int j = 0; j < r; j++) {
        col[j] = col[r];
        col[r + W + j] = col[r + W - 1];
    }
    if (r == 1) {
        for (ptrdiff_t i = 0; i < W; i++) {
            uint8_t s = (uint8_t)(col[i] + col[i + 1] + col[i + 2]);
            out[i] = s >= l;
        }
    } else if (r == 2) {
        for (ptrdiff_t i = 0; i < W; i++) {
            uint8_t s = (uint8_t)(col[i] + col[i + 1] + col[i + 2] + col[i + 3] + col[i + 4]);
            out[i] = s >= l;
        }
    } else {
        /* out as the accumulator: it is overwritten with 0/1 at the end */
        memcpy(out, col, (size_t)W);
        for (int j = 1; j <= 2 * r; j++) {
            const uint8_t *restrict cj = col + j;
            for (ptrdiff_t i = 0; i < W; i++) out[i] = (uint8_t)(out[i] + cj[i]);
        }
        for (ptrdiff_t i = 0; i < W; i++) out[i] = out[i] >= l;
    }
}

/* rows y0 .. y1 - 1 of dst; col: W + 2r bytes of scratch; lo in 1 .. (2r+1)^2 */
static inline void mask_count_rows(const uint8_t *src, uint8_t *dst, ptrdiff_t H, ptrdiff_t W,
                                   int r, int lo, ptrdiff_t y0, ptrdiff_t y1, uint8_t *col)
{
    for (ptrdiff_t y = y0; y < y1; y++) {
        if (y == y0) mask_count_columns(src, H, W, r, y, col);
        else mask_count_slide(src, H, W, r, y, col);
        mask_count_row(col, W, r, lo, dst + y * W);
    }
}

/* Blinking score of one row after the clean-up (see _mog2fb.pyx blink): the same float
 * operations per pixel as the scalar rule, selects instead of branches so that it
 * vectorises; the previous masks then take this row's. */
static inline void mask_blink_row(const uint8_t *restrict cand, const uint8_t *restrict fin,
                                  uint8_t *restrict cand_prev, uint8_t *restrict fin_prev,
                                  float *restrict v, ptrdiff_t W, float v_incr, float v_decr,
                                  float v_max)
{
    for (ptrdiff_t x = 0; x < W; x++) {
        int b = (cand[x] != cand_prev[x]) & (fin[x] == 0) & (fin_prev[x] == 0);
        float up = v[x] + v_incr, down = v[x] - v_decr;
        float s = b ? up : down;
        s = s < 0.0f ? 0.0f : s;
        s = s > v_max ? v_max : s;
        v[x] = s;
        cand_prev[x] = cand[x];
        fin_prev[x] = fin[x];
    }
}

/* Foreground-run counter and held pixels of one row (see _mog2fb.pyx hold): run counts the
 * frames in a row the cleaned mask has called the pixel foreground (saturating at 255, 0 on
 * background); core = 1 for a foreground pixel in the first max_run frames of its run whose
 * blinking score is at most v_on.  Products and masks instead of ?: so that it vectorises
 * (with ?: GCC kept a branch per pixel). */
static inline void mask_hold_row(const uint8_t *restrict fin, const float *restrict v,
                                 uint8_t *restrict run, uint8_t *restrict core, ptrdiff_t W,
                                 float v_on, int max_run)
{
    uint8_t lim = (uint8_t)(max_run > 255 ? 255 : max_run);
    for (ptrdiff_t x = 0; x < W; x++) {
        uint8_t f = (uint8_t)(fin[x] != 0);
        uint8_t r = (uint8_t)((run[x] + (run[x] != 255)) * f);
        run[x] = r;
        core[x] = (uint8_t)(f & (r <= lim) & (v[x] <= v_on));
    }
}

#endif
