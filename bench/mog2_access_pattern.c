/*
 * MOG2's memory access pattern at 1080p without its arithmetic: how fast can this
 * machine stream a frame's state?  Per pixel: read the frame (3 B), the mode count
 * and the second mode's weight, read and write the five mode-0 planes, write the mask.
 * "planar" is gmmfast's layout (one plane per field); "aosoa" puts the five fields of
 * 16 pixels in one 320-byte block.  Used in bench/RESULTS.md (session 5) to show that
 * the kernel's per-frame two-thread scaling is not capped by the memory bus.
 *
 *   gcc -O3 -march=native -fopenmp bench/mog2_access_pattern.c -o /tmp/mog2_access && /tmp/mog2_access
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <omp.h>
#define H 1080
#define W 1920
#define N (H*W)
static float *pl, *blk, *w1;
static uint8_t *frame, *nm, *mask;
/* the common-case update of one RGB pixel's heaviest mode (weight w0, variance v0, means
   m0..m2) and its mask byte; both layouts run it, only the addresses differ */
static inline __attribute__((always_inline)) void update(const uint8_t *x, float *w0, float *v0,
        float *m0, float *m1, float *m2, float ww, uint8_t n, uint8_t *o) {
    float d0 = x[0] - *m0, d1 = x[1] - *m1, d2 = x[2] - *m2;
    float dd = d0*d0 + d1*d1 + d2*d2;
    float k = 0.002f / *w0;
    *m0 += k*d0; *m1 += k*d1; *m2 += k*d2;
    *v0 += k*(dd - *v0);
    *w0 = 0.998f * *w0 + 0.002f + ww*1e-9f + n*1e-9f;
    *o = (uint8_t)(dd < 16.0f * *v0) * 255;
}
static void planar(int nt) {
    #pragma omp parallel for schedule(dynamic, 33) num_threads(nt)
    for (int y = 0; y < H; y++) {
        float *w0 = pl + y*W, *v0 = pl + (size_t)N + y*W, *m0 = pl + 2*(size_t)N + y*W, *m1 = pl + 3*(size_t)N + y*W, *m2 = pl + 4*(size_t)N + y*W;
        const uint8_t *f = frame + (size_t)y*W*3; const float *ww = w1 + y*W; uint8_t *o = mask + y*W; const uint8_t *n = nm + y*W;
        #pragma omp simd
        for (int i = 0; i < W; i++)
            update(f + 3*i, w0 + i, v0 + i, m0 + i, m1 + i, m2 + i, ww[i], n[i], o + i);
    }
}
static void aosoa(int nt) {
    #pragma omp parallel for schedule(dynamic, 33) num_threads(nt)
    for (int y = 0; y < H; y++) {
        const uint8_t *f = frame + (size_t)y*W*3; const float *ww = w1 + y*W; uint8_t *o = mask + y*W; const uint8_t *n = nm + y*W;
        for (int g = 0; g < W/16; g++) {
            float *b = blk + ((size_t)y*(W/16) + g)*80;
            float *w0 = b, *v0 = b + 16, *m0 = b + 32, *m1 = b + 48, *m2 = b + 64;
            const int i0 = g*16;
            #pragma omp simd
            for (int l = 0; l < 16; l++) {
                int i = i0 + l;
                update(f + 3*i, w0 + l, v0 + l, m0 + l, m1 + l, m2 + l, ww[i], n[i], o + i);
            }
        }
    }
}
int main(void) {
    pl = aligned_alloc(64, (size_t)5*N*4 + 4096*5); blk = aligned_alloc(64, (size_t)5*N*4); w1 = aligned_alloc(64, (size_t)N*4);
    frame = aligned_alloc(64, (size_t)N*3); nm = aligned_alloc(64, N); mask = aligned_alloc(64, N);
    for (size_t i = 0; i < (size_t)5*N; i++) { pl[i] = 1.0f + (i % 7); blk[i] = 1.0f + (i % 7); }
    for (size_t i = 0; i < (size_t)N; i++) { w1[i] = 0.1f; nm[i] = 1; mask[i] = 0; }
    for (size_t i = 0; i < (size_t)N*3; i++) frame[i] = i % 251;
    for (int r = 0; r < 4; r++) {
        double t[4];
        for (int v = 0; v < 4; v++) {
            int nt = v % 2 + 1;
            (v < 2 ? planar : aosoa)(nt);
            double best = 1e9;
            for (int it = 0; it < 8; it++) { double t0 = omp_get_wtime(); (v < 2 ? planar : aosoa)(nt); double d = omp_get_wtime() - t0; if (d < best) best = d; }
            t[v] = best * 1e3;
        }
        printf("planar 1t %.2f 2t %.2f (x%.2f) | aosoa 1t %.2f 2t %.2f (x%.2f)\n", t[0], t[1], t[0]/t[1], t[2], t[3], t[2]/t[3]);
    }
}
