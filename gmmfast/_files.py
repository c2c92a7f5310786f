"""Files: writing them so that an interrupted run never leaves a half-written one, and listing
a folder's in the order a person numbers them."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Iterator


def natural_key(name: str):
    """Sort key: frame2 before frame10; names equal under it (frame1, frame01, Frame1) then in
    code-point order, so that the order never depends on how the file system lists a folder."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)], name


def files_in(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """The files of ``folder`` whose extension (any case) is one of ``suffixes``, in natural order."""
    return sorted((f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in suffixes),
                  key=lambda f: natural_key(f.name))


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


#: Permissions of a new file under the process's umask (what open() would give), read once
#: at import: the temporary files of mkstemp are private (0600) and keep that mode when renamed.
FILE_MODE = 0o666 & ~_umask()


def publish_mode(path: str | os.PathLike) -> None:
    """Give a temporary file the permissions a file created by open() would have."""
    with contextlib.suppress(OSError):
        os.chmod(path, FILE_MODE)


def file_identity(path: str | os.PathLike) -> tuple[int, int] | None:
    """(device, inode) of an existing file, None otherwise: one file however its path is written
    (case, links)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def refuse_folder_as_output(folder: str | os.PathLike, output: str | os.PathLike, what: str, option: str) -> None:
    """Refuse an input folder that is also the output folder: the next run would read this run's files
    as its ``what`` (images, frames).  ``option`` names the output folder's parameter."""
    if Path(folder).is_dir() and file_identity(folder) == file_identity(output):
        raise ValueError(f"{str(folder)!r} is a folder of {what} and the output folder: the next run would read "
                         f"this run's files as {what}; give another output folder ({option}).")


def make_parent(path: Path) -> None:
    """Create the folders above ``path`` (see :func:`make_folder`)."""
    make_folder(path.parent, path)


def make_folder(folder: Path, for_path: Path | None = None) -> None:
    """Create ``folder`` and its parents; a file (or a link to nothing) where one of them is to be is
    named, with what was being written (mkdir's FileExistsError named neither)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        # the deepest folder-to-be that exists as something else
        blocker = next((p for p in (folder, *folder.parents) if os.path.lexists(p) and not p.is_dir()), None)
        if blocker is None:
            raise
        what = "a link to nothing" if blocker.is_symlink() and not blocker.exists() else "a file"
        raise NotADirectoryError(f"cannot write {str(for_path or folder)!r}: {str(blocker)!r} is {what}, "
                                 "not a folder.") from None


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; rename it to ``path`` on success.

    The rename replaces any existing file in one step (``os.replace`` is atomic
    within a file system), so readers see the old file or the new one, never a
    partial one; on an exception (including KeyboardInterrupt) the temporary
    file is removed and ``path`` is untouched.  Parent folders are created.
    """
    path = Path(path)
    if path.is_dir():      # refused before writing: the rename would fail naming the temporary file
        raise IsADirectoryError(f"cannot write {str(path)!r}: it is a folder; give a file name.")
    make_parent(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        publish_mode(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno and exc.filename is None:
            # a write into the open file (a full disk, a quota) names no file: name the one being written
            raise type(exc)(exc.errno, exc.strerror, str(path)) from None
        raise
