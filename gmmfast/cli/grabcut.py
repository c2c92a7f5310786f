"""``gmmfast grabcut``: cut an object out of a photo from a box around it."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ._common import CLIError, add_output_options, add_threads_option, int_range, real_range, say, warn
from ._outputs import Outputs, family, single_input_run
from ._progress import Progress

HELP = "cut a foreground object out of an image from a box around it (GrabCut)"

DESCRIPTION = """\
Cut the object inside a box out of IMAGE with GrabCut, and write into the
output folder, for the image STEM (its file name without the extension):
  STEM_mask.png     white where the pixel is foreground, black elsewhere
  STEM_cutout.png   the image as RGBA with the background fully transparent
The box is X,Y,W,H: left, top, width and height in pixels (as OpenCV's rect);
everything outside it is background, and it must leave some of the image
outside.  The files of an earlier run for the same image are not replaced
unless --overwrite is given.
"""

EPILOG = """\
examples:
  gmmfast grabcut photo.jpg --rect 245,88,160,176
  gmmfast grabcut photo.jpg --rect 245,88,160,176 --iterations 8 -o cut/
  gmmfast grabcut person.jpg --rect 40,20,200,300 --box-prior   # part of the object is missing
"""

#: library parameter -> option, for messages (see _common.user_message)
OPTIONS = {"n_components": "--components", "max_iter": "--iterations", "gamma": "--gamma",
           "connectivity": "--connectivity", "n_threads": "--threads", "rect": "--rect",
           "box_prior": "--box-prior", "margin": "--margin"}


def _parse_rect(text: str) -> tuple[int, int, int, int]:
    parts = text.replace(" ", "").split(",")
    try:
        vals = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be four integers X,Y,W,H, got {text!r}") from None
    if len(vals) != 4:
        raise argparse.ArgumentTypeError(f"must be four integers X,Y,W,H, got {text!r}")
    if vals[2] <= 0 or vals[3] <= 0:
        raise argparse.ArgumentTypeError(f"width and height must be positive, got {text!r}")
    return vals  # type: ignore[return-value]


def _parse_margin(text: str) -> float | None:
    """``--margin``: a share of the box's longer side, or ``none`` for the whole image."""
    if text.strip().lower() == "none":
        return None
    try:
        return real_range(0.0)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be a number >= 0 or 'none', got {text!r}") from None


#: largest -k: the colour models' component limit of the GrabCut kernel (checked against it in the tests)
MAX_COMPONENTS = 32


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``grabcut`` subcommand."""
    p = subparsers.add_parser("grabcut", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", metavar="IMAGE", help="input image (PNG, JPEG, TIFF, ...), 8 bits per channel")
    p.add_argument("--rect", required=True, type=_parse_rect, metavar="X,Y,W,H",
                   help="box around the object: left, top, width, height (pixels)")
    add_output_options(p, "the mask and the cut-out")
    p.add_argument("--iterations", type=int_range(0, 1000), default=5, metavar="N",
                   help="GrabCut iterations (default: 5)")
    p.add_argument("-k", "--components", type=int_range(1, MAX_COMPONENTS), default=5, metavar="K",
                   help=f"Gaussians per colour model, 1-{MAX_COMPONENTS} (default: 5)")
    p.add_argument("--gamma", type=real_range(0.0), default=50.0, help="smoothness weight (default: 50)")
    p.add_argument("--connectivity", type=int, choices=(4, 8), default=8,
                   help="neighbours of a pixel (default: 8)")
    p.add_argument("--margin", type=_parse_margin, default=0.1, metavar="M",
                   help="work on the box grown by M times its longer side on each side: the background "
                        "colours are learnt there only (default: 0.1; 'none': the whole image, as OpenCV)")
    p.add_argument("--box-prior", action="store_true",
                   help="the box is tight around the object: when the cut-out misses part of it "
                        "(under 85%% of its rows or columns), fit again with another colour-model "
                        "start and keep the cut that fills the box better (up to twice the time; "
                        "off by default)")
    add_threads_option(p)
    p.set_defaults(func=run)
    return p


def output_family(stem: str) -> re.Pattern:
    """The names ``grabcut`` writes for ``stem``."""
    return family(stem, r"mask\.png|cutout\.png")


def _check_rect(rect, shape, progress=None) -> None:
    """Say in the command's terms when the box misses the image or leaves nothing outside it, and
    warn when it reaches past the image (GrabCut uses the part inside)."""
    x, y, w, h = rect
    H, W = shape[:2]
    shown = ",".join(map(str, rect))
    if x >= W or y >= H or x + w <= 0 or y + h <= 0:
        raise CLIError(f"--rect {shown} lies outside the {W}x{H} image")
    if x <= 0 and y <= 0 and x + w >= W and y + h >= H:
        raise CLIError(f"--rect {shown} covers the whole {W}x{H} image, so no pixel is known to be background; "
                       "draw a box that leaves some of the image outside it")
    if x < 0 or y < 0 or x + w > W or y + h > H:
        x0, y0 = max(x, 0), max(y, 0)
        inside = f"{x0},{y0},{min(x + w, W) - x0},{min(y + h, H) - y0}"
        warn(f"--rect {shown} reaches past the {W}x{H} image; the box used is its part inside, {inside}", progress)


def cut_image(image: np.ndarray, rect, outputs: Outputs, stem: str, progress: Progress | None = None,
              **kwargs):
    """Run GrabCut on ``image`` and stage ``STEM_mask.png`` and ``STEM_cutout.png`` in ``outputs``.

    Returns (result, seconds).
    """
    import gmmfast
    from ..io import write_image

    progress = progress or Progress(enabled=False)
    progress.start(f"{stem}: GrabCut")
    t0 = time.perf_counter()
    res = gmmfast.grabcut(image, rect=rect, **kwargs)
    seconds = time.perf_counter() - t0
    progress.start(f"{stem}: writing", 2)
    write_image(outputs.stage(f"{stem}_mask.png"), np.where(res.foreground, 255, 0).astype(np.uint8))
    progress.update()
    write_image(outputs.stage(f"{stem}_cutout.png"), res.cutout())
    progress.finish()
    return res, seconds


def run(args: argparse.Namespace) -> int:
    """Execute ``gmmfast grabcut``; returns the exit status."""
    from ..io import read_image

    path = Path(args.image)
    stem = path.stem or "image"
    with single_input_run(path, args.output, args.overwrite, [output_family(stem)], OPTIONS) as (progress, outputs):
        image = read_image(path)
        if image.dtype == np.uint16:     # 16-bit grey (16-bit colour is read at 8 bits, with its own warning)
            warn(f"{path} has 16 bits per pixel; it is cut at 8 (the top 8 bits of each value): convert it to "
                 "8 bits first to choose how", progress)
            image = (image >> 8).astype(np.uint8)
        elif image.dtype != np.uint8:
            raise CLIError(f"{path}: only 8-bit images can be cut (this one is {image.dtype}); convert it first")
        _check_rect(args.rect, image.shape, progress)
        res, seconds = cut_image(image, args.rect, outputs, stem, progress, max_iter=args.iterations,
                                 n_components=args.components, gamma=args.gamma,
                                 connectivity=args.connectivity, margin=args.margin, box_prior=args.box_prior,
                                 n_threads=args.threads)
        mask_path, cut_path = outputs.commit([output_family(stem)])
        share = float(res.foreground.mean())
        say(f"{path}: {image.shape[1]}x{image.shape[0]}, {res.n_iter} iterations in {seconds:.2f} s, "
            f"{100 * share:.1f}% foreground -> {mask_path}, {cut_path}", progress)
        if not res.foreground.any():
            warn("the cut-out is empty: GrabCut kept no pixel of the box; draw the box closer around the "
                 "object (it must hold colours that differ from those around it), or try --margin none "
                 "or a lower --gamma", progress)
    return 0


def demo_step(out_dir: Path, report: Callable[[str], None] = print) -> None:
    """``gmmfast demo``: GrabCut on the built-in sample image.

    Cuts the house of ``gmmfast.data.sample_image()`` out of its box, writes
    ``grabcut_mask.png`` and ``grabcut_cutout.png`` and reports the IoU with
    the known house mask.
    """
    from ..data import sample_image

    sample = sample_image()
    image, truth = sample.image, sample.mask
    rect = sample.rect
    with Outputs(out_dir, overwrite=True) as outputs:
        res, seconds = cut_image(image, rect, outputs, "grabcut")
        mask_path, cut_path = outputs.commit()
    line = (f"grabcut: {image.shape[1]}x{image.shape[0]} image, box {rect}, {res.n_iter} iterations "
            f"in {seconds:.2f} s")
    if truth is not None:
        inter = np.count_nonzero(res.foreground & truth)
        union = np.count_nonzero(res.foreground | truth)
        line += f", IoU {inter / max(union, 1):.3f} with the known object"
    report(f"{line} -> {mask_path}, {cut_path}")
