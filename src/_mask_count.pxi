# Included by the modules that run mask_count.h's binary rank filter (_mog2's
# window_count_filter, _mog2fb's clean_blink): its declarations and the one parallel pass
# over the rows, so both filter the same way.  The including module cimports prange,
# openmp and uint8_t.

cdef extern from "mask_count.h" nogil:
    int MASK_COUNT_MAX_R
    void mask_count_rows(const uint8_t* src, uint8_t* dst, Py_ssize_t H, Py_ssize_t W, int r, int lo,
                         Py_ssize_t y0, Py_ssize_t y1, uint8_t* col)
    void mask_blink_row(const uint8_t* cand, const uint8_t* fin, uint8_t* cand_prev, uint8_t* fin_prev,
                        float* v, Py_ssize_t W, float v_incr, float v_decr, float v_max)
    void mask_hold_row(const uint8_t* fin, const float* v, uint8_t* run, uint8_t* core, Py_ssize_t W,
                       float v_on, int max_run)


cdef void _count_pass(const uint8_t* src, uint8_t* dst, Py_ssize_t H, Py_ssize_t W, int r, int lo,
                      uint8_t* scratch, Py_ssize_t sstride, int n_threads,
                      const uint8_t* cand, uint8_t* cand_prev, uint8_t* fin_prev, float* v,
                      float v_incr, float v_decr, float v_max) noexcept nogil:
    """One rank-filter pass (window counts >= lo over (2r+1)^2, mask_count.h) over blocks of
    rows, one block per thread, each thread with its own ``sstride`` bytes of ``scratch``.
    With ``v`` not NULL the pass also updates the blinking score of every row it has written
    (``mask_blink_row``: ``dst`` is then the cleaned mask), while the row is in cache."""
    cdef Py_ssize_t b, y0, y1, y
    for b in prange(n_threads, schedule='static', num_threads=n_threads):
        y0 = b * H // n_threads
        y1 = (b + 1) * H // n_threads
        if y1 > y0:
            mask_count_rows(src, dst, H, W, r, lo, y0, y1, scratch + openmp.omp_get_thread_num() * sstride)
            if v != NULL:
                for y in range(y0, y1):
                    mask_blink_row(cand + y * W, dst + y * W, cand_prev + y * W, fin_prev + y * W,
                                   v + y * W, W, v_incr, v_decr, v_max)
