"""Batch jobs: one independent job per file, in this process, local processes or a Dask cluster.

:func:`segment_many` segments many images and writes each one's files, with
:func:`run_jobs` doing the scheduling: serially, on ``workers`` local
processes (``concurrent.futures`` with the ``spawn`` start method, since
OpenMP does not survive ``fork``), or on a ``dask.distributed`` cluster
(``scheduler``: an address or a ``Client``).  A job that fails is reported in
its :class:`JobResult` and the others go on.  Jobs are seeded per file, and
the kernels' results do not depend on the number of threads, so every way of
running writes the same bytes.
"""

from __future__ import annotations

import collections
import concurrent.futures
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ._files import file_identity, files_in, refuse_folder_as_output
from ._threads import available_cpus
from ._validation import check_bool, check_int, check_n_threads

__all__ = ["JobResult", "segment_many"]

#: File name endings segment_many takes from a folder.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".pgm", ".ppm")


@dataclass(frozen=True)
class JobResult:
    """What one file's job did: the files it wrote, or the error that stopped it.

    Attributes: ``path`` (the input as given), ``stem`` (of its output files), ``files`` (written),
    ``summary`` (one line, as the command line prints), ``error`` (None when it succeeded),
    ``warnings`` (their messages), ``seconds`` (the job's time); ``ok`` is ``error is None``.
    """

    path: str
    stem: str
    files: tuple[str, ...] = ()
    summary: str = ""
    error: str | None = None
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def folder_images(folder: Path) -> list[Path]:
    """The image files of a folder (by extension, IMAGE_SUFFIXES), in natural order."""
    return files_in(folder, IMAGE_SUFFIXES)


def input_key(path: Path) -> str:
    """What makes two named inputs one: the same path however written (x.png, ./x.png), not the
    same file under two names -- a link farm's names each get their results."""
    return os.path.normcase(os.path.abspath(path))


def image_paths(paths: Iterable[str | os.PathLike] | str | os.PathLike, output_dir: str | None = None) -> list[str]:
    """Files to process: the paths given, a folder standing for its image files (natural order),
    each file once however often it is named (the command line's rule).  A folder that is
    ``output_dir`` is refused: the next call would read this one's files as images (as
    ``gmmfast segment`` refuses)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    elif isinstance(paths, bytes) or hasattr(paths, "shape") or not isinstance(paths, Iterable):
        raise TypeError(f"paths must be a path, a folder or a list of them, got {type(paths).__name__} "
                        "(segment_many reads files; segment an array with segment()).")
    out: list[str] = []
    seen: set[str] = set()
    for p in paths:
        p = Path(p)
        if output_dir is not None:
            refuse_folder_as_output(p, output_dir, "images", "output_dir")
        found = folder_images(p) if p.is_dir() else [p]
        if p.is_dir() and not found:
            raise ValueError(f"Folder {str(p)!r} has no image files ({', '.join(IMAGE_SUFFIXES)}).")
        for f in found:
            key = input_key(f)
            if key not in seen:
                seen.add(key)
                out.append(str(f))
    if not out:
        raise ValueError("No files given.")
    return out


def _check_outputs_replace_no_input(files: list[str], stems: list[str], out: str) -> None:
    """Refuse a call whose files would replace one of its inputs (``cell_mask1.png``, a user's own
    file beside ``cell.png``): a file of the outputs' names in ``out`` that is an input (the same
    file, as the command line's ``Outputs(protect=)`` tells)."""
    from ._segmentation import OUTPUT_SUFFIXES

    if not os.path.isdir(out):
        return
    inputs = {file_identity(f) for f in files} - {None}
    outputs = re.compile("(?:" + "|".join(re.escape(s) for s in stems) + ")_(?:" + OUTPUT_SUFFIXES + ")")
    for entry in os.scandir(out):
        if outputs.fullmatch(entry.name) and file_identity(entry.path) in inputs:
            raise ValueError(f"{entry.path!r} is an input and would be replaced by an output of this call; give "
                             "another output_dir.")


def unique_stems(paths: Sequence[str], default: str = "image") -> list[str]:
    """Output stems, one per input, no two alike, each fixed by its own name where possible.

    A stem is the file name without extension (``default`` for none).  Inputs whose stems clash
    keep their extension in it (photo.jpg and photo.png give photo_jpg and photo_png), so that a
    later run of one of them alone, stem photo, cannot write over the other's files; inputs still
    alike (one name in two folders) are numbered (photo_jpg, photo_jpg_2), skipping any stem
    another input has (so an input named photo_jpg_2.png keeps its own files).  Stems are
    compared without regard to case, as macOS's and Windows' file systems compare names (x.JPG
    and x.jpg in two folders give x_jpg and x_jpg_2, not x_JPG and x_jpg, one file there).
    """
    plain = [Path(p).stem or default for p in paths]
    clash = collections.Counter(stem.casefold() for stem in plain)
    wanted = [stem if clash[stem.casefold()] == 1 else f"{stem}_{Path(p).suffix.lstrip('.').lower() or 'none'}"
              for p, stem in zip(paths, plain)]
    taken = {stem.casefold() for stem in wanted}
    used: set[str] = set()
    stems = []
    for stem in wanted:
        name, n = stem, 1
        while name.casefold() in used or (name != stem and name.casefold() in taken):
            n += 1
            name = f"{stem}_{n}"
        used.add(name.casefold())
        stems.append(name)
    return stems


def segment_job(path: str, stem: str, output_dir: str, n_components, options: dict, plot: bool) -> JobResult:
    """Segment one image and save its files (runs wherever the job is scheduled)."""
    from ._segmentation import segment

    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            seg = segment(path, n_components, **options)
            written = [str(f) for f in seg.save(output_dir, stem)]
            if plot:
                from .plotting import plot_segmentation

                target = Path(output_dir) / f"{stem}_plot.png"
                plot_segmentation(seg, target, title=Path(path).name)
                written.append(str(target))
    except Exception as exc:    # reported per file; the batch goes on
        expected = isinstance(exc, (OSError, ValueError, TypeError))   # bad file or option: its message says
        message = str(exc) if expected else f"{type(exc).__name__}: {exc}"
        return JobResult(path, stem, error=message, seconds=time.perf_counter() - t0)
    return JobResult(path, stem, tuple(written), seg.summary(), None,
                     tuple(str(w.message) for w in caught), time.perf_counter() - t0)


def run_jobs(func: Callable[..., JobResult], jobs: list[tuple], *, workers: int | None = None,
             scheduler: Any = None, on_done: Callable[[JobResult], None] | None = None) -> list[JobResult]:
    """Run ``func(*job)`` for every job; results in the order of ``jobs``.

    ``scheduler`` (a dask.distributed address or Client) wins over
    ``workers`` (local worker processes); None runs the jobs here, one by one.
    ``on_done`` is called with each result as it arrives.
    """
    results: list[JobResult | None] = [None] * len(jobs)

    def done(i: int, result: JobResult) -> None:
        results[i] = result
        if on_done is not None:
            on_done(result)

    if scheduler is not None:
        _run_on_dask(func, jobs, scheduler, done)
    elif workers is None:
        for i, job in enumerate(jobs):
            done(i, func(*job))
    else:
        _run_on_processes(func, jobs, workers, done)
    return results  # type: ignore[return-value]


#: Jobs handed to one worker process at a time: the next is waiting when one ends, so the
#: worker never idles for a round trip to this process (~20% of a 0.13 s photo job).
JOBS_PER_WORKER = 2


def _run_on_processes(func, jobs, workers: int, done) -> None:
    """Run the jobs on ``workers`` local processes.

    Each worker is its own one-process pool, which runs its jobs in the order
    given, so when the process dies (killed, out of memory, a crash in native
    code) the oldest unfinished job is the one it was on: that job is tried
    once more on a new process (the death may have come from outside) and
    reported if it dies again; the jobs queued behind it go back to the
    queue, and the other workers go on.  (One shared pool would break as a
    whole and fail every queued job.)
    """
    ctx = multiprocessing.get_context("spawn")
    waiting = list(range(len(jobs)))[::-1]                 # popped from the end: in order
    pools: list[concurrent.futures.ProcessPoolExecutor | None] = [None] * min(workers, len(jobs))
    handed = [collections.deque() for _ in pools]          # per worker: (future, job), oldest first
    deaths = collections.Counter()                         # job -> worker deaths while it ran
    any_finished = False                                   # a worker has returned a result
    finished = False
    try:
        while waiting or any(handed):
            for depth in range(JOBS_PER_WORKER):               # a job to every worker before a second
                for w, queue in enumerate(handed):
                    if waiting and len(queue) <= depth:
                        if pools[w] is None:
                            pools[w] = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx,
                                                                              initializer=_worker_started)
                        i = waiting.pop()
                        queue.append((pools[w].submit(_in_worker, func, *jobs[i]), i))
            concurrent.futures.wait([f for queue in handed for f, _ in queue],
                                    return_when=concurrent.futures.FIRST_COMPLETED)
            for w, queue in enumerate(handed):
                while queue and queue[0][0].done():
                    fut, i = queue.popleft()
                    try:
                        result = fut.result()
                    except concurrent.futures.BrokenExecutor:     # the process died on job i
                        pools[w].shutdown(wait=False)
                        pools[w] = None
                        waiting.extend(j for _, j in reversed(queue))    # not started: run them next
                        queue.clear()
                        deaths[i] += 1
                        if deaths[i] == 1:
                            waiting.append(i)                    # first of all, on a new process
                            continue
                        hint = "" if any_finished else _guard_hint()
                        if hint and sum(n == 2 for n in deaths.values()) >= 2:
                            # two files have each killed two workers and none has finished, from a
                            # script: its missing main guard, which fails every job alike (60 files
                            # took 169 s of tracebacks to say so); the rest are reported untried
                            for j in [i, *waiting[::-1], *(j for q in handed for _, j in q)]:
                                done(j, JobResult(jobs[j][0], jobs[j][1], error="the worker process died "
                                                  f"before any file was done{hint}; no file was processed"))
                            return
                        result = JobResult(jobs[i][0], jobs[i][1], error="the worker process died on this "
                                           f"file, twice (killed, out of memory or a crash{hint}); "
                                           "the other files went on")
                    except Exception as exc:       # the job's result or arguments could not be pickled
                        result = JobResult(jobs[i][0], jobs[i][1], error=f"worker failed: {type(exc).__name__}: {exc}")
                    else:
                        any_finished = True
                    done(i, result)
        finished = True
    finally:
        started = [pool for pool in pools if pool is not None]
        if not finished:     # interrupted (Ctrl-C) or failed: a worker's queued job would run on
            _stop_workers(started)
        for pool in started:
            pool.shutdown(wait=True, cancel_futures=True)


#: Seconds a stopped worker has to unwind its job (and remove the file it was writing) before it
#: is killed.
STOP_GRACE = 2.0


_STOPPING = False     # in a worker: SIGTERM or SIGINT has come


def _worker_started() -> None:
    """In a worker process: the first SIGTERM or SIGINT unwinds the job it is on, so the file it
    was writing is removed by atomic_write's cleanup instead of staying beside the results as a
    .part, and the worker then ends (see :func:`_in_worker`); later signals are ignored, so they
    cannot cut that cleanup short (a terminal's Ctrl-C reaches the workers, and this process's
    SIGTERM follows it)."""
    signal.signal(signal.SIGTERM, _stop_in_worker)
    signal.signal(signal.SIGINT, _stop_in_worker)


def _stop_in_worker(signum, frame) -> None:
    global _STOPPING
    if _STOPPING:
        return
    _STOPPING = True
    raise KeyboardInterrupt if signum == signal.SIGINT else SystemExit(128 + signum)


def _in_worker(func, *args):
    """Run a job in a worker; once a stop signal has come, end the worker instead -- after the job
    it was on has unwound, or before the next one it had queued.  The worker dies as the signal
    alone would have killed it, so a pool sees a dead worker: a worker killed from outside costs
    its job one more try on a new process, as before, rather than ending the run."""
    if not _STOPPING:
        try:
            return func(*args)
        except BaseException:
            if not _STOPPING:
                raise
    os._exit(128 + signal.SIGTERM)


def _stop_workers(pools: list[concurrent.futures.ProcessPoolExecutor]) -> None:
    """End the pools' worker processes now: the job a worker has already taken from its queue
    cannot be cancelled, and waiting for it kept an interrupted run going for minutes.  SIGTERM
    first (the job unwinds and the worker ends, see :func:`_worker_started`), SIGKILL after
    STOP_GRACE seconds for one still inside a kernel call (computing, not writing).  (Python runs
    the handler in the worker's main thread at its next bytecode: a signal that lands on another
    thread -- NumPy's BLAS threads -- does not cut short a blocking call the main thread is in.)"""
    procs = [p for pool in pools for p in (getattr(pool, "_processes", None) or {}).values() if p.is_alive()]
    for proc in procs:                      # (the executor has no public way to do this before 3.14)
        proc.terminate()
    deadline = time.monotonic() + STOP_GRACE
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()


def _guard_hint() -> str:
    """A hint for the commonest cause of every worker dying at once: a script without a main guard.

    Worker processes are spawned, and a spawned process imports the parent's
    script again; unguarded, the script's call starts workers from inside a
    worker, which multiprocessing refuses, and the worker dies.
    """
    main = sys.modules.get("__main__")
    if getattr(main, "__file__", None) is None:      # an interactive session or python -c: no re-import
        return ""
    return ('; from a script, make the call under `if __name__ == "__main__":`, since each worker '
            "imports the script again")


CONNECT_TIMEOUT = 20.0     # seconds to reach a scheduler and hear its answer


def connect(address: str, timeout: float = CONNECT_TIMEOUT):
    """A ``distributed.Client`` of the scheduler at ``address``, or a ConnectionError saying why not.

    dask.distributed's own timeout covers opening the connection, not the
    handshake after it: a port that accepts and never answers (a dashboard's, a
    proxy's) hangs ``Client()`` for ever, and one that answers something else
    can make it try to allocate exabytes.  So the client is made on a daemon
    thread and given ``timeout`` + 5 s in all.
    """
    try:
        import distributed
    except ImportError as exc:
        raise ImportError("a scheduler needs dask.distributed: pip install 'gmmfast[dask]'") from exc
    from distributed.comm.addressing import get_address_host_port, parse_address

    try:   # a malformed address is said to be one, not taken for something that answered
        if parse_address(address)[0] != "inproc":
            get_address_host_port(address)
    except (ValueError, TypeError) as exc:
        raise ConnectionError(f"{address!r} is not a scheduler address ({exc}); give one such as "
                              "tcp://127.0.0.1:8786") from None
    box: dict = {}

    def attempt() -> None:
        try:
            box["client"] = distributed.Client(address, timeout=f"{timeout}s")
        except BaseException as exc:       # handed to the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=attempt, name="gmmfast-connect", daemon=True)
    thread.start()
    thread.join(timeout + 5.0)
    if thread.is_alive():
        raise ConnectionError(
            f"cannot reach the Dask scheduler at {address}: it accepted the connection but gave no Dask "
            f"answer within {timeout + 5.0:g} s (is it the scheduler's address, e.g. tcp://host:8786, "
            "and not its dashboard's or another service's?)")
    exc = box.get("error")
    if isinstance(exc, (MemoryError, ValueError, TypeError)):
        raise ConnectionError(f"cannot reach the Dask scheduler at {address}: something answered there, "
                              f"but not as a Dask scheduler ({type(exc).__name__}: {exc})") from None
    if isinstance(exc, (OSError, TimeoutError)):
        raise ConnectionError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    if exc is not None:
        raise exc
    return box["client"]


def _run_on_dask(func, jobs, scheduler, done) -> None:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError("scheduler= needs dask.distributed: pip install 'gmmfast[dask]'") from exc
    from ._dask import check_cluster, finished

    own = not isinstance(scheduler, distributed.Client)
    client = connect(scheduler) if own else scheduler
    try:
        check_cluster(client)
        futures = [client.submit(func, *job, pure=False) for job in jobs]
        index = {f.key: i for i, f in enumerate(futures)}
        watched = finished(client, futures, "the batch")
        del futures              # a job's future is let go of once it is done (see finished)
        n_done = 0
        for fut, result, exc in watched:
            i = index[fut.key]
            if exc is not None:
                # the jobs report their own errors (segment_job, cli._parallel.run_job), so a connection
                # error or a cancelled task (not by the watcher: finished raises for those) is the
                # scheduler gone, even before the client says so (it may still say "running")
                if client.status != "running" or isinstance(exc, (OSError, concurrent.futures.CancelledError)):
                    raise ConnectionError(
                        f"lost the Dask scheduler at {client.scheduler.address} ({type(exc).__name__}): "
                        f"{len(jobs) - n_done} of {len(jobs)} inputs were not done") from None
                result = JobResult(jobs[i][0], jobs[i][1], error=f"worker failed: {type(exc).__name__}: {exc}")
            n_done += 1
            done(i, result)
    finally:
        if own:
            client.close()


def segment_many(paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str], n_components: int | str = 3, *,
                 output_dir: str | os.PathLike = "Result",
                 workers: int | None = None, scheduler: Any = None, n_threads: int | None = None,
                 plot: bool = False, on_done: Callable[[JobResult], None] | None = None,
                 **segment_options: Any) -> list[JobResult]:
    """Segment many images, each saved as :meth:`Segmentation.save` does, in parallel.

    Parameters
    ----------
    paths : path or iterable of paths
        Image files; a folder stands for its image files (sorted by name).
    n_components, **segment_options
        As :func:`gmmfast.segment` (``features``, ``smoothing``, ...).
    output_dir : path
        Folder for every image's files (``STEM_segmented.png`` ...; stems are
        the file names without extension, photo_jpg and photo_png when two
        share a name).  With ``scheduler`` the workers write
        it, so it must be on storage they share with you.  It may not be a
        folder given in ``paths``, nor hold an input an output would replace
        (ValueError, before any work).
    workers : int, optional
        Local worker processes (None: in this process, one image after the
        other).  They are started with ``spawn`` (threads and ``fork`` do not
        mix), so each imports the calling script again: call ``segment_many``
        from a script under ``if __name__ == "__main__":``.
    scheduler : str or distributed.Client, optional
        A dask.distributed scheduler address (``'tcp://host:8786'``) or a
        Client: the jobs run on that cluster.
    n_threads : int, optional
        Threads per image; default: all cores in this process, the cores
        shared out among ``workers``, and one per task on a Dask worker (its
        nanny's ``OMP_NUM_THREADS``).
    plot : bool
        Also write ``STEM_plot.png`` (needs matplotlib).
    on_done : callable, optional
        Called with each :class:`JobResult` as it finishes (progress display).

    Returns
    -------
    list of JobResult, in the order of the files.  A file that could not be
    segmented has ``ok`` False and its ``error``; the other files are done.
    """
    out = str(Path(output_dir))
    files = image_paths(paths, output_dir=out)
    if workers is not None:
        check_int(workers, "workers", low=1)
    check_n_threads(n_threads)
    plot = check_bool(plot, "plot")
    if on_done is not None and not callable(on_done):
        raise TypeError(f"on_done must be a function of one JobResult, got {type(on_done).__name__}.")
    if n_threads is None and scheduler is None and workers is not None:
        n_threads = max(1, available_cpus() // workers)
    options = dict(segment_options, n_threads=n_threads)
    from ._segmentation import check_options

    check_options(n_components, **options)     # a misspelt option fails here, not once per image
    if Path(out).exists() and not Path(out).is_dir():
        raise NotADirectoryError(f"output_dir {out!r} is a file, not a folder.")
    stems = unique_stems(files)
    _check_outputs_replace_no_input(files, stems, out)
    jobs = [(f, stem, out, n_components, options, plot) for f, stem in zip(files, stems)]
    return run_jobs(segment_job, jobs, workers=workers, scheduler=scheduler, on_done=on_done)
