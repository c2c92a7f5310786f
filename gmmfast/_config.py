"""``gmmfast.show_config()``: which kernels, threads and versions are in use."""

from __future__ import annotations

import os
import platform
import sys

from . import _dispatch
from ._kernels import _cpu
from ._threads import available_cpus, effective_n_threads


def config() -> dict:
    """The runtime configuration as a dict (see :func:`show_config`)."""
    import numpy

    from . import __version__

    return {
        "gmmfast": __version__,
        "kernel_variant": _dispatch.VARIANT,
        "kernel_modules": _dispatch.kernel_modules(),
        "cpu_has_avx2_fma": _cpu.has_avx2_fma(),
        "cpu_has_avx512": _cpu.has_avx512(),
        "override_env": f"{_dispatch.ENV_VAR}={os.environ.get(_dispatch.ENV_VAR, '')}",
        "default_threads": effective_n_threads(None),
        "openmp_runtime": _cpu.openmp_library(),
        "available_cpus": available_cpus(),
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def show_config() -> None:
    """Print the chosen kernel variant, thread count and versions."""
    for key, value in config().items():
        print(f"{key:>18}: {value}")
