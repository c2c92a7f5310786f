"""How many OpenMP threads a kernel call may use."""

from __future__ import annotations

import os
import warnings

from ._kernels import _cpu
from ._validation import check_n_threads

# GNU OpenMP (libgomp) cannot start a thread team in a process forked after its
# parent started one: fork copies only the calling thread, and the child's
# first multi-threaded region waits forever for the pool's other threads.  A
# region of one thread starts no team, so such a child runs the kernels on one
# thread (warned once) instead of hanging.  multiprocessing's "fork" start
# method, the default on Linux up to Python 3.13, is the usual way in.  LLVM's
# libomp re-initialises itself in a forked child and is left alone.
_GNU_OPENMP = "libgomp" in os.path.basename(_cpu.openmp_library() or "")
_team_started = False        # this process asked for more than one thread
_forked_after_team = False   # ... and is a child forked after its parent did


def _note_fork_in_child() -> None:
    global _forked_after_team
    _forked_after_team = _forked_after_team or (_team_started and _GNU_OPENMP)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_note_fork_in_child)

_FORK_WARNING = (
    "this process was forked after gmmfast ran OpenMP threads in its parent, and GNU OpenMP cannot start threads "
    "in such a process, so gmmfast runs on one thread here; for parallel workers use "
    "multiprocessing.get_context('spawn') or 'forkserver' (or gmmfast.segment_many)")
_fork_warned = False


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

    In a process forked after its parent ran threaded kernels under GNU
    OpenMP the answer is 1, with a RuntimeWarning the first time (threads
    would hang there; see the comment above).
    """
    global _team_started, _fork_warned
    n_threads = check_n_threads(n_threads)
    if n_threads is None or n_threads == -1:
        n_threads = max(1, min(_cpu.omp_max_threads(), available_cpus()))
    if n_threads > 1 and _forked_after_team:
        if not _fork_warned:
            _fork_warned = True
            warnings.warn(_FORK_WARNING, RuntimeWarning, stacklevel=3)
        return 1
    _team_started = _team_started or n_threads > 1
    return n_threads


# Below this many samples per thread, starting and joining an OpenMP team
# costs more than the work it shares (and a busy machine makes threads wait).
MIN_SAMPLES_PER_THREAD = 16384


def threads_for(n_samples: int, n_threads=None) -> int:
    """Threads worth using for ``n_samples`` rows: the user's choice, capped by the work."""
    nt = effective_n_threads(n_threads)
    return max(1, min(nt, n_samples // MIN_SAMPLES_PER_THREAD))
