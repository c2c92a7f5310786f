"""Per-frame speed of the recommended background pipeline against its anchors.

Times, interleaved frame by frame in one process and one thread each, on the shared
CDnet traffic clip (320x240, a shaking camera: the suppression has work to do) or, when
the data is absent, on generated 320x240 frames: gmmfast's ``BackgroundSubtractor()``
(adaptive, the default) and ``method='mog2'``, gmmfast's MOG2 class, OpenCV's MOG2 and
KNN, and BGSLibrary's SuBSENSE when ``pybgs`` is importable.  ``pybgs`` lives in its own
environment (it builds against the system OpenCV).  Time SuBSENSE and gmmfast in one
process, with gmmfast's build importable from that environment (same Python and NumPy),
and read the ``SuBSENSE /`` column::

    python bench/bench_background.py                  # gmmfast + OpenCV
    PYTHONPATH=/path/to/gmmfast-build /path/to/pybgs-env/bin/python bench/bench_background.py
    python bench/bench_background.py --mature         # a model that has learnt 160+ frames

(The two environments' OpenCV MOG2 are different builds, the pip wheel and Debian's, so
ratios chained through OpenCV MOG2 across the two runs are off by their difference, about
10 %.)

Times are CPU seconds of the calling thread (``time.thread_time``), which other jobs on
the machine inflate less than wall time; every pipeline here runs in that thread.

``pytest bench/bench_background.py --benchmark-only`` times the default pipeline and
OpenCV MOG2 on the same frames with pytest-benchmark.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cdnet-traffic" / "input"


def frames(n: int = 101) -> np.ndarray:
    """The traffic clip (RGB), or generated frames of the same size when it is absent."""
    files = sorted(DATA.glob("in*.jpg"))[:n]
    if files:
        from PIL import Image
        return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    rng = np.random.default_rng(0)
    bg = rng.integers(40, 200, (240 + 8, 320 + 8, 3)).astype(np.float32)
    out = []
    for t in range(n):
        dy, dx = rng.integers(0, 5, 2)
        f = bg[dy:dy + 240, dx:dx + 320] + rng.normal(0, 3, (240, 320, 3))
        f[100:140, (4 * t) % 280:(4 * t) % 280 + 40] = 230
        out.append(np.clip(f, 0, 255).astype(np.uint8))
    return np.stack(out)


def pipelines() -> dict:
    """name -> per-frame callable, for what this environment can import."""
    out = {}
    import cv2
    cv2.setNumThreads(1)
    mog2 = cv2.createBackgroundSubtractorMOG2()
    knn = cv2.createBackgroundSubtractorKNN()
    out["OpenCV MOG2 (anchor)"] = lambda f: mog2.apply(f[..., ::-1].copy())
    out["OpenCV KNN"] = lambda f: knn.apply(f[..., ::-1].copy())
    try:
        import gmmfast
    except ImportError:
        pass
    else:
        a = gmmfast.BackgroundSubtractor(n_threads=1)
        a0 = gmmfast.BackgroundSubtractor(hold_frames=0, n_threads=1)
        a1 = gmmfast.BackgroundSubtractor(max_shift=0, n_threads=1)
        b = gmmfast.BackgroundSubtractor(method="mog2", n_threads=1)
        c = gmmfast.BackgroundSubtractorMOG2(n_threads=1)
        out["gmmfast BackgroundSubtractor() (adaptive)"] = a.apply
        out["gmmfast BackgroundSubtractor(hold_frames=0)"] = a0.apply
        out["gmmfast BackgroundSubtractor(max_shift=0)"] = a1.apply
        out["gmmfast BackgroundSubtractor(method='mog2')"] = b.apply
        out["gmmfast BackgroundSubtractorMOG2 (kernel only)"] = c.apply
    try:
        import pybgs
    except ImportError:
        pass
    else:
        sub = pybgs.SuBSENSE()
        out["SuBSENSE (BGSLibrary)"] = lambda f: sub.apply(f[..., ::-1].copy())
    return out


def back_and_forth(clip: np.ndarray, passes: int = 3) -> np.ndarray:
    """The clip played forwards, backwards, forwards ... (no cut at the turns)."""
    order = list(range(len(clip)))
    for k in range(1, passes):
        order += (order[len(clip) - 2::-1] if k % 2 else list(range(1, len(clip))))
    return clip[order]


def run(n_rounds: int = 2, warm: int = 20, clip: np.ndarray | None = None) -> dict[str, float]:
    """Median CPU ms per frame of each pipeline after ``warm`` frames, over the clip
    ``n_rounds`` times (each pipeline keeps learning; frames alternate between pipelines)."""
    clip = frames() if clip is None else clip
    pipes = pipelines()
    for f in clip[:warm]:
        for fn in pipes.values():
            fn(f)
    times: dict[str, list[float]] = {k: [] for k in pipes}
    for _ in range(n_rounds):
        for f in clip[warm:]:
            for name, fn in pipes.items():
                t0 = time.thread_time()
                fn(f)
                times[name].append(time.thread_time() - t0)
    return {k: 1000.0 * float(np.median(v)) for k, v in times.items()}


def main(argv: list[str] | None = None) -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mature", action="store_true",
                    help="time a mature model: the clip played back and forth three times, "
                         "frames 160 on (the default pipeline's background-ratio switch and hold act)")
    args = ap.parse_args(argv)
    res = run(1, 160, back_and_forth(frames())) if args.mature else run()
    anchor = res["OpenCV MOG2 (anchor)"]
    subsense = res.get("SuBSENSE (BGSLibrary)")
    print(f"{'pipeline':48s} {'ms/frame':>9s} {'ratio to OpenCV MOG2':>21s}"
          + (f" {'SuBSENSE / pipeline':>20s}" if subsense else ""))
    for name, ms in res.items():
        print(f"{name:48s} {ms:9.3f} {ms / anchor:21.2f}" + (f" {subsense / ms:20.1f}" if subsense else ""))
    sys.stdout.flush()


# ----------------------------------------------------------------------------- pytest-benchmark
def _bench(benchmark, fn, clip):
    state = {"i": 0}

    def one():
        fn(clip[state["i"] % len(clip)])
        state["i"] += 1
    for f in clip[:20]:
        fn(f)
    benchmark.pedantic(one, rounds=60, iterations=1)


def test_default_pipeline(benchmark):
    import gmmfast
    benchmark.group = "background 320x240"
    _bench(benchmark, gmmfast.BackgroundSubtractor(n_threads=1).apply, frames())


def test_opencv_mog2(benchmark):
    import pytest
    cv2 = pytest.importorskip("cv2")
    cv2.setNumThreads(1)
    sub = cv2.createBackgroundSubtractorMOG2()
    benchmark.group = "background 320x240"
    _bench(benchmark, lambda f: sub.apply(f[..., ::-1].copy()), frames())


if __name__ == "__main__":
    main()
