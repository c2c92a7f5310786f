# cython: language_level=3
"""CPU feature probe and OpenMP queries, built for the portable baseline."""

cimport openmp

cdef extern from "cpu_features.h":
    int gmmfast_cpu_has_avx2_fma()
    int gmmfast_cpu_has_avx512()

cdef extern from "omp_runtime.h":
    const char *gmmfast_omp_library()


def has_avx2_fma():
    """True when the CPU and OS support AVX2 and FMA instructions."""
    return bool(gmmfast_cpu_has_avx2_fma())


def has_avx512():
    """True when the CPU and OS support the x86-64-v4 AVX-512 set (F, BW, CD, DQ, VL)."""
    return bool(gmmfast_cpu_has_avx512())


def omp_max_threads():
    """OpenMP's default team size (honours OMP_NUM_THREADS)."""
    return openmp.omp_get_max_threads()



def openmp_library():
    """Path of the OpenMP runtime library the kernels call, or None where it cannot be told."""
    cdef const char *path = gmmfast_omp_library()
    if path == NULL:
        return None
    return path.decode("utf-8", "surrogateescape")
