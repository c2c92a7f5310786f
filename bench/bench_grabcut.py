"""GrabCut: gmmfast.grabcut against cv2.grabCut, one thread, box, 5 iterations.

pytest-benchmark cases (``pytest bench/bench_grabcut.py``):
  * a 512x512 and a 1024x1024 photo (the shared ``llama`` image resized, its
    box scaled),
  * all 8 shared GrabCut images in one round.

``python bench/bench_grabcut.py`` prints the table of bench/RESULTS.md: times
and ratios from the same run, and IoU / error per image for both libraries.
Needs ../shared/data/grabcut (skips without it); OpenCV is skipped when it is
not installed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gmmfast import grabcut

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "grabcut"
NAMES = ("banana1", "book", "cross", "flower", "fullmoon", "llama", "sheep", "teddy")
ITERATIONS = 5

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="shared GrabCut data not present")


def _load(name):
    from PIL import Image
    img = np.asarray(Image.open(DATA / "imgs" / f"{name}.jpg").convert("RGB"))
    gt = np.asarray(Image.open(DATA / "seg_GT" / f"{name}.bmp").convert("L")) > 127
    x1, y1, x2, y2 = map(int, (DATA / "bboxes" / f"{name}.txt").read_text().split())
    return img, gt, (x1, y1, x2 - x1, y2 - y1)


def _resized(size, name="llama"):
    from PIL import Image
    img, gt, (x, y, w, h) = _load(name)
    H, W = img.shape[:2]
    big = np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR))
    sx, sy = size / W, size / H
    return big, (int(x * sx), int(y * sy), int(w * sx), int(h * sy))


def run_gmmfast(img, rect):
    return grabcut(img, rect=rect, iterations=ITERATIONS, n_threads=1).foreground


def run_opencv(img, rect):
    import cv2
    cv2.setNumThreads(1)
    bgr = np.ascontiguousarray(img[:, :, ::-1])
    mask = np.zeros(img.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(bgr, mask, rect, bgd, fgd, ITERATIONS, cv2.GC_INIT_WITH_RECT)
    return (mask & 1).astype(bool)


RUNNERS = {"gmmfast": run_gmmfast, "opencv": run_opencv}


def _runner(lib):
    if lib == "opencv":
        pytest.importorskip("cv2")
    return RUNNERS[lib]


@pytest.mark.parametrize("lib", ["gmmfast", "opencv"])
@pytest.mark.parametrize("size", [512, 1024])
def test_photo(benchmark, lib, size):
    fn = _runner(lib)
    img, rect = _resized(size)
    benchmark.group = f"grabcut {size}x{size}"
    benchmark.pedantic(fn, args=(img, rect), rounds=3, iterations=1, warmup_rounds=0)


@pytest.mark.parametrize("lib", ["gmmfast", "opencv"])
def test_eight_images(benchmark, lib):
    fn = _runner(lib)
    cases = [_load(n) for n in NAMES]
    benchmark.group = "grabcut 8 shared images"

    def all_images():
        return [fn(img, rect) for img, _, rect in cases]

    benchmark.pedantic(all_images, rounds=2, iterations=1, warmup_rounds=0)


def _best(fn, *args, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def report(repeat: int = 3) -> None:
    """Print the RESULTS.md table (times: best of ``repeat``)."""
    libs = ["gmmfast"]
    try:
        import cv2  # noqa: F401
        libs.append("opencv")
    except ImportError:
        pass
    print(f"| case | {' | '.join(libs)} | ratio |")
    print("|---|" + "---|" * (len(libs) + 1))
    for size in (512, 1024):
        img, rect = _resized(size)
        t = [_best(RUNNERS[lib], img, rect, repeat=repeat) for lib in libs]
        ratio = f"{t[1] / t[0]:.1f}x" if len(t) > 1 else "-"
        print(f"| {size}x{size} photo | " + " | ".join(f"{v:.3f} s" for v in t) + f" | {ratio} |")
    cases = [(n,) + _load(n) for n in NAMES]
    scores = {lib: {} for lib in libs}
    totals = {}
    for lib in libs:
        best = np.inf
        for _ in range(repeat):
            t0 = time.perf_counter()
            outs = [RUNNERS[lib](img, rect) for _, img, _, rect in cases]
            best = min(best, time.perf_counter() - t0)
        totals[lib] = best
        for (name, _, gt, _), fg in zip(cases, outs):
            scores[lib][name] = (np.count_nonzero(fg & gt) / np.count_nonzero(fg | gt), np.mean(fg != gt))
    t = [totals[lib] for lib in libs]
    ratio = f"{t[1] / t[0]:.1f}x" if len(t) > 1 else "-"
    print("| 8 shared images | " + " | ".join(f"{v:.3f} s" for v in t) + f" | {ratio} |")
    print()
    print("| image | " + " | ".join(f"{lib} IoU | {lib} error" for lib in libs) + " |")
    print("|---|" + "---|---|" * len(libs))
    for name in NAMES:
        cells = " | ".join(f"{scores[lib][name][0]:.3f} | {100 * scores[lib][name][1]:.2f}%" for lib in libs)
        print(f"| {name} | {cells} |")
    cells = " | ".join(
        f"**{np.mean([v[0] for v in scores[lib].values()]):.3f}** | "
        f"**{100 * np.mean([v[1] for v in scores[lib].values()]):.2f}%**" for lib in libs)
    print(f"| mean | {cells} |")


if __name__ == "__main__":
    if not DATA.is_dir():
        sys.exit("shared GrabCut data not present")
    report(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
