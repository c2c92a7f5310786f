"""The progress line every subcommand shows on stderr while it works.

One :class:`Progress` per run draws one line at a time: the current step's
name, a bar when the step's size is known (frames, images), the count and
the elapsed seconds.  A background thread redraws the line a few times a
second, so a step that is one long library call (a mixture fit, a GIF
encoding) still shows its clock running.  The line is cut to the terminal's
width (so it never wraps into the next line), and :meth:`Progress.write`
clears it before anything else is printed (so summaries and warnings never
run into it).  Nothing is drawn unless the stream is a terminal: logs and
pipes stay clean.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import IO, Iterable, Iterator, TypeVar

T = TypeVar("T")

BAR_WIDTH = 24
REDRAW_SECONDS = 0.2  # the background thread's redraws
MIN_REDRAW_SECONDS = 0.05  # at most 20 redraws a second from update()


class Progress:
    """A one-line progress display on ``stream`` (default: stderr).

    Parameters
    ----------
    stream : text stream, optional
        Where the line is drawn (default ``sys.stderr`` at the time of drawing).
    enabled : bool, optional
        Draw or not; default: only when ``stream`` is a terminal.
    width : int, optional
        Columns available (default: the terminal's width).
    tick : bool
        Redraw from a background thread every 0.2 s (False in tests that
        want to control every redraw).
    """

    def __init__(self, stream: IO[str] | None = None, *, enabled: bool | None = None,
                 width: int | None = None, tick: bool = True) -> None:
        self._stream = stream
        stream = self.stream
        self.enabled = bool(stream.isatty()) if enabled is None and hasattr(stream, "isatty") else bool(enabled)
        self._width = width
        self._lock = threading.RLock()
        self._desc = ""
        self._total: int | None = None
        self._done = 0
        self._start = 0.0
        self._active = False
        self._shown = 0  # characters of the line now on screen
        self._drawn = 0.0  # when it was last drawn
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tick = tick

    @property
    def stream(self) -> IO[str]:
        return self._stream if self._stream is not None else sys.stderr

    # -- steps ------------------------------------------------------------------
    def start(self, desc: str, total: int | None = None) -> None:
        """Begin a step (ending the one before): ``desc`` with ``total`` units of work, if known."""
        with self._lock:
            self._desc, self._total, self._done = desc, total, 0
            self._start = time.perf_counter()
            self._active = True
            self._draw()
        if self.enabled and self._tick and self._thread is None:
            self._thread = threading.Thread(target=self._ticker, name="gmmfast-progress", daemon=True)
            self._thread.start()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units of the current step as done."""
        with self._lock:
            self._done += n
            self._draw(force=self._total is not None and self._done >= self._total)

    def finish(self) -> None:
        """End the current step and clear its line."""
        with self._lock:
            self._active = False
            self._clear()

    def step(self, items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
        """Yield ``items`` as one step, counting each one."""
        if total is None:
            try:
                total = len(items)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.start(desc, total)
        try:
            for item in items:
                yield item
                self.update()
        finally:
            self.finish()

    def close(self) -> None:
        """Clear the line and stop the redrawing thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.finish()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- printing beside it -------------------------------------------------------
    def write(self, text: str, stream: IO[str] | None = None) -> None:
        """Print ``text`` (a line) on ``stream`` (default: the progress stream) without
        mixing it with the progress line, which is redrawn below it."""
        stream = stream if stream is not None else self.stream
        with self._lock:
            self._clear()
            stream.write(text + "\n")
            stream.flush()
            self._draw()

    # -- drawing ----------------------------------------------------------------------
    def line(self) -> str:
        """The progress line as it would be drawn now (without the carriage return)."""
        elapsed = time.perf_counter() - self._start
        parts = [self._desc]
        if self._total:
            filled = min(BAR_WIDTH, int(BAR_WIDTH * self._done / self._total))
            parts.append("[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]")
            parts.append(f"{self._done}/{self._total}")
        elif self._done:
            parts.append(str(self._done))
        parts.append(f"{elapsed:.1f} s")
        text = " ".join(p for p in parts if p)
        width = self._columns() - 1  # the last column would make some terminals wrap
        return text if len(text) <= width else text[: max(width - 3, 0)] + "..."

    def _columns(self) -> int:
        if self._width is not None:
            return self._width
        return shutil.get_terminal_size((80, 24)).columns

    def _draw(self, force: bool = True) -> None:
        if not (self.enabled and self._active):
            return
        now = time.perf_counter()
        if not force and now - self._drawn < MIN_REDRAW_SECONDS:
            return  # a fast loop: the ticker and the next updates will show it
        self._drawn = now
        text = self.line()
        pad = " " * max(self._shown - len(text), 0)
        self.stream.write("\r" + text + (pad + "\r" + text if pad else ""))
        self.stream.flush()
        self._shown = len(text)

    def _clear(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()
        self._shown = 0

    def _ticker(self) -> None:
        while not self._stop.wait(REDRAW_SECONDS):
            with self._lock:
                self._draw()
