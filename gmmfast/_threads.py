"""How many OpenMP threads a kernel call may use."""

from __future__ import annotations

import numbers
import os

from . import _cpu


def available_cpus() -> int:
    """CPUs this process may run on (affinity-aware where the OS says)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def effective_n_threads(n_threads=None) -> int:
    """Resolve a user's ``n_threads``: None means all usable cores.

    None honours ``OMP_NUM_THREADS`` and the CPU affinity mask; a positive
    integer is used as given; ``-1`` is the same as None.
    """
    if n_threads is None or (isinstance(n_threads, numbers.Integral) and not isinstance(n_threads, bool) and n_threads == -1):
        return max(1, min(_cpu.omp_max_threads(), available_cpus()))
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"n_threads must be None or a positive integer, got {n_threads!r}.")
    if n_threads < 1:
        raise ValueError(f"n_threads must be None, -1 or a positive integer, got {n_threads}.")
    return int(n_threads)


# Below this many samples per thread, starting and joining an OpenMP team
# costs more than the work it shares (and a busy machine makes threads wait).
MIN_SAMPLES_PER_THREAD = 16384


def threads_for(n_samples: int, n_threads=None) -> int:
    """Threads worth using for ``n_samples`` rows: the user's choice, capped by the work."""
    nt = effective_n_threads(n_threads)
    return max(1, min(nt, n_samples // MIN_SAMPLES_PER_THREAD))
