"""Distributed EM on Dask arrays (imported only when a Dask array is passed).

Each EM iteration is one graph: a task per block of X computes the block's
statistics with the kernel (``em_pass``, on the worker that holds the block),
Dask's tree reduction adds them ``SPLIT_EVERY`` at a time, and the client receives
one vector of ``2 + K * n_stats`` numbers, on which it runs the fit's M-step.
Only the kernel arrays go out (a few hundred bytes per task) and statistics
come back: the data stays where it is.  The initialisation sample (at most
``_em_data.INIT_MAX_SAMPLES`` rows, drawn on the workers) is the only data
the client receives.

Threads: a task calls the kernel with ``n_threads`` threads; ``None`` resolves
on the worker, where dask.distributed's nanny sets ``OMP_NUM_THREADS=1``, so
a worker with T threads runs T blocks at once with one OpenMP thread each.
With the local threaded or process scheduler (which also runs one task per
core) ``None`` means one thread per task.
"""

from __future__ import annotations

import functools
import threading
import time

import dask
import dask.multiprocessing
import dask.threaded
import numpy as np

from ._dispatch import load
from ._em_data import check_output, init_sample_rows, output_array
from ._finite import all_finite
from ._threads import threads_for
from ._validation import check_lazy_samples, kernel_array

_k = load("_gmm")

#: Fan-in of the tree that adds the blocks' statistics.
SPLIT_EVERY = 8


def task_threads(n_threads, X):
    """OpenMP threads per task: the user's choice, else one for the local pool schedulers."""
    if n_threads is not None:
        return n_threads
    scheduler = dask.base.get_scheduler(collections=[X])
    return 1 if scheduler in (dask.threaded.get, dask.multiprocessing.get) else None


def block_statistics(block, km, kp, klc, kind, n_threads, check_finite: bool, block_info=None) -> np.ndarray:
    """[[rows, sum of log p(x), summed statistics]] of one block, shape (1, 2 + K * n_stats).

    Runs on a worker, on the block it holds (``block_info``: map_blocks' description of it).
    """
    # a block, and the model arrays that travel with the task, come out of a message: unaligned
    x, km, kp, klc = kernel_array(block, km.dtype), kernel_array(km), kernel_array(kp), kernel_array(klc)
    _check_block(x, km.shape[1], check_finite, _rows_of(block_info))
    n, d = x.shape
    width = km.shape[0] * _k.n_stats(d, kind)
    nb = _k.n_blocks(n)
    stats, ll = np.empty((nb, width)), np.empty(nb)
    _k.em_pass(x, km, kp, klc, kind, stats, ll, threads_for(n, n_threads))
    out = np.empty((1, 2 + width))
    out[0, 0], out[0, 1], out[0, 2:] = n, ll.sum(), stats.sum(axis=0)
    return out


def _rows_of(block_info) -> str:
    """'rows A to B' of the block map_blocks describes, or '' without a description."""
    try:
        lo, hi = block_info[0]["array-location"][0]
    except (TypeError, KeyError, IndexError, ValueError):
        return ""
    return f"rows {lo} to {hi - 1}"


def _check_block(x: np.ndarray, d: int, check_finite: bool, where: str = "") -> None:
    """Raise unless a block has the columns X declares (a map_blocks result may not) and,
    when asked, holds finite values only (runs on a worker)."""
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"a block of X has shape {x.shape}, but X declares {d} columns: its blocks do not "
                         "match its chunks (check the function that made them, e.g. map_blocks' chunks=).")
    if check_finite and not all_finite(x):
        raise ValueError(f"X contains NaN or infinity (in {where or f'a block of {x.shape[0]} rows'}); "
                         "remove or impute those values first.")


def take_rows(block, local: np.ndarray) -> np.ndarray:
    """Rows ``local`` of one block (runs on a worker)."""
    return np.asarray(block)[local]


def block_output(block, km, kp, klc, kind, n_threads, name: str) -> np.ndarray:
    """One of e_step's outputs for one block (runs on a worker)."""
    x, km, kp, klc = kernel_array(block, km.dtype), kernel_array(km), kernel_array(kp), kernel_array(klc)
    _check_block(x, km.shape[1], check_finite=True)     # as predict checks an in-memory X
    out = output_array(name, x.shape[0], km.shape[0], km.dtype)
    _k.e_step(x, km, kp, klc, kind, threads_for(x.shape[0], n_threads), **{name: out})
    return check_output(name, out, km.dtype)


#: Seconds a fit or batch run waits for a cluster that has no worker yet.
WORKER_WAIT = 30.0


class ClusterNotReady(RuntimeError):
    """The Dask cluster cannot run gmmfast's tasks: no workers, or workers without this gmmfast."""


def check_cluster(client, wait: float | None = None) -> None:
    """Refuse, before any task, a cluster whose tasks could never finish: one with no workers
    (computations wait for one for ever), or whose workers cannot import this gmmfast (their
    tasks fail to unpickle; a worker killed by that is replaced, and the computation waited for
    ever).  The check travels as builtins (``eval`` of a string), which unpickle anywhere."""
    from . import __version__

    wait = WORKER_WAIT if wait is None else wait
    try:
        client.wait_for_workers(1, timeout=wait)
    except (TimeoutError, OSError) as exc:
        raise ClusterNotReady(f"the Dask cluster at {client.scheduler.address} has no workers (waited {wait:g} s, "
                              f"{type(exc).__name__}); start some, or run without the cluster") from None
    found = client.run(eval, "__import__('gmmfast').__version__", on_error="return")
    wrong = {w: v for w, v in found.items() if v != __version__}
    if wrong:
        worker, what = next(iter(wrong.items()))
        what = f"cannot import it ({type(what).__name__}: {what})" if isinstance(what, BaseException) \
            else f"has gmmfast {what}"
        raise ClusterNotReady(f"{len(wrong)} of {len(found)} workers of the Dask cluster cannot run gmmfast "
                              f"{__version__}: {worker} {what}; install this gmmfast where the workers run")


#: Seconds between checks, while gmmfast waits for a computation, that the cluster still has a worker.
POLL = 1.0


def client_of(collection):
    """The ``distributed.Client`` that computes ``collection`` by default, or None (a local scheduler)."""
    client = getattr(dask.base.get_scheduler(collections=[collection]), "__self__", None)
    if type(client).__name__ == "Client" and type(client).__module__.startswith("distributed"):
        return client
    return None


def finished(client, futures, what: str):
    """Yield ``(future, result, error)`` as ``futures`` finish (``distributed.as_completed``;
    ``error`` is the exception ``future.result()`` raised, else None), or raise ClusterNotReady once
    the cluster has had no worker for WORKER_WAIT seconds: the scheduler keeps such tasks waiting
    for a worker for ever (every worker died, say out of memory, and none came back).

    A thread counts the workers every POLL seconds and, after the wait, cancels the futures not yet
    yielded, which ends the wait for them -- also a ``result()`` waiting for a finished task's data
    lost with its worker (the task runs again, on no worker).  Yielded futures are let go of here,
    so a caller that drops its own list lets the cluster forget them (their tasks are then not run
    again when a worker holding their results dies).  (Waiting with a timeout instead meant one wait
    over every pending future per finished one: quadratic in a batch.)"""
    import concurrent.futures

    import distributed

    pending, total = set(futures), len(futures)
    del futures
    stop, cancelled = threading.Event(), []

    def watch() -> None:
        alone_since = None
        try:
            while not stop.wait(POLL):
                if client.status != "running" or _has_workers(client):
                    alone_since = None
                elif alone_since is None:
                    alone_since = time.monotonic()
                elif time.monotonic() - alone_since >= WORKER_WAIT:
                    left = list(pending)
                    cancelled.append(len(left))
                    client.cancel(left)
                    return
        except Exception:      # the client closed under the watch: nothing is left to wait for
            return

    watcher = threading.Thread(target=watch, name="gmmfast-cluster-watch", daemon=True)
    watcher.start()
    try:
        for fut in distributed.as_completed(list(pending), loop=client.loop):   # (client: maybe not the default)
            try:
                result, error = fut.result(), None
            except Exception as exc:
                result, error = None, exc
            pending.discard(fut)
            if cancelled and isinstance(error, concurrent.futures.CancelledError):
                raise ClusterNotReady(
                    f"every worker of the Dask cluster at {client.scheduler.address} left during {what}, and "
                    f"none came back within {WORKER_WAIT:g} s ({cancelled[0]} of {total} tasks not done); "
                    "start workers (with enough memory), or run without the cluster")
            yield fut, result, error
    finally:
        stop.set()
        watcher.join(POLL)


def _has_workers(client) -> bool:
    """Whether the scheduler lists a worker (only one worker's record is asked for, where the
    installed distributed can; a scheduler that cannot answer is not taken for "no workers")."""
    try:
        try:
            info = client.scheduler_info(n_workers=1)
        except TypeError:          # distributed before n_workers=
            info = client.scheduler_info()
        return bool(info["workers"])
    except Exception:
        return True


def compute(collections: list, what: str) -> list:
    """``dask.compute(*collections)``, watched by :func:`finished` when a distributed client runs it."""
    client = client_of(collections[0])
    if client is None:
        return list(dask.compute(*collections))
    futures = client.compute(collections)
    results = {}
    for fut, result, error in finished(client, futures, what):
        if error is not None:
            raise error
        results[fut.key] = result
    return [results[f.key] for f in futures]


def lost_work_error(exc: BaseException, what: str = "an EM pass") -> RuntimeError:
    return RuntimeError(
        f"The Dask computation of {what} failed ({type(exc).__name__}: {exc}); no model was fitted "
        "and the estimator keeps its previous state. If workers died (for example out of memory), give "
        "them more memory or use smaller blocks, then fit again.")


class DaskData:
    """A Dask array as EM's data source: one graph per pass, statistics reduced on the cluster."""

    def __init__(self, X, n_threads, min_samples: int = 1):
        if any(np.isnan(c) for c in X.chunks[0]):
            raise ValueError("X has blocks of unknown length; call X.compute_chunk_sizes() first "
                             "(or build it with known chunks).")
        self.dtype = check_lazy_samples(X.shape, X.dtype, min_samples=min_samples)
        if X.numblocks[1] > 1:
            X = X.rechunk({1: -1})            # the kernel needs whole rows
        self.X = X
        self.n, self.d = (int(s) for s in X.shape)
        self.n_threads = task_threads(n_threads, X)
        client = client_of(X)
        if client is not None:
            check_cluster(client)
        self.sample = None
        self._checked = False

    def promote(self, dtype) -> None:
        """Compute in ``dtype`` (wider than X's): each block is converted on its worker."""
        self.dtype = np.dtype(dtype)

    def draw_sample(self, rng) -> None:
        """The initialisation's rows (init_sample_rows), taken from the blocks on the workers."""
        idx = init_sample_rows(self.n, rng)
        try:
            if idx is None:
                rows, = compute([self.X], "the initialisation's sample")
            else:   # per block, on its worker: the block's share of the sorted rows.  One plain task
                # per block: dask's own fancy indexing (X[idx], or X.blocks[b][local]) builds its
                # graph in the client at ~0.1 s per block (8 s of a 200M-row fit's 50 s)
                edges = np.cumsum((0,) + self.X.chunks[0])
                cuts = np.searchsorted(idx, edges)
                blocks = self.X.to_delayed().ravel()
                parts = [dask.delayed(take_rows)(blocks[b], idx[lo:hi] - edges[b])
                         for b, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:])) if hi > lo]
                rows = np.concatenate(compute(parts, "the initialisation's sample"))
        except (ValueError, TypeError, MemoryError):
            raise
        except Exception as exc:       # a lost worker (KilledWorker): as in an EM pass
            raise lost_work_error(exc, "the initialisation's sample") from exc
        _check_block(rows, self.d, check_finite=False)
        if rows.dtype.kind == "f" and not all_finite(rows):
            at = int(np.flatnonzero(~np.isfinite(rows).all(axis=1))[0])
            raise ValueError(f"X contains NaN or infinity (in row {at if idx is None else int(idx[at])}); "
                             "remove or impute those values first.")
        # shape and finiteness are checked just above (with the row named): no check_samples pass again
        self.sample = kernel_array(rows, self.dtype)

    def init_rows(self, rng, init: int) -> np.ndarray:
        """Rows for initialisation ``init``: the first sample, a new one for each later init."""
        if init > 0:
            self.draw_sample(rng)
        return self.sample

    def em_pass(self, km, kp, klc, kind, n_stats: int):
        """Statistics of all blocks, summed on the cluster: ((1, K * n_stats), (1,))."""
        func = functools.partial(block_statistics, km=km, kp=kp, klc=klc, kind=kind, n_threads=self.n_threads,
                                 check_finite=not self._checked)
        width = 2 + km.shape[0] * n_stats
        per_block = self.X.map_blocks(func, dtype=np.float64, chunks=((1,) * self.X.numblocks[0], (width,)),
                                      meta=np.empty((0, 0)))
        try:
            # the sum comes back out of a message, possibly unaligned: the M-step kernel reads it
            total, = compute([per_block.sum(axis=0, split_every=SPLIT_EVERY)], "an EM pass")
            total = kernel_array(total)
        except (ValueError, TypeError, MemoryError):
            raise
        except Exception as exc:       # a lost worker, a cancelled task: never a partial model
            raise lost_work_error(exc) from exc
        if int(total[0]) != self.n:
            raise RuntimeError(f"Statistics of {int(total[0])} rows came back for the {self.n} rows of X "
                               "(a block was lost or counted twice); the fit was stopped.")
        self._checked = True
        return total[2:].reshape(1, -1), total[1:2].copy()

    def e_step(self, karrays, name: str):
        """One of e_step's outputs as a Dask array with X's row blocks (lazy)."""
        km, kp, klc, kind = karrays
        func = functools.partial(block_output, km=km, kp=kp, klc=klc, kind=kind, n_threads=self.n_threads,
                                 name=name)
        K = km.shape[0]
        if name in ("resp", "weighted_log_prob"):
            return self.X.map_blocks(func, dtype=self.dtype, chunks=(self.X.chunks[0], (K,)),
                                     meta=np.empty((0, 0), dtype=self.dtype))
        dtype = np.intp if name == "labels" else self.dtype
        return self.X.map_blocks(func, dtype=dtype, drop_axis=1, meta=np.empty((0,), dtype=dtype))
