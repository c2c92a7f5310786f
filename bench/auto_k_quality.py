"""Quality of ``segment(image, 'auto')``: the K chosen against people's counts and known truths.

Prints, as Markdown tables:

- every BSDS image of ``../shared/data/bsds`` and seed photo of ``../shared/data/seed``: the annotators'
  region count (median over annotators of the regions covering >= 1 % of the image) or, for the seed
  photos, the count written down before any segmentation was run; the K of the previous rule (lowest
  BIC of 2..8) and of the current one; for BSDS the adjusted Rand index against the annotators (mean
  over annotators) of both, and of a fixed K at the annotators' count; the seconds of ``segment``;
- with ``--generated A B``: generated images with a known number of regions (seeds A..B-1): how often
  each rule finds it.

Which images tuned the thresholds and which only confirmed them is recorded in bench/RESULTS.md.

Run:  python bench/auto_k_quality.py [--generated 200 250]   (from outside the checkout's root, or with
      the installed package first on sys.path)
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

import gmmfast
import gmmfast._segmentation as seg_module
from gmmfast._mixture import GaussianMixture

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# written down from the photos before any segmentation was run: (count, acceptable range)
SEED_COUNTS = {"Tiger.jpg": (3, "2-4"), "cat.jpg": (3, "2-3"), "plant_cells.jpg": (2, "2-3"),
               "plant_cells_2.jpeg": (3, "2-3"), "rose.jpg": (2, "2-3")}
TUNE = {"108069", "3096", "43051", "Tiger", "plant_cells", "rose"}


def bic_rule(X_fit, k_lo, k_hi, auto, params):
    """The previous K search of ``segment``: fit every K in the range, keep the lowest BIC."""
    if not auto:
        return GaussianMixture(n_components=k_lo, **params).fit(X_fit), None
    scores, best = {}, None
    for k in range(k_lo, k_hi + 1):
        m = GaussianMixture(n_components=k, **params).fit(X_fit)
        scores[k] = float(m.bic(X_fit))
        if best is None or scores[k] < scores[best.n_components]:
            best = m
    return best, scores


def segment_with(rule, image, **kwargs):
    """``segment(image, 'auto')`` with ``rule`` as its K search (None: the current one), and its seconds."""
    current = seg_module._fit_mixture
    seg_module._fit_mixture = rule or current
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the BIC rule's large K may not converge
            t = time.perf_counter()
            seg = gmmfast.segment(image, "auto", **kwargs)
            return seg, time.perf_counter() - t
    finally:
        seg_module._fit_mixture = current


def annotators_count(gt: np.ndarray) -> int:
    counts = np.bincount(gt.ravel())
    return int(np.sum(counts[counts > 0] >= 0.01 * gt.size))


def photo_table() -> None:
    from gmmfast.io import read_image

    ari = seg_module.adjusted_rand_index
    print("| image | half | people's K | BIC rule K | new K | ARI BIC rule | ARI new | ARI at people's K "
          "| s BIC rule | s new |\n|---|---|---|---|---|---|---|---|---|---|")
    cases = [(p, sorted((DATA / "bsds" / "gt_png").glob(f"{p.stem}_annot*.png")))
             for p in sorted((DATA / "bsds" / "images").glob("*.jpg"))]
    cases += [(DATA / "seed" / name, None) for name in sorted(SEED_COUNTS)]
    for path, gt_paths in cases:
        if not path.is_file():
            continue
        img = read_image(path)
        old, t_old = segment_with(bic_rule, img)
        new, t_new = segment_with(None, img)
        name = path.stem
        if gt_paths:
            gts = [read_image(p) for p in gt_paths]
            people = int(np.median([annotators_count(g) for g in gts]))
            fixed = gmmfast.segment(img, people)
            scores = [np.mean([ari(g, s.labels) for g in gts]) for s in (old, new, fixed)]
            people_text = str(people)
        else:
            scores, people_text = [np.nan] * 3, "{} ({})".format(*SEED_COUNTS[path.name])
        cells = " | ".join("–" if np.isnan(v) else f"{v:.3f}" for v in scores)
        print(f"| {name} | {'tune' if name in TUNE else 'confirm'} | {people_text} | {old.n_components} | "
              f"{new.n_components} | {cells} | {t_old:.2f} | {t_new:.2f} |")


def generated_image(seed: int, h: int = 240, w: int = 320):
    """K = 2..6 well-separated colours on Voronoi cells (each >= 3 % of the image), box blur of radius
    0-2, a smooth illumination of amplitude 0-0.2 and Gaussian noise of 3-10 levels (drawn from the seed)."""
    rng = np.random.default_rng(10_000 + seed)
    K = int(rng.integers(2, 7))
    noise, blur, shading = float(rng.choice([3.0, 6.0, 10.0])), int(rng.choice([0, 1, 2])), float(
        rng.choice([0.0, 0.1, 0.2]))
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    while True:
        colours: list[np.ndarray] = []
        while len(colours) < K:
            c = rng.uniform(20, 235, 3)
            if all(np.linalg.norm(c - o) >= 70 for o in colours):
                colours.append(c)
        m = int(rng.integers(K, 2 * K + 1))
        centres = rng.uniform(0, 1, (m, 2)) * [h, w]
        owner = np.concatenate([np.arange(K), rng.integers(0, K, m - K)])
        truth = owner[((yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2).argmin(-1)]
        if np.bincount(truth.ravel(), minlength=K).min() >= 0.03 * h * w:
            break
    img = np.array(colours)[truth]
    if shading:
        light = 1 + shading * (np.sin(2 * np.pi * (xx / w * rng.uniform(0.3, 1) + rng.uniform()))
                               * np.cos(2 * np.pi * (yy / h * rng.uniform(0.3, 1) + rng.uniform())))
        img = img * light[..., None]
    for axis in (0, 1):  # box blur, edges repeated
        pad = [(blur, blur) if a == axis else (0, 0) for a in range(3)]
        padded = np.pad(img, pad, mode="edge")
        img = sum(np.take(padded, np.arange(i, i + img.shape[axis]), axis=axis) for i in range(2 * blur + 1))
        img = img / (2 * blur + 1)
    img = img + rng.normal(0, noise, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), K


def generated_table(first: int, last: int) -> None:
    found = {"BIC rule": [], "new": []}
    for seed in range(first, last):
        img, K = generated_image(seed)
        for name, rule in (("BIC rule", bic_rule), ("new", None)):
            found[name].append(segment_with(rule, img)[0].n_components - K)
    print(f"\n| generated images, seeds {first}-{last - 1} | right K | mean abs(K error) |\n|---|---|---|")
    for name, err in found.items():
        err = np.array(err)
        print(f"| {name} | {np.mean(err == 0):.0%} | {np.mean(np.abs(err)):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generated", nargs=2, type=int, metavar=("FIRST", "END"),
                        help="also score generated images of these seeds (END excluded)")
    args = parser.parse_args()
    if (DATA / "bsds").is_dir() or (DATA / "seed").is_dir():
        photo_table()
    else:
        print(f"{DATA} is not present: no photo table")
    if args.generated:
        generated_table(*args.generated)


if __name__ == "__main__":
    main()
