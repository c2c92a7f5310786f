/* Shows a qemu-user bug tools/test_wheel.sh works around (build: cc -O1 -mavx2 qemu_maskload.c;
 * run: ./a.out and qemu-x86_64 -cpu Haswell ./a.out).  qemu 7.2 faults; a real CPU prints "maskload ok". */
#include <immintrin.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
/* A masked AVX2 load whose masked-off lanes lie in an unmapped page: the CPU must not fault. */
int main(void) {
    long page = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(p + page, page, PROT_NONE);
    double *d = (double *)(p + page - 16);   /* two doubles before the guard page */
    d[0] = 1.0; d[1] = 2.0;
    __m256i mask = _mm256_setr_epi64x(-1, -1, 0, 0);
    __m256d v = _mm256_maskload_pd(d, mask);
    double out[4]; _mm256_storeu_pd(out, v);
    printf("maskload ok: %g %g %g %g\n", out[0], out[1], out[2], out[3]);
    return 0;
}
