"""Benchmark: gmmfast.BackgroundSubtractorKNN against cv2.createBackgroundSubtractorKNN.

Speed: same parameters (the defaults of both), the synthetic colour frames of
bench_mog2.py (a textured background, sensor noise, a moving box) at 640x480 and
1920x1080, and 640x480 frames of uniform noise (the worst case: every pixel is
foreground, so every sample is compared and every pixel takes the shadow test), one
thread each (``cv2.setNumThreads(1)``, ``n_threads=1``).  The models first learn
WARMUP frames: the update draws a sample per pixel and set once per period, and the
periods only reach their steady length (26, 40 and 100 frames at history 500) after
``history / 2`` frames, so a shorter warm-up times a model that updates more often.

    pytest bench/bench_knn.py --benchmark-only -p no:cacheprovider   # 60-frame warm-up
    python bench/bench_knn.py            # the ratios below and the CDnet table
    python bench/bench_knn.py --data DIR # the shared data elsewhere than ../shared/data

The script times one frame on each model in turn (so the shared machine's drifting
speed hits both alike) and reports the median per-frame wall and CPU time
(``time.thread_time``, steadier on a loaded machine) and their ratio, measured in the
same run.  It then scores both models on the CDnet clips of the shared data (when
present): precision, recall and F of the foreground (mask 255; shadows and background
are negative) over the scored frames, raw and after a 5x5 median (``cv2.medianBlur``
on both), with the spread of ours over five random seeds.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import gmmfast

_here = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_bench_mog2_frames", _here / "bench_mog2.py")
_mog2 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mog2)
synthetic_frames, noise_frames = _mog2.synthetic_frames, _mog2.noise_frames

DATA = _here.parent.parent / "shared" / "data"
SIZES = {"640x480": (480, 640), "1920x1080": (1080, 1920), "640x480 noise": (480, 640)}
WARMUP = 300
_FRAMES: dict[str, list[np.ndarray]] = {}


def frames_for(size: str) -> list[np.ndarray]:
    if size not in _FRAMES:
        make = noise_frames if size.endswith("noise") else synthetic_frames
        _FRAMES[size] = make(*SIZES[size])
    return _FRAMES[size]


def _warmed(apply, frames: list[np.ndarray], n: int):
    for f in itertools.islice(itertools.cycle(frames), n):
        apply(f)
    cycle = itertools.cycle(frames)
    return lambda: apply(next(cycle))


@pytest.mark.parametrize("size", list(SIZES))
def test_cv2_knn_1thread(benchmark, size):
    cv2 = pytest.importorskip("cv2")
    cv2.setNumThreads(1)
    benchmark.group = f"KNN {size}"
    benchmark(_warmed(cv2.createBackgroundSubtractorKNN().apply, frames_for(size), 60))


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("n_threads", [1, 2])
def test_gmmfast_knn(benchmark, size, n_threads):
    benchmark.group = f"KNN {size}"
    model = gmmfast.BackgroundSubtractorKNN(n_threads=n_threads)
    benchmark(_warmed(model.apply, frames_for(size), 60))


@pytest.mark.parametrize("size", ["640x480", "1920x1080"])
def test_gmmfast_knn_batch_of_20_frames(benchmark, size):
    """apply_many of 20 frames (per call, not per frame), one thread."""
    frames = frames_for(size)
    stack = np.stack(frames[:20])
    out = np.empty(stack.shape[:3], np.uint8)
    model = gmmfast.BackgroundSubtractorKNN(n_threads=1)
    _warmed(model.apply, frames, 60)
    benchmark.group = f"KNN batch of 20 frames, {size}"
    benchmark(lambda: model.apply_many(stack, out=out))


def interleaved(size: str, rounds: int = 3, warmup: int = WARMUP) -> dict[str, tuple[float, float]]:
    """Median per-frame (wall ms, CPU ms) of each model, one frame on each in turn."""
    import cv2

    frames = frames_for(size)
    models = {"cv2 KNN": cv2.createBackgroundSubtractorKNN(),
              "gmmfast KNN": gmmfast.BackgroundSubtractorKNN(n_threads=1),
              "gmmfast MOG2": gmmfast.BackgroundSubtractorMOG2(n_threads=1),
              "gmmfast pipeline knn": gmmfast.BackgroundSubtractor(method="knn", n_threads=1)}
    cv2.setNumThreads(1)
    for f in itertools.islice(itertools.cycle(frames), warmup):
        for m in models.values():
            m.apply(f)
    wall: dict[str, list[float]] = {k: [] for k in models}
    cpu: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(rounds):
        for f in frames:
            for name, m in models.items():
                c0, t0 = time.thread_time(), time.perf_counter()
                m.apply(f)
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.thread_time() - c0)
    return {k: (1e3 * float(np.median(wall[k])), 1e3 * float(np.median(cpu[k]))) for k in models}


def batched(size: str, rounds: int = 5, warmup: int = WARMUP) -> tuple[float, float]:
    """Per-frame CPU ms of 20 frames: gmmfast's apply_many (one call), cv2's apply loop."""
    import cv2

    frames = frames_for(size)
    stack = np.stack(frames[:20])
    out = np.empty(stack.shape[:3], np.uint8)
    ref, ours = cv2.createBackgroundSubtractorKNN(), gmmfast.BackgroundSubtractorKNN(n_threads=1)
    cv2.setNumThreads(1)
    for f in itertools.islice(itertools.cycle(frames), warmup):
        ref.apply(f)
        ours.apply(f)
    t_ref, t_ours = [], []
    for _ in range(rounds):
        c0 = time.thread_time()
        for f in stack:
            ref.apply(f)
        t_ref.append(time.thread_time() - c0)
        c0 = time.thread_time()
        ours.apply_many(stack, out=out)
        t_ours.append(time.thread_time() - c0)
    return 1e3 * float(np.median(t_ref)) / 20, 1e3 * float(np.median(t_ours)) / 20


# --------------------------------------------------------------------------- CDnet quality
def load_cdnet(name: str):
    """(frames, ground truth, scored-frame mask) of a CDnet clip of the shared data, or None."""
    root = DATA / name
    if not (root / "input").is_dir():
        return None
    from PIL import Image

    ins = sorted((root / "input").glob("in*.jpg"))
    gts = sorted((root / "groundtruth").glob("gt*.png"))
    frames = np.array([np.asarray(Image.open(f).convert("RGB")) for f in ins])
    truth = np.array([np.asarray(Image.open(g).convert("L")) for g in gts])
    ids = np.array([int(f.stem[2:]) for f in ins])
    # highway: its temporal ROI (from frame 470); traffic, a slice inside the ROI: from the 31st frame
    scored = ids >= 470 if name == "cdnet-highway" else np.arange(len(ids)) >= 30
    return frames, truth, scored


def prf(masks: np.ndarray, truth: np.ndarray, scored: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall, F of foreground (mask 255) summed over scored frames (CDnet rules:
    ground truth 255 positive, 0 and 50 negative, 85 and 170 not scored)."""
    m, g = masks[scored] == 255, truth[scored]
    valid, pos = (g != 170) & (g != 85), g == 255
    tp, fp, fn = np.sum(m & pos & valid), np.sum(m & ~pos & valid), np.sum(~m & pos & valid)
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return float(p), float(r), float(2 * p * r / max(p + r, 1e-12))


def cdnet_table() -> list[str]:
    import cv2

    rows = ["| clip | model | precision | recall | F | F, 5x5 median |", "|---|---|---:|---:|---:|---:|"]
    median = lambda ms: np.array([cv2.medianBlur(m, 5) for m in ms])  # noqa: E731
    for name in ("cdnet-highway", "cdnet-traffic"):
        data = load_cdnet(name)
        if data is None:
            rows.append(f"| {name} | (not present) | | | | |")
            continue
        frames, truth, scored = data
        cv2.setRNGSeed(0)      # OpenCV's KNN draws from its global generator: as in a fresh process
        ref = cv2.createBackgroundSubtractorKNN()
        want = np.array([ref.apply(f) for f in frames])
        runs = {s: gmmfast.BackgroundSubtractorKNN(random_state=s).apply_many(frames) for s in range(5)}
        for label, masks in (("OpenCV KNN", want), ("gmmfast KNN (random_state=0)", runs[0])):
            p, r, f = prf(masks, truth, scored)
            rows.append(f"| {name} | {label} | {p:.3f} | {r:.3f} | {f:.3f} | {prf(median(masks), truth, scored)[2]:.3f} |")
        fs = [prf(m, truth, scored)[2] for m in runs.values()]
        fm = [prf(median(m), truth, scored)[2] for m in runs.values()]
        agree = [float(np.mean(m == want)) for m in runs.values()]
        rows.append(f"| {name} | gmmfast KNN, seeds 0-4 | | | {min(fs):.3f}-{max(fs):.3f} | "
                    f"{min(fm):.3f}-{max(fm):.3f} |")
        rows.append(f"| {name} | masks equal to OpenCV's, seeds 0-4 | | | "
                    f"{100 * min(agree):.3f}-{100 * max(agree):.3f} % | |")
        for method in ("knn", "adaptive"):      # the recommended pipeline: its own clean-up
            bs = gmmfast.BackgroundSubtractor(method=method, output="uint8", n_threads=1)
            p, r, f = prf(bs.apply_many(frames), truth, scored)
            rows.append(f"| {name} | gmmfast BackgroundSubtractor(method={method!r}) | {p:.3f} | {r:.3f} | "
                        f"{f:.3f} | |")
    return rows


if __name__ == "__main__":
    import argparse

    import cv2

    parser = argparse.ArgumentParser(description="gmmfast's KNN against OpenCV's: speed, then the CDnet table.")
    parser.add_argument("--data", type=Path, default=DATA, help=f"the shared data folder (default {DATA})")
    DATA = parser.parse_args().data

    print(f"OpenCV {cv2.__version__}, gmmfast {gmmfast.__version__} ({gmmfast._dispatch.VARIANT} kernels), "
          f"warm-up {WARMUP} frames")
    for size in SIZES:
        r = interleaved(size)
        (w_cv, c_cv), (w_k, c_k), (w_m, c_m) = r["cv2 KNN"], r["gmmfast KNN"], r["gmmfast MOG2"]
        w_p, c_p = r["gmmfast pipeline knn"]
        print(f"{size}: per frame, wall / CPU: cv2 KNN {w_cv:.2f} / {c_cv:.2f} ms, gmmfast KNN "
              f"{w_k:.2f} / {c_k:.2f} ms, gmmfast MOG2 {w_m:.2f} / {c_m:.2f} ms, "
              f"BackgroundSubtractor(method='knn') {w_p:.2f} / {c_p:.2f} ms; "
              f"KNN speed-up wall {w_cv / w_k:.2f}x, CPU {c_cv / c_k:.2f}x (pipeline CPU {c_cv / c_p:.2f}x)")
    for size in ("640x480", "1920x1080"):
        t_cv, t_k = batched(size)
        print(f"{size}: 20 frames per call, CPU per frame: cv2 KNN {t_cv:.2f} ms, gmmfast KNN apply_many "
              f"{t_k:.2f} ms ({t_cv / t_k:.2f}x)")
    print("\n".join(cdnet_table()))
    sys.exit(0)
