"""Distributed EM on Dask arrays: GaussianMixture.fit / predict* / e_step_statistics with dask.

The reference is gmmfast's in-memory fit from the same initial parameters
(itself checked against scikit-learn in test_mixture.py).  The Dask fit adds
the blocks' statistics in another order, so the results agree to rounding:
float64 lower bounds within 1e-10 relative and parameters within 1e-8;
float32 within 1e-5.  Skipped when dask or distributed is not installed.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from gmmfast import GaussianMixture

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from gmmfast import _dask as gdask  # noqa: E402  (needs dask)
from gmmfast import _em_data  # noqa: E402

COV_TYPES = ("full", "tied", "diag", "spherical")
K = 4
PARAMS = ("weights_", "means_", "covariances_", "precisions_cholesky_")


@pytest.fixture(scope="module")
def client():
    """Two one-thread worker processes, as the issue's benchmark cluster."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def mixture(n=30000, d=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(K, d))
    X = centres[rng.integers(0, K, n)] + rng.normal(size=(n, d)) * rng.uniform(0.5, 1.5, d)
    return (X + 50.0).astype(dtype)


def initial_parameters(X, ct, seed=1):
    """weights/means/precisions_init from NumPy alone (the same start for both fits)."""
    rng = np.random.default_rng(seed)
    X = X.astype(np.float64)
    means = X[rng.choice(len(X), K, replace=False)]
    var = X.var(axis=0)
    prec = {"full": np.broadcast_to(np.diag(1 / var), (K, X.shape[1], X.shape[1])).copy(),
            "tied": np.diag(1 / var), "diag": np.tile(1 / var, (K, 1)),
            "spherical": np.full(K, 1 / var.mean())}[ct]
    return dict(weights_init=np.full(K, 1.0 / K), means_init=means, precisions_init=prec)


def fit_both(X, Xd, ct, max_iter=15, **kw):
    make = lambda: GaussianMixture(K, covariance_type=ct, max_iter=max_iter, tol=0, random_state=0, **kw)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make().fit(X), make().fit(Xd)


def assert_same_fit(a, b, dtype):
    rtol_lb, rtol_p = (1e-10, 1e-8) if dtype == np.float64 else (1e-5, 1e-5)
    assert a.n_iter_ == b.n_iter_
    assert abs(a.lower_bound_ - b.lower_bound_) <= rtol_lb * abs(a.lower_bound_)
    assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=rtol_lb)
    for name in PARAMS:
        want, got = getattr(a, name), getattr(b, name)
        assert got.dtype == want.dtype
        assert_allclose(got, want, rtol=rtol_p, atol=rtol_p * np.abs(want).max())


def chunkings(n):
    """Uneven last block; blocks smaller than K (and of one row) among large ones; one block."""
    small = (1, 2, 3, 1, 4093)
    rest = n - sum(small)
    return {"uneven": 7777, "smaller-than-K": small + (rest // 2, rest - rest // 2), "one-block": n}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("chunking", ["uneven", "smaller-than-K", "one-block"])
def test_dask_fit_equals_in_memory_fit(client, covariance_type, dtype, chunking):
    X = mixture(dtype=dtype)
    chunks = chunkings(len(X))[chunking]
    Xd = da.from_array(X, chunks=(chunks, 3)).persist()
    a, b = fit_both(X, Xd, covariance_type, **initial_parameters(X, covariance_type))
    assert_same_fit(a, b, dtype)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_dask_default_initialisation_matches_memmap_and_in_memory(client, covariance_type, tmp_path, monkeypatch):
    """Every source initialises on the same rows: all of them, or the same sample of them."""
    X = mixture(n=12000, seed=2)
    Xd = da.from_array(X, chunks=(3001, 3)).persist()
    a, b = fit_both(X, Xd, covariance_type, max_iter=10)     # 12000 rows <= sample size: all rows
    assert_same_fit(a, b, np.float64)
    monkeypatch.setattr(_em_data, "INIT_MAX_SAMPLES", 1500)
    np.save(tmp_path / "x.npy", X)
    a, b = fit_both(X, Xd, covariance_type, max_iter=10, n_init=2)
    assert_same_fit(a, b, np.float64)
    m, b = fit_both(str(tmp_path / "x.npy"), Xd, covariance_type, max_iter=10, n_init=2)
    assert_same_fit(m, b, np.float64)


def test_dask_predictions_are_dask_arrays(client):
    X = mixture(n=20000, seed=3, dtype=np.float32)
    Xd = da.from_array(X, chunks=(6000, 3)).persist()
    a, b = fit_both(X, Xd, "full", max_iter=5)
    for method, shape in (("predict", (len(X),)), ("predict_proba", (len(X), K)), ("score_samples", (len(X),))):
        lazy = getattr(b, method)(Xd)
        assert isinstance(lazy, da.Array) and lazy.shape == shape
        assert lazy.chunks[0] == Xd.chunks[0]
        got, want = lazy.compute(), getattr(a, method)(X)
        assert got.dtype == want.dtype
        if method == "predict":
            assert_array_equal(got, want)
        else:
            assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    labels = GaussianMixture(K, max_iter=5, tol=0, random_state=0).fit_predict(Xd)
    assert isinstance(labels, da.Array)
    far = X.copy()
    far[7000] = 1e30                                         # squared distances overflow float32
    for method in ("predict", "predict_proba", "score_samples"):   # refused when computed, as in memory
        with pytest.raises(ValueError, match="overflow float32"):
            getattr(b, method)(da.from_array(far, chunks=(6000, 3))).compute()
    assert b.score(Xd) == pytest.approx(a.score(X), rel=1e-6)
    assert b.bic(Xd) == pytest.approx(a.bic(X), rel=1e-6)
    with pytest.raises(TypeError, match="to_zarr"):          # the result is lazy: nothing to write into out
        b.predict(Xd, out=np.empty(len(X), np.intp))


def test_dask_statistics_and_m_step(client):
    X = mixture(n=15000, seed=4)
    gm = GaussianMixture(K, max_iter=2, random_state=0).fit(X)
    local = gm.e_step_statistics(X)
    remote = gm.e_step_statistics(da.from_array(X, chunks=(4000, 3)))
    assert remote.n_samples == local.n_samples
    assert_allclose(remote.sums, local.sums, rtol=1e-12, atol=1e-9)
    assert remote.log_likelihood == pytest.approx(local.log_likelihood, rel=1e-13)
    gm.m_step(remote)
    assert gm.n_iter_ == 3


def test_threaded_scheduler_fits_the_same(client):
    X = mixture(n=20000, seed=5)
    with dask.config.set(scheduler="threads"):
        Xd = da.from_array(X, chunks=(5000, 3))
        assert gdask.task_threads(None, Xd) == 1
        assert gdask.task_threads(2, Xd) == 2
        a, b = fit_both(X, Xd, "diag", **initial_parameters(X, "diag"))
    assert_same_fit(a, b, np.float64)
    assert gdask.task_threads(None, da.from_array(X, chunks=(5000, 3))) is None   # the client


def test_uint8_and_column_chunked_blocks(client):
    rng = np.random.default_rng(6)
    X = rng.integers(0, 256, size=(20000, 3)).astype(np.uint8)
    Xd = da.from_array(X, chunks=(3000, 1))          # columns in separate blocks: rechunked
    a, b = fit_both(X.astype(np.float64), Xd, "full", max_iter=5, **initial_parameters(X, "full"))
    assert b.means_.dtype == np.float64
    assert_same_fit(a, b, np.float64)


def test_bad_dask_input(client):
    X = mixture(n=5000)
    X[1234, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinity \(in row 1234\)"):   # (where: unsaid)
        GaussianMixture(2, means_init=np.zeros((2, 3)) + 50, weights_init=[0.5, 0.5],
                        precisions_init=np.stack([np.eye(3)] * 2)).fit(da.from_array(X, chunks=(1000, 3)))
    # past the initialisation's sample (more rows than it takes) a pass finds it: its block is named
    km, kp, klc, kind = GaussianMixture(2, random_state=0).fit(X[:1000])._fitted_kernel_arrays(np.float64)
    with pytest.raises(ValueError, match=r"NaN or infinity \(in rows 1000 to 1999\)"):
        gdask.block_statistics(X[1000:2000], km, kp, klc, kind, 1, True,
                               block_info={0: {"array-location": [(1000, 2000), (0, 3)]}})
    unknown = da.from_array(mixture(n=5000), chunks=(1000, 3))
    unknown = unknown[unknown[:, 0] > -1e9]
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        GaussianMixture(2).fit(unknown)
    with pytest.raises(ValueError, match="2-D"):
        GaussianMixture(2).fit(da.zeros((10, 3, 2), chunks=5))
    gm = GaussianMixture(2, max_iter=2).fit(mixture(n=2000))
    with pytest.raises(ValueError, match="features"):
        gm.predict(da.zeros((10, 2), chunks=5))
    # predictions check the blocks as predict checks an in-memory X (they gave 0 and NaN for a NaN row)
    with pytest.raises(ValueError, match="NaN") as in_memory:
        gm.predict(X)
    for method in ("predict", "predict_proba", "score_samples"):
        with pytest.raises(ValueError, match="NaN"):
            getattr(gm, method)(da.from_array(X, chunks=(1000, 3))).compute()
    with pytest.raises(ValueError, match="NaN"):
        gm.score(da.from_array(X, chunks=(1000, 3)))
    assert in_memory
    # blocks that do not have the columns their array declares (map_blocks without chunks=)
    narrow = da.from_array(mixture(n=4000), chunks=(1000, 3)).map_blocks(lambda b: b[:, :2], dtype=float)
    with pytest.raises(ValueError, match="declares 3 columns"):
        GaussianMixture(2, random_state=0).fit(narrow)
    with pytest.raises(ValueError, match="declares 3 columns"):
        gm.predict(narrow).compute()


def test_a_cluster_that_cannot_run_the_tasks_is_refused_at_once(client, monkeypatch):
    """No workers: the fit waited for one for ever; workers without this gmmfast: their tasks failed to
    unpickle, the workers died and were replaced, and the fit waited for ever too."""
    import gmmfast
    from gmmfast import _dask as gd

    X = mixture(n=2000, seed=1)
    # (a client of its own that does not replace the module's as the default one)
    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as empty, \
            distributed.Client(empty, set_as_default=False) as idle:
        t0 = time.perf_counter()
        with pytest.raises(RuntimeError, match="has no workers"):
            gd.check_cluster(idle, wait=1.0)
        assert time.perf_counter() - t0 < 30
    with client.as_current():
        monkeypatch.setattr(gmmfast, "__version__", "0.0.0-other")   # as if the workers had another gmmfast
        with pytest.raises(RuntimeError, match="2 of 2 workers .* cannot run gmmfast 0.0.0-other: .* has gmmfast"):
            GaussianMixture(2).fit(da.from_array(X, chunks=(500, 3)))


def test_a_block_lost_while_the_sample_is_taken_is_the_documented_error(client):
    # lost during the initialisation's sample it raised the task's own error (a KilledWorker from
    # distributed), which the README's `except RuntimeError` missed; in an EM pass it was the RuntimeError
    def lost_block(block, block_info=None):
        # fails as a lost block does (distributed's KilledWorker; killing workers for real could leave the
        # cluster with none).  Defined here, so that it travels by value: a function of this module
        # travels by name, which CI's workers could not import -- each died unpickling the task, and
        # the computation waited for ever for a worker
        if block_info[0]["chunk-location"][0] == 1:
            raise ArithmeticError("the worker holding this block was lost")
        return block

    X = mixture(n=40000, seed=2)
    Y = da.from_array(X, chunks=(10000, 3)).map_blocks(lost_block, dtype=X.dtype)
    with client.as_current(), pytest.raises(RuntimeError, match="Dask computation of the initialisation's sample"):
        GaussianMixture(2, random_state=0).fit(Y)


def test_a_fit_whose_workers_all_leave_ends_with_the_documented_error(monkeypatch):
    """Every worker gone mid-fit and none started again: the scheduler keeps the tasks waiting for a
    worker, and the fit waited for ever.  The two EM iterations completed before are offered."""
    from gmmfast import _dask as gd

    def slow(block):          # defined here: travels by value (see the lost-block test)
        time.sleep(0.02)
        return block

    monkeypatch.setattr(gd, "WORKER_WAIT", 2.0)
    X = mixture(n=40000, seed=3)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster, set_as_default=False) as own:
        passes = []
        em_pass = gd.DaskData.em_pass

        def then_leave(self, *args):          # every worker leaves once two passes are done
            result = em_pass(self, *args)
            passes.append(1)
            if len(passes) == 2:
                threading.Thread(target=cluster.scale, args=(0,)).start()
            return result

        monkeypatch.setattr(gd.DaskData, "em_pass", then_leave)
        Y = da.from_array(X, chunks=(2000, 3)).map_blocks(slow, dtype=X.dtype)
        gm = GaussianMixture(2, max_iter=100, tol=0, random_state=0)
        t0 = time.perf_counter()
        with own.as_current(), pytest.raises(RuntimeError, match="every worker of the Dask cluster .* left during "
                                             ".* none came back within 2 s.*no model was fitted") as info:
            gm.fit(Y)
        assert time.perf_counter() - t0 < 60 and not hasattr(gm, "means_")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = GaussianMixture(2, max_iter=2, tol=0, random_state=0).fit(X)
        assert "after 2 completed EM iteration(s)" in str(info.value)
        assert_same_fit(want, info.value.partial_model, np.float64)


def test_worker_with_two_threads_runs_two_blocks_at_once():
    """A 2-thread worker: the nanny's OMP_NUM_THREADS=1 makes n_threads=None one OpenMP thread per
    task, and the worker's two threads compute two blocks at once; n_threads=2 is honoured."""
    X = mixture(n=60000, seed=7, dtype=np.float32)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        from gmmfast._threads import effective_n_threads

        assert list(client.run(effective_n_threads, None).values()) == [1]
        assert list(client.run(effective_n_threads, 2).values()) == [2]
        Xd = da.from_array(X, chunks=(5000, 3)).persist()
        with distributed.get_task_stream(client) as stream:
            a, b = fit_both(X, Xd, "full", max_iter=8, **initial_parameters(X, "full"))
        # (the statistics tasks are fused with the first level of the sum, so count every task)
        threads = {t["thread"] for t in stream.data}
        assert len(threads) == 2
        assert_same_fit(a, b, np.float32)
        _, c = fit_both(X, Xd, "full", max_iter=8, n_threads=2, **initial_parameters(X, "full"))
        assert_same_fit(a, c, np.float32)


def test_killed_worker_gives_the_same_model_or_a_clear_error(client):
    """SIGKILL one worker process mid-fit: the nanny restarts it and the scheduler recomputes
    the lost blocks from the graph; the fit must equal the in-memory one or raise."""
    X = mixture(n=200000, seed=8)
    Xd = da.from_array(X, chunks=(25000, 3)).persist()
    init = initial_parameters(X, "full")
    ref = GaussianMixture(K, max_iter=60, tol=0, **init).fit(X)
    gm = GaussianMixture(K, max_iter=60, tol=0, **init)
    outcome = {}

    def run():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gm.fit(Xd)
            outcome["ok"] = True
        except RuntimeError as exc:
            outcome["error"] = exc

    pids = client.run(os.getpid)
    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(1.0)
    killed_mid_fit = thread.is_alive()
    os.kill(next(iter(pids.values())), signal.SIGKILL)
    thread.join(timeout=300)
    assert not thread.is_alive()
    client.wait_for_workers(2, timeout=60)
    assert killed_mid_fit, "the fit ended before the worker was killed: make it longer"
    if "ok" in outcome:
        assert_same_fit(ref, gm, np.float64)
    else:
        assert "no model was fitted" in str(outcome["error"]) and not hasattr(gm, "means_")


def _rss_anon() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_data_stays_on_the_workers(client, monkeypatch):
    """384 MB generated and held on the workers: the client grows by far less during a fit.

    The client receives the initialisation sample (at most INIT_MAX_SAMPLES rows, set small
    here so that what is measured is the EM passes) and a vector of statistics per iteration;
    what it does grow by (about 40 MB here: graphs, the scheduler's replies, allocator slack)
    does not depend on the data's size.
    """
    monkeypatch.setattr(_em_data, "INIT_MAX_SAMPLES", 20_000)
    Xd = (da.random.RandomState(0).standard_normal((16_000_000, 3), chunks=(1_000_000, 3))
          + da.from_array(np.array([0.0, 3.0, 6.0]), chunks=3)).persist()
    distributed.wait(Xd)
    GaussianMixture(2, max_iter=1).fit(mixture(n=3000))     # warm up the client's imports
    GaussianMixture(2, max_iter=1).fit(Xd[:10_000])
    base, peak, stop = _rss_anon(), [0], threading.Event()

    def poll():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_anon())
            stop.wait(0.005)

    watcher = threading.Thread(target=poll)
    watcher.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            GaussianMixture(3, max_iter=3, tol=0, random_state=0).fit(Xd)
    finally:
        stop.set()
        watcher.join()
    assert peak[0] - base < Xd.nbytes / 4, f"client grew by {(peak[0] - base) / 2**20:.0f} MB"


def test_numpy_fit_does_not_import_dask(tmp_path):
    code = ("import sys, numpy as np, gmmfast\n"
            "X = np.random.default_rng(0).normal(size=(2000, 2))\n"
            "g = gmmfast.GaussianMixture(2).fit(X); g.predict(X); g.score(X)\n"
            "g.partial_fit(X); g.m_step(g.e_step_statistics(X))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n")
    # run outside the checkout, whose source folder would shadow the installed package
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         cwd=tmp_path)
    assert out.stdout.strip() == "[]"
