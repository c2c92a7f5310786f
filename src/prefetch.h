/*
 * Software prefetch of a byte range, one request per 64-byte cache line.
 *
 * gmmfast_prefetch_range: into every cache level (prefetcht0 on x86), for data
 * used next.  gmmfast_prefetch_range_l2: into L2 only (prefetcht2), for data
 * used after the current block, so that it does not push that block out of L1.
 */
#ifndef GMMFAST_PREFETCH_H
#define GMMFAST_PREFETCH_H

#include <stddef.h>

/* the locality of __builtin_prefetch must be a literal, hence a macro per level */
#define GMMFAST_PREFETCH_LINES(p, bytes, locality)                                    \
    do {                                                                              \
        const char *c_ = (const char *)(p);                                           \
        for (size_t o_ = 0; o_ < (bytes); o_ += 64) __builtin_prefetch(c_ + o_, 0, locality); \
    } while (0)

static inline void gmmfast_prefetch_range(const void *p, size_t bytes)
{
    GMMFAST_PREFETCH_LINES(p, bytes, 3);
}

static inline void gmmfast_prefetch_range_l2(const void *p, size_t bytes)
{
    GMMFAST_PREFETCH_LINES(p, bytes, 1);
}

#endif
