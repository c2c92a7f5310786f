"""gmmfast's OpenMP runtime as threadpoolctl sees it, and beside scikit-learn's and OpenCV's.

A wheel bundles its own copy of the OpenMP runtime (auditwheel renames it, e.g.
``gmmfast.libs/libgomp-<hash>.so.1.0.0``), as scikit-learn's wheel bundles another.
threadpoolctl finds runtimes among the loaded libraries by file name and limits each
through its own ``omp_set_num_threads``; gmmfast's ``n_threads=None`` follows
``omp_get_max_threads()`` of its runtime, so a limit set that way reaches gmmfast's
kernels only if threadpoolctl found the library the kernels actually call.  Which one
that is, the dynamic linker says (``gmmfast.config()["openmp_runtime"]``, from dladdr).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import gmmfast
from gmmfast._dispatch import load
from gmmfast._threads import available_cpus

threadpoolctl = pytest.importorskip("threadpoolctl")


def _openmp_paths(info):
    return {os.path.realpath(i["filepath"]) for i in info if i["user_api"] == "openmp"}


def _gmmfast_runtime():
    path = gmmfast.config()["openmp_runtime"]
    if path is None:
        pytest.skip("this platform cannot tell which library provides the OpenMP runtime")
    return os.path.realpath(path)


def test_threadpool_info_lists_gmmfast_openmp_runtime():
    runtime = _gmmfast_runtime()
    assert runtime in _openmp_paths(threadpoolctl.threadpool_info()), runtime


def _blobs(n=40000, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [8.0, 0.0, 0.0], [0.0, 8.0, 8.0]])
    truth = rng.integers(0, 3, n)
    return centres[truth] + rng.normal(0, 1, (n, 3)), truth


def _threads_of_a_fit(X):
    """OpenMP threads that ran a GaussianMixture fit with the default n_threads=None."""
    kernel = load("_gmm")
    kernel.threads_reset()
    gmmfast.GaussianMixture(3, max_iter=3, random_state=0).fit(X)
    return kernel.threads_used()


def test_threadpool_limits_limits_gmmfast_like_sklearn():
    if available_cpus() < 2:
        pytest.skip("one usable CPU: a limit of one thread changes nothing")
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    X, _ = _blobs()  # 40000 rows: enough work for two threads (gmmfast._threads)
    assert _threads_of_a_fit(X) == 2
    with threadpoolctl.threadpool_limits(limits=1):
        assert _openmp_effective_n_threads() == 1  # scikit-learn's own view of the limit
        assert _threads_of_a_fit(X) == 1
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert _threads_of_a_fit(X) == 1
    assert _threads_of_a_fit(X) == 2


# Run in a fresh interpreter: which runtime loads first depends on the import order.
_TOGETHER = r"""
import hashlib, importlib, json, os, sys
for name in sys.argv[1].split(","):
    importlib.import_module(name)
import numpy as np
import cv2, gmmfast
from gmmfast._dispatch import load
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import threadpool_info, threadpool_limits

rng = np.random.default_rng(0)
centres = np.array([[0.0, 0.0, 0.0], [8.0, 0.0, 0.0], [0.0, 8.0, 8.0]])
truth = rng.integers(0, 3, 40000)
X = centres[truth] + rng.normal(0, 1, (40000, 3))
kernel = load("_gmm")
out = {"ari": {}, "threads_limited": None}
with threadpool_limits(limits=1):
    kernel.threads_reset()
    labels = gmmfast.GaussianMixture(3, random_state=0).fit(X).predict(X)
    out["threads_limited"] = [kernel.threads_used(), _openmp_effective_n_threads()]
out["ari"]["gmmfast"] = adjusted_rand_score(truth, labels)
out["ari"]["sklearn"] = adjusted_rand_score(truth, KMeans(3, n_init=1, random_state=0).fit_predict(X))
frames = np.random.default_rng(1).integers(0, 255, (20, 48, 64, 3)).astype(np.uint8)
mog = cv2.createBackgroundSubtractorMOG2()
out["cv2_foreground"] = float(np.mean([np.mean(mog.apply(f) == 255) for f in frames]))
mine = gmmfast.BackgroundSubtractorMOG2()
out["mog2_digest"] = hashlib.sha256(b"".join(mine.apply(f).tobytes() for f in frames)).hexdigest()
# after the limit, two threads again: 20 passes, because on a busy machine the second thread
# can wake after the first has taken every block of a pass (a 3-pass fit failed so once)
kernel.threads_reset()
gmmfast.GaussianMixture(3, max_iter=20, tol=0, random_state=0).fit(X)
out["threads_after"] = kernel.threads_used()
out["gmmfast_runtime"] = gmmfast.config()["openmp_runtime"]
out["openmp"] = [i["filepath"] for i in threadpool_info() if i["user_api"] == "openmp"]
print(json.dumps(out))
"""


def _mog2_digest_alone():
    frames = np.random.default_rng(1).integers(0, 255, (20, 48, 64, 3)).astype(np.uint8)
    mine = gmmfast.BackgroundSubtractorMOG2()
    return hashlib.sha256(b"".join(mine.apply(f).tobytes() for f in frames)).hexdigest()


@pytest.mark.parametrize("order", ["gmmfast,sklearn.cluster,cv2", "cv2,sklearn.cluster,gmmfast"])
def test_beside_sklearn_and_opencv(order):
    pytest.importorskip("cv2")
    pytest.importorskip("sklearn")
    proc = subprocess.run([sys.executable, "-c", _TOGETHER, order], capture_output=True, text=True,
                          timeout=600, cwd=os.path.dirname(os.path.dirname(gmmfast.__file__)))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # well separated blobs: both libraries find the three of them
    assert out["ari"]["gmmfast"] > 0.99 and out["ari"]["sklearn"] > 0.99, out["ari"]
    # cv2's MOG2 ran beside gmmfast (noise frames: some pixels foreground, not all), and
    # gmmfast's masks are the ones it gives in this process, without scikit-learn's and
    # OpenCV's runtimes loaded first
    assert 0.0 < out["cv2_foreground"] < 1.0, out["cv2_foreground"]
    assert out["mog2_digest"] == _mog2_digest_alone(), "gmmfast's masks changed beside OpenCV/sklearn"
    assert out["threads_limited"] == [1, 1]
    if available_cpus() >= 2:
        assert out["threads_after"] == 2
    runtimes = {os.path.realpath(p) for p in out["openmp"]}
    if out["gmmfast_runtime"] is not None:
        assert os.path.realpath(out["gmmfast_runtime"]) in runtimes, out
