"""What the subcommands share: options, argument types, messages in the user's terms.

The library's messages name its parameters (``n_components``, ``max_frames``)
and sometimes advise calls the command line does not offer (``init_mask``,
``reg_covar``).  :func:`user_message` is the one place where they are
translated into the command's own terms: every error a subcommand reports
and every warning it prints goes through it, with the command's table of
parameter -> option names.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import warnings
from typing import IO, Mapping

from .._validation import MAX_THREADS

DEFAULT_OUTPUT = "out"
#: Prefix of the hidden folder a run stages its outputs in (see ``_outputs``).
STAGING_PREFIX = ".gmmfast-"


def allow_large_photos() -> None:
    """Silence Pillow's 'decompression bomb' warning (from 89 megapixels) in this process: a command
    reads the user's own photos, and one of 100 megapixels is no attack.  Pillow's limit itself (179
    megapixels) stays, so a file that declares billions of pixels is refused with one line
    (``read_image``'s) instead of taking all the memory; ``serve``, whose images come from anyone,
    keeps the warning too."""
    try:
        from PIL import Image
    except ImportError:      # (reading an image then says how to install Pillow)
        return
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class CLIError(Exception):
    """An error whose message is already in the command line's terms: printed as it is."""


# --------------------------------------------------------------------------- printing

def error(message: str, progress=None) -> None:
    """Print ``gmmfast: error: message`` on stderr (one line)."""
    _print(f"gmmfast: error: {_one_line(message)}", sys.stderr, progress)


def warn(message: str, progress=None) -> None:
    """Print ``gmmfast: warning: message`` on stderr (one line)."""
    _print(f"gmmfast: warning: {_one_line(message)}", sys.stderr, progress)


def say(message: str, progress=None) -> None:
    """Print a result line on stdout."""
    _print(message, sys.stdout, progress)


def _print(text: str, stream: IO[str], progress) -> None:
    try:
        if progress is not None:
            progress.write(text, stream)
        else:
            print(text, file=stream, flush=True)
    except BrokenPipeError:
        # the reader of our output has gone (gmmfast segment photos/ | head -1): the files are
        # the results, so the run goes on without its lines, rather than failing every input
        # on printing; later lines go to the null device (Python's advice for this case)
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, stream.fileno())
            os.close(null)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


# --------------------------------------------------------------------------- translation

#: Advice in library messages about things only the Python API has, rewritten for the
#: command line (the parameter names themselves are translated by each command's table).
_PHRASES: tuple[tuple[str, str], ...] = (
    (r",? or use init_mask\b", ""),
    (r"\s*Consider increasing reg_covar\.?", ""),
    (r"\s*Check the data for extreme values or increase reg_covar\.?", ""),
    (r"Best performing initialization did not converge\. Try different init parameters, "
     r"or increase max_iter, tol, or check for degenerate data\.?",
     "the Gaussian mixture did not converge within its iteration limit{max_iter_advice}"),
    (r"\d+ mixture component\(s\) became empty \(no samples assigned\); re-seeded at random "
     r"samples with the data's variance\. The data may have fewer clusters than n_components\.?",
     "some mixture components became empty and were started again elsewhere: the data may have fewer "
     "clusters than n_components"),
    (r"added [\d.e+-]+ to their diagonals", "a little variance was added to them"),
    (r"call reset\(\) to start a model for the new size", "all frames must have one size"),
    (r", or, if the file is yours and the memory suffices, raise that limit \(PIL\.Image\.MAX_IMAGE_PIXELS\)", ""),
)


def user_message(exc: BaseException | str, names: Mapping[str, str] | None = None) -> str:
    """A library error or warning message in the command line's terms (one line).

    ``names`` maps library parameter names to the command's options
    (``{"n_components": "--components"}``); OS errors are shown as
    ``file: reason``.
    """
    names = dict(names or {})
    if isinstance(exc, CLIError):
        return _one_line(str(exc))
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError) and exc.strerror:
        where = f"{_final_path(exc.filename)}: " if exc.filename else ""
        return _one_line(where + exc.strerror[:1].lower() + exc.strerror[1:])
    text = str(exc.args[0] if isinstance(exc, BaseException) and len(exc.args) == 1 else exc)
    advice = f"; raise it with {names['max_iter']}" if "max_iter" in names else ""
    for pattern, repl in _PHRASES:
        text = re.sub(pattern, repl.replace("{max_iter_advice}", advice), text)
    for param, option in sorted(names.items(), key=lambda kv: -len(kv[0])):
        text = re.sub(rf"(?<![\w.-]){re.escape(param)}=(\S+?)([,;.)]?(?:\s|$))", rf"{option} \1\2", text)
        # a parameter named by an English word ('iterations', 'gamma') only where it is the
        # subject of a check ("gamma must be ...") or opens the message
        tail = r"(?![\w(])" if "_" in param else r"(?=\s+(?:must|values|is)\b)"
        text = re.sub(rf"(?<![\w.-]){re.escape(param)}{tail}", option, text)
        if "_" not in param:
            text = re.sub(rf"^{re.escape(param)}\b", option, text)
    return _one_line(text)


def _final_path(path) -> str:
    """``path`` with the staging folder left out: the output a user looks for, not where it was
    being written before it would have been moved into place."""
    return re.sub(re.escape(STAGING_PREFIX) + r"[^/\\]*[/\\]", "", os.fspath(path))


class Warnings:
    """Collects the library's warnings during a run and prints each distinct one once.

    Use as ``with Warnings(names) as w: ...`` around the work, then
    :meth:`report` (called by ``__exit__`` too, so an interrupted run still
    shows them).  Each warning is translated by :func:`user_message`; the
    inputs it concerned are listed after it.
    """

    def __init__(self, names: Mapping[str, str] | None = None, progress=None) -> None:
        self.names = names
        self.progress = progress
        self._seen: dict[str, list[str]] = {}
        self._catcher = None
        self._reported = False
        self.source = ""

    def __enter__(self) -> Warnings:
        self._catcher = warnings.catch_warnings(record=True)
        self._log = self._catcher.__enter__()
        # the library's warnings for its users are UserWarnings (ConvergenceWarning, DegenerateDataWarning,
        # ...); others (ResourceWarning, DeprecationWarning) keep Python's default filters
        warnings.simplefilter("always", UserWarning)
        return self

    def collect(self) -> None:
        """Take the warnings caught so far (for the current ``source``)."""
        if self._catcher is None:
            return
        for w in self._log:
            text = user_message(str(w.message), self.names)
            sources = self._seen.setdefault(text, [])
            if self.source and self.source not in sources:
                sources.append(self.source)
        del self._log[:]

    def __exit__(self, *exc) -> None:
        self.collect()
        self._catcher.__exit__(*exc)
        self._catcher = None
        self.report()

    def report(self) -> None:
        """Print every distinct warning once."""
        if self._reported:
            return
        self._reported = True
        for text, sources in self._seen.items():
            where = ""
            if len(sources) == 1:
                where = f"{sources[0]}: "
            elif sources:
                shown = ", ".join(sources[:3]) + (f" and {len(sources) - 3} more" if len(sources) > 3 else "")
                text = f"{text} ({shown})"
            warn(where + text, self.progress)

    @property
    def messages(self) -> list[str]:
        return list(self._seen)


# --------------------------------------------------------------------------- options

def add_output_options(p: argparse.ArgumentParser, what: str) -> None:
    """``-o/--output`` and ``--overwrite``, the same for every command."""
    p.add_argument("-o", "--output", default=DEFAULT_OUTPUT, metavar="FOLDER",
                   help=f"folder for {what}, created if needed (default: {DEFAULT_OUTPUT})")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the files an earlier run wrote for the same input in the folder "
                        "(default: refuse to start)")


def add_threads_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int_range(1, MAX_THREADS), default=None, metavar="N",
                   help="threads to use (default: all cores)")


def int_range(low: int, high: int | None = None):
    """An argparse type: an integer in [low, high]."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if v < low or (high is not None and v > high):
            bounds = f"between {low} and {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {v}")
        return v
    parse.__name__ = "integer"
    return parse


def real_range(low: float, high: float | None = None, *, low_open: bool = False):
    """An argparse type: a finite number in [low, high] (or (low, high] with ``low_open``)."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        below = v <= low if low_open else v < low
        if not v == v or v in (float("inf"), float("-inf")) or below or (high is not None and v > high):
            lo = f"> {low:g}" if low_open else f">= {low:g}"
            bounds = f"{lo} and <= {high:g}" if high is not None else lo
            raise argparse.ArgumentTypeError(f"must be a finite number {bounds}, got {text!r}")
        return v
    parse.__name__ = "number"
    return parse


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with one-line errors: ``gmmfast segment: error: ... (see --help)``."""

    def error(self, message: str):  # type: ignore[override]
        option = re.fullmatch(r"argument (\S+): expected one argument", message)
        if option:      # argparse takes a value such as -5,-5,10,10 for an option of its own
            name = option.group(1).split("/")[-1]
            message += f" (a value that starts with '-' is written {name}=VALUE)"
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")
