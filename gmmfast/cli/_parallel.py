"""Many inputs at once: ``--workers N`` local processes or ``--scheduler ADDRESS`` (a Dask cluster).

A command's serial loop calls ``one(path, stem, args, outputs, progress, where)``
for each input, which stages the input's files in ``outputs`` and commits them.
Here the same function runs as a job elsewhere, on a :class:`_JobOutputs` that
writes into the run's staging folder (inside the output folder) and does not
commit: the job returns the names it staged, and this process moves them into
place with :meth:`Outputs.commit` as each job finishes.  The bytes written are
therefore the serial run's, by the serial run's code.  Jobs are scheduled by
:func:`gmmfast._batch.run_jobs` (the engine of :func:`gmmfast.segment_many`).

With ``--scheduler`` the workers read the inputs and write the staged files
themselves, so both must be on storage the workers share with this machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
import warnings
from pathlib import Path
from typing import Callable

from ._common import CLIError, error, int_range, say, user_message
from ._outputs import Outputs
from ._progress import Progress

#: How long --scheduler waits for the scheduler to answer.
CONNECT_TIMEOUT = 20.0   # seconds (see gmmfast._batch.connect)
#: Errors reported as the input's failure; anything else is a bug, reported as an internal error.
INPUT_ERRORS = (CLIError, OSError, ValueError, TypeError, MemoryError)


def add_parallel_options(p: argparse.ArgumentParser, what: str) -> None:
    """``--workers N`` and ``--scheduler ADDRESS``, the same for every command that takes many inputs."""
    p.add_argument("--workers", type=int_range(1, 1024), default=None, metavar="N",
                   help=f"process {what} in N local worker processes at once (default: one after the other "
                        "in this process); --threads is then per worker (default: the cores shared out)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help=f"process {what} on a Dask cluster (tcp://host:8786; needs gmmfast[dask]); its "
                        "workers must see the inputs and the output folder at the same paths")


def parallel(args: argparse.Namespace) -> bool:
    """Whether the run goes to workers; refuses option combinations it cannot honour."""
    workers, scheduler = getattr(args, "workers", None), getattr(args, "scheduler", None)
    if workers is not None and scheduler is not None:
        raise CLIError("give --workers or --scheduler, not both (a Dask cluster has its own workers)")
    if scheduler is not None and importlib.util.find_spec("distributed") is None:
        raise CLIError("--scheduler needs Dask's distributed scheduler: pip install 'gmmfast[dask]'")
    return workers is not None or scheduler is not None


class _JobOutputs:
    """What ``one`` needs of :class:`Outputs`, in a job: stage into the run's staging folder, commit nothing."""

    def __init__(self, folder: str, staging: str) -> None:
        self.folder = Path(folder)
        self._staging = Path(staging)
        self.staged: list[str] = []

    def stage(self, name: str) -> Path:
        # a run that ended (interrupted, its scheduler lost) has removed its staging folder: a job still
        # running on a worker must not write it back (the writers create missing folders), where nothing
        # would ever remove it
        if not self._staging.is_dir():
            raise CLIError(f"the run that gave this job has ended (its staging folder {self._staging} is gone)")
        self.staged.append(name)
        return self._staging / name

    def commit(self, families=()) -> list[Path]:
        """The paths the staged files will have once this process's caller commits them."""
        return [self.folder / name for name in self.staged]

    def discard_staged(self) -> None:
        for name in self.staged:
            try:
                os.unlink(self._staging / name)
            except OSError:
                pass
        self.staged = []


def run_job(path: str, stem: str, one: Callable, args: argparse.Namespace, folder: str, staging: str):
    """One input's job (runs in a worker): the command's ``one`` on a :class:`_JobOutputs`."""
    from .._batch import JobResult

    outputs = _JobOutputs(folder, staging)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            line = one(Path(path), stem, args, outputs, Progress(enabled=False))
        except INPUT_ERRORS as exc:
            outputs.discard_staged()
            return JobResult(path, stem, error=user_message(exc, getattr(args, "options", {})))
        except Exception as exc:  # a bug in gmmfast: this input fails, the others go on
            outputs.discard_staged()
            return JobResult(path, stem, error=f"internal error ({type(exc).__name__}: {exc}); please report it")
    return JobResult(path, stem, tuple(outputs.staged), line,
                     warnings=tuple(str(w.message) for w in caught if issubclass(w.category, UserWarning)),
                     seconds=time.perf_counter() - t0)


def _job_args(args: argparse.Namespace) -> argparse.Namespace:
    """The options a job gets: with --workers and no --threads, the cores shared out among the workers."""
    from .._threads import available_cpus

    job_args = argparse.Namespace(**vars(args))
    job_args.func = None  # the job calls one(); the command's run() need not travel
    if args.threads is None and args.workers is not None:
        job_args.threads = max(1, available_cpus() // args.workers)
    return job_args


def _quiet_distributed() -> None:
    """Keep dask.distributed's own log records (its tracebacks when the scheduler goes, its notes on
    workers coming and going) off the command's stderr: what the run needs to say, it says in one
    line.  (Its loggers are set level by level from dask's config, so each is raised.)"""
    import logging

    for name in ["distributed", *[n for n in logging.root.manager.loggerDict if n.startswith("distributed.")]]:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _connect(address: str):
    """A client of the Dask scheduler at ``address``, or a CLIError saying why there is none."""
    from .._batch import connect

    try:
        return connect(address, CONNECT_TIMEOUT)
    except ConnectionError as exc:
        raise CLIError(f"{exc} (--scheduler)") from None


def run_parallel(one: Callable, paths: list[Path], stems: list[str], args: argparse.Namespace, outputs: Outputs,
                 families: Callable[[str], object], caught, progress: Progress) -> int:
    """Run ``one`` for every input on workers; returns how many inputs failed.

    Each finished input is committed and its line printed at once; a failing
    input is reported on one line and skipped.  On a cluster the workers get
    absolute paths; lines and messages show the inputs as they were given.
    """
    from .._batch import run_jobs

    staging = str(outputs.stage_folder().resolve())
    remote = args.scheduler is not None
    given = {str(p.resolve()) if remote else str(p): str(p) for p in paths}
    jobs = [(path, s, one, _job_args(args), str(outputs.folder), staging) for path, s in zip(given, stems)]
    failures = 0

    def done(result) -> None:
        nonlocal failures
        name = given[result.path]
        caught.source = name
        for text in result.warnings:
            warnings.warn(text, UserWarning, stacklevel=1)
        caught.collect()
        message = result.error
        if result.ok:
            for staged in result.files:
                outputs.stage(staged)
            try:
                outputs.commit([families(result.stem)])
                say(result.summary.replace(result.path, name), progress)
            except (OSError, CLIError) as exc:
                outputs.discard_staged()
                message = user_message(exc)
        if message is not None:
            failures += 1
            message = message.replace(result.path, name)
            error(message if name in message else f"{name}: {message}", progress)
        progress.update()

    client = _connect(args.scheduler) if remote else None
    if remote:
        _quiet_distributed()       # (after the import of distributed, which sets its loggers' levels)
    progress.start(f"{len(jobs)} inputs on " + (f"the cluster at {args.scheduler}" if remote
                                                else f"{args.workers} worker processes"), len(jobs))
    try:
        run_jobs(run_job, jobs, workers=args.workers, scheduler=client, on_done=done)
    except RuntimeError as exc:
        from .._dask import ClusterNotReady

        if isinstance(exc, ClusterNotReady):
            raise CLIError(f"{exc} (--scheduler)") from None
        raise
    finally:
        if client is not None:
            client.close()
    progress.finish()
    return failures


def run_many(one: Callable, paths: list[Path], stems: list[str], args: argparse.Namespace, outputs: Outputs,
             families: Callable[[str], object], caught, progress: Progress, on_workers: bool) -> int:
    """Every input through ``one``: on workers, or here one after the other; returns how many failed.

    A failing input is reported on one line (naming it), its staged files are
    dropped and the others go on.
    """
    if on_workers:
        return run_parallel(one, paths, stems, args, outputs, families, caught, progress)
    failures = 0
    for i, (path, stem) in enumerate(zip(paths, stems), 1):
        caught.source = str(path)
        where = f" ({i}/{len(paths)})" if len(paths) > 1 else ""
        try:
            say(one(path, stem, args, outputs, progress, where), progress)
        except INPUT_ERRORS as exc:
            progress.finish()
            outputs.discard_staged()
            failures += 1
            message = user_message(exc, getattr(args, "options", {}))
            error(message if str(path) in message else f"{path}: {message}", progress)
        caught.collect()
    return failures
