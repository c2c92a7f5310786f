"""Make sure the tests exercise the installed, compiled gmmfast.

``python -m pytest`` run from a checkout puts the checkout on ``sys.path``,
so ``import gmmfast`` would find the source folder ``gmmfast/`` which has
no compiled kernels.  If that happens we drop the checkout from ``sys.path``
and use the installed package instead; if no compiled package is installed
at all, the run stops with a message saying how to build it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import signal
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Real data shared between projects (absent on a user's fresh clone).
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def _forget_gmmfast() -> None:
    for name in [m for m in sys.modules if m == "gmmfast" or m.startswith("gmmfast.")]:
        del sys.modules[name]


def _try_import() -> Path | None:
    """Directory of the imported gmmfast if its compiled modules import, else None."""
    try:
        importlib.import_module("gmmfast._kernels._cpu")
        pkg = importlib.import_module("gmmfast")
    except ImportError:
        _forget_gmmfast()
        return None
    return Path(pkg.__file__).resolve().parent


def _same_dir(a: str, b: Path) -> bool:
    try:
        return Path(a or os.getcwd()).resolve() == b.resolve()
    except OSError:
        return False


def _ensure_installed_package() -> Path:
    pkg_dir = _try_import()
    if pkg_dir is None:
        # Most likely the source checkout shadows the installed package
        # (``python -m pytest`` puts the current directory first on sys.path).
        sys.path[:] = [p for p in sys.path if not _same_dir(p, REPO_ROOT)]
        importlib.invalidate_caches()
        pkg_dir = _try_import()
    if pkg_dir is None:
        spec = importlib.util.find_spec("gmmfast")
        where = spec.origin if spec is not None else "nothing"
        pytest.exit(
            f"gmmfast resolves to {where}, which has no compiled kernels. Build and install "
            "the package first: `pip install .` (developers: `pip install --no-build-isolation -e .`), "
            "then run the tests again.",
            returncode=4,
        )
    return pkg_dir


GMMFAST_DIR = _ensure_installed_package()
# tools/test_wheel.sh names the installed wheel's package folder: a run that imported any
# other gmmfast would not be testing the wheel.
_EXPECTED_DIR = os.environ.get("GMMFAST_TEST_INSTALLED")
if _EXPECTED_DIR and not _same_dir(_EXPECTED_DIR, GMMFAST_DIR):
    pytest.exit(f"gmmfast was imported from {GMMFAST_DIR}, not from {_EXPECTED_DIR} "
                "(GMMFAST_TEST_INSTALLED)", returncode=4)


# The fast subset tools/test_wheel.sh runs under qemu-user with each CPU model: small
# inputs checked against independent references (scikit-learn, OpenCV, PyMaxflow, SciPy,
# NumPy), one or two per capability.  Marked `emulation` here, in one place.
EMULATION_SUBSET = (
    "tests/test_mixture.py::test_fit_matches_sklearn[d3-overlap-full-float32]",
    "tests/test_mixture.py::test_fit_matches_sklearn[d2-k8-separated-diag-float64]",
    "tests/test_mixture.py::test_predictions_match_sklearn[d3-overlap-full-float32]",
    "tests/test_segmentation.py::test_recovers_known_regions[lab]",
    "tests/test_segmentation.py::test_adjusted_rand_index_matches_sklearn",
    "tests/test_mog2.py::test_agrees_with_opencv[kwargs0-False]",
    "tests/test_maxflow.py::test_grid_matches_pymaxflow",
    "tests/test_maxflow.py::test_general_matches_pymaxflow",
    "tests/test_grabcut.py::test_frozen_cut_matches_pymaxflow[8]",
    "tests/test_grabcut.py::test_synthetic_objects_are_found[0]",
    "tests/test_openmp_runtimes.py::test_threadpool_info_lists_gmmfast_openmp_runtime",
)


# Long runs (minutes each on two cores, e.g. the issue-sized out-of-core and streaming checks) are marked
# @pytest.mark.slow and skipped unless GMMFAST_SLOW_TESTS=1: CI's default run must fit its time budget.
SLOW_TESTS = os.environ.get("GMMFAST_SLOW_TESTS", "") == "1"


# The one collection hook of this file (a second definition would silently replace it).
@pytest.hookimpl(tryfirst=True)  # before `-m emulation` deselects what is not marked yet
def pytest_collection_modifyitems(config, items):
    if not SLOW_TESTS:
        skip = pytest.mark.skip(reason="long run: set GMMFAST_SLOW_TESTS=1 to include it")
        for item in items:
            if item.get_closest_marker("slow") is not None:
                item.add_marker(skip)
    by_id = {item.nodeid: item for item in items}
    for nodeid in EMULATION_SUBSET:
        if nodeid in by_id:
            by_id[nodeid].add_marker(pytest.mark.emulation)
    if config.getoption("markexpr") == "emulation":
        # a renamed test must not drop out of the subset unnoticed
        files = {item.nodeid.split("::")[0] for item in items}
        lost = [n for n in EMULATION_SUBSET if n.split("::")[0] in files and n not in by_id]
        if lost:
            raise pytest.UsageError(f"EMULATION_SUBSET names tests that do not exist: {lost}")

# Tests that start ``python -c ...`` or ``python -m gmmfast`` run them in this
# checkout, whose folder Python would put first on the child's sys.path: the
# child would import the uncompiled source folder (CI installs with
# ``pip install .``).  PYTHONSAFEPATH (Python >= 3.11) keeps it off; on 3.10
# the children see what a user running from the checkout would.
os.environ["PYTHONSAFEPATH"] = "1"

# A shell started without job control runs a background command (`./.ci/run &`, nohup) with
# SIGINT ignored, and children inherit that: Python then installs no KeyboardInterrupt
# handler in them and the Ctrl-C tests' SIGINT does nothing.  Restore the default here, so
# every child these tests start can be interrupted as from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_report_header(config):
    return f"gmmfast imported from: {GMMFAST_DIR}"


@pytest.fixture
def interrupt_cli():
    """``interrupt_cli(args, cwd, when=b"masking")`` runs ``python -m gmmfast *args`` with its stderr on a
    terminal (so it draws its progress line), sends it Ctrl-C (SIGINT) once ``when`` shows in that
    progress, and returns (exit status, what the terminal showed).  Skips where there is no pty."""
    pty = pytest.importorskip("pty")
    import select
    import signal
    import subprocess
    import time

    def run(args, cwd, when: bytes, timeout: float = 300.0):
        master, slave = pty.openpty()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        proc = subprocess.Popen([sys.executable, "-m", "gmmfast", *args], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        shown, sent, deadline = b"", False, time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.2)
                if ready:
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:  # the child closed the terminal
                        break
                    if not chunk:
                        break
                    shown += chunk
                if not sent and when in shown:
                    proc.send_signal(signal.SIGINT)
                    sent = True
                if proc.poll() is not None and not ready:
                    break
            status = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(master)
        assert sent, f"the progress never showed {when!r}: {shown[-500:]!r}"
        return status, shown.decode(errors="replace")

    return run


class ReadOnlyFolder:
    """An existing folder holding an earlier result (``earlier.png``) that the run may not write into."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def assert_refused(self, status: int, err: str) -> None:
        """The run exited 1 with one line naming the folder and why, and left the folder as it was."""
        lines = err.strip().splitlines()
        assert status == 1 and len(lines) == 1 and "Traceback" not in err, err
        assert f"cannot write to the output folder {self.path}: permission denied" in lines[0], lines[0]
        assert sorted(p.name for p in self.path.iterdir()) == ["earlier.png"]
        assert (self.path / "earlier.png").read_bytes() == b"an earlier result"


def _deny_writes_in(folder: Path, monkeypatch) -> None:
    """Make creating, renaming or removing entries directly in ``folder`` raise PermissionError (EACCES),
    as the kernel does for a non-root user in a folder without write permission."""
    import builtins
    import errno

    def check(path) -> None:
        if isinstance(path, (str, bytes, os.PathLike)) and Path(os.path.abspath(os.fsdecode(path))).parent == folder:
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))

    def guard(fn, positions):
        def call(*args, **kwargs):
            for i in positions:
                if i < len(args):
                    check(args[i])
            return fn(*args, **kwargs)
        return call

    for name, positions in (("mkdir", (0,)), ("rmdir", (0,)), ("unlink", (0,)), ("remove", (0,)),
                            ("rename", (0, 1)), ("replace", (0, 1)), ("symlink", (1,)), ("link", (1,))):
        monkeypatch.setattr(os, name, guard(getattr(os, name), positions))
    real_os_open, real_open = os.open, builtins.open

    def os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            check(path)
        return real_os_open(path, flags, *args, **kwargs)

    def open_(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            check(file)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", open_)


@pytest.fixture
def read_only_folder(tmp_path, monkeypatch):
    """A :class:`ReadOnlyFolder`: permission bits r-x for everyone.  Root ignores them, so under root
    the writes into it are refused by :func:`_deny_writes_in` instead."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    (folder / "earlier.png").write_bytes(b"an earlier result")
    folder.chmod(0o555)
    if getattr(os, "geteuid", lambda: -1)() == 0:
        _deny_writes_in(folder, monkeypatch)
    yield ReadOnlyFolder(folder)
    folder.chmod(0o755)


_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_")
# taken when pytest loads this file, before any fixture (a module-scoped Dask cluster is set up
# before a test's own fixtures, so a per-test snapshot would save the polluted values)
_THREAD_ENV_AT_START = {k: os.environ.get(k) for k in _THREAD_ENV}


def _restore_thread_env():
    for k, v in _THREAD_ENV_AT_START.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def _no_leaked_thread_settings():
    """distributed's LocalCluster (its Nanny) writes OMP_NUM_THREADS=1 (and its kin) into this
    process's os.environ when it starts workers and never takes it back: every child a later
    test starts would then run one OpenMP thread (test_openmp_runtimes failed so in CI)."""
    yield
    _restore_thread_env()


@pytest.fixture(scope="session", autouse=True)
def _single_threaded_blas():
    """scikit-learn/NumPy references run with one BLAS thread: on a 2-core CI machine the
    BLAS threads would only compete with gmmfast's OpenMP threads (gmmfast is not affected)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture
def two_threads():
    """``with two_threads("_gmm", ...):`` checks that the block's calls into those kernel modules
    split their work between two OpenMP threads (each module counts the threads that ran its
    parallel loops).  A test of "one thread and two give the same result" that never ran two
    could not fail.  Skips on a machine with one usable CPU."""
    from gmmfast._dispatch import load
    from gmmfast._threads import available_cpus

    if available_cpus() < 2:
        pytest.skip("one usable CPU: two threads cannot be checked to share the work")

    @contextlib.contextmanager
    def check(*kernels):
        modules = [load(k) for k in kernels]
        for m in modules:
            m.threads_reset()
        yield
        for kernel, m in zip(kernels, modules):
            assert m.threads_used() == 2, f"{kernel}: {m.threads_used()} thread(s) ran an n_threads=2 call"

    return check


def _gif_bomb(width: int, height: int, n_frames: int = 2) -> bytes:
    """A valid GIF of a few bytes whose screen is ``width`` x ``height`` pixels, holding ``n_frames``
    one-pixel frames: decoding it would allocate the whole screen per frame."""
    import struct

    data = bytearray(b"GIF89a" + struct.pack("<HH", width, height) + bytes([0xF0, 0, 0]))   # 2-colour table
    data += bytes([0, 0, 0, 255, 255, 255])
    for i in range(n_frames):
        data += b"!\xf9\x04\x04\x0a\x00\x00\x00"                          # 0.1 s per frame
        data += b"," + struct.pack("<HHHH", i, 0, 1, 1) + b"\x00"            # a 1x1 frame at (i, 0)
        data += bytes([2, 2, 0x4C if i % 2 else 0x44, 0x01, 0])             # its LZW data
    return bytes(data + b";")


@pytest.fixture
def gif_bomb():
    """``gif_bomb(width, height)``: the bytes of a tiny GIF declaring a huge screen."""
    return _gif_bomb
