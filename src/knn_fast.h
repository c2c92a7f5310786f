/*
 * Vectorised parts of the non-parametric (KNN) background model (see _knn.pyx).
 *
 * A pixel's model is S = 3N stored samples.  Classifying a value x counts the samples
 * within the squared distance T of x: all of them (pb, which decides whether x itself
 * will be a "confirmed" sample when stored) and the confirmed ones only (pbf; x is
 * background when pbf >= k).  A settled background pixel has k confirmed matches among
 * its first samples, so the count goes sample by sample and stops for a pixel once
 * pbf >= k; the results do not depend on where it stops (pbf >= k decides the mask,
 * and pb >= pbf >= k the flag).
 *
 * Layout: one plane per sample j (at sp + j * SS elements, SS >= H * W * R), holding
 * for every pixel a record of R elements: its C channels, then unused elements, then
 * the confirmation flag (0 or 1) in the last one.  R = 2 for grey frames, 4 for 2 or 3
 * channels, 8 for 4, so that a pixel's sample is one aligned word: the count reads one
 * stream per sample and a stored sample is one store.  The frame's row is first copied
 * into C planes of ACC (xs[c * W + i]).
 *
 * Arithmetic: uint8 models count in float (differences, squares and their sums of
 * integers up to 4 * 255^2 are exact in float), float models in double (a difference
 * of two floats of like size and its square are exact in double), so a distance never
 * depends on the order of the sum or on whether the compiler fuses multiply and add.
 */
#ifndef GMMFAST_KNN_FAST_H
#define GMMFAST_KNN_FAST_H

#include <stddef.h>
#include <stdint.h>
#include "template.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "knn_fast.h reads uint8 records as little-endian words"
#endif

/* Elements per record for C channels (C + 1 rounded up to a power of two). */
#define KNN_RECORD(C) ((C) == 1 ? 2 : ((C) <= 3 ? 4 : 8))

/* uint8 records are read as one word (little-endian: channel c is byte c, the flag the
   last byte).  may_alias: the same bytes are written one by one elsewhere. */
typedef uint16_t __attribute__((may_alias)) knn_w16;
typedef uint32_t __attribute__((may_alias)) knn_w32;
typedef uint64_t __attribute__((may_alias)) knn_w64;

/* Indices of the nonzero bytes of v[0 .. n-1] into idx; returns how many.  Eight bytes
   at a time, and within a word only its nonzero bytes are visited (lowest set bit
   first), so the cost follows the number of hits, not of pixels. */
static ptrdiff_t knn_nonzero(const uint8_t* restrict v, ptrdiff_t n, int32_t* restrict idx)
{
    ptrdiff_t m = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        __builtin_memcpy(&w, v + i, 8);
        while (w) {
            const int b = __builtin_ctzll(w) >> 3;
            idx[m++] = (int32_t)(i + b);
            w &= ~(0xFFull << (8 * b));
        }
    }
    for (; i < n; i++)
        if (v[i])
            idx[m++] = (int32_t)i;
    return m;
}

/* Copy one record of `bytes` (2, 4, 8, 16 or 32) bytes: a fixed-size copy the compiler
   turns into one or two moves. */
static inline void knn_copy_record(void* restrict dst, const void* restrict src, int bytes)
{
    switch (bytes) {
    case 2: __builtin_memcpy(dst, src, 2); break;
    case 4: __builtin_memcpy(dst, src, 4); break;
    case 8: __builtin_memcpy(dst, src, 8); break;
    case 16: __builtin_memcpy(dst, src, 16); break;
    default: __builtin_memcpy(dst, src, 32); break;
    }
}

/* MurmurHash3's 32-bit finaliser (Appleby, public domain): every input bit reaches every
   output bit, so consecutive pixel indices give independent-looking values. */
static inline uint32_t knn_fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

/* The frame of the period (0 .. period - 1) at which each of n pixels, numbered from
   `first`, takes its sample; `key` is the period's own random key.  Drawn without a
   generator state, so any thread can draw any row, in any order, with the same result. */
static void knn_draw_slots(uint16_t* restrict slot, ptrdiff_t n, uint32_t first, uint32_t key,
                           uint32_t period)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        const uint32_t h = knn_fmix32((first + (uint32_t)i) * 0x9E3779B1u + key);
        slot[i] = (uint16_t)(((uint64_t)h * period) >> 32);
    }
}

/* due[i]: bit s set when set s (0 short, 1 mid, 2 long) takes a sample at this frame,
   i.e. when the pixel's slot of the period is the frame's position c[s] in it; 0 for
   pixels that are not to be learnt (known[i] != 0, if known is given). */
static void knn_due(const uint16_t* restrict s0, const uint16_t* restrict s1,
                    const uint16_t* restrict s2, const uint8_t* restrict known, ptrdiff_t n,
                    uint16_t c0, uint16_t c1, uint16_t c2, uint8_t* restrict due)
{
    if (known) {
        for (ptrdiff_t i = 0; i < n; i++)
            due[i] = (uint8_t)(((s0[i] == c0) | ((s1[i] == c1) << 1) | ((s2[i] == c2) << 2))
                               * (known[i] == 0));
    } else {
        for (ptrdiff_t i = 0; i < n; i++)
            due[i] = (uint8_t)((s0[i] == c0) | ((s1[i] == c1) << 1) | ((s2[i] == c2) << 2));
    }
}

/* The count and the row copy, once per sample type (knn_fast_impl.h): uint8 samples
   counted in float, float samples in double. */
#define KNN_SAMP uint8_t
#define KNN_ACC float
#define KNN_SUF u8
#include "knn_fast_impl.h"
#define KNN_SAMP float
#define KNN_ACC double
#define KNN_SUF f32
#include "knn_fast_impl.h"

#endif
