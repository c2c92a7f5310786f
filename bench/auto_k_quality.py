"""Quality of ``segment(image, 'auto')``: the K chosen against people's counts and known truths.

Prints, as Markdown tables:

- every BSDS image of ``../shared/data/bsds`` and seed photo of ``../shared/data/seed``: the annotators'
  region count (median over annotators of the regions covering >= 1 % of the image) or, for the seed
  photos, the count written down before any segmentation was run; the K of the previous rule (lowest
  BIC of 2..8) and of the current one; for BSDS the adjusted Rand index against the annotators (mean
  over annotators) of both, and of a fixed K at the annotators' count; the seconds of ``segment``;
- with ``--generated A B``: generated images with a known number of regions (seeds A..B-1): how often
  each rule finds it;
- with ``--more``: 40 more photos (the 30 GrabCut images and two CDnet frames of ../shared/data, and the
  eight colour photos bundled in scikit-image's wheel when scikit-image is installed) against counts one
  of us wrote down from the photos before any segmentation was run (``MORE_COUNTS``): the current rule,
  the BIC rule and the constants 2 and 3.

Which images tuned the thresholds and which only confirmed them is recorded in bench/RESULTS.md.

Run:  python bench/auto_k_quality.py [--generated 200 250] [--more]   (from outside the checkout's root, or with
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

# The --more photos: (count, lowest and highest acceptable count), written down from the photos on
# 2026-12-08 before any segmentation was run.  A region is what a person asked to split the picture into
# its main parts would draw, covering at least ~1 % of it.  The regions counted are in RESULTS.md.
MORE_COUNTS = {
    "106024": (3, 2, 4), "153077": (3, 2, 5), "153093": (4, 3, 5), "24077": (4, 3, 6), "271008": (4, 3, 6),
    "326038": (2, 2, 3), "37073": (3, 2, 4), "376043": (3, 3, 4), "388016": (3, 2, 5), "65019": (2, 2, 4),
    "86016": (2, 2, 3), "banana1": (2, 2, 3), "book": (2, 2, 3), "bool": (4, 3, 6), "cross": (5, 4, 6),
    "doll": (3, 2, 4), "elefant": (2, 2, 3), "flower": (3, 2, 4), "fullmoon": (2, 2, 2), "llama": (3, 3, 5),
    "person1": (3, 2, 4), "person2": (3, 2, 4), "person4": (5, 4, 6), "person5": (4, 3, 5),
    "person6": (6, 5, 8), "person8": (4, 3, 6), "scissors": (2, 2, 3), "sheep": (3, 2, 3), "stone1": (2, 2, 2),
    "teddy": (2, 2, 3), "astronaut": (6, 4, 8), "chelsea": (2, 2, 3), "coffee": (5, 4, 6), "rocket": (4, 2, 5),
    "motorcycle_left": (4, 3, 6), "retina": (3, 2, 3), "ihc": (3, 2, 3), "hubble_deep_field": (1, 1, 2),
    "cdnet-highway_in000500": (4, 3, 5), "cdnet-traffic_in001000": (4, 3, 5)}
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "retina.jpg",
                  "ihc.png", "hubble_deep_field.jpg")


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
    constant_ari: dict[int, list[float]] = {2: [], 3: []}
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
            for k, found in constant_ari.items():
                found.append(np.mean([ari(g, gmmfast.segment(img, k).labels) for g in gts]))
            people_text = str(people)
        else:
            scores, people_text = [np.nan] * 3, "{} ({})".format(*SEED_COUNTS[path.name])
        cells = " | ".join("–" if np.isnan(v) else f"{v:.3f}" for v in scores)
        print(f"| {name} | {'tune' if name in TUNE else 'confirm'} | {people_text} | {old.n_components} | "
              f"{new.n_components} | {cells} | {t_old:.2f} | {t_new:.2f} |")
    if constant_ari[2]:
        print("\nBSDS mean ARI of a constant K: " + ", ".join(f"K = {k} {np.mean(v):.3f}" for k, v in constant_ari.items()))


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


def more_photo_paths() -> dict:
    """The --more photos present here, by name."""
    paths = {p.stem: p for p in sorted((DATA / "grabcut" / "imgs").glob("*")) if p.stem in MORE_COUNTS}
    for clip, frame in (("cdnet-highway", "in000500"), ("cdnet-traffic", "in001000")):
        path = DATA / clip / "input" / f"{frame}.jpg"
        if path.is_file():
            paths[f"{clip}_{frame}"] = path
    try:
        import skimage.data
    except ImportError:
        print("scikit-image is not installed: its eight photos are left out")
    else:
        folder = Path(skimage.data.__file__).parent
        paths.update({Path(n).stem: folder / n for n in SKIMAGE_PHOTOS if (folder / n).is_file()})
    return paths


def more_table() -> None:
    """The rule, the BIC rule and the constants 2 and 3 against MORE_COUNTS, per photo and per half
    (names sorted as strings, alternating: even positions tune, odd confirm)."""
    from gmmfast.io import read_image

    paths = more_photo_paths()
    half = {n: ("tune", "confirm")[i % 2] for i, n in enumerate(sorted(MORE_COUNTS))}
    print("| photo | half | count (range) | rule K | BIC rule K |\n|---|---|---|---|---|")
    found = {}
    for name in sorted(paths):
        img = read_image(paths[name])
        img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
        count, lo, hi = MORE_COUNTS[name]
        found[name] = {"rule": segment_with(None, img)[0].n_components,
                       "BIC rule": segment_with(bic_rule, img)[0].n_components, "always 2": 2, "always 3": 3}
        print(f"| {name} | {half[name]} | {count} ({lo}-{hi}) | {found[name]['rule']} | {found[name]['BIC rule']} |")
    print("\n| answer | mean abs(K - count): tune / confirm / all | within the range (all) |\n|---|---|---|")
    for rule in ("rule", "always 2", "always 3", "BIC rule"):
        err = {h: [abs(k[rule] - MORE_COUNTS[n][0]) for n, k in found.items() if h in (half[n], "all")]
               for h in ("tune", "confirm", "all")}
        inside = sum(MORE_COUNTS[n][1] <= k[rule] <= MORE_COUNTS[n][2] for n, k in found.items())
        print(f"| {rule} | {' / '.join(f'{np.mean(e):.2f}' for e in err.values())} | {inside} of {len(found)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generated", nargs=2, type=int, metavar=("FIRST", "END"),
                        help="also score generated images of these seeds (END excluded)")
    parser.add_argument("--more", action="store_true", help="also the 40 photos of MORE_COUNTS")
    args = parser.parse_args()
    if (DATA / "bsds").is_dir() or (DATA / "seed").is_dir():
        photo_table()
    else:
        print(f"{DATA} is not present: no photo table")
    if args.generated:
        generated_table(*args.generated)
    if args.more:
        more_table()


if __name__ == "__main__":
    main()
