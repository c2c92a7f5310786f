/*
 * Which OpenMP threads have run an iteration of a module's parallel loops since the
 * last gmmfast_team_reset(): one bit per thread number (modulo 64).  The tests that
 * compare one thread with two read it to check that the two-thread run really split its
 * work.  One word per module: calls from several Python threads at once mix their bits,
 * so it is a diagnostic, never part of a result.
 */
#ifndef GMMFAST_TEAM_H
#define GMMFAST_TEAM_H

#include <omp.h>

static unsigned long long gmmfast_team_bits;

static void gmmfast_team_reset(void)
{
    #pragma omp atomic write
    gmmfast_team_bits = 0;
}

/* A thread's first iteration sets its bit; later ones only read the word, so its cache
   line stays shared instead of moving between cores. */
static inline void gmmfast_team_mark(void)
{
    const unsigned long long bit = 1ULL << (omp_get_thread_num() & 63);
    unsigned long long seen;
    #pragma omp atomic read
    seen = gmmfast_team_bits;
    if (!(seen & bit)) {
        #pragma omp atomic update
        gmmfast_team_bits |= bit;
    }
}

static int gmmfast_team_count(void)
{
    unsigned long long seen;
    int n = 0;
    #pragma omp atomic read
    seen = gmmfast_team_bits;
    for (; seen; seen &= seen - 1) n++;
    return n;
}

#endif
