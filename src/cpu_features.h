/* What the running CPU (and OS) support, for picking a kernel variant. */
#ifndef GMMFAST_CPU_FEATURES_H
#define GMMFAST_CPU_FEATURES_H

static int gmmfast_cpu_has_avx2_fma(void)
{
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    /* libgcc's probe also checks that the OS saves the AVX registers (XGETBV). */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static int gmmfast_cpu_has_avx512(void)
{
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    /* The x86-64-v4 set the avx512 variant is compiled for; libgcc also checks
       that the OS saves the ZMM and mask registers. */
    return gmmfast_cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f")
        && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

#endif
