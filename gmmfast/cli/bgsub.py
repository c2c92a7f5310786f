"""``gmmfast bgsub``: background subtraction on a video.

Writes ``background.png`` (the estimated background), ``mask.gif`` (the
foreground mask of every processed frame: 255 foreground, 127 shadow with
``--shadows``, 0 background) and ``foreground.gif`` (the frames with the
background blacked out), or ``.mp4`` files with ``--format mp4``.

Methods: ``pixelgmm`` (a Gaussian mixture per pixel fitted by EM on the
training frames), ``mean``, ``median`` and ``kmeans`` (a background image
from the training frames, then a threshold on the distance to it) learn from
the first ``--train-frames`` frames and mask the frames after them, as the
replaced projects' demo does (frames 0-47 train, 48-79 are masked).  ``mog2``
(the online adaptive mixture, when this build has it) learns from every
frame as it goes and masks every frame after the first ``--train-frames``
(0 unless given); ``knn`` (the online non-parametric sample model) likewise.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ._common import error, progress

BATCH_METHODS = ("pixelgmm", "mean", "median", "kmeans")
ONLINE_METHODS = ("mog2", "knn")   # BackgroundSubtractor(method=...), learning from every frame
DEFAULT_TRAIN_FRAMES = 48
# frames per BackgroundSubtractor.apply_many call: the model's state is read once per
# batch instead of once per frame (8 frames gave ~1.45x per frame at 1080p, as 16 did)
MOG2_BATCH = 8
DEFAULT_THRESHOLD = {"pixelgmm": None, "mean": 30.0, "median": 30.0, "kmeans": 30.0}


def _online_class():
    """The recommended online subtractor class, or None when this build has none."""
    try:
        from .._background import BackgroundSubtractor
    except ImportError:
        return None
    return BackgroundSubtractor


def available_methods() -> tuple[str, ...]:
    """Methods of this build, the recommended one first."""
    return (ONLINE_METHODS if _online_class() is not None else ()) + BATCH_METHODS


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``bgsub`` subcommand."""
    methods = available_methods()
    p = subparsers.add_parser(
        "bgsub",
        help="separate moving objects from the background of a video",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("video", metavar="VIDEO", help="a GIF, MP4/AVI/... file or a folder of images")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (created)")
    p.add_argument("--method", choices=methods, default=methods[0], help=f"method (default {methods[0]})")
    p.add_argument(
        "--train-frames",
        type=int,
        default=None,
        metavar="N",
        help=f"frames that only train the background (default {DEFAULT_TRAIN_FRAMES} for the batch "
        "methods, 0 for mog2 and knn)",
    )
    if "mog2" in methods:
        p.add_argument(
            "--shadows",
            action="store_true",
            help="mog2: use the plain MOG2 mixture with shadow detection and mark shadows grey (127) "
            "in the mask, as OpenCV does (default: the recommended pipeline, shadows left out, "
            "mask cleaned up)",
        )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="foreground threshold: Mahalanobis units for pixelgmm (default 5), grey levels of "
        "distance to the background for mean/median/kmeans (default 30)",
    )
    p.add_argument("--n-components", type=int, default=None, metavar="K",
                   help="pixelgmm: Gaussians per pixel (default 2); kmeans: clusters per pixel (default 3)")
    p.add_argument("--format", choices=("gif", "mp4"), default="gif", help="mask/foreground video format")
    p.add_argument("--grey", action="store_true", help="work on grey levels instead of colour")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="read at most N frames")
    p.add_argument("--fps", type=float, default=None, help="frame rate of the outputs (default: the input's, or 10)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="threads (default: all cores; mog2 picks between one and all by the frame rate)")
    p.set_defaults(func=run)
    return p


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


class _Result:
    """What a background-subtraction run did (for the summary line and the demo)."""

    def __init__(self) -> None:
        self.n_frames = 0
        self.n_train = 0
        self.n_masked = 0
        self.frame_shape: tuple = ()
        self.seconds = 0.0
        self.model_seconds = 0.0
        self.masks: list[np.ndarray] = []
        self.paths: list[Path] = []


def subtract_video(
    frames: Iterable[np.ndarray],
    out_dir: Path,
    *,
    method: str,
    train_frames: int | None = None,
    threshold: float | None = None,
    n_components: int | None = None,
    shadows: bool = False,
    fmt: str = "gif",
    fps: float = 10.0,
    n_threads: int | None = None,
    total: int | None = None,
    keep_masks: bool = False,
    show_progress: bool = True,
) -> _Result:
    """Run one method over frames and write background.png, mask.<fmt>, foreground.<fmt> into out_dir.

    Raises ValueError on bad parameters or a video too short for ``train_frames``.
    """
    from .._batch_background import PixelGMM, kmeans_background, mean_background, median_background, subtract
    from ..io import write_image
    from ..video import VideoWriter

    if method not in available_methods():
        raise ValueError(f"unknown method {method!r}; this build has {', '.join(available_methods())}.")
    if train_frames is None:
        train_frames = 0 if method in ONLINE_METHODS else DEFAULT_TRAIN_FRAMES
    if train_frames < 0 or (method not in ONLINE_METHODS and train_frames < 1):
        raise ValueError(f"--train-frames must be >= 1 (>= 0 for mog2 and knn), got {train_frames}.")
    if shadows and method != "mog2":
        raise ValueError("--shadows needs --method mog2 (the batch methods do not detect shadows).")
    if threshold is not None and not (np.isfinite(threshold) and threshold > 0):
        raise ValueError(f"--threshold must be a positive number, got {threshold}.")
    if n_components is not None and not 1 <= n_components <= 16:
        raise ValueError(f"--n-components must be between 1 and 16, got {n_components}.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    res = _Result()
    start = time.perf_counter()
    it: Iterator[np.ndarray] = iter(frames)

    def bar(items, n, desc):
        return progress(items, total=n, desc=desc) if show_progress else items

    # --- learn ---------------------------------------------------------------
    if method in ONLINE_METHODS:
        if shadows:
            # the plain mixture with shadow detection: masks 0 / 127 (shadow) / 255, as OpenCV's
            from .._background import BackgroundSubtractorMOG2

            model = BackgroundSubtractorMOG2(detect_shadows=True, n_threads=n_threads)
        else:
            # the recommended pipeline: fast start, shadows left out, mask cleaned up
            model = _online_class()(method=method, n_threads=n_threads)
        for batch in _batches(bar(_take(it, train_frames), train_frames, "learning"), MOG2_BATCH):
            _check_shapes(batch, res)
            t0 = time.perf_counter()
            model.apply_many(batch)
            res.model_seconds += time.perf_counter() - t0
            res.n_train += len(batch)
        if train_frames and res.n_train < train_frames:
            raise ValueError(
                f"the video has only {res.n_train} frames; --train-frames {train_frames} leaves none to mask."
            )

        def masks_of(batch):
            return model.apply_many(batch)

        def background():
            return model.background_image()

    else:
        train = [f for f in bar(_take(it, train_frames), train_frames, "reading")]
        res.n_train = len(train)
        if len(train) < train_frames:
            raise ValueError(
                f"the video has only {len(train)} frames; --train-frames {train_frames} leaves none to mask "
                "(use fewer training frames)."
            )
        res.frame_shape = train[0].shape
        stack = np.stack(train)
        del train
        t0 = time.perf_counter()
        if method == "pixelgmm":
            params = {"n_threads": n_threads}
            if n_components is not None:
                params["n_components"] = n_components
            if threshold is not None:
                params["threshold"] = threshold
            gmm = PixelGMM(**params).fit(stack)
            bg = gmm.background_image()

            def masks_of(batch):
                return [gmm.apply(frame) for frame in batch]

        else:
            if method == "mean":
                bg = mean_background(stack)
            elif method == "median":
                bg = median_background(stack)
            else:
                K = n_components if n_components is not None else 3
                bg = kmeans_background(stack, K, n_threads=n_threads)
            thr = threshold if threshold is not None else DEFAULT_THRESHOLD[method]

            def masks_of(batch):
                return [subtract(frame, bg, thr) for frame in batch]

        res.model_seconds += time.perf_counter() - t0
        del stack

        def background():
            return bg

    # --- mask ----------------------------------------------------------------
    mask_path = out_dir / f"mask.{fmt}"
    fg_path = out_dir / f"foreground.{fmt}"
    left = None if total is None else max(0, total - res.n_train)
    with VideoWriter(mask_path, fps) as mask_out, VideoWriter(fg_path, fps) as fg_out:
        for batch in _batches(bar(it, left, method), MOG2_BATCH if method in ONLINE_METHODS else 1):
            _check_shapes(batch, res)
            t0 = time.perf_counter()
            masks = masks_of(batch)
            res.model_seconds += time.perf_counter() - t0
            for frame, m in zip(batch, masks):
                if m.dtype == bool:
                    m8 = m.view(np.uint8) * np.uint8(255)
                else:
                    m8 = np.asarray(m, dtype=np.uint8)
                fg = np.where((m8 == 255)[..., None] if frame.ndim == 3 else (m8 == 255), frame, 0).astype(np.uint8)
                mask_out.write(m8)
                fg_out.write(fg)
                if keep_masks:
                    res.masks.append(m8 == 255)
                res.n_masked += 1
        if res.n_masked == 0:
            raise ValueError(
                f"the video has only {res.n_train} frames; --train-frames {train_frames} leaves none to mask "
                "(use fewer training frames)."
            )
    bg_path = write_image(out_dir / "background.png", _to_uint8(background()))
    res.n_frames = res.n_train + res.n_masked
    res.seconds = time.perf_counter() - start
    res.paths = [bg_path, mask_path, fg_path]
    return res


def _batches(frames: Iterable[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    """Consecutive frames in lists of ``size`` (the last one may be shorter)."""
    batch: list[np.ndarray] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_shapes(batch: list[np.ndarray], res: _Result) -> None:
    """Every frame must have the shape of the first one; records it in ``res``."""
    done = res.n_train + res.n_masked
    for i, frame in enumerate(batch):
        if res.frame_shape and frame.shape != res.frame_shape:
            raise ValueError(f"frame {done + i} has shape {frame.shape}, not {res.frame_shape}.")
        res.frame_shape = frame.shape


def _take(it: Iterator, n: int) -> Iterator:
    for _ in range(n):
        try:
            yield next(it)
        except StopIteration:
            return


def run(args: argparse.Namespace) -> int:
    """Run ``gmmfast bgsub``; returns the exit status."""
    from ..video import VideoReader

    try:
        if args.max_frames is not None and args.max_frames < 1:
            raise ValueError(f"--max-frames must be >= 1, got {args.max_frames}.")
        if args.fps is not None and not 0 < args.fps <= 1000:
            raise ValueError(f"--fps must be in (0, 1000], got {args.fps}.")
        reader = VideoReader(args.video, grey=args.grey, max_frames=args.max_frames)
        fps = args.fps or reader.fps or 10.0
        res = subtract_video(
            reader,
            Path(args.output),
            method=args.method,
            train_frames=args.train_frames,
            threshold=args.threshold,
            n_components=args.n_components,
            shadows=getattr(args, "shadows", False),
            fmt=args.format,
            fps=min(max(fps, 0.1), 1000.0),
            n_threads=args.threads,
            total=reader.n_frames,
        )
    except (FileNotFoundError, ValueError, TypeError, ImportError) as exc:
        error(str(exc))
        return 1
    h, w = res.frame_shape[:2]
    print(
        f"bgsub: {args.method}: {res.n_frames} frames of {w}x{h} ({res.n_train} training, "
        f"{res.n_masked} masked) in {res.seconds:.2f} s: {res.n_frames / max(res.seconds, 1e-9):.1f} fps "
        f"overall, {res.n_frames / max(res.model_seconds, 1e-9):.0f} fps in the model; wrote "
        + ", ".join(str(p) for p in res.paths)
    )
    return 0


def _f_measure(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = np.count_nonzero(pred & truth)
    fp = np.count_nonzero(pred & ~truth)
    fn = np.count_nonzero(~pred & truth)
    return 2 * tp / max(2 * tp + fp + fn, 1)


def demo_step(out_dir: Path, report: Callable[[str], None] = print) -> None:
    """``gmmfast demo``: background subtraction on the built-in clip.

    Writes the clip (``clip.gif``) and, per method, a folder ``bgsub-<method>``
    with background.png, mask.gif and foreground.gif into ``out_dir``, and
    reports one line per method with the F-measure against the clip's known masks.
    """
    from ..data import sample_clip
    from ..video import write_video

    out_dir = Path(out_dir)
    frames, truth = sample_clip()
    write_video(out_dir / "clip.gif", frames, fps=10)
    train = DEFAULT_TRAIN_FRAMES
    for method in [m for m in ("mog2", "pixelgmm", "median") if m in available_methods()]:
        res = subtract_video(
            frames, out_dir / f"bgsub-{method}", method=method,
            train_frames=train if method != "mog2" else 0,
            keep_masks=True, show_progress=False,
        )
        pred = np.stack(res.masks)
        first = res.n_train
        f_all = _f_measure(pred[train - first:], truth[train:])
        report(
            f"bgsub {method}: built-in clip {frames.shape[2]}x{frames.shape[1]}, F = {f_all:.3f} on frames "
            f"{train}-{len(frames) - 1}, {res.n_frames / max(res.seconds, 1e-9):.0f} fps -> {out_dir / f'bgsub-{method}'}"
        )
