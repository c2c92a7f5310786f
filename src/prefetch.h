/*
 * Software prefetch of a byte range, one request per 64-byte cache line.
 *
 * gmmfast_prefetch_range: into every cache level (prefetcht0 on x86), for data
 * used next.  gmmfast_prefetch_range_l2: into L2 only (prefetcht2), for data
 * used after the current block, so that it does not push that block out of L1.
 * (__builtin_prefetch takes its locality as a literal, hence two functions.)
 */
#ifndef GMMFAST_PREFETCH_H
#define GMMFAST_PREFETCH_H

#include <stddef.h>

static inline void gmmfast_prefetch_range(const void *p, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch((const char *)p + o, 0, 3);
}

static inline void gmmfast_prefetch_range_l2(const void *p, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch((const char *)p + o, 0, 1);
}

#endif
