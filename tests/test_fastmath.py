"""Accuracy of the vectorised exp/log used inside the EM kernels (src/fastmath.h).

Each compiled variant exposes ``exp_array`` / ``log_array`` (in place, on a
1-D contiguous float32 or float64 array).  They are compared with a reference
computed in extended precision (``np.longdouble`` when it is wider than
float64, else float64 NumPy), in units of the spacing (ulp) of the correctly
rounded result: at most 4 ulp over
  exp: [-700, 0] (float64), [-80, 0] (float32);
  log: [1e-300, 1e300] (float64), [1e-30, 1e30] (float32).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

MAX_ULP = 4.0

EXP_RANGE = {np.float64: (-700.0, 0.0), np.float32: (-80.0, 0.0)}
LOG_RANGE = {np.float64: (1e-300, 1e300), np.float32: (1e-30, 1e30)}


def _variants():
    out = []
    from gmmfast._dispatch import _built, _cpu_runs, module_name

    for name in ("baseline", "avx2", "avx512"):
        if _cpu_runs(name) and _built(name):  # a module built for wider vectors may not run
            out.append(pytest.param(importlib.import_module(module_name("_gmm", name)), id=name))
    return out


VARIANTS = _variants()
DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]


def test_at_least_the_baseline_is_built():
    names = [p.id for p in VARIANTS]
    assert "baseline" in names


def test_dispatch_exposes_kernels():
    from gmmfast._dispatch import load

    k = load("_gmm")
    assert callable(k.exp_array) and callable(k.log_array)


def _reference(func, x):
    wide = np.longdouble if np.finfo(np.longdouble).eps < np.finfo(np.float64).eps else np.float64
    return getattr(np, func)(x.astype(wide))


def _ulp_error(y, ref, dtype):
    """|y - ref| in units of the spacing of ref rounded to dtype."""
    ref_rounded = ref.astype(dtype)
    spacing = np.spacing(np.abs(ref_rounded)).astype(np.longdouble)
    return np.abs(y.astype(np.longdouble) - ref) / spacing


def _exp_points(dtype, rng):
    lo, hi = EXP_RANGE[dtype]
    pts = np.concatenate([
        np.linspace(lo, hi, 200001),
        rng.uniform(lo, hi, 200000),
        -np.logspace(-12, np.log10(-lo), 20000),  # small arguments near 0
        np.array([lo, hi, -0.0, -1.0, -np.log(2.0), -0.5 * np.log(2.0), -1e-30]),
        # around multiples of ln 2, where range reductions switch exponent
        (-np.arange(1, int(-lo / np.log(2))) * np.log(2))[:, None] + np.array([-1e-9, 0.0, 1e-9]),
    ], axis=None)
    pts = pts[(pts >= lo) & (pts <= hi)]
    return pts.astype(dtype)


def _log_points(dtype, rng):
    lo, hi = LOG_RANGE[dtype]
    llo, lhi = np.log10(lo), np.log10(hi)
    pts = np.concatenate([
        np.logspace(llo, lhi, 200001),
        10.0 ** rng.uniform(llo, lhi, 200000),
        rng.uniform(0.5, 2.0, 100000),  # mantissa range, including the neighbourhood of 1
        1.0 + np.linspace(-1e-3, 1e-3, 2001),
        np.array([lo, hi, 1.0, 2.0, 0.5, np.e, 10.0, np.sqrt(2.0), 1 / np.sqrt(2.0)]),
        2.0 ** np.arange(int(np.log2(lo)) + 1, int(np.log2(hi))),  # exact powers of two
    ], axis=None)
    pts = pts[(pts >= lo) & (pts <= hi)]
    return pts.astype(dtype)


def _assert_within_ulp(func, x, y, dtype):
    """y = func(x) computed by a kernel: at most MAX_ULP from the reference, else say where."""
    ref = _reference(func, x)
    err = _ulp_error(y, ref, dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP, (
        f"{func} error {float(err[worst]):.2f} ulp at x={x[worst]!r}: got {y[worst]!r}, expected {ref[worst]!r}"
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mod", VARIANTS)
@pytest.mark.parametrize("func", ["exp", "log"])
def test_exp_and_log_accuracy(func, mod, dtype):
    x = (_exp_points if func == "exp" else _log_points)(dtype, np.random.default_rng(0 if func == "exp" else 1))
    y = x.copy()
    getattr(mod, f"{func}_array")(y)  # in place
    assert np.all(np.isfinite(y)), f"{func} returned non-finite values"
    if func == "log":
        exact_zero = x == 1
        assert np.all(y[exact_zero] == 0), "log(1) must be exactly 0"
        x, y = x[~exact_zero], y[~exact_zero]
    _assert_within_ulp(func, x, y, dtype)


EXP2_RANGE = {np.float64: (-1000.0, 0.0), np.float32: (-100.0, 0.0)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mod", VARIANTS)
def test_exp2_accuracy_and_clamp(mod, dtype):
    # the EM normalisation's 2**x for x <= 0: within MAX_ULP of the reference on its range,
    # and exactly 0 below it (so no subnormal numbers reach the statistics)
    lo, hi = EXP2_RANGE[dtype]
    rng = np.random.default_rng(3)
    x = np.concatenate([
        np.linspace(lo, hi, 200001), rng.uniform(lo, hi, 200000), -np.logspace(-12, np.log10(-lo), 20000),
        -np.arange(0, int(-lo))[:, None] + np.array([-0.5, -1e-7, 0.0, 1e-7, 0.5]),  # integer / half steps
    ], axis=None)
    x = x[(x >= lo) & (x <= hi)].astype(dtype)
    y = x.copy()
    mod.exp2_neg_array(y)
    _assert_within_ulp("exp2", x, y, dtype)
    below = np.array([lo - 0.25, lo - 1, lo - 100, -1e30, -np.inf], dtype=dtype)
    mod.exp2_neg_array(below)
    assert np.all(below == 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mod", VARIANTS)
def test_in_place_and_lengths(mod, dtype):
    # every length around the vector width (remainder loops) and an empty array
    rng = np.random.default_rng(2)
    for n in list(range(0, 40)) + [1023, 1024, 1025]:
        x = rng.uniform(-50, 0, n).astype(dtype)
        y = x.copy()
        mod.exp_array(y)
        np.testing.assert_allclose(y, np.exp(x.astype(np.float64)), rtol=1e-5 if dtype == np.float32 else 1e-13)
        z = y.copy()
        mod.log_array(z)
        np.testing.assert_allclose(z, np.log(y.astype(np.float64)), rtol=1e-5 if dtype == np.float32 else 1e-13,
                                   atol=1e-6 if dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("mod", [p for p in VARIANTS if p.id != "baseline"])
def test_variants_agree_with_each_other(mod):
    # each wider variant and the portable baseline give results within the accuracy bound of each other
    baseline = next(p.values[0] for p in VARIANTS if p.id == "baseline")
    assert mod is not baseline
    x = np.linspace(-700, 0, 10001)
    a, b = x.copy(), x.copy()
    mod.exp_array(a)
    baseline.exp_array(b)
    np.testing.assert_allclose(a, b, rtol=8 * np.finfo(np.float64).eps)


@pytest.mark.parametrize("mod", VARIANTS)
def test_rejects_wrong_input(mod):
    # typed memoryviews: integer, 2-D or read-only arrays are refused with a Python exception
    with pytest.raises((TypeError, ValueError)):
        mod.exp_array(np.zeros(4, dtype=np.int64))
    with pytest.raises((TypeError, ValueError)):
        mod.exp_array(np.zeros((2, 2)))
    with pytest.raises((TypeError, ValueError)):
        mod.log_array(np.zeros(8)[::2])
    with pytest.raises((TypeError, ValueError)):
        mod.exp2_neg_array(np.zeros(4, dtype=np.int32))
