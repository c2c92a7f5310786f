"""Helpers shared by the subcommands: progress display and error reporting."""

from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], total: int | None = None, desc: str = "", stream=None) -> Iterator[T]:
    """Yield ``items`` while drawing a one-line progress bar on stderr.

    The bar is drawn only when the stream is a terminal, so logs and pipes stay clean.
    """
    stream = stream or sys.stderr
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    show = hasattr(stream, "isatty") and stream.isatty()
    start = time.perf_counter()
    done = 0
    for item in items:
        yield item
        done += 1
        if show:
            elapsed = time.perf_counter() - start
            if total:
                width = 30
                filled = int(width * done / total)
                bar = "#" * filled + "-" * (width - filled)
                stream.write(f"\r{desc} [{bar}] {done}/{total} {elapsed:6.1f}s")
            else:
                stream.write(f"\r{desc} {done} {elapsed:6.1f}s")
            stream.flush()
    if show:
        stream.write("\n")
        stream.flush()


def error(message: str) -> None:
    """Print an error message for the user on stderr."""
    print(f"gmmfast: error: {message}", file=sys.stderr)
