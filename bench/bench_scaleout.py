"""Scale-out benchmarks: Dask and memmap fits against the in-memory fit, batch segmentation.

Workloads (issue 17), all on this machine's 2 cores:

* **Dask vs in-memory**: N x 3 float32 (N = 20M and 200M) drawn from a
  5-component mixture, K = 5, 'full', 20 EM iterations (tol=0) from the same
  initial parameters.  Dask: a ``LocalCluster`` of 2 worker processes x 1
  thread holding the data (generated on the workers and persisted, blocks of
  2.5M rows); in memory: the same values in this process, ``n_threads=2``.
  Targets: Dask <= 2x the in-memory time at 20M, <= 1.25x at 200M.
* **Scheduler overhead per iteration**: the same Dask fit on 2 blocks of 4096
  rows, (T(21 iterations) - T(1 iteration)) / 20: what an iteration costs
  beyond the kernels (graph, tasks, the reduction, the client's M-step).
* **memmap vs in-memory**: the 20M data in a .npy file opened as a memmap
  (page-cached after the first pass), both ``n_threads=2``.  Target <= 1.2x.
* **Batch segmentation**: 100 generated photos, 480x640 and 1536x2048
  (3 MP), ``segment_many`` with 2 local worker processes vs 1, one thread per
  image (both include starting the worker processes: ~2 s of imports each,
  in parallel).  Target >= 1.8x.

Other agents share the cores: every ratio is of two timings taken in the same
repetition, one right after the other; repetitions give a range.

* ``python bench/bench_scaleout.py [--repeat 3] [--quick] [--only batch]`` prints
  the table for bench/RESULTS.md (``--quick``: 2M/20M rows, 20 photos);
* ``pytest bench/bench_scaleout.py --benchmark-only`` for pytest-benchmark's
  statistics (one round each; needs dask and distributed).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

K = 5
N_ITER = 20
BLOCK_ROWS = 2_500_000
CENTRES = np.array([[0, 0, 0], [4, 4, 0], [0, 4, 4], [4, 0, 4], [8, 8, 8]], dtype=np.float32)
SCALES = np.array([1.0, 0.7, 1.2, 0.9, 1.5], dtype=np.float32)
TARGETS = {"dask 20M": 2.0, "dask 200M": 1.25, "memmap": 1.2, "batch": 1.8}


# --------------------------------------------------------------------------- workloads


def make_block(i: int, rows: int) -> np.ndarray:
    """Block i of the benchmark data (deterministic: the same on a worker and here)."""
    rng = np.random.default_rng(1000 + i)
    z = rng.integers(0, K, rows)
    return CENTRES[z] + rng.standard_normal((rows, 3), dtype=np.float32) * SCALES[z, None]


def block_sizes(n: int) -> list[int]:
    return [min(BLOCK_ROWS, n - s) for s in range(0, n, BLOCK_ROWS)]


def in_memory(n: int) -> np.ndarray:
    X = np.empty((n, 3), dtype=np.float32)
    for i, s in enumerate(range(0, n, BLOCK_ROWS)):
        X[s:s + BLOCK_ROWS] = make_block(i, min(BLOCK_ROWS, n - s))
    return X


def on_workers(n: int):
    """The same data as a Dask array generated on the workers and persisted there."""
    import dask
    import dask.array as da
    import distributed

    parts = [da.from_delayed(dask.delayed(make_block)(i, rows), shape=(rows, 3), dtype=np.float32)
             for i, rows in enumerate(block_sizes(n))]
    X = da.concatenate(parts).persist()
    distributed.wait(X)
    return X


def init_params() -> dict:
    """The same start for every fit: perturbed true means, unit covariances."""
    return dict(weights_init=np.full(K, 1.0 / K), means_init=CENTRES + 0.5,
                precisions_init=np.stack([np.eye(3)] * K))


def fit_seconds(X, n_threads=None, max_iter=N_ITER) -> float:
    from gmmfast import GaussianMixture

    gm = GaussianMixture(K, covariance_type="full", max_iter=max_iter, tol=0, n_threads=n_threads, **init_params())
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)
    return time.perf_counter() - t0


def start_cluster():
    import distributed

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                       silence_logs=logging.ERROR)
    return cluster, distributed.Client(cluster)


def scheduler_overhead(client) -> float:
    """Seconds per EM iteration beyond the kernels, from a Dask fit of two 4096-row blocks."""
    import dask.array as da

    X = da.from_array(make_block(0, 8192), chunks=(4096, 3)).persist()
    fit_seconds(X, max_iter=1)                       # warm-up
    t1 = min(fit_seconds(X, max_iter=1) for _ in range(3))
    t21 = min(fit_seconds(X, max_iter=21) for _ in range(3))
    return (t21 - t1) / 20


PHOTO_SIZES = ((480, 640), (1536, 2048))


def make_photos(folder: Path, count: int, size=PHOTO_SIZES[0]) -> list[str]:
    import gmmfast
    from gmmfast.io import write_image

    return [str(write_image(folder / f"photo{i:03d}.png", gmmfast.data.sample_image(*size, random_state=i).image))
            for i in range(count)]


def batch_seconds(paths, out: Path, workers: int) -> float:
    from gmmfast import segment_many

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    results = segment_many(paths, 3, output_dir=out, workers=workers, n_threads=1)
    elapsed = time.perf_counter() - t0
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return elapsed


# --------------------------------------------------------------------------- table


def _range(values) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def run_table(sizes, n_photos: int, repeat: int, only=None) -> None:
    rows: dict[str, list[tuple[float, float]]] = {}
    overheads = []
    tmp = Path(tempfile.mkdtemp(prefix="gmmfast-scaleout-"))
    if only in (None, "dask"):
        cluster, client = start_cluster()
        try:
            overheads = [scheduler_overhead(client) for _ in range(repeat)]
            for n in sizes:
                X, Xd = in_memory(n), on_workers(n)
                fit_seconds(Xd, max_iter=1), fit_seconds(X, n_threads=2, max_iter=1)     # warm-up
                for _ in range(repeat):
                    mem = fit_seconds(X, n_threads=2)
                    rows.setdefault(f"dask {n // 1_000_000}M", []).append((fit_seconds(Xd), mem))
                if n == sizes[0]:
                    np.save(tmp / "x.npy", X)
                    mm = np.load(tmp / "x.npy", mmap_mode="r")
                    fit_seconds(mm, n_threads=2, max_iter=1)
                    for _ in range(repeat):
                        mem = fit_seconds(X, n_threads=2)
                        rows.setdefault(f"memmap {n // 1_000_000}M", []).append((fit_seconds(mm, n_threads=2), mem))
                    del mm
                del X, Xd
                client.run(lambda: __import__("gc").collect())
        finally:
            client.close()
            cluster.close()
    try:
        for size in PHOTO_SIZES if only in (None, "batch") else ():
            paths = make_photos(tmp / f"photos{size[0]}", n_photos, size)
            for _ in range(repeat):
                one = batch_seconds(paths, tmp / "out1", 1)
                rows.setdefault(f"batch {n_photos} photos {size[0]}x{size[1]}", []).append(
                    (batch_seconds(paths, tmp / "out2", 2), one))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; {repeat} repetitions")
    if overheads:
        print(f"scheduler overhead per EM iteration: {_range([1000 * o for o in overheads])} ms")
    print("| workload | scale-out s | anchor s | ratio | target |")
    print("|---|---|---|---|---|")
    for name, pairs in rows.items():
        kind = name.split()[0]
        ratios = [a / b for a, b in pairs] if kind != "batch" else [b / a for a, b in pairs]
        target = TARGETS["batch"] if kind == "batch" else TARGETS.get(name, TARGETS.get(kind))
        sign = ">=" if kind == "batch" else "<="
        print(f"| {name} | {_range([a for a, _ in pairs])} | {_range([b for _, b in pairs])} | "
              f"{_range(ratios)} | {sign} {target} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="2M/20M rows and 20 photos")
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="rows of the Dask workloads")
    ap.add_argument("--only", choices=["dask", "batch"], default=None, help="one group of workloads")
    args = ap.parse_args()
    sizes = args.sizes or ([2_000_000, 20_000_000] if args.quick else [20_000_000, 200_000_000])
    run_table(sizes, 20 if args.quick else 100, args.repeat, args.only)


# --------------------------------------------------------------------------- pytest-benchmark

try:
    import pytest
except ImportError:   # pragma: no cover - the script runs without pytest
    pytest = None

if pytest is not None:
    @pytest.fixture(scope="module")
    def client():
        pytest.importorskip("distributed")
        cluster, client = start_cluster()
        yield client
        client.close()
        cluster.close()

    @pytest.fixture(scope="module", params=[20_000_000, 200_000_000], ids=["20M", "200M"])
    def data(request, client):
        return in_memory(request.param), on_workers(request.param)

    def test_fit_in_memory(benchmark, data):
        benchmark.pedantic(fit_seconds, args=(data[0], 2), rounds=1, warmup_rounds=0)

    def test_fit_dask(benchmark, data):
        benchmark.pedantic(fit_seconds, args=(data[1],), rounds=1, warmup_rounds=1)

    def test_fit_memmap(benchmark, tmp_path):
        X = in_memory(20_000_000)
        np.save(tmp_path / "x.npy", X)
        mm = np.load(tmp_path / "x.npy", mmap_mode="r")
        benchmark.pedantic(fit_seconds, args=(mm, 2), rounds=1, warmup_rounds=1)

    @pytest.mark.parametrize("size", PHOTO_SIZES, ids=[f"{h}x{w}" for h, w in PHOTO_SIZES])
    @pytest.mark.parametrize("workers", [1, 2])
    def test_batch_segmentation(benchmark, tmp_path, workers, size):
        paths = make_photos(tmp_path / "photos", 100, size)
        benchmark.pedantic(batch_seconds, args=(paths, tmp_path / "out", workers), rounds=1, warmup_rounds=0)


if __name__ == "__main__":
    main()
