/*
 * Where one EM pass spends its time, phase by phase, for each covariance kind: the
 * issue-2 shape (1M x 3 float32 points, K = 5, one thread), with the kernels of
 * src/gmm_small.h called the way src/_gmm.pyx's em_pass calls them, chunk by chunk.
 * (tied: the first component's factor for all.)  Each row times the pass cumulatively (transpose; + log-probabilities; +
 * normalisation, i.e. the K exponentials, their sum, the responsibilities and the
 * log-likelihood; + statistics), best of --reps passes, and prints the increments.
 * Used in bench/RESULTS.md (session 7) to show which part of a pass a covariance
 * type can make cheaper: only the log-probabilities and the statistics differ.
 *
 * The points are a synthetic RGB-like image (five colour clusters in [0, 255]),
 * and the parameters those clusters' own, so the exponentials see realistic ranges.
 *
 *   gcc -O3 -march=x86-64-v4 -mprefer-vector-width=512 -fopenmp-simd -fno-math-errno \
 *       -fno-trapping-math -Isrc bench/em_pass_phases.c -o /tmp/em_phases -lm && /tmp/em_phases 20
 * (-march=haswell for the avx2 kernels, -march=x86-64 for the baseline ones.)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "gmm_small.h"
#include "prefetch.h"

#define CH 512      /* CHUNK in src/_chunks.pxd */
#define K 5
#define D 3
#define N (1 << 20)

enum { FULL, DIAG, SPHERICAL, TIED };
static const char *kind_name[] = {"full", "diag", "spherical", "tied"};

static float X[(size_t)N * D];
static float buf[(2 * D + 4 + 2 * K) * CH] __attribute__((aligned(64)));
static float means[K * D], prec_full[K * D * D], prec_diag[K * D], prec_sph[K], log_const[K];

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* mode 0: transpose; 1: + log-probabilities; 2: + normalisation; 3: + statistics */
__attribute__((noinline)) static double pass(int kind, int mode, double *out)
{
    float *xT = buf, *tbuf = buf + (2 * D + 2) * CH, *lp = buf + (2 * D + 4) * CH;
    float *sq = lp + K * CH, *z = buf + D * CH;
    const float h = (float)(0.5 * GMM_LOG2E);
    double ll = 0;
    for (long s = 0; s < N; s += CH) {
        long n = N - s < CH ? N - s : CH;
        if (s + 2 * CH < N) gmmfast_prefetch_range_l2(X + (s + 2 * CH) * D, CH * D * sizeof(float));
        const float *x = X + s * D;
        for (long i = 0; i < n; i++) {
            xT[i] = x[3 * i];
            xT[CH + i] = x[3 * i + 1];
            xT[2 * CH + i] = x[3 * i + 2];
        }
        if (mode < 1) { ll += xT[7]; continue; }
        if (kind == TIED) gmm_small_tied_z_f32(xT, n, CH, D, prec_full, z);
        for (int k = 0; k < K; k++) {
            const float c = (float)(log_const[k] * GMM_LOG2E);
            if (kind == TIED) {
                float w[D];
                for (int j = 0; j < D; j++) {
                    double t = 0;
                    for (int l = 0; l <= j; l++) t += (double)prec_full[l * D + j] * means[k * D + l];
                    w[j] = (float)t;
                }
                gmm_small_logprob_sph_f32(z, n, CH, D, w, c, h, lp + k * CH, NULL);
            } else if (kind == SPHERICAL)
                gmm_small_logprob_sph_f32(xT, n, CH, D, means + k * D, c,
                                          (float)(h * (double)prec_sph[k] * prec_sph[k]),
                                          lp + k * CH, sq + k * CH);
            else
                gmm_small_logprob_f32(xT, n, CH, D, kind == FULL, means + k * D,
                                      kind == FULL ? prec_full + k * D * D : prec_diag + k * D,
                                      c, h, lp + k * CH);
        }
        if (mode < 2) { ll += lp[7]; continue; }
        gmm_small_normalise_em_f32(lp, n, CH, K, tbuf, &ll);
        if (mode < 3) continue;
        for (int k = 0; k < K; k++) {
            if (kind == SPHERICAL)
                gmm_small_stats_sph_f32(xT, lp + k * CH, NULL, sq + k * CH, n, CH, D,
                                        means + k * D, out + k * 10);
            else
                gmm_small_stats_f32(xT, lp + k * CH, NULL, n, CH, D, kind == FULL || kind == TIED,
                                    means + k * D, out + k * 10);
        }
    }
    return ll;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 20;
    const float centre[K][D] = {{50, 85, 50}, {150, 115, 40}, {30, 40, 28}, {105, 125, 115},
                                {205, 180, 60}};
    const float sd[K] = {12, 20, 8, 25, 15};
    const float w[K] = {0.3f, 0.15f, 0.25f, 0.2f, 0.1f};
    srand(1);
    for (long i = 0; i < N; i++) {
        float u = rand() / (RAND_MAX + 1.0f), acc = 0;
        int k = 0;
        while (k < K - 1 && u >= (acc += w[k])) k++;
        for (int j = 0; j < D; j++) {
            /* sum of three uniforms: a cheap bell shape */
            float g = (rand() + rand() + rand()) / (RAND_MAX + 1.0f) - 1.5f;
            float v = centre[k][j] + 2.0f * sd[k] * g;
            X[i * D + j] = v < 0 ? 0 : v > 255 ? 255 : roundf(v);
        }
    }
    for (int k = 0; k < K; k++) {
        const float q = 1.0f / sd[k];
        for (int j = 0; j < D; j++) {
            means[k * D + j] = centre[k][j];
            prec_diag[k * D + j] = q;
            for (int l = 0; l < D; l++) prec_full[k * D * D + j * D + l] = j == l ? q : j < l ? 0.1f * q : 0;
        }
        prec_sph[k] = q;
        log_const[k] = logf(w[k]) - 1.5f * logf(2 * 3.14159265f) + D * logf(q);
    }
    double out[K * 10];
    printf("1M x 3 float32, K = 5, one thread, best of %d passes, ms (increment over the row before)\n", reps);
    printf("%-10s %20s %20s %20s %20s\n", "kind", "transpose", "+ log-probabilities",
           "+ normalisation", "+ statistics");
    for (int kind = 0; kind < 4; kind++) {
        double prev = 0;
        printf("%-10s", kind_name[kind]);
        for (int mode = 0; mode < 4; mode++) {
            double best = 1e9;
            for (int r = 0; r < reps; r++) {
                memset(out, 0, sizeof out);
                double t0 = now();
                pass(kind, mode, out);
                double t = now() - t0;
                if (t < best) best = t;
            }
            printf("      %5.2f (+%5.2f)", best * 1e3, (best - prev) * 1e3);
            prev = best;
        }
        printf("\n");
    }
    return 0;
}
