"""Pick the compiled kernel variant for this CPU.

Every kernel module is built three times on x86-64: ``baseline`` (any x86-64
CPU), ``avx2`` (AVX2 + FMA) and ``avx512`` (the x86-64-v4 set: AVX-512 F, BW,
CD, DQ and VL, with 512-bit vectors).  The choice is made once, at import,
from what the CPU reports: the widest variant it runs.  Set
``GMMFAST_KERNELS`` to ``baseline``, ``avx2`` or ``avx512`` to force one (a
variant the CPU cannot run is an ImportError).  ``avx2`` keeps every kernel to
256-bit vectors, e.g. on CPUs that lower their clock for 512-bit instructions:
it also turns off the 16-lane passes the batch background kernel picks at run
time.
"""

from __future__ import annotations

import importlib
import os

from . import _cpu

VARIANTS = ("avx512", "avx2", "baseline")
ENV_VAR = "GMMFAST_KERNELS"


def _available(variant: str) -> bool:
    try:
        importlib.import_module(f"gmmfast._gmm_{variant}")
    except ImportError:
        return False
    return True


def _cpu_runs(variant: str) -> bool:
    if variant == "avx512":
        return _cpu.has_avx512()
    if variant == "avx2":
        return _cpu.has_avx2_fma()
    return True


def _requested() -> str:
    return os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"


def _choose_variant() -> str:
    requested = _requested()
    if requested not in ("auto",) + VARIANTS:
        raise ValueError(
            f"{ENV_VAR}={requested!r} is not understood; use 'auto', 'avx512', 'avx2' or 'baseline'."
        )
    if requested != "auto":
        if not _cpu_runs(requested):
            raise ImportError(
                f"{ENV_VAR}={requested} was requested but this CPU does not report the "
                f"instructions it needs; unset {ENV_VAR} or set it to 'baseline'."
            )
        if not _available(requested):
            raise ImportError(f"{ENV_VAR}={requested} was requested but this build has no such kernels.")
        return requested
    for variant in VARIANTS:
        if _cpu_runs(variant) and _available(variant):
            return variant
    return "baseline"


VARIANT = _choose_variant()


def avx512_allowed() -> bool:
    """False when ``GMMFAST_KERNELS`` forces a variant narrower than ``avx512``."""
    return _requested() in ("auto", "avx512")


def load(kernel: str):
    """Import the chosen variant of kernel module ``kernel`` (for example ``"_gmm"``)."""
    return importlib.import_module(f"gmmfast.{kernel}_{VARIANT}")
