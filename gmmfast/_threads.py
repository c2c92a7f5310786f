"""How many OpenMP threads a kernel call may use."""

from __future__ import annotations

import os

from ._kernels import _cpu
from ._validation import check_n_threads


def available_cpus() -> int:
    """CPUs this process may run on (affinity-aware where the OS says)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def effective_n_threads(n_threads=None) -> int:
    """Resolve a user's ``n_threads`` when a kernel runs: None (or -1) means all usable cores.

    None honours ``OMP_NUM_THREADS`` and the CPU affinity mask (so a Dask
    worker whose nanny sets ``OMP_NUM_THREADS=1`` uses one thread); a positive
    integer is used as given.
    """
    n_threads = check_n_threads(n_threads)
    if n_threads is None or n_threads == -1:
        return max(1, min(_cpu.omp_max_threads(), available_cpus()))
    return n_threads


# Below this many samples per thread, starting and joining an OpenMP team
# costs more than the work it shares (and a busy machine makes threads wait).
MIN_SAMPLES_PER_THREAD = 16384


def threads_for(n_samples: int, n_threads=None) -> int:
    """Threads worth using for ``n_samples`` rows: the user's choice, capped by the work."""
    nt = effective_n_threads(n_threads)
    return max(1, min(nt, n_samples // MIN_SAMPLES_PER_THREAD))
