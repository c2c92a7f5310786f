/*
 * Row prepass of the displacement suppression (_mog2fb.pyx suppress): with SIMD lanes,
 * out[x] = 1 where the mixture's mask is foreground (raw == 255), else 0, and
 * flag[x] = 1 where such a pixel is a candidate for the neighbourhood search (its
 * blinking score not <= v_on, and it has modes).  The per-pixel loop that decided this
 * with two data-dependent branches (11 % of the traffic clip's pixels are foreground)
 * spent ~20 % of the suppression's time on them.
 */
#ifndef GMMFAST_MOG2FB_ROWS_H
#define GMMFAST_MOG2FB_ROWS_H

#include <stddef.h>
#include <stdint.h>

static inline void mog2fb_prepass(const uint8_t *restrict raw, const float *restrict v,
                                  const uint8_t *restrict nmodes, uint8_t *restrict out,
                                  uint8_t *restrict flag, ptrdiff_t W, float v_on)
{
    for (ptrdiff_t x = 0; x < W; x++) {
        uint8_t fg = raw[x] == 255;
        out[x] = fg;
        flag[x] = fg & !(v[x] <= v_on) & (nmodes[x] != 0);
    }
}

/* Rows of the camera-shake search's pyramid (_mog2fb.pyx frame_levels, edge_strength,
 * half_sum).  Written here rather than in Cython for `restrict`: without it the
 * compiler guards each loop with overlap checks and, for the 2x2 sums, kept it scalar
 * (frame_levels at 320x240: 71 us with the Cython rows, 58 us with these). */

/* one row of edge strength: |below - r| + |right neighbour - r|, 0 in the last column */
static inline void shake_edge_row(const int32_t *restrict r, const int32_t *restrict below,
                                  int32_t *restrict out, ptrdiff_t W)
{
    for (ptrdiff_t x = 0; x + 1 < W; x++) {
        int32_t dy = below[x] - r[x], dx = r[x + 1] - r[x];
        out[x] = (dy < 0 ? -dy : dy) + (dx < 0 ? -dx : dx);
    }
    if (W > 0)
        out[W - 1] = 0;
}

#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define SHAKE_HAVE_SHUFFLE 1     /* __builtin_shufflevector */
/* 8 int32 lanes, loaded and stored at any int32 address */
typedef int32_t shake_v8 __attribute__((vector_size(32), aligned(4)));
#else
#define SHAKE_HAVE_SHUFFLE 0
#endif

/* one row of 2x2 block sums of rows r0 and r1 (W output columns) */
static inline void shake_half_row(const int32_t *restrict r0, const int32_t *restrict r1,
                                  int32_t *restrict out, ptrdiff_t W)
{
    ptrdiff_t x = 0;
#if SHAKE_HAVE_SHUFFLE
    /* the two rows added, then the even and odd columns of 16 sums gathered and added
       (left to itself, GCC 12 kept the stride-2 loop scalar: half_sum at 320x240 took
       28.7 us, 14.4 us this way); integer sums, so the order of the additions does not matter */
    for (; x + 8 <= W; x += 8) {
        shake_v8 a = *(const shake_v8 *)(r0 + 2 * x) + *(const shake_v8 *)(r1 + 2 * x);
        shake_v8 b = *(const shake_v8 *)(r0 + 2 * x + 8) + *(const shake_v8 *)(r1 + 2 * x + 8);
        *(shake_v8 *)(out + x) = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14)
                               + __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15);
    }
#endif
    for (; x < W; x++)
        out[x] = r0[2 * x] + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1];
}

#endif
