/*
 * Included by icm.h once per label type with
 *   ICM_LABEL  uint8_t or uint16_t
 *   ICM_SUF    u8 or u16: the suffix of the name defined here
 * which this file #undefs at its end.
 */
#define FN(name) GMMFAST_NAME(name, ICM_SUF)

/* need[j] = 1 when the pixel at mid[j] must be evaluated: a neighbour changed since its
   last visit (pd[j]), and it does not hold its own best label ml[j] together with the
   (weighted) majority of its neighbours.  With cur = ml, every k has u[k] >= u[cur]; if
   also wo * #{4-neighbours == cur} + wd * #{diagonal == cur} is at least what the other
   neighbours could give any one other label, no k beats cur's tie bonus, so the move is
   "stay" and the costs need not be read.  With wd = wo / sqrt(2) that bound is
   sqrt(2) oc + gc >= 2 sqrt(2) + 2 (oc, gc: agreeing 4- and diagonal neighbours), tested
   as 141 oc + 100 gc >= 482 (no count pair lies within 8 % of the boundary, and equality
   is exact at oc = gc = 2).  `majority` = 0 keeps only the unanimous case (8 agreeing
   neighbours), which is exact at any weight.  Branch-free byte compares that vectorise
   (mid[-1] .. mid[n] must be readable). */
static inline void FN(gmmfast_icm_need)(const ICM_LABEL *up, const ICM_LABEL *mid,
                                        const ICM_LABEL *dn, const ICM_LABEL *ml,
                                        const uint8_t *pd, ptrdiff_t n, int majority,
                                        uint8_t *need)
{
    const int threshold = majority ? 482 : 141 * 4 + 100 * 4;
    _Pragma("omp simd")
    for (ptrdiff_t j = 0; j < n; j++) {
        const ICM_LABEL c = mid[j];
        const int oc = (mid[j - 1] == c) + (mid[j + 1] == c) + (up[j] == c) + (dn[j] == c);
        const int gc = (up[j - 1] == c) + (up[j + 1] == c) + (dn[j - 1] == c) + (dn[j + 1] == c);
        const int stay = (ml[j] == c) & (141 * oc + 100 * gc >= threshold);
        need[j] = (uint8_t)(pd[j] & (stay ^ 1));
    }
}

#undef FN
#undef ICM_LABEL
#undef ICM_SUF
