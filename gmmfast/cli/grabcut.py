"""``gmmfast grabcut``: cut an object out of a photo from a box around it.

Writes ``<name>_mask.png`` (255 where the pixel is foreground, 0 elsewhere)
and ``<name>_cutout.png`` (the image as RGBA with the background fully
transparent) into the output folder.  The box is ``x,y,w,h``: left, top,
width and height in pixels, as OpenCV's rect.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ._common import error


def _parse_rect(text: str) -> tuple[int, int, int, int]:
    parts = text.replace(" ", "").split(",")
    try:
        vals = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rect must be four integers x,y,w,h, got {text!r}") from None
    if len(vals) != 4:
        raise argparse.ArgumentTypeError(f"--rect must be four integers x,y,w,h, got {text!r}")
    if vals[2] <= 0 or vals[3] <= 0:
        raise argparse.ArgumentTypeError(f"--rect width and height must be positive, got {text!r}")
    return vals  # type: ignore[return-value]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``grabcut`` subcommand."""
    p = subparsers.add_parser(
        "grabcut",
        help="cut a foreground object out of an image from a box (GrabCut)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("image", metavar="IMAGE", help="input image (any format Pillow reads)")
    p.add_argument("--rect", required=True, type=_parse_rect, metavar="X,Y,W,H",
                   help="box around the object: left, top, width, height (pixels)")
    p.add_argument("-o", "--output", default="out", metavar="OUT", help="output folder (default out/)")
    p.add_argument("--iterations", type=int, default=5, help="GrabCut iterations (default 5)")
    p.add_argument("--components", type=int, default=5, help="Gaussians per colour model (default 5)")
    p.add_argument("--gamma", type=float, default=50.0, help="smoothness weight (default 50)")
    p.add_argument("--connectivity", type=int, choices=(4, 8), default=8, help="neighbours (default 8)")
    p.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    p.set_defaults(func=run)
    return p


def cut_image(image: np.ndarray, rect, out_dir: Path, stem: str, **kwargs):
    """Run GrabCut on ``image`` and write ``<stem>_mask.png`` and ``<stem>_cutout.png``.

    Returns (result, seconds, mask path, cutout path).
    """
    from .._grabcut import grabcut
    from ..io import write_image

    t0 = time.perf_counter()
    res = grabcut(image, rect=rect, **kwargs)
    seconds = time.perf_counter() - t0
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mask_path = write_image(out_dir / f"{stem}_mask.png", np.where(res.foreground, 255, 0).astype(np.uint8))
    cut_path = write_image(out_dir / f"{stem}_cutout.png", res.cutout())
    return res, seconds, mask_path, cut_path


def run(args: argparse.Namespace) -> int:
    """Execute ``gmmfast grabcut``; returns the exit status."""
    from ..io import read_image

    try:
        image = read_image(args.image)
    except (OSError, ValueError) as exc:
        error(f"cannot read {args.image}: {exc}")
        return 1
    if image.dtype != np.uint8:
        error(f"{args.image}: only 8-bit images are supported (got {image.dtype}).")
        return 1
    try:
        res, seconds, mask_path, cut_path = cut_image(
            image, args.rect, Path(args.output), Path(args.image).stem,
            max_iter=args.iterations, n_components=args.components, gamma=args.gamma,
            connectivity=args.connectivity, n_threads=args.threads)
    except (ValueError, TypeError) as exc:
        error(str(exc))
        return 1
    share = float(res.foreground.mean())
    print(f"grabcut: {image.shape[1]}x{image.shape[0]}, {res.n_iter} iterations in {seconds:.2f} s, "
          f"{100 * share:.1f}% foreground -> {mask_path}, {cut_path}")
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
    x1, y1, x2, y2 = sample.box
    rect = (int(x1), int(y1), int(x2 - x1), int(y2 - y1))
    res, seconds, mask_path, cut_path = cut_image(image, rect, Path(out_dir), "grabcut")
    line = (f"grabcut: {image.shape[1]}x{image.shape[0]} image, box {rect}, {res.n_iter} iterations "
            f"in {seconds:.2f} s")
    if truth is not None:
        inter = np.count_nonzero(res.foreground & truth)
        union = np.count_nonzero(res.foreground | truth)
        line += f", IoU {inter / max(union, 1):.3f} with the known object"
    report(f"{line} -> {mask_path}, {cut_path}")
