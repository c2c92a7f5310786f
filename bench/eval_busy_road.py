"""Long runs on generated busy roads: how the background pipelines hold up when car colours recur.

Issue 16 holds out a long highway run, and the shared CDnet clips are 300 and 101 frames.  This
script makes the kind of scene where a per-pixel mixture forgets moving objects over a long run
and scores every pipeline of ``eval_background.py`` on it:

- a static textured scene (smooth colour noise) with four horizontal lanes of grey asphalt;
- cars: rectangles 11 pixels tall and 14-29 long in a palette of six car colours (white, black,
  grey, red, blue, cream, each jittered by a few levels per car), with a dark window, spawned at
  random (6 % a frame per lane, never overlapping), each lane at its own speed of 1.5-4 pixels a
  frame in either direction, so a lane's pixels see the same few colours again and again;
- sensor noise of 3 levels; 1,200 frames of 160x120;
- ground truth 255 on the cars, 0 elsewhere, 170 (not scored) on a one-pixel band around them;
  frames from 100 on are scored (precision, recall and F over all of them, as for CDnet).

The clips were written (seeds 0, 1 and 2) before any pipeline variant was run on them; they
served as the confirm set of the pipeline's hold (bench/RESULTS.md, "Long runs").

Run:  python bench/eval_busy_road.py [--seeds 0,1,2] [--frames 1200] [--only PREFIX,...]
      (OpenCV's pipelines need cv2, GSOC cv2.bgsegm, SuBSENSE pybgs: run it in each environment
      as eval_background.py, e.g. ``--only GSOC`` in opencv-contrib's)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_background as eb  # noqa: E402

PALETTE = np.array([[200, 200, 205], [30, 30, 35], [120, 120, 125], [160, 30, 30], [40, 60, 140],
                    [215, 215, 200]], np.float32)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, scale: int) -> np.ndarray:
    """Colour noise varying over about ``scale`` pixels (bicubic upsampling of a coarse grid)."""
    import cv2
    coarse = rng.random((max(2, h // scale), max(2, w // scale), 3)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def busy_road(seed: int, n: int = 1200, h: int = 120, w: int = 160, lanes: int = 4,
              spawn: float = 0.06) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames (n, h, w, 3) uint8 RGB, ground truth (n, h, w) uint8, scored (n,) bool)."""
    import cv2
    rng = np.random.default_rng(seed)
    base = 50 + 150 * _smooth_noise(rng, h, w, 10)
    lane_y = np.linspace(20, h - 30, lanes).astype(int)
    for y in lane_y:
        base[y - 2:y + 14] = 95 + 12 * _smooth_noise(rng, 16, w, 4) - 6
    speed = rng.uniform(1.5, 4.0, lanes) * rng.choice([-1, 1], lanes)
    cars: list[list] = []          # [lane, x, length, colour]
    frames = np.empty((n, h, w, 3), np.uint8)
    gt = np.zeros((n, h, w), np.uint8)
    for t in range(n):
        for lane in range(lanes):
            if rng.random() < spawn:
                length = int(rng.integers(14, 30))
                x = -length if speed[lane] > 0 else w
                if all(c[0] != lane or abs(c[1] - x) > length + 6 for c in cars):
                    cars.append([lane, float(x), length, PALETTE[rng.integers(len(PALETTE))] + rng.normal(0, 6, 3)])
        img = base.copy()
        truth = np.zeros((h, w), bool)
        for car in cars:
            car[1] += speed[car[0]]
            x0 = int(round(car[1]))
            x1 = x0 + car[2]
            y0 = lane_y[car[0]]
            xa, xb = max(x0, 0), min(x1, w)
            if xb > xa:
                img[y0:y0 + 11, xa:xb] = car[3]
                img[y0 + 3:y0 + 6, max(x0 + 4, 0):max(min(x0 + 9, w), 0)] = car[3] * 0.5
                truth[y0:y0 + 11, xa:xb] = True
        cars = [c for c in cars if -40 < c[1] < w + 40]
        frames[t] = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
        ring = np.ones((3, 3), np.uint8)
        grown = cv2.dilate(truth.astype(np.uint8), ring).astype(bool)
        shrunk = cv2.erode(truth.astype(np.uint8), ring).astype(bool)
        gt[t][truth] = 255
        gt[t][grown & ~shrunk] = 170
    return frames, gt, np.arange(n) >= 100


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated clip seeds (default 0,1,2)")
    ap.add_argument("--frames", type=int, default=1200)
    ap.add_argument("--only", help="comma-separated pipeline name prefixes")
    args = ap.parse_args(argv)
    if args.frames <= 100:
        ap.error("--frames must be above 100 (frames from 100 on are scored)")
    only = args.only.split(",") if args.only else None
    data = {f"seed {seed}": busy_road(seed, args.frames) for seed in map(int, args.seeds.split(","))}
    rows = {pname: {clip: r["F"] for clip, r in res.items()}
            for pname, res in eb.evaluate(only, data=data).items()}
    print("| pipeline | " + " | ".join(data) + " |")
    print("|---|" + "---:|" * len(data))
    for pname, r in rows.items():
        print(f"| {pname} | " + " | ".join(f"{r[clip]:.3f}" for clip in data) + " |")


if __name__ == "__main__":
    main()
