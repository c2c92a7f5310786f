"""End-to-end segmentation of a 12-megapixel photo: gmmfast.segment vs the scikit-learn pipeline.

The replaced projects flatten the pixels, fit ``sklearn.mixture.GaussianMixture(5)``
on all of them, then ``predict``.  Here that pipeline runs on the same pixels with
the same number of EM iterations as gmmfast's fit, both on one thread.

Run:  python -m pytest bench/bench_segment.py -p no:cacheprovider -o addopts="" -s \
          --benchmark-columns=min,median,max,rounds

Set GMMFAST_BENCH_SKLEARN_ALL=1 to also time the scikit-learn pipeline with the
iteration count of gmmfast's all-pixel fit (another ~10 minutes).

The photo is ``../shared/data/seed/plant_cells.jpg`` (an input of the replaced
projects) upscaled to 4000 x 3000; without the shared data, the built-in sample
image upscaled instead.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import gmmfast
from gmmfast._segmentation import adjusted_rand_index

pytest.importorskip("pytest_benchmark")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
K = 5
RESULTS: dict[str, float] = {}


def _photo() -> tuple[np.ndarray, str]:
    from PIL import Image

    src = DATA / "seed" / "plant_cells.jpg"
    if src.is_file():
        im, name = Image.open(src).convert("RGB"), f"{src.name} upscaled"
    else:
        im, name = Image.fromarray(gmmfast.data.sample_image().image), "sample_image() upscaled"
    return np.asarray(im.resize((4000, 3000), Image.BICUBIC)), name


@pytest.fixture(scope="module")
def photo():
    img, name = _photo()
    print(f"\nphoto: {name}, {img.shape[1]}x{img.shape[0]}")
    return img


def _best_of(fn, rounds):
    times, out = [], None
    for _ in range(rounds):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def test_segment_default(benchmark, photo):
    seg = benchmark.pedantic(lambda: gmmfast.segment(photo, K, n_threads=1), rounds=3, iterations=1)
    RESULTS["default"] = benchmark.stats.stats.min
    RESULTS["default_iters"] = seg.model.n_iter_
    print(f"\ngmmfast.segment(K=5), one thread: {RESULTS['default']:.3f} s, {seg.model.n_iter_} EM iterations "
          f"on {gmmfast._segmentation.DEFAULT_MAX_FIT_PIXELS} pixels; timings {seg.timings}")


def test_segment_smoothing(benchmark, photo):
    seg = benchmark.pedantic(lambda: gmmfast.segment(photo, K, smoothing=1.0, n_threads=1), rounds=3,
                             iterations=1)
    RESULTS["smooth"] = benchmark.stats.stats.min
    print(f"\ngmmfast.segment(K=5, smoothing=1.0), one thread: {RESULTS['smooth']:.3f} s; timings {seg.timings}")


def test_segment_all_pixels(benchmark, photo):
    n = photo.shape[0] * photo.shape[1]
    seg = benchmark.pedantic(lambda: gmmfast.segment(photo, K, max_fit_pixels=n, n_threads=1), rounds=1,
                             iterations=1)
    RESULTS["all"] = benchmark.stats.stats.min
    RESULTS["all_iters"] = seg.model.n_iter_
    RESULTS["all_labels"] = seg.labels
    print(f"\ngmmfast.segment(K=5, fit on all {n} pixels), one thread: {RESULTS['all']:.3f} s, "
          f"{seg.model.n_iter_} EM iterations")


def test_sklearn_pipeline(benchmark, photo):
    """The replaced projects' pipeline, run twice: with gmmfast's default fit's iteration count and
    with the all-pixel fit's."""
    mixture = pytest.importorskip("sklearn.mixture")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    pixels = photo.reshape(-1, 3).astype(np.float64)  # what sklearn converts uint8 pixels to anyway

    def pipeline(n_iter):
        gm = mixture.GaussianMixture(K, max_iter=n_iter, tol=0.0, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm.fit(pixels)
        return gm.predict(pixels)

    with threadpoolctl.threadpool_limits(1):
        n_iter = RESULTS.get("default_iters", 10)
        benchmark.pedantic(lambda: pipeline(n_iter), rounds=1, iterations=1)
        RESULTS["sklearn"] = benchmark.stats.stats.min
        if "all_iters" in RESULTS and os.environ.get("GMMFAST_BENCH_SKLEARN_ALL"):
            t, labels = _best_of(lambda: pipeline(RESULTS["all_iters"]), 1)
            RESULTS["sklearn_all"] = t
            RESULTS["agreement_ari"] = adjusted_rand_index(labels, RESULTS["all_labels"].ravel())
    print(f"\nsklearn GaussianMixture(5).fit(pixels).predict(pixels), {n_iter} iterations, one thread: "
          f"{RESULTS['sklearn']:.2f} s")


def test_report_ratios():
    if not {"default", "smooth", "sklearn"} <= set(RESULTS):
        pytest.skip("needs the other benchmarks of this file in the same run")
    speedup = RESULTS["sklearn"] / RESULTS["default"]
    smooth_ratio = RESULTS["smooth"] / RESULTS["default"]
    print(f"\nspeed-up of gmmfast.segment over the sklearn pipeline ({RESULTS['default_iters']} iterations each): "
          f"{speedup:.1f}x")
    if "sklearn_all" in RESULTS:
        print(f"speed-up when both fit on all 12M pixels ({RESULTS['all_iters']} iterations each): "
              f"{RESULTS['sklearn_all'] / RESULTS['all']:.1f}x; ARI between their labels "
              f"{RESULTS['agreement_ari']:.3f}")
    print(f"smoothing=1.0 / plain: {smooth_ratio:.2f}")
    assert speedup >= 30
    assert smooth_ratio <= 2.0
