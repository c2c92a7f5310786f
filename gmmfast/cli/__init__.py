"""The ``gmmfast`` command line.

Each subcommand lives in its own module of this package and exposes
``add_parser(subparsers)`` (which registers the subcommand and sets
``func=run`` on it) and ``run(args) -> int`` (the exit status).  A module may
also expose ``demo_step(out_dir, report)`` to take part in ``gmmfast demo``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

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

    parser = argparse.ArgumentParser(
        prog="gmmfast",
        description="Fast Gaussian-mixture image work: mixture fitting, segmentation, "
        "background subtraction and GrabCut.",
    )
    parser.add_argument("--version", action="version", version=f"gmmfast {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in _modules():
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gmmfast`` console script and ``python -m gmmfast``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
