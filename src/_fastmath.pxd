# cython: language_level=3
"""fastmath.h's vectorisable exp and log for the kernels (inline, no module of its own)."""

from cython cimport floating

cdef extern from "fastmath.h" nogil:
    double gmm_exp_f64(double x)
    float gmm_exp_f32(float x)
    double gmm_exp2_neg_f64(double x)
    float gmm_exp2_neg_f32(float x)
    double gmm_log_f64(double x)
    float gmm_log_f32(float x)
    double LN2 "GMM_LN2"
    double LOG2E "GMM_LOG2E"


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return gmm_exp_f32(x)
    else:
        return gmm_exp_f64(x)


cdef inline floating _exp2_neg(floating x) noexcept nogil:
    """2**x for x <= 0 (clamped below so the result stays a normal number)."""
    if floating is float:
        return gmm_exp2_neg_f32(x)
    else:
        return gmm_exp2_neg_f64(x)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return gmm_log_f32(x)
    else:
        return gmm_log_f64(x)
