"""Max-flow benchmark: gmmfast.maxflow.GridGraph against PyMaxflow 1.3.2.

A 1024x1024 segmentation grid built from a real photo (the GrabCut images in
../shared/data, converted to grey I in [0, 1], resized to 1024x1024), or a
synthetic image when the data is absent: neighbour weights 2*exp(-20*|dI|),
terminals 4*I (source) and 4*(1 - I) (sink), 4- and 8-connected.  Timed: graph
construction + maxflow, for both libraries; the weights are computed once,
outside the timing.  Both must give the same flow value.

    pytest bench/bench_maxflow.py -p no:cacheprovider --benchmark-columns=min,median,max
    python bench/bench_maxflow.py            # ratio table over all GrabCut images
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from gmmfast.maxflow import GridGraph

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "grabcut" / "imgs"
SIZE = 1024
FWD = [(0, 1), (1, 0), (1, 1), (1, -1)]
PHOTO = "llama.jpg"


def grey_image(name: str | None) -> np.ndarray:
    """Grey intensity in [0, 1], SIZE x SIZE: a GrabCut photo, or synthetic if name is None."""
    if name is None:
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
        disc = ((yy - 0.5) ** 2 + (xx - 0.45) ** 2 < 0.09).astype(float)
        texture = 0.15 * np.sin(40 * xx) * np.cos(25 * yy)
        I = 0.25 + 0.5 * disc + texture + 0.08 * rng.standard_normal((SIZE, SIZE))
        return np.clip(I, 0, 1)
    Image = pytest.importorskip("PIL.Image")
    img = Image.open(DATA / name).convert("L").resize((SIZE, SIZE), Image.BILINEAR)
    return np.asarray(img, dtype=np.float64) / 255.0


def grid_problem(I: np.ndarray, connectivity: int):
    """(w, source, sink): w[d] = 2 exp(-20 |I(p + off_d) - I(p)|), zero where off_d leaves the image."""
    H, W = I.shape
    w = np.zeros((connectivity // 2, H, W))
    for d, (dy, dx) in enumerate(FWD[: connectivity // 2]):
        ps = (slice(0, H - dy), slice(max(0, -dx), W - max(0, dx)))
        qs = (slice(dy, H), slice(max(0, dx), W + min(0, dx)))
        w[d][ps] = 2.0 * np.exp(-20.0 * np.abs(I[qs] - I[ps]))
    return w, 4.0 * I, 4.0 * (1.0 - I)


def solve_gmmfast(w, s, t, n_threads=None):
    g = GridGraph(s.shape, connectivity=2 * w.shape[0], n_threads=n_threads)
    g.set_neighbor_weights(w)
    g.set_terminal_weights(s, t)
    return g.maxflow()


def solve_pymaxflow(w, s, t):
    import maxflow
    g = maxflow.Graph[float]()
    ids = g.add_grid_nodes(s.shape)
    for d, (dy, dx) in enumerate(FWD[: w.shape[0]]):
        st = np.zeros((3, 3))
        st[1 + dy, 1 + dx] = 1
        g.add_grid_edges(ids, weights=w[d], structure=st, symmetric=True)
    g.add_grid_tedges(ids, s, t)
    return g.maxflow()


_cache: dict = {}


def problem(source: str, connectivity: int, dtype):
    key = (source, connectivity, dtype)
    if key not in _cache:
        if source == "photo" and not (DATA / PHOTO).exists():
            pytest.skip(f"{DATA / PHOTO} not found (shared data absent)")
        I = grey_image(PHOTO if source == "photo" else None)
        w, s, t = grid_problem(I, connectivity)
        _cache[key] = (w.astype(dtype), s.astype(dtype), t.astype(dtype), w, s, t)
    return _cache[key]


def reference_flow(source, connectivity):
    key = ("ref", source, connectivity)
    if key not in _cache:
        _, _, _, w, s, t = problem(source, connectivity, np.float64)
        try:
            _cache[key] = solve_pymaxflow(w, s, t)
        except ImportError:
            _cache[key] = solve_gmmfast(w, s, t)
    return _cache[key]


@pytest.mark.parametrize("source", ["photo", "synthetic"])
@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("impl", ["gmmfast-f64", "gmmfast-f32", "pymaxflow"])
def test_grid_maxflow(benchmark, impl, connectivity, source):
    if impl == "pymaxflow":
        pytest.importorskip("maxflow")
    dtype = np.float32 if impl == "gmmfast-f32" else np.float64
    w, s, t, *_ = problem(source, connectivity, dtype)
    fn = solve_pymaxflow if impl == "pymaxflow" else solve_gmmfast
    flow = benchmark.pedantic(fn, args=(w, s, t), rounds=3, iterations=1, warmup_rounds=0)
    ref = reference_flow(source, connectivity)
    rel = 1e-6 if dtype == np.float32 else 1e-9
    assert flow == pytest.approx(ref, rel=rel), (flow, ref)


def _best(fn, *args, repeat=3):
    """Best wall time, best CPU time (all threads) and the result of `repeat` calls."""
    wall, cpu, out = np.inf, np.inf, None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn(*args)
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu, out


def main(names=None, repeat=3, n_threads=None) -> None:
    """Print PyMaxflow / gmmfast time ratios (best of `repeat`, build included) per image.

    Wall-clock ratios, and CPU-time ratios (process time summed over threads),
    which are steadier on a shared machine and show the single-core work.
    gmmfast runs with `n_threads` threads (None: all cores).
    """
    names = names or ([p.name for p in sorted(DATA.glob("*.jpg"))] if DATA.exists() else []) + ["synthetic"]
    print(f"gmmfast threads: {n_threads or 'all'}; load average {os.getloadavg()[0]:.2f}")
    print(f"{'image':14s} conn | wall: pymaxflow gmmfast-f64 ratio gmmfast-f32 ratio | "
          f"cpu ratio f64 f32 | |flow diff|")
    ratios = []
    for name in names:
        I = grey_image(None if name == "synthetic" else name)
        for conn in (4, 8):
            w, s, t = grid_problem(I, conn)
            tp, cp, fp = _best(solve_pymaxflow, w, s, t, repeat=repeat)
            t64, c64, f64 = _best(solve_gmmfast, w, s, t, n_threads, repeat=repeat)
            w32, s32, t32_ = (a.astype(np.float32) for a in (w, s, t))
            t32, c32, f32 = _best(solve_gmmfast, w32, s32, t32_, n_threads, repeat=repeat)
            assert abs(f64 - fp) <= 1e-9 * fp and abs(f32 - fp) <= 1e-6 * fp
            print(f"{name:14s} {conn:4d} | {tp:8.3f}s {t64:8.3f}s {tp / t64:5.2f} {t32:8.3f}s {tp / t32:5.2f} | "
                  f"{cp / c64:5.2f} {cp / c32:5.2f} | {abs(f64 - fp):.1e}", flush=True)
            if name != "synthetic":   # geo-means over the photos
                ratios.append((conn, tp / t64, tp / t32, cp / c64, cp / c32))
    for conn in (4, 8):
        r = np.array([x[1:] for x in ratios if x[0] == conn])
        if len(r):
            gm = np.exp(np.log(r).mean(axis=0))
            print(f"geo-mean {conn}-conn: wall f64 {gm[0]:.2f} f32 {gm[1]:.2f} | cpu f64 {gm[2]:.2f} f32 {gm[3]:.2f}"
                  f" | min wall f64 {r[:, 0].min():.2f} f32 {r[:, 1].min():.2f}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Max-flow: gmmfast against PyMaxflow (bench/RESULTS.md).")
    parser.add_argument("images", nargs="*", help="image names of the shared data, or 'synthetic' (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="gmmfast's threads (default: all cores)")
    args = parser.parse_args()
    main(args.images or None, n_threads=args.threads)
