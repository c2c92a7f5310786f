"""The ``gmmfast`` command line.

Each subcommand lives in its own module of this package and exposes
``add_parser(subparsers)`` (which registers the subcommand and sets
``func=run`` on it) and ``run(args) -> int`` (the exit status).  A module may
also expose ``demo_step(out_dir, report)`` to take part in ``gmmfast demo``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal

from ._common import DEFAULT_OUTPUT, ArgumentParser, CLIError, allow_large_photos, error, user_message

# Subcommand modules, in the order ``gmmfast --help`` lists them.  A module
# that is not present in this build is left out.
SUBCOMMANDS = ("segment", "bgsub", "grabcut", "demo", "serve")


def _modules():
    for name in SUBCOMMANDS:
        try:
            yield importlib.import_module(f"gmmfast.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"gmmfast.cli.{name}":
                raise


def build_parser() -> argparse.ArgumentParser:
    """The top-level argument parser with every available subcommand."""
    from .. import __version__

    parser = ArgumentParser(
        prog="gmmfast",
        description="Fast Gaussian-mixture image work: segmentation, background subtraction and GrabCut. "
                    f"segment, bgsub and grabcut write their files into a folder (-o, default: {DEFAULT_OUTPUT}) "
                    "and do not replace an earlier run's files unless given --overwrite.",
    )
    parser.add_argument("--version", action="version", version=f"gmmfast {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in _modules():
        module.add_parser(sub).set_defaults(options=getattr(module, "OPTIONS", {}),
                                            uploads=getattr(module, "READS_UPLOADS", False))
    return parser


#: Errors a command reports as one line (anything else is a bug in gmmfast).
EXPECTED_ERRORS = (CLIError, OSError, ValueError, TypeError, ImportError, MemoryError)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gmmfast`` console script and ``python -m gmmfast``.

    Returns the exit status: 0 done, 1 an error (reported on one line of
    stderr), 2 a usage error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
    """
    try:
        parser = build_parser()        # (imports the library: a second or so on a cold start)
        args = parser.parse_args(argv)
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    if not args.uploads:
        allow_large_photos()
    previous = _terminate_as_interrupt()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:
        done = "; the output folder holds only results that were complete" if hasattr(args, "output") else ""
        error(("terminated" if isinstance(exc, _Terminated) else "interrupted") + done)
        return 143 if isinstance(exc, _Terminated) else 130
    except EXPECTED_ERRORS as exc:
        error(user_message(exc, args.options))
        return 1
    except Exception as exc:  # a bug: one line too, the traceback on request
        if os.environ.get("GMMFAST_DEBUG"):
            raise
        error(f"internal error ({type(exc).__name__}: {exc}); set GMMFAST_DEBUG=1 to see where, and please "
              "report it")
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, ``docker stop``, systemd) taken as Ctrl-C is: the run stops at once and
    removes what it had not finished, where the default action left hidden partial files behind."""


def _terminate_as_interrupt():
    """Make SIGTERM raise :class:`_Terminated` in the main thread; returns the previous handler
    (None when it could not be set: not the main thread)."""
    def terminated(signum, frame):
        raise _Terminated

    try:
        return signal.signal(signal.SIGTERM, terminated)
    except ValueError:
        return None
