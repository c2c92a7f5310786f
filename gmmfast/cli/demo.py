"""``gmmfast demo``: run the library's main jobs on the built-in samples.

Every subcommand module of :mod:`gmmfast.cli` that defines
``demo_step(out_dir, report)`` takes part: it writes its results under
``out_dir`` (a sub-folder named after itself is a good idea) and describes
what it did with ``report.add(title, seconds, files, details="")`` -- or
simply ``report("one line of text")``.  An exception in a step is reported
and the other steps still run.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .._files import atomic_write
from ._common import CLIError, error, user_message

HELP = "run the main jobs on the built-in samples and write the results with a report"

DESCRIPTION = """\
Run gmmfast's main jobs on its built-in samples (made by the project, no
downloads): a Gaussian-mixture fit on gmmfast.data.sample_mixture(), image
segmentation of gmmfast.data.sample_image(), and whatever else this build
offers (background subtraction, GrabCut).  Results go to the output folder,
with report.txt saying what ran, how long it took and where the files are.
A second demo into the same folder replaces the first one's results; a
folder holding other files is refused.  Each file is written complete or not
at all.
"""


@dataclass
class DemoEntry:
    """One step of the demo."""

    title: str
    seconds: float | None
    files: list[Path] = field(default_factory=list)
    details: str = ""
    failed: bool = False


class DemoReport:
    """What ran in ``gmmfast demo``, collected from the steps.

    Steps call :meth:`add`, or the report itself with the same arguments or
    with just a line of text (``report("grabcut: ... -> file.png")``).
    """

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.entries: list[DemoEntry] = []

    def add(self, title: str, seconds: float | None = None, files=(), details: str = "") -> None:
        """Record a step: its title, wall time in seconds, files written, and a line of details.

        Called with only ``title``, records that line of text as it is.
        """
        entry = DemoEntry(str(title), None if seconds is None else float(seconds), [Path(f) for f in files],
                          str(details))
        self.entries.append(entry)
        timing = "" if entry.seconds is None else f": {entry.seconds:.2f} s"
        print(f"  {entry.title}{timing}" + (f" - {entry.details}" if entry.details else ""))

    __call__ = add

    def fail(self, title: str, message: str) -> None:
        """Record a step that raised."""
        self.entries.append(DemoEntry(title, 0.0, [], message, failed=True))

    def text(self) -> str:
        """The report as plain text."""
        from .. import __version__

        lines = [
            f"gmmfast {__version__} demo",
            f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPU(s)",
            f"results in {self.out_dir.resolve()}",
            "",
        ]
        for e in self.entries:
            if e.failed:
                head = f"[FAILED] {e.title}"
            elif e.seconds is None:
                head = f"[done] {e.title}"
            else:
                head = f"[{e.seconds:.2f} s] {e.title}"
            lines.append(head)
            if e.details:
                lines.append(f"    {e.details}")
            for f in e.files:
                try:
                    rel = Path(f).resolve().relative_to(self.out_dir.resolve())
                except ValueError:
                    rel = Path(f)
                lines.append(f"    {rel}")
            lines.append("")
        total = sum(e.seconds for e in self.entries if e.seconds is not None)
        n_failed = sum(e.failed for e in self.entries)
        lines.append(f"{len(self.entries)} result(s), {n_failed} failed, {total:.2f} s in timed steps")
        return "\n".join(lines) + "\n"


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``gmmfast demo``."""
    p = subparsers.add_parser("demo", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    # the demo's files are its own: it always replaces an earlier demo's (see DESCRIPTION)
    p.add_argument("-o", "--output", default="demo_out", metavar="FOLDER",
                   help="folder for the results and report.txt (default: demo_out)")
    p.set_defaults(func=run)
    return p


def _mixture_step(out_dir: Path, report: DemoReport) -> None:
    """Fit a GaussianMixture to the built-in three-colour sample and compare with the truth."""
    import numpy as np

    from .. import GaussianMixture
    from ..data import sample_mixture

    X, y, truth = sample_mixture()
    t0 = time.perf_counter()
    gm = GaussianMixture(n_components=3, random_state=0).fit(X)
    elapsed = time.perf_counter() - t0
    order = [int(np.argmin(np.linalg.norm(gm.means_ - m, axis=1))) for m in truth["means"]]
    err = float(np.max(np.abs(gm.means_[order] - truth["means"])))
    path = out_dir / "mixture" / "fitted_mixture.txt"
    with atomic_write(path, "w") as fh:
        fh.write("component  weight(true)  mean RGB (true)\n")
        for k, j in enumerate(order):
            fh.write(f"{k}  {gm.weights_[j]:.3f} ({truth['weights'][k]:.3f})  "
                     f"{np.round(gm.means_[j].astype(np.float64), 1).tolist()} ({truth['means'][k].tolist()})\n")
    report.add(f"GaussianMixture(3) fit on sample_mixture() ({X.shape[0]} x {X.shape[1]})", elapsed, [path],
               f"{gm.n_iter_} EM iterations; largest error of a mean: {err:.2f} (0..255 scale)")


#: Written into the output folder before any result: the folder is a demo's, whose files a later
#: demo may replace.  A folder without it that holds anything is refused, so that a user's own
#: report.txt or clip.gif is never overwritten.
MARKER = ".gmmfast_demo"


def _is_demo_folder(out_dir: Path) -> bool:
    """Holds the marker, or the report.txt of a demo from before the marker."""
    if (out_dir / MARKER).exists():
        return True
    try:
        first = (out_dir / "report.txt").read_text(errors="replace").split("\n", 1)[0]
    except OSError:
        return False
    return first.startswith("gmmfast ") and first.endswith(" demo")


def _claim(out_dir: Path) -> None:
    """Make ``out_dir`` the demo's, or raise CLIError when it holds someone else's files."""
    if out_dir.exists() and not out_dir.is_dir():
        raise CLIError(f"{out_dir} is a file; give a folder for the demo's results with -o")
    if out_dir.is_dir() and not _is_demo_folder(out_dir) and any(out_dir.iterdir()):
        raise CLIError(f"{out_dir} holds files that an earlier demo did not write; the demo writes report.txt "
                       "and its results there and would replace yours: give a new or empty folder with -o")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text("results of `gmmfast demo`; a later demo into this folder replaces them\n")


def run(args) -> int:
    """Run every demo step; returns 0 if all succeeded, 1 otherwise."""
    from . import _modules

    out_dir = Path(args.output)
    _claim(out_dir)
    report = DemoReport(out_dir)
    print(f"gmmfast demo -> {out_dir}/")
    steps = []
    for module in _modules():
        step = getattr(module, "demo_step", None)
        if step is not None and module.__name__ != __name__:
            steps.append((module.__name__.rsplit(".", 1)[-1], step))
    if "fit" not in dict(steps):  # a `gmmfast fit` module brings its own mixture demo
        steps.insert(0, ("fit", _mixture_step))
    for name, step in steps:
        try:
            step(out_dir, report)
        except Exception as exc:  # a broken step must not stop the others
            report.fail(name, f"{type(exc).__name__}: {exc}")
            error(f"demo step {name!r} failed: {user_message(exc)}")
            if os.environ.get("GMMFAST_DEBUG"):
                traceback.print_exc()
    path = out_dir / "report.txt"
    with atomic_write(path, "w") as fh:
        fh.write(report.text())
    print(f"report: {path}")
    return 1 if any(e.failed for e in report.entries) else 0
