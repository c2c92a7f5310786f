"""Out-of-core fits: np.memmap and .npy paths streamed chunk by chunk.

Chunks start at multiples of the kernel's block of samples, so a chunked fit
computes exactly the in-memory fit's block statistics: the reference is the
in-memory fit of the same values and the comparison is bit for bit.  Memory
is measured with tracemalloc (NumPy reports its buffers to it) and, for the
1.2 GB file, with the process's RssAnon sampled while it fits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tracemalloc
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from gmmfast import GaussianMixture
from gmmfast import _em_data

COV_TYPES = ("full", "tied", "diag", "spherical")
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_", "lower_bound_",
          "lower_bounds_", "n_iter_", "converged_")


def mixture(n, d=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(4, d))
    return centres[rng.integers(0, 4, n)] + rng.normal(size=(n, d))


def fit(X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(4, random_state=0, **kw).fit(X)


def assert_identical(a, b):
    for name in FITTED:
        got, want = getattr(b, name), getattr(a, name)
        if isinstance(want, np.ndarray):
            assert got.dtype == want.dtype
        assert_array_equal(got, want, err_msg=name)


def save_memmap(path, X, order="C"):
    np.save(path, np.asarray(X, order=order) if order == "C" else np.asfortranarray(X))
    return np.load(path, mmap_mode="r")


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 3 kernel blocks, so that small test files have many chunks."""
    monkeypatch.setattr(_em_data, "CHUNK_BYTES", 3 * _em_data.BLOCK_ROWS * 3 * 8)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_memmap_fit_is_bit_identical_to_in_memory(tmp_path, small_chunks, covariance_type, dtype):
    X = mixture(50_001).astype(dtype)                 # 13 blocks, the last one partial
    mm = save_memmap(tmp_path / "x.npy", X)
    assert isinstance(mm, np.memmap)
    a, b = fit(X, covariance_type=covariance_type), fit(mm, covariance_type=covariance_type)
    assert_identical(a, b)
    assert_identical(a, fit(str(tmp_path / "x.npy"), covariance_type=covariance_type))


def test_uint8_memmap_is_converted_chunk_by_chunk(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(12_000_000, 3), dtype=np.uint8)
    mm = save_memmap(tmp_path / "pixels.npy", pixels)
    init = dict(weights_init=np.full(4, 0.25), means_init=[[60, 60, 60], [100, 100, 100], [140, 140, 140],
                                                           [180, 180, 180]], precisions_init=np.stack([np.eye(3) / 400] * 4))
    tracemalloc.start()
    try:
        b = fit(mm, max_iter=3, **init)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # converting X whole would allocate 288 MB; the fit holds a float64 sample of 2**20 rows
    # (24 MB), one converted chunk (16 MB) and the initialisation's k-means work areas
    copy = pixels.size * 8
    assert peak < 100 << 20 and peak < copy / 3, f"peak {peak / 2**20:.0f} MB (a float64 copy: {copy / 2**20:.0f} MB)"
    assert b.means_.dtype == np.float64
    assert_identical(fit(pixels.astype(np.float64), max_iter=3, **init), b)


def test_fortran_ordered_file(tmp_path, small_chunks):
    X = mixture(30_000, seed=2)
    mm = save_memmap(tmp_path / "f.npy", X, order="F")
    assert not mm.flags.c_contiguous
    assert_identical(fit(X), fit(mm))


def test_predictions_on_a_memmap(tmp_path, small_chunks):
    X = mixture(40_000, seed=3).astype(np.float32)
    mm = save_memmap(tmp_path / "x.npy", X)
    gm = fit(X, max_iter=5)
    for method in ("predict", "predict_proba", "score_samples"):
        assert_array_equal(getattr(gm, method)(mm), getattr(gm, method)(X))
    # (score sums the memmap's chunks, and the array's log-likelihoods at once: the order of the sum differs)
    assert gm.score(mm) == pytest.approx(gm.score(X), rel=1e-12) and gm.bic(mm) == pytest.approx(gm.bic(X), rel=1e-12)
    assert_array_equal(fit(mm, max_iter=5).predict(X), fit(X, max_iter=5).predict(X))
    assert_array_equal(GaussianMixture(4, max_iter=5, random_state=0).fit_predict(mm), gm.predict(X))


def test_predictions_into_out(tmp_path, small_chunks):
    """out= (a memmap, for a result larger than memory) holds exactly what is returned without it, and is
    returned, for an array and a memmap X alike."""
    X = mixture(40_000, seed=4)
    mm = save_memmap(tmp_path / "x.npy", X)
    gm = fit(X, max_iter=5)
    for method, shape, dtype in (("predict", (len(X),), np.intp), ("predict_proba", (len(X), 4), np.float64),
                                 ("score_samples", (len(X),), np.float64)):
        want = getattr(gm, method)(X)
        for source in (X, mm):
            out = np.lib.format.open_memmap(tmp_path / f"{method}.npy", mode="w+", dtype=dtype, shape=shape)
            assert getattr(gm, method)(source, out=out) is out
            assert_array_equal(out, want)


def test_bad_out():
    X = mixture(1000, seed=5)
    gm = fit(X, max_iter=3)
    with pytest.raises(TypeError, match=f"out must be a {np.dtype(np.intp)} NumPy array, got int32"):
        gm.predict(X, out=np.empty(1000, np.int32))
    with pytest.raises(TypeError, match="out must be a float64 NumPy array, got float32"):
        gm.predict_proba(X, out=np.empty((1000, 4), np.float32))
    with pytest.raises(TypeError, match="got list"):
        gm.score_samples(X, out=[0.0] * 1000)
    with pytest.raises(ValueError, match=r"shape \(1000, 4\), got shape \(1000, 3\)"):
        gm.predict_proba(X, out=np.empty((1000, 3)))
    with pytest.raises(ValueError, match="writeable C-contiguous"):
        gm.score_samples(X, out=np.empty(2000)[::2])
    read_only = np.empty(1000)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="writeable C-contiguous"):
        gm.score_samples(X, out=read_only)
    X4 = mixture(1000, d=4, seed=6)           # (n, 4) float64: the shape and dtype of 4 components' probabilities
    gm4 = fit(X4, max_iter=3)
    with pytest.raises(ValueError, match="out shares memory with X"):
        gm4.predict_proba(X4, out=X4)
    assert_array_equal(X4, mixture(1000, d=4, seed=6))        # refused before anything was written


def test_a_result_too_large_for_memory_is_refused_up_front(tmp_path, small_chunks, monkeypatch):
    """predict on a memmap far larger than memory gave an in-memory result the size of X (or larger): the
    process was killed at the end of the pass.  Refused before the pass, saying to pass out=; score needs no
    such result."""
    from gmmfast import _memory

    X = mixture(200_000, seed=7)
    mm = save_memmap(tmp_path / "x.npy", X)
    gm = fit(X, max_iter=3)
    labels, log_prob = gm.predict(X), gm.score_samples(X)
    monkeypatch.setattr(_memory, "available_memory", lambda: 1_000_000)  # 200,000 labels need 1.6 MB
    for method in ("predict", "predict_proba", "score_samples"):
        with pytest.raises(MemoryError, match=r"needs about .*pass out= .*open_memmap"):
            getattr(gm, method)(mm)
    out = np.lib.format.open_memmap(tmp_path / "labels.npy", mode="w+", dtype=np.intp, shape=(len(X),))
    assert_array_equal(gm.predict(mm, out=out), labels)
    assert gm.score(mm) == pytest.approx(np.mean(log_prob), rel=1e-12)


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_fit_offers_its_completed_iterations(tmp_path, small_chunks, monkeypatch, error):
    """Ctrl-C or a lost cluster in the 4th pass of a long fit lost every iteration.  The error now carries
    the model of the 3 completed ones (the fit of max_iter=3, bit for bit), the estimator keeps its previous
    state, and a warm fit from that model goes on to the uninterrupted fit's parameters."""
    X = mixture(30_000, seed=9)
    mm = save_memmap(tmp_path / "x.npy", X)
    passes = []
    em_pass = _em_data.Chunked.em_pass

    def failing_once(self, *args):
        passes.append(1)
        if len(passes) == 4:
            raise error() if error is KeyboardInterrupt else error(
                "The Dask computation of an EM pass failed (KilledWorker: ...); no model was fitted and the "
                "estimator keeps its previous state.")
        return em_pass(self, *args)

    monkeypatch.setattr(_em_data.Chunked, "em_pass", failing_once)
    gm = GaussianMixture(4, random_state=0, tol=0, max_iter=10)
    with pytest.raises(error) as info:
        gm.fit(mm)
    assert not hasattr(gm, "means_")
    partial = info.value.partial_model
    assert_identical(fit(X, tol=0, max_iter=3), partial)
    if error is RuntimeError:
        assert "after 3 completed EM iteration(s) (not converged)" in str(info.value)
        assert "partial_model.set_params(warm_start=True).fit(X)" in str(info.value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # (not converged: tol=0)
        went_on = partial.set_params(warm_start=True, max_iter=7).fit(mm)
    whole = fit(X, tol=0, max_iter=10)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert_array_equal(getattr(went_on, name), getattr(whole, name), err_msg=name)


def test_an_interrupt_before_any_iteration_offers_nothing(monkeypatch):
    def interrupted(self, *args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_em_data.InMemory, "em_pass", interrupted)
    with pytest.raises(KeyboardInterrupt) as info:
        GaussianMixture(2, random_state=0).fit(mixture(1000, seed=1))
    assert not hasattr(info.value, "partial_model")


@pytest.mark.parametrize("n_init", [1, 2])
def test_large_memmap_is_initialised_like_an_array(tmp_path, small_chunks, monkeypatch, n_init):
    """Above INIT_MAX_SAMPLES rows both initialise on the same sample: still bit for bit equal."""
    monkeypatch.setattr(_em_data, "INIT_MAX_SAMPLES", 3000)
    X = mixture(20_000, seed=4)
    mm = save_memmap(tmp_path / "x.npy", X)
    assert_identical(fit(X, n_init=n_init, max_iter=5), fit(mm, n_init=n_init, max_iter=5))
    rng = np.random.RandomState(0)
    rows = _em_data.init_sample_rows(len(X), rng)
    assert len(rows) == 3000 and np.all(np.diff(rows) >= 0)
    on_sample = GaussianMixture(4, max_iter=0, random_state=rng).fit(X[rows])   # rng goes on to k-means
    streamed = GaussianMixture(4, max_iter=0, random_state=0).fit(mm)
    for name in ("weights_", "means_", "covariances_"):
        assert_array_equal(getattr(streamed, name), getattr(on_sample, name))
    assert _em_data.init_sample_rows(3000, rng) is None


def test_bad_files(tmp_path, small_chunks, monkeypatch):
    X = mixture(20_000, seed=5)
    X[17_000, 2] = np.nan
    mm = save_memmap(tmp_path / "nan.npy", X)
    with pytest.raises(ValueError, match="NaN or infinity"):     # in the initialisation sample (all rows)
        fit(mm)
    monkeypatch.setattr(_em_data, "INIT_MAX_SAMPLES", 400)        # a sample without row 17000
    with pytest.raises(ValueError, match=r"NaN or infinity \(in rows 12288 to 19999\)"):
        fit(mm)
    with pytest.raises(ValueError, match=r"\.npy"):
        fit(str(tmp_path / "x.csv"))
    with pytest.raises(ValueError, match="Cannot open"):
        fit(tmp_path / "missing.npy")
    np.save(tmp_path / "one_d.npy", np.zeros(100))
    with pytest.raises(ValueError, match="2-D"):
        fit(tmp_path / "one_d.npy")
    np.save(tmp_path / "complex.npy", np.zeros((100, 2), dtype=complex))
    with pytest.raises(ValueError, match="Complex"):
        fit(tmp_path / "complex.npy")


BIG_FIT = textwrap.dedent("""
    import sys, threading, numpy as np, gmmfast

    def rss_anon():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("RssAnon:"))

    path, n = sys.argv[1], int(sys.argv[2])
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 3))
    rng = np.random.default_rng(0)
    block = rng.standard_normal((1 << 22, 3), dtype=np.float32)
    centres = np.array([[0, 0, 0], [6, 6, 0], [0, 6, 6], [6, 0, 6], [12, 12, 12]], np.float32)
    for i, s in enumerate(range(0, n, 1 << 22)):
        m = min(1 << 22, n - s)
        X[s:s + m] = block[:m] + centres[i % 5]
    del X, block
    peak, stop = [0], threading.Event()
    def poll():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_anon())
            stop.wait(0.002)
    watcher = threading.Thread(target=poll)
    watcher.start()
    gm = gmmfast.GaussianMixture(5, max_iter=2, tol=0, random_state=0).fit(np.load(path, mmap_mode="r"))
    stop.set()
    watcher.join()
    print(peak[0], gm.n_iter_, np.isfinite(gm.means_).all())
""")


@pytest.mark.skipif(sys.platform != "linux", reason="reads RssAnon from /proc/self/status")
@pytest.mark.skipif(bool(os.environ.get("GMMFAST_SANITIZED")), reason="memory figures are not meaningful under "
                    "AddressSanitizer (its shadow memory and quarantine); the plain run measures them")
@pytest.mark.parametrize("n", [pytest.param(100_000_000, marks=pytest.mark.slow, id="100M"),
                               pytest.param(20_000_000, id="20M")])
def test_fit_of_a_big_memmap_stays_under_200MB(tmp_path, n):
    """n x 3 float32 (100M: 1.2 GB on disk, with GMMFAST_SLOW_TESTS=1, ~2 min; the default run fits 20M,
    a 240 MB file, since the memory a chunked fit needs does not grow with n): the fitting process's
    anonymous memory stays < 200 MB."""
    out = subprocess.run([sys.executable, "-c", BIG_FIT, str(tmp_path / "big.npy"), str(n)], capture_output=True,
                         text=True, timeout=900, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    peak, n_iter, finite = out.stdout.split()
    assert n_iter == "2" and finite == "True"
    assert int(peak) < 200 << 20, f"peak RssAnon {int(peak) / 2**20:.0f} MB"


def test_a_file_cut_short_while_it_is_read_stops_the_fit_with_an_error(tmp_path, small_chunks, monkeypatch):
    # another process truncated the .npy during fit(path): the next page read past the new end killed the
    # process with SIGBUS. Here the file is cut right after the first chunk is taken, keeping that chunk.
    X = mixture(60_000)
    path = tmp_path / "data.npy"
    np.save(path, X)
    header = os.path.getsize(path) - X.nbytes
    first_chunk = 3 * _em_data.BLOCK_ROWS * X.shape[1] * X.itemsize
    real = _em_data.kernel_array
    calls = []

    def cut_after_first(a, *args, **kw):
        calls.append(1)
        if len(calls) == 1:
            os.truncate(path, header + first_chunk)
        return real(a, *args, **kw)

    monkeypatch.setattr(_em_data, "kernel_array", cut_after_first)
    with pytest.raises(OSError, match=f"data.npy was cut from {header + X.nbytes} to {header + first_chunk} bytes"):
        GaussianMixture(3, random_state=0).fit(str(path))
