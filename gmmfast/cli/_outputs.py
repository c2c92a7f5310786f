"""The files a subcommand writes, put in place all at once.

Every output is first written into a hidden staging folder inside the
output folder (``.gmmfast-XXXX``) and moved to its final name by
:meth:`Outputs.commit` once the whole result is ready; ``os.replace`` within
one file system is atomic, so an interrupted or failed run leaves no half-
written file and the previous run's files as they were.  What the folder may
hold from an earlier run is recognised by file-name patterns (a "family" per
input, e.g. ``photo_mask\\d+.png``): without ``--overwrite`` a run refuses to
start when any of them exists; with it, the earlier files the new run did not
produce are removed at commit, so the folder holds exactly the new run's
files.

A staging folder is locked (``flock``) by the run that made it for as long as
that run lives; the kernel drops the lock however the run ends, so the next
run in the folder removes staging folders nobody holds (left by a run killed
with SIGKILL or by a power cut) and leaves a live run's alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Iterator

from .._files import file_identity
from ._common import STAGING_PREFIX, CLIError, Warnings
from ._progress import Progress

try:
    import fcntl
except ImportError:       # Windows: no flock; abandoned staging folders are left as they are
    fcntl = None  # type: ignore[assignment]

STAGING_LOCK = ".lock"


def family(stem: str, suffixes: str) -> re.Pattern:
    """The names ``STEM_<suffix>`` a run writes for one input; ``suffixes`` is a regular expression."""
    return re.compile(re.escape(stem) + "_(?:" + suffixes + ")")


class Outputs:
    """A run's output files: staged, then moved into ``folder`` together.

    Parameters
    ----------
    folder : path
        The output folder; created (with its parents) if missing, and removed
        again if the run fails before committing anything.
    overwrite : bool
        Whether files of an earlier run may be replaced.
    protect : paths
        Files that must never be replaced or removed (the run's inputs).
    """

    def __init__(self, folder: str | os.PathLike, *, overwrite: bool = False,
                 protect: Iterable[str | os.PathLike] = ()) -> None:
        self.folder = Path(folder)
        self.overwrite = bool(overwrite)
        self._protect = {file_identity(p) for p in protect}
        self._protect.discard(None)
        self._created: list[Path] = []
        self._stage: Path | None = None
        self._lock: int | None = None
        self._staged: list[str] = []
        self.written: list[Path] = []

    # -- before the work ------------------------------------------------------------
    def open(self) -> Outputs:
        """Create the folder and the staging folder (so an unwritable folder fails before any work)."""
        missing = []
        parent = self.folder
        while not parent.exists() and parent != parent.parent:
            missing.append(parent)
            parent = parent.parent
        try:
            for d in reversed(missing):
                d.mkdir()
                self._created.append(d)
            self._stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.folder))
        except OSError as exc:
            self.discard()
            raise CLIError(f"cannot write to the output folder {_show(self.folder)}: "
                           f"{_reason(exc)}") from None
        self._lock = _hold(self._stage)
        _remove_abandoned(self.folder)
        return self

    def check_free(self, families: Iterable[re.Pattern], option: str = "--overwrite") -> None:
        """Refuse to start when the folder holds files of an earlier run (unless overwriting), or
        a folder where an output file is to go."""
        families = list(families)
        if self.folder.is_dir():
            for entry in os.scandir(self.folder):
                if entry.is_dir() and any(f.fullmatch(entry.name) for f in families):
                    raise CLIError(f"{_show(self.folder / entry.name)} is a folder where an output file is to go; "
                                   "move it, or give another output folder with -o")
        found = sorted(self._existing(families))
        if self.overwrite:
            clash = [n for n in found if file_identity(self.folder / n) in self._protect]
            if clash:
                raise CLIError(f"{_show(self.folder / clash[0])} is an input of this run and would be "
                               f"replaced by its output; use another output folder (-o)")
            return
        if found:
            more = f" and {len(found) - 1} more" if len(found) > 1 else ""
            raise CLIError(f"{_show(self.folder / found[0])}{more} exist from an earlier run; "
                           f"give {option} to replace them, or another output folder with -o")

    # -- during the work ------------------------------------------------------------------
    def stage(self, name: str) -> Path:
        """The path to write the output ``name`` to (in the staging folder)."""
        if self._stage is None:
            self.open()
        if os.sep in name or (os.altsep and os.altsep in name) or name.startswith("."):
            raise ValueError(f"output names are plain file names, got {name!r}")
        self._staged.append(name)
        return self._stage / name  # type: ignore[operator]

    def stage_folder(self) -> Path:
        """The staging folder itself (for writers in other processes, see cli._parallel); register what
        they write there with :meth:`stage` before committing it."""
        if self._stage is None:
            self.open()
        return self._stage  # type: ignore[return-value]

    # -- after the work -------------------------------------------------------------------
    def commit(self, families: Iterable[re.Pattern] = ()) -> list[Path]:
        """Move the staged files into the folder and, when overwriting, remove the files of
        ``families`` the run did not write.  Returns the paths committed now.

        Commits into one folder take turns (a lock on the folder), and a run not overwriting checks
        ``families`` again under the lock: two runs started together into one folder passed the check
        at their start, and their files landed mixed, both runs reporting success."""
        names, self._staged = self._staged, []
        families = list(families)
        done = []
        with _no_interrupt(), _folder_locked(self.folder):
            found = [] if self.overwrite else sorted(self._existing(families))
            if found:
                self._staged = names           # (discard_staged drops them)
                raise CLIError(f"{_show(self.folder / found[0])} was written by another run while this one "
                               "worked; nothing of this input was written: give --overwrite to replace it, or "
                               "another output folder with -o")
            for name in names:
                final = self.folder / name
                os.replace(self._stage / name, final)  # type: ignore[operator]
                done.append(final)
            if self.overwrite and families:
                keep = set(names)
                for stale in self._existing(families):
                    if stale not in keep and file_identity(self.folder / stale) not in self._protect:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(self.folder / stale)
        self._created = []  # the folder now holds results: never remove it
        self.written.extend(done)
        return done

    def discard_staged(self) -> None:
        """Drop the files staged since the last commit (a failed input of a multi-input run)."""
        for name in self._staged:
            with contextlib.suppress(OSError):
                os.unlink(self._stage / name)  # type: ignore[operator]
        self._staged = []

    def discard(self) -> None:
        """Remove the staging folder, and the output folder when this run created it and left it empty."""
        if self._stage is not None:
            shutil.rmtree(self._stage, ignore_errors=True)
            self._stage = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
        self._staged = []
        for d in reversed(self._created):
            with contextlib.suppress(OSError):
                d.rmdir()
        self._created = []

    def close(self) -> None:
        """Discard what was not committed and remove the staging folder."""
        self.discard()

    def __enter__(self) -> Outputs:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def _existing(self, families: Iterable[re.Pattern]) -> Iterator[str]:
        families = list(families)
        if not self.folder.is_dir():
            return
        for entry in os.scandir(self.folder):
            if entry.is_file() and any(f.fullmatch(entry.name) for f in families):
                yield entry.name


@contextlib.contextmanager
def single_input_run(path: Path, folder: str | os.PathLike, overwrite: bool, families: Iterable[re.Pattern],
                     options: dict[str, str]) -> Iterator[tuple[Progress, Outputs]]:
    """What a command over one input file (``bgsub``, ``grabcut``) runs inside: a progress line,
    the output folder (checked writable and free of an earlier run's ``families`` before any work)
    and the library's warnings, each printed once in the command's ``options`` terms."""
    with Progress() as progress, Outputs(folder, overwrite=overwrite, protect=[path]) as outputs, \
            Warnings(options, progress) as caught:
        outputs.check_free(families)
        caught.source = str(path)
        yield progress, outputs


def _hold(stage: Path) -> int | None:
    """Lock ``stage`` for this run's lifetime; the descriptor, or None where locks are not to be had.
    The lock file is locked under a temporary name and then renamed, so a ``.lock`` that exists is
    always held by a live run or by none."""
    if fcntl is None:
        return None
    fd, temporary = tempfile.mkstemp(prefix=STAGING_LOCK + "-", dir=stage)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(temporary, stage / STAGING_LOCK)
    except OSError:        # a file system without locks: the folder is removed only by its run
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def _folder_locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` itself (not a file in it) for the block: other gmmfast
    runs committing into it wait.  Where locks are not to be had, the block runs unlocked."""
    fd = None
    if fcntl is not None:
        try:
            fd = os.open(folder, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            if fd is not None:
                os.close(fd)
            fd = None
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)          # (closing drops the lock)


def _remove_abandoned(folder: Path) -> None:
    """Remove the staging folders in ``folder`` whose lock nobody holds (their run was killed before it
    could clean up).  A folder without a lock file -- a run starting this instant, or one on a file
    system without locks -- is left alone."""
    if fcntl is None:
        return
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if not (entry.name.startswith(STAGING_PREFIX) and entry.is_dir(follow_symlinks=False)):
                continue
            try:
                fd = os.open(os.path.join(entry.path, STAGING_LOCK), os.O_RDONLY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # our own folder's lock is held: refused
            except OSError:
                continue
            else:
                shutil.rmtree(entry.path, ignore_errors=True)
            finally:
                os.close(fd)


def _show(path: Path) -> str:
    return str(path)


def _reason(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


@contextlib.contextmanager
def _no_interrupt() -> Iterator[None]:
    """Hold back Ctrl-C and SIGTERM while the files are moved into place (a few renames), so that
    a run's results land together; the signal is handed to its handler right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *a: caught.append(a)) for sig in held}
    try:
        yield
    finally:
        for sig in held:
            signal.signal(sig, previous[sig])
        for signum, frame in caught[:1]:
            handler = previous[signum]
            if callable(handler):
                handler(signum, frame)        # raises KeyboardInterrupt (or the CLI's for SIGTERM)
            elif handler == signal.SIG_DFL:
                raise KeyboardInterrupt
