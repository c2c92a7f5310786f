"""``gmmfast segment``: segment images by a Gaussian mixture of their pixels."""

from __future__ import annotations

import argparse
import re
import sys
import time
import warnings
from pathlib import Path

from ._common import error, progress

HELP = "segment images into the components of a Gaussian mixture of their pixels"

DESCRIPTION = """\
Fit a Gaussian mixture to the pixels of each IMAGE, label every pixel with its
most probable component, and write into the output folder, per image:
  STEM_segmented.png   the image painted with each component's mean colour
  STEM_mask0.png ...   one black/white mask per component
  STEM_binary.png      the labels as grey levels
  STEM_plot.png        with --plot: a figure of the fit (needs matplotlib)
Components are numbered by increasing mean luminance.  A one-line summary is
printed per image; an image that cannot be read is reported and skipped, and
the exit status is then 1.
"""

EPILOG = """\
examples:
  gmmfast segment photo.jpg                       3 components, RGB, into Result/
  gmmfast segment *.png -k auto -o out/           K chosen for every image (distinct colours)
  gmmfast segment scan.tif --features lab --smoothing 1.0 --plot
"""


def _k_value(text: str):
    if text.lower() == "auto":
        return "auto"
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got {text!r}") from None
    if k < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got {text!r}")
    return k


def _k_range(text: str):
    m = re.fullmatch(r"\s*(\d+)\s*[-:,]\s*(\d+)\s*", text)
    if not m or int(m.group(1)) < 1 or int(m.group(1)) > int(m.group(2)):
        raise argparse.ArgumentTypeError(f"must look like 2-8 (smallest-largest K), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _non_negative(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}") from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return v


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``gmmfast segment``."""
    from .._segmentation import FEATURES

    p = subparsers.add_parser("segment", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, TIFF, ...)")
    p.add_argument("-k", "--k", dest="k", type=_k_value, default=3, metavar="K",
                   help="number of components, or 'auto': the largest K whose components are distinct "
                        "colours (default: 3)")
    p.add_argument("--k-range", type=_k_range, default=(2, 8), metavar="MIN-MAX",
                   help="range of K considered by -k auto; the smallest when none is distinct (default: 2-8)")
    p.add_argument("-o", "--output", default="Result", metavar="FOLDER",
                   help="folder for the results, created if needed (default: Result)")
    p.add_argument("--features", choices=FEATURES, default="rgb",
                   help="pixel features: colour space, optionally with x,y position (default: rgb)")
    p.add_argument("--covariance-type", choices=("full", "tied", "diag", "spherical"), default="full",
                   help="shape of the components' covariances (default: full)")
    p.add_argument("--smoothing", type=_non_negative, default=0.0, metavar="W",
                   help="Potts weight between neighbouring pixels; about 1 removes speckle (default: 0)")
    p.add_argument("--smoothing-method", choices=("icm", "expansion"), default="icm",
                   help="how the smoothing is solved: fast ICM, or alpha-expansion by min cut "
                        "(stronger, slower; default: icm)")
    p.add_argument("--max-fit-pixels", type=_positive_int, default=None, metavar="N",
                   help="fit on a random subsample of N pixels (default: 200000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0, as the library and web app)")
    p.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help="threads to use (default: all cores)")
    p.add_argument("--plot", action="store_true",
                   help="also save STEM_plot.png: histogram with the fitted Gaussians (grey images), "
                        "component colours and weights, the overlap per K with -k auto")
    p.set_defaults(func=run)
    return p


def _stems(paths: list[str]) -> list[str]:
    """Output stems: file names without extension, made unique."""
    seen: dict[str, int] = {}
    out = []
    for p in paths:
        stem = Path(p).stem or "image"
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        out.append(stem if n == 0 else f"{stem}_{n}")
    return out


def run(args) -> int:
    """Segment every image given; returns 0 if all succeeded, 1 otherwise."""
    from .._segmentation import segment

    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            error("--plot needs matplotlib: pip install 'gmmfast[plot]'")
            return 2
        from ..plotting import plot_segmentation
    out_dir = Path(args.output)
    failures = 0
    items = list(zip(args.images, _stems(args.images)))
    for path, stem in progress(items, desc="segment"):
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                seg = segment(path, args.k, features=args.features, covariance_type=args.covariance_type,
                              smoothing=args.smoothing, max_fit_pixels=args.max_fit_pixels,
                              random_state=args.seed, n_threads=args.threads, k_range=args.k_range,
                              smoothing_method=args.smoothing_method)
            written = seg.save(out_dir, stem)
            if args.plot:
                plot_segmentation(seg, out_dir / f"{stem}_plot.png", title=Path(path).name)
                written.append(out_dir / f"{stem}_plot.png")
        except (OSError, ValueError, TypeError) as exc:
            failures += 1
            error(f"{path}: {exc}")
            continue
        for w in caught:
            print(f"gmmfast: warning: {path}: {w.message}", file=sys.stderr)
        elapsed = time.perf_counter() - t0
        print(f"{path}: {seg.summary().rsplit(',', 1)[0]}, {elapsed:.2f} s -> {out_dir / stem}_*.png "
              f"({len(written)} files)")
    if failures:
        error(f"{failures} of {len(items)} image(s) could not be segmented")
        return 1
    return 0


def demo_step(out_dir: Path, report) -> None:
    """``gmmfast demo``: segment the built-in sample image and score it against its true regions."""
    import numpy as np

    from ..data import sample_image
    from .._segmentation import adjusted_rand_index, segment

    sample = sample_image()
    out = Path(out_dir) / "segment"
    t0 = time.perf_counter()
    seg = segment(sample.image, len(sample.names), features="lab", smoothing=1.0)
    elapsed = time.perf_counter() - t0
    files = seg.save(out, "sample")
    from ..io import write_image

    files.insert(0, write_image(out / "sample_input.png", sample.image))
    files.append(write_image(out / "sample_overlay.png", seg.overlay(0.5)))
    try:
        from ..plotting import plot_segmentation

        plot_segmentation(seg, out / "sample_plot.png", title="gmmfast.data.sample_image()")
        files.append(out / "sample_plot.png")
    except ImportError:
        pass
    ari = adjusted_rand_index(sample.labels, seg.labels)
    H, W = seg.shape
    report.add(
        "segment: built-in sample image, K=5, Lab features, smoothing 1.0",
        elapsed,
        files,
        f"{W}x{H} pixels; adjusted Rand index against the true regions: {ari:.3f}; "
        f"component shares {'/'.join(f'{100 * s:.0f}%' for s in seg.counts() / float(np.prod(seg.shape)))}",
    )
