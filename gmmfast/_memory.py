"""How much memory the system can give now, for checks that refuse work before it starts.

A job that runs out of memory at its end (a long video's GIF, an alpha-expansion of a large
photo) loses all of its work, or is killed by the system without a word; where the need can be
estimated from the input, the library refuses up front instead and says what to change.
"""

from __future__ import annotations

import os


def available_memory() -> int | None:
    """Bytes the system can give a process now without swapping: Linux's MemAvailable (free
    memory plus the page cache it can drop), elsewhere the free pages; None where unknown.
    (A container's own memory limit is not seen.)"""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(need: float, what: str, advice: str, *, share: float = 0.9,
                         error: type[Exception] = MemoryError) -> None:
    """Raise ``error``, saying what to change, when ``need`` bytes exceed ``share`` of the memory
    available now (NumPy's own error names a shape and a byte count, after minutes of work
    or none; the system may end the process instead).  ``what`` is the subject of "needs"."""
    available = available_memory()
    if available is not None and need > share * available:
        raise error(f"{what} needs about {_size(need)} of memory ({_size(available)} available); {advice}.")


def _size(n: float) -> str:
    return f"{n / 1e12:.3g} TB" if n >= 1e12 else f"{n / 1e9:.1f} GB"
