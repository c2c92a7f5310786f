"""Pick the compiled kernel variant for this CPU.

The kernels that gain from wider vectors are built once per instruction-set variant
on x86-64: ``baseline`` (any x86-64 CPU), ``avx2`` (AVX2 + FMA, 256-bit vectors)
and ``avx512`` (the x86-64-v4 set: AVX-512 F, BW, CD, DQ and VL, with 512-bit
vectors); the others are built once, for any CPU (``gmmfast/_kernels/_manifest.py``,
written by the build, lists which are which).  A per-variant kernel may stop short of
the widest variant (no avx512 build where it was not measured to pay): a wider
variant loads the widest module it has.  The variant is chosen once, at
import, from what the CPU reports: the widest one it runs.  Set
``GMMFAST_KERNELS`` to ``baseline``, ``avx2`` or ``avx512`` to force one (a variant
the CPU cannot run is an ImportError); ``avx2`` keeps every kernel to 256-bit
vectors, e.g. on CPUs that lower their clock for 512-bit instructions.  Whatever a
kernel does differently per instruction set is decided by the module that was
loaded, never by a second check at run time.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

from ._kernels import _cpu, _manifest

VARIANTS = ("avx512", "avx2", "baseline")  # widest first
ENV_VAR = "GMMFAST_KERNELS"
_PACKAGE = "gmmfast._kernels"


def module_name(kernel: str, variant: str) -> str:
    """Full name of the module that holds ``kernel`` for ``variant``."""
    if kernel in _manifest.PORTABLE:
        return f"{_PACKAGE}.{kernel}"
    # the widest of the kernel's builds that ``variant``'s CPUs run (VARIANTS is widest first)
    built = _manifest.KERNEL_VARIANTS[kernel]
    usable = VARIANTS[VARIANTS.index(variant):]
    return f"{_PACKAGE}.{kernel}_{next(v for v in usable if v in built)}"


def _cpu_runs(variant: str) -> bool:
    if variant == "avx512":
        return _cpu.has_avx512()
    if variant == "avx2":
        return _cpu.has_avx2_fma()
    return True


def _built(variant: str) -> bool:
    return variant in _manifest.VARIANTS


def _requested() -> str:
    return os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"


def _missing_modules(variant: str) -> list[str]:
    """The kernel modules of ``variant`` that are not installed (found, not imported)."""
    names = [module_name(k, variant) for k in _manifest.PER_VARIANT + _manifest.PORTABLE]
    return [name for name in names if importlib.util.find_spec(name) is None]


def _choose_variant() -> str:
    requested = _requested()
    if requested not in ("auto",) + VARIANTS:
        raise ValueError(
            f"{ENV_VAR}={requested!r} is not understood; use 'auto', 'avx512', 'avx2' or 'baseline'."
        )
    if requested == "auto":
        variant = next(v for v in VARIANTS if v == "baseline" or (_cpu_runs(v) and _built(v)))
    elif not _cpu_runs(requested):
        raise ImportError(
            f"{ENV_VAR}={requested} was requested but this CPU does not report the "
            f"instructions it needs; unset {ENV_VAR} or set it to 'baseline'."
        )
    elif not _built(requested):
        raise ImportError(
            f"{ENV_VAR}={requested} was requested but this build has no such kernels "
            f"(it has {', '.join(_manifest.VARIANTS)})."
        )
    else:
        variant = requested
    missing = _missing_modules(variant)
    if missing:
        raise ImportError(
            f"gmmfast's compiled kernels are incomplete: {', '.join(missing)} not found "
            f"(the {variant} kernels need it). Reinstall gmmfast."
        )
    return variant


def _started_as_the_command() -> bool:
    """Whether this process is the ``gmmfast`` command (its console script, or ``python -m gmmfast``)."""
    argv = getattr(sys, "orig_argv", sys.argv)
    return os.path.basename(sys.argv[0]) == "gmmfast" or list(argv[1:3]) == ["-m", "gmmfast"]


def _variant_or_exit() -> str:
    """The variant; when it cannot be had, the command line ends with one line (its own error handling
    is not loaded yet: the choice is made at import), and ``import gmmfast`` raises."""
    try:
        return _choose_variant()
    except (ValueError, ImportError) as exc:
        if not _started_as_the_command():
            raise
        sys.stderr.write(f"gmmfast: error: {exc}\n")
        raise SystemExit(2) from None


VARIANT = _variant_or_exit()


def kernel_modules() -> dict[str, str]:
    """Each kernel and the module :func:`load` imports for it."""
    kernels = sorted(_manifest.PER_VARIANT + _manifest.PORTABLE)
    return {k: module_name(k, VARIANT) for k in kernels}


def load(kernel: str) -> ModuleType:
    """Import the module of kernel ``kernel`` (for example ``"_gmm"``) for the chosen variant."""
    if kernel not in _manifest.PER_VARIANT + _manifest.PORTABLE:
        raise ValueError(f"no compiled kernel named {kernel!r}")
    return importlib.import_module(module_name(kernel, VARIANT))
