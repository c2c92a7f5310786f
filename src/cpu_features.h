/* What the running CPU (and OS) support, for picking a kernel variant.
 *
 * Read from CPUID and XGETBV directly, the same code for GCC, Clang and clang-cl (no
 * libgcc/compiler-rt __builtin_cpu_supports, which clang-cl on Windows does not link).
 * A variant may run only when the CPU has every extension its -march lets the compiler
 * use, not just the vector ones: the avx2 variant is compiled for Haswell, so besides
 * AVX2 and FMA the code may hold BMI1/BMI2, LZCNT, MOVBE and F16C instructions (the
 * x86-64-v3 set); the avx512 variant adds AVX-512 F, BW, CD, DQ and VL (x86-64-v4).
 * Virtual machines do expose AVX2 with some of the others masked.  The OS must also
 * save the wider registers on a context switch (XCR0), or they are unusable. */
#ifndef GMMFAST_CPU_FEATURES_H
#define GMMFAST_CPU_FEATURES_H

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define GMMFAST_X86 1

#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
static void gmmfast_cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    int x[4];
    __cpuidex(x, (int)leaf, (int)sub);
    for (int i = 0; i < 4; i++) r[i] = (unsigned)x[i];
}
static unsigned long long gmmfast_xcr0(void)
{
    return _xgetbv(0);
}
#else
#include <cpuid.h>
static void gmmfast_cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    if (leaf > (unsigned)__get_cpuid_max(leaf & 0x80000000u, 0)) {
        r[0] = r[1] = r[2] = r[3] = 0;
        return;
    }
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}
static unsigned long long gmmfast_xcr0(void)
{
    unsigned lo, hi;
    /* the instruction's bytes: assemblers older than XSAVE, and -march=x86-64, take them */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

#define GMMFAST_BIT(reg, n) (((reg) >> (n)) & 1u)

static int gmmfast_cpu_has_avx2_fma(void)
{
    unsigned l1[4], l7[4], e1[4];
    gmmfast_cpuid(1, 0, l1);
    gmmfast_cpuid(7, 0, l7);
    gmmfast_cpuid(0x80000001u, 0, e1);
    /* leaf 1 ECX: FMA 12, MOVBE 22, OSXSAVE 27, AVX 28, F16C 29 */
    int v3 = GMMFAST_BIT(l1[2], 12) && GMMFAST_BIT(l1[2], 22) && GMMFAST_BIT(l1[2], 27)
        && GMMFAST_BIT(l1[2], 28) && GMMFAST_BIT(l1[2], 29)
        /* leaf 7 EBX: BMI1 3, AVX2 5, BMI2 8; leaf 0x80000001 ECX: LZCNT 5 */
        && GMMFAST_BIT(l7[1], 3) && GMMFAST_BIT(l7[1], 5) && GMMFAST_BIT(l7[1], 8)
        && GMMFAST_BIT(e1[2], 5);
    /* XCR0 bits 1-2: the OS saves the SSE and AVX (ymm) state */
    return v3 && (gmmfast_xcr0() & 0x6u) == 0x6u;
}

static int gmmfast_cpu_has_avx512(void)
{
    unsigned l7[4];
    if (!gmmfast_cpu_has_avx2_fma()) return 0;
    gmmfast_cpuid(7, 0, l7);
    /* leaf 7 EBX: AVX512F 16, DQ 17, CD 28, BW 30, VL 31 */
    int v4 = GMMFAST_BIT(l7[1], 16) && GMMFAST_BIT(l7[1], 17) && GMMFAST_BIT(l7[1], 28)
        && GMMFAST_BIT(l7[1], 30) && GMMFAST_BIT(l7[1], 31);
    /* XCR0 bits 5-7: the opmask, upper-ZMM and high-ZMM state */
    return v4 && (gmmfast_xcr0() & 0xE6u) == 0xE6u;
}

#else /* not x86: one portable variant */

static int gmmfast_cpu_has_avx2_fma(void)
{
    return 0;
}

static int gmmfast_cpu_has_avx512(void)
{
    return 0;
}

#endif
#endif
