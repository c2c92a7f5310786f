"""Jobs of the web app: private folders, a bounded work queue, expiry.

A *job* is one upload (an image or a video) with its own temporary folder,
created with mode 0700 under one root folder of the server.  Each
computation on it (a segmentation with some K, a cut-out with some box, a
background subtraction with some method) is a *run*, a :class:`Task` put on
the :class:`WorkQueue`.  Folders are named by the server; nothing a client
sends becomes part of a path.

The queue is bounded: it holds at most ``capacity`` tasks (waiting plus
running), and :meth:`WorkQueue.submit` raises :class:`QueueFull` beyond that,
which the app answers with 503.  Jobs not used for ``ttl`` seconds are
deleted with their folders by a reaper thread, and :meth:`JobStore.close`
deletes everything at shutdown.
"""

from __future__ import annotations

import collections
import logging
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("gmmfast.web")

#: Message a run shows when its code raised something other than a
#: ValueError/TypeError (whose messages are written for users).
INTERNAL_ERROR = "Something went wrong on the server while processing this file (the details are in the server log)."


class FileRef(str):
    """A job file's name inside a run's result; the app turns it into a URL."""


class QueueFull(Exception):
    """The work queue holds ``capacity`` tasks already."""


class UserError(ValueError):
    """A problem with the user's input, shown to the user as it is."""


@dataclass(eq=False)
class Task:
    """One run on a job: its status, progress and result.

    ``status`` goes 'queued' -> 'running' -> 'done' or 'error'; ``result``
    is what the work function returned, ``error`` the message shown to the
    user when it failed.
    """

    number: int
    kind: str
    params: dict
    status: str = "queued"
    progress: float = 0.0
    message: str = ""
    result: Any = None
    error: str | None = None
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def report(self, fraction: float, message: str = "") -> None:
        """Progress callback for the work function: ``fraction`` in [0, 1]."""
        self.progress = min(1.0, max(0.0, float(fraction)))
        if message:
            self.message = message

    def wait(self, timeout: float | None) -> bool:
        """Block until the task has finished (or ``timeout`` seconds); True if finished."""
        return self.done.wait(timeout)


class Job:
    """One upload: a private folder, cached data and the runs made on it."""

    def __init__(self, job_id: str, kind: str, folder: Path) -> None:
        self.id = job_id
        self.kind = kind
        self.folder = folder
        self.created = time.monotonic()
        self.last_used = self.created
        self.lock = threading.RLock()
        self.info: dict = {}          # facts shown to the client (size, name...)
        self.cache: dict = {}         # server-side objects (decoded image, last result...)
        self.cache_bytes: dict = {}   # memory each cache entry holds, for JobStore.trim_caches
        self.files: dict[str, Path] = {}  # name -> file clients may fetch
        self.private: dict[str, Path] = {}  # name -> file only the server reads (the upload)
        self.tasks: dict[int, Task] = {}

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def new_task(self, params: dict) -> Task:
        """A new numbered run of this job (not yet queued)."""
        with self.lock:
            number = max(self.tasks, default=0) + 1
            task = Task(number, self.kind, dict(params))
            self.tasks[number] = task
            return task

    def busy(self) -> bool:
        """True while a run of this job is queued or running."""
        return any(not t.done.is_set() for t in list(self.tasks.values()))

    def cache_put(self, key: str, value: Any, nbytes: int) -> None:
        """Keep ``value`` in memory for the next runs (dropped by :meth:`JobStore.trim_caches`)."""
        with self.lock:
            self.cache[key] = value
            self.cache_bytes[key] = int(nbytes)

    def clear_cache(self) -> None:
        with self.lock:
            self.cache.clear()
            self.cache_bytes.clear()

    def new_path(self, name: str) -> Path:
        """Where to write the job's file ``name`` (a name chosen by the server); :meth:`register` it when written."""
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def register(self, name: str) -> FileRef:
        """Make a file written at :meth:`new_path` available to clients."""
        with self.lock:
            self.files[name] = self.folder / name
        return FileRef(name)

    def add_file(self, name: str, data: bytes, *, private: bool = False) -> FileRef:
        """Write ``data`` as the job's file ``name`` (a name chosen by the server).

        Public files can be fetched by clients who know the job; ``private``
        ones (the upload itself) only by the server.
        """
        path = self.new_path(name)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")  # runs may write at once
        tmp.write_bytes(data)
        tmp.replace(path)
        if private:
            with self.lock:
                self.private[name] = path
            return FileRef(name)
        return self.register(name)


class JobStore:
    """The server's jobs, each in a private folder under one temporary root.

    Parameters
    ----------
    ttl : float
        Seconds after its last use when a job (and its folder) is deleted.
    max_jobs : int
        Jobs kept at most; the least recently used idle job is deleted to
        make room for a new one.
    root : path or None
        Folder in which the root folder is created (None: the system's temp folder).
    """

    def __init__(self, ttl: float = 1800.0, max_jobs: int = 200, root: str | None = None) -> None:
        self.ttl = float(ttl)
        self.max_jobs = int(max_jobs)
        self.root = Path(tempfile.mkdtemp(prefix="gmmfast-web-", dir=root))
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="gmmfast-web-reaper", daemon=True)
        self._reaper.start()

    def create(self, kind: str) -> Job:
        """A new job with a fresh private folder and an unguessable id."""
        if self._closed.is_set():
            raise RuntimeError("the job store is closed")
        job_id = secrets.token_urlsafe(18)
        folder = Path(tempfile.mkdtemp(prefix="job-", dir=self.root))
        job = Job(job_id, kind, folder)
        with self._lock:
            self._jobs[job_id] = job
            victims = self._over_limit()
        for victim in victims:
            self._delete(victim)
        return job

    def discard(self, job: Job) -> None:
        """Delete ``job`` and its folder now (an upload that was refused)."""
        with self._lock:
            self._jobs.pop(job.id, None)
        self._delete(job)

    def get(self, job_id: str, kind: str | None = None) -> Job | None:
        """The job ``job_id`` (of ``kind`` if given), marked as used; None if unknown or expired."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or (kind is not None and job.kind != kind):
            return None
        job.touch()
        return job

    def __len__(self) -> int:
        return len(self._jobs)

    def _over_limit(self) -> list[Job]:
        """Idle jobs to delete so that at most ``max_jobs`` remain (called with the lock held)."""
        extra = len(self._jobs) - self.max_jobs
        if extra <= 0:
            return []
        idle = sorted((j for j in self._jobs.values() if not j.busy()), key=lambda j: j.last_used)
        victims = idle[:extra]
        for j in victims:
            del self._jobs[j.id]
        return victims

    def expire(self, now: float | None = None) -> int:
        """Delete the idle jobs unused for ``ttl`` seconds; returns how many."""
        now = time.monotonic() if now is None else now
        with self._lock:
            old = [j for j in self._jobs.values() if now - j.last_used > self.ttl and not j.busy()]
            for j in old:
                del self._jobs[j.id]
        for j in old:
            self._delete(j)
        return len(old)

    def trim_caches(self, max_bytes: int) -> None:
        """Drop the in-memory caches of the least recently used jobs beyond ``max_bytes`` in all.

        A job whose cache was dropped decodes its upload again from its
        folder when it is next used.
        """
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.last_used, reverse=True)
        total = 0
        for j in jobs:
            size = sum(j.cache_bytes.values())
            if total + size > max_bytes and not j.busy():
                j.clear_cache()
            else:
                total += size

    def _delete(self, job: Job) -> None:
        job.clear_cache()
        shutil.rmtree(job.folder, ignore_errors=True)

    def _reap_loop(self) -> None:
        interval = min(60.0, max(0.5, self.ttl / 4))
        while not self._closed.wait(interval):
            try:
                self.expire()
            except Exception:  # the reaper must survive anything
                log.exception("expiring jobs failed")

    def close(self) -> None:
        """Delete every job and the root folder; the store takes no new jobs after this."""
        self._closed.set()
        with self._lock:
            jobs = list(self._jobs.values())
            self._jobs.clear()
        for j in jobs:
            j.clear_cache()
        shutil.rmtree(self.root, ignore_errors=True)


class WorkQueue:
    """A bounded first-in-first-out queue served by ``workers`` threads.

    ``capacity`` counts waiting and running tasks together, so at most that
    many uploads are held in memory for work at any time.
    """

    def __init__(self, workers: int = 1, capacity: int = 16) -> None:
        if workers < 1 or capacity < 1:
            raise ValueError("workers and capacity must be at least 1")
        self.workers = int(workers)
        self.capacity = int(capacity)
        self._pending: collections.deque = collections.deque()
        self._active = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = [threading.Thread(target=self._work_loop, name=f"gmmfast-web-worker-{i}", daemon=True)
                         for i in range(self.workers)]
        for t in self._threads:
            t.start()

    def submit(self, task: Task, fn: Callable[[Task], Any]) -> Task:
        """Queue ``fn(task)``; raises :class:`QueueFull` when ``capacity`` tasks are held."""
        with self._cond:
            if self._stopping:
                raise QueueFull("the server is shutting down")
            if len(self._pending) + self._active >= self.capacity:
                raise QueueFull(f"the server is busy ({self.capacity} jobs waiting or running)")
            self._pending.append((task, fn))
            self._cond.notify()
        return task

    def cancel_waiting(self, job: Job, message: str = "Replaced by a newer request.") -> int:
        """Drop ``job``'s tasks that have not started (a newer run makes them moot); returns how many."""
        with self._cond:
            mine = {id(t) for t in job.tasks.values()}
            dropped = [(t, fn) for t, fn in self._pending if id(t) in mine]
            for item in dropped:
                self._pending.remove(item)
        for task, _ in dropped:
            _finish(task, error=message)
            task.status = "cancelled"
        return len(dropped)

    def stats(self) -> dict:
        """Waiting and running tasks, and the limits."""
        with self._cond:
            return {"waiting": len(self._pending), "running": self._active,
                    "capacity": self.capacity, "workers": self.workers}

    def _work_loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                task, fn = self._pending.popleft()
                self._active += 1
            try:
                run_task(task, fn)
            finally:
                with self._cond:
                    self._active -= 1

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking tasks; tasks still waiting finish with an error; wait for running ones."""
        with self._cond:
            self._stopping = True
            dropped = list(self._pending)
            self._pending.clear()
            self._cond.notify_all()
        for task, _ in dropped:
            _finish(task, error="The server shut down before this job ran.")
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))


def run_task(task: Task, fn: Callable[[Task], Any]) -> None:
    """Run ``fn(task)`` and record its result or a user-facing error message."""
    task.status = "running"
    task.started = time.monotonic()
    try:
        result = fn(task)
    except (UserError, ValueError, TypeError) as exc:
        # the library's ValueError/TypeError messages say what to change
        _finish(task, error=str(exc) or type(exc).__name__)
    except MemoryError:
        _finish(task, error="The server ran out of memory for this file; try a smaller one.")
    except Exception:
        log.exception("%s run %d failed", task.kind, task.number)
        _finish(task, error=INTERNAL_ERROR)
    else:
        task.result = result
        _finish(task)


def _finish(task: Task, error: str | None = None) -> None:
    task.finished = time.monotonic()
    if error is None:
        task.progress = 1.0
        task.message = "done"
        task.status = "done"
    else:
        task.error = error
        task.status = "error"
    task.done.set()
