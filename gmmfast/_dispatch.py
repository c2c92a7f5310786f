"""Pick the compiled kernel variant for this CPU.

Every kernel module is built twice on x86-64: ``baseline`` (any x86-64 CPU)
and ``avx2`` (AVX2 + FMA).  The choice is made once, at import, from what
the CPU reports; set ``GMMFAST_KERNELS=baseline`` to force the portable
build (``GMMFAST_KERNELS=avx2`` forces AVX2 and fails on CPUs without it).
A few passes of the avx2 build also have 16-lane AVX-512 versions, used when
the CPU has AVX-512 and ``GMMFAST_KERNELS`` is unset (``avx2`` keeps to 256-bit
vectors, e.g. on CPUs that lower their clock for 512-bit instructions).
"""

from __future__ import annotations

import importlib
import os

from . import _cpu

VARIANTS = ("avx2", "baseline")
ENV_VAR = "GMMFAST_KERNELS"


def _available(variant: str) -> bool:
    try:
        importlib.import_module(f"gmmfast._gmm_{variant}")
    except ImportError:
        return False
    return True


def _choose_variant() -> str:
    requested = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if requested not in ("auto",) + VARIANTS:
        raise ValueError(
            f"{ENV_VAR}={requested!r} is not understood; use 'auto', 'avx2' or 'baseline'."
        )
    if requested == "baseline":
        return "baseline"
    cpu_ok = _cpu.has_avx2_fma()
    if requested == "avx2":
        if not cpu_ok:
            raise ImportError(
                f"{ENV_VAR}=avx2 was requested but this CPU does not report AVX2 and FMA; "
                f"unset {ENV_VAR} or set it to 'baseline'."
            )
        if not _available("avx2"):
            raise ImportError(f"{ENV_VAR}=avx2 was requested but this build has no AVX2 kernels.")
        return "avx2"
    if cpu_ok and _available("avx2"):
        return "avx2"
    return "baseline"


VARIANT = _choose_variant()


def avx512_allowed() -> bool:
    """False when ``GMMFAST_KERNELS`` names a variant: then no 512-bit paths are used."""
    return os.environ.get(ENV_VAR, "auto").strip().lower() in ("", "auto")


def load(kernel: str):
    """Import the chosen variant of kernel module ``kernel`` (for example ``"_gmm"``)."""
    return importlib.import_module(f"gmmfast.{kernel}_{VARIANT}")
