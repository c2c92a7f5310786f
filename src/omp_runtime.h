/* Which shared library provides the OpenMP runtime that gmmfast's kernels call.
 *
 * Every kernel module links the same runtime (a wheel bundles one copy, e.g.
 * gmmfast.libs/libgomp-<hash>.so.1.0.0), so asking where this module's
 * omp_get_max_threads comes from names it.  dladdr is the dynamic linker's own
 * answer, independent of how threadpoolctl finds libraries (by file name among the
 * loaded ones); the tests compare the two.  dladdr needs _GNU_SOURCE on glibc, which
 * Python.h (pyconfig.h) defines before any system header, and libdl before glibc 2.34
 * (CMakeLists.txt links CMAKE_DL_LIBS).  Other systems: unknown (NULL). */
#ifndef GMMFAST_OMP_RUNTIME_H
#define GMMFAST_OMP_RUNTIME_H

#include <omp.h>

#if defined(__linux__) || defined(__APPLE__)
#include <dlfcn.h>

static const char *gmmfast_omp_library(void)
{
    Dl_info info;
    if (dladdr((void *)&omp_get_max_threads, &info) && info.dli_fname != NULL)
        return info.dli_fname;
    return NULL;
}
#else
static const char *gmmfast_omp_library(void)
{
    return NULL;
}
#endif

#endif
