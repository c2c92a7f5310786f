"""``gmmfast segment``: segment images by a Gaussian mixture of their pixels."""

from __future__ import annotations

import argparse
import importlib.util
import re
import time
from pathlib import Path

import numpy as np

from .._files import refuse_folder_as_output
from ._common import (CLIError, Warnings, add_output_options, add_threads_option,
                      error, int_range, real_range)
from ._outputs import Outputs, family
from ._parallel import add_parallel_options, parallel, run_many
from ._progress import Progress

HELP = "segment images into the components of a Gaussian mixture of their pixels"

DESCRIPTION = """\
Fit a Gaussian mixture to the pixels of each image, label every pixel with its
most probable component, and write into the output folder, per image STEM
(the file name without its extension; with the extension too, photo_jpg,
when another input has the same name):
  STEM_segmented.png   the image painted with each component's mean colour
  STEM_mask0.png ...   one black/white mask per component
  STEM_binary.png      white where the pixel is not in the background
                       component (the one holding most of the image border,
                       or the one --background names)
  STEM_plot.png        with --plot: a figure of the fit (needs matplotlib)
Components are numbered by increasing mean luminance.  A folder given as
IMAGE stands for the images in it.  A one-line summary is printed per image;
an image that cannot be read or segmented is reported and skipped, and the
exit status is then 1.  The files of an earlier run for the same image are
not replaced unless --overwrite is given; with it, the folder afterwards
holds exactly this run's files for that image.  --workers N segments N
images at a time in local processes, --scheduler ADDRESS on a Dask cluster
(whose workers must see the images and the output folder at the same
paths); the files are those a run one image after the other writes.
"""

EPILOG = """\
examples:
  gmmfast segment photo.jpg                       3 components, RGB, into out/
  gmmfast segment photos/ -k auto -o seg/         K chosen for every image of the folder (distinct colours)
  gmmfast segment scan.tif --features lab --smoothing 1.0 --plot
  gmmfast segment photos/ -o Result/ --workers 4  four images at a time
  gmmfast segment photos/ --scheduler tcp://host:8786   on a Dask cluster
"""

#: Most components the command line segments into (the Python API has no such limit):
#: each component is a mask file, and EM's time grows with K.
MAX_COMPONENTS = 64

#: library parameter -> option, for messages (see _common.user_message)
OPTIONS = {"n_components": "-k", "k_range": "--k-range", "max_fit_pixels": "--max-fit-pixels",
           "smoothing_method": "--smoothing-method", "smoothing": "--smoothing", "features": "--features",
           "covariance_type": "--covariance-type", "random_state": "--seed", "n_threads": "--threads",
           "max_iter": "--max-iter"}


def _k_value(text: str):
    if text.lower() == "auto":
        return "auto"
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got {text!r}") from None
    if k < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got {text!r}")
    if k > MAX_COMPONENTS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_COMPONENTS} on the command line, got {k}")
    return k


def _k_range(text: str):
    m = re.fullmatch(r"\s*(\d+)\s*[-:,]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"must look like 2-8 (smallest-largest K), got {text!r}")
    if int(m.group(1)) < 1 or int(m.group(1)) > int(m.group(2)):
        raise argparse.ArgumentTypeError(f"needs a smallest K of 1 or more and not above the largest, got {text!r}")
    if int(m.group(2)) > MAX_COMPONENTS:
        raise argparse.ArgumentTypeError(f"largest K must be at most {MAX_COMPONENTS}, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``gmmfast segment``."""
    from .._segmentation import FEATURES

    p = subparsers.add_parser("segment", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, TIFF, ...) or folders of them")
    p.add_argument("-k", "--components", dest="k", type=_k_value, default=3, metavar="K",
                   help=f"number of components (1-{MAX_COMPONENTS}), or 'auto': the largest K whose components "
                        "are distinct colours (default: 3)")
    p.add_argument("--k", dest="k", type=_k_value, help=argparse.SUPPRESS)  # the option's earlier name
    p.add_argument("--k-range", type=_k_range, default=None, metavar="MIN-MAX",
                   help="range of K considered by -k auto; the smallest when none is distinct (default: 2-8)")
    add_output_options(p, "the results")
    p.add_argument("--features", type=str.lower, choices=FEATURES, default="rgb",
                   help="pixel features: colour space, optionally with x,y position (default: rgb)")
    p.add_argument("--covariance-type", choices=("full", "tied", "diag", "spherical"), default="full",
                   help="shape of the components' covariances (default: full)")
    p.add_argument("--smoothing", type=real_range(0.0), default=0.0, metavar="W",
                   help="Potts weight between neighbouring pixels; about 1 removes speckle (default: 0)")
    p.add_argument("--smoothing-method", choices=("icm", "expansion"), default="icm",
                   help="how the smoothing is solved: fast ICM, or alpha-expansion by min cut "
                        "(stronger, slower, about 500 bytes a pixel: 6 GB for 12 megapixels; default: icm)")
    p.add_argument("--background", type=int_range(0, MAX_COMPONENTS - 1), default=None, metavar="K",
                   help="the component STEM_binary.png shows black (default: the one holding most of the "
                        "image border)")
    p.add_argument("--max-fit-pixels", type=int_range(1), default=None, metavar="N",
                   help="fit on a random subsample of N pixels (default: 200000)")
    p.add_argument("--max-iter", type=int_range(1, 100000), default=None, metavar="N",
                   help="most EM iterations per fit (default: 100)")
    p.add_argument("--seed", type=int_range(0, 2**32 - 1), default=0,
                   help="random seed of the subsample and the fit (default: 0, as the library and the web app, "
                        "so runs repeat)")
    add_threads_option(p)
    add_parallel_options(p, "the images")
    p.add_argument("--plot", action="store_true",
                   help="also save STEM_plot.png: the segmentation with the fitted components' colours "
                        "and weights (or, for grey images, the histogram with the fitted Gaussians), and "
                        "the overlap per K with -k auto")
    p.set_defaults(func=run)
    return p


# --------------------------------------------------------------------------- inputs

def expand_inputs(names: list[str]) -> tuple[list[Path], list[str]]:
    """Image paths from files and folders (a folder's images in natural order), each file
    once however often it is named, and the errors of inputs that are neither."""
    from .._batch import IMAGE_SUFFIXES, folder_images, input_key

    paths, problems, seen = [], [], set()
    for name in names:
        p = Path(name)
        if p.is_dir():
            found = folder_images(p)
            if not found:
                problems.append(f"{name}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        elif not p.exists():
            problems.append(f"{name}: no such file or folder")
            found = []
        else:
            found = [p]
        for f in found:              # (x.png x.png, or a file and its folder: segmented once)
            key = input_key(f)
            if key not in seen:
                seen.add(key)
                paths.append(f)
    return paths, problems


def output_family(stem: str) -> re.Pattern:
    """The names ``segment`` may write for ``stem``."""
    from .._segmentation import OUTPUT_SUFFIXES

    return family(stem, OUTPUT_SUFFIXES)


def check_size(image: np.ndarray, k, k_range: tuple[int, int]) -> tuple[int, int]:
    """Refuse a K the image's pixel count cannot support, before any work; returns the
    range -k auto may try (capped to what the pixels support)."""
    from .._segmentation import MIN_PIXELS_PER_COMPONENT, most_components

    most = most_components(image.shape[0] * image.shape[1])
    smallest, what = (k_range[0], f"-k auto (K from {k_range[0]}, --k-range)") if k == "auto" else (k, "-k")
    if smallest > most:
        raise CLIError(f"{what} asks for {smallest} components, but a {image.shape[1]}x{image.shape[0]} image is "
                       f"too small for more than {most} (a component needs about {MIN_PIXELS_PER_COMPONENT} pixels)")
    return k_range[0], min(k_range[1], most)


# --------------------------------------------------------------------------- one image

def write_results(seg, stem: str, outputs: Outputs, *, background: int | None = None, plot: bool = False,
                  title: str | None = None, progress: Progress | None = None) -> None:
    """Stage the files of ``seg`` (``seg.output_files``, and the plot) in ``outputs``."""
    from ..io import write_image

    if background is not None and background >= seg.n_components:
        raise CLIError(f"--background {background}, but the image has {seg.n_components} components "
                       f"(0-{seg.n_components - 1})")
    files = seg.output_files(stem, background)
    progress = progress or Progress(enabled=False)
    progress.start(f"{stem}: writing", len(files) + plot)
    for name, picture in files.items():
        write_image(outputs.stage(name), picture)
        progress.update()
    if plot:
        from ..plotting import plot_segmentation

        plot_segmentation(seg, outputs.stage(f"{stem}_plot.png"), title=title)
        progress.update()
    progress.finish()


def _segment_one(path: Path, stem: str, args, outputs: Outputs, progress: Progress, where: str = "") -> str:
    """Segment one image and commit its files; returns the summary line."""
    from .. import _segmentation
    from ..io import read_image

    t0 = time.perf_counter()
    progress.start(f"{path.name}{where}: reading")
    image = read_image(path)
    k_range = check_size(image, args.k, args.k_range)
    k_range = k_range if args.k == "auto" else None
    progress.start(f"{path.name}{where}: segmenting")
    # options left at their defaults are not passed: the library's own defaults apply
    extra = {} if args.max_iter is None else {"max_iter": args.max_iter}
    seg = _segmentation.segment(image, args.k, features=args.features, covariance_type=args.covariance_type,
                                smoothing=args.smoothing, max_fit_pixels=args.max_fit_pixels,
                                random_state=args.seed, n_threads=args.threads, k_range=k_range,
                                smoothing_method=args.smoothing_method, **extra)
    progress.finish()
    write_results(seg, stem, outputs, background=args.background, plot=args.plot, title=path.name,
                  progress=progress)
    written = outputs.commit([output_family(stem)])
    return (f"{path}: {seg.summary(time.perf_counter() - t0)} -> {outputs.folder / stem}_*.png "
            f"({len(written)} files)")


def run(args) -> int:
    """Segment every image given; returns 0 if all succeeded, 1 otherwise."""
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        raise CLIError("--plot needs matplotlib: pip install 'gmmfast[plot]'")
    if args.k_range is not None and args.k != "auto":
        raise CLIError(f"--k-range applies to -k auto only (got -k {args.k})")
    if args.k_range is None:
        from .._segmentation import DEFAULT_K_RANGE

        args.k_range = DEFAULT_K_RANGE
    from .._batch import unique_stems

    on_workers = parallel(args)
    for name in args.images:
        refuse_folder_as_output(name, args.output, "images", "-o")
    paths, problems = expand_inputs(args.images)
    for problem in problems:
        error(problem)
    names = unique_stems([str(p) for p in paths])
    failures = len(problems)
    with Progress() as progress, Outputs(args.output, overwrite=args.overwrite, protect=paths) as outputs, \
            Warnings(OPTIONS, progress) as caught:
        outputs.check_free([output_family(s) for s in names])
        failures += run_many(_segment_one, paths, names, args, outputs, output_family, caught, progress,
                             on_workers)
    if failures:
        if len(paths) + len(problems) > 1:
            error(f"{failures} of {len(paths) + len(problems)} image(s) could not be segmented")
        return 1
    return 0


def demo_step(out_dir: Path, report) -> None:
    """``gmmfast demo``: segment the built-in sample image and score it against its true regions."""
    import gmmfast
    from ..data import sample_image
    from ..io import write_image
    from .._segmentation import adjusted_rand_index

    sample = sample_image()
    t0 = time.perf_counter()
    seg = gmmfast.segment(sample.image, len(sample.names), features="lab", smoothing=1.0)
    elapsed = time.perf_counter() - t0
    plot = importlib.util.find_spec("matplotlib") is not None
    with Outputs(Path(out_dir) / "segment", overwrite=True) as outputs:
        write_image(outputs.stage("sample_input.png"), sample.image)
        write_results(seg, "sample", outputs, plot=plot, title="gmmfast.data.sample_image()")
        write_image(outputs.stage("sample_overlay.png"), seg.overlay(0.5))
        files = outputs.commit()
    ari = adjusted_rand_index(sample.labels, seg.labels)
    H, W = seg.shape
    report.add(
        "segment: built-in sample image, K=5, Lab features, smoothing 1.0",
        elapsed,
        files,
        f"{W}x{H} pixels; adjusted Rand index against the true regions: {ari:.3f}; "
        f"component shares {'/'.join(f'{100 * s:.0f}%' for s in seg.counts() / float(np.prod(seg.shape)))}",
    )
