"""``gmmfast bgsub``: background subtraction on a video."""

from __future__ import annotations

import argparse
import itertools
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .._files import refuse_folder_as_output
from .._memory import check_fits_in_memory
from ._common import (CLIError, Warnings, add_output_options, add_threads_option,
                      error, int_range, real_range, say)
from ._outputs import Outputs, family
from ._parallel import add_parallel_options, parallel, run_many
from ._progress import Progress

HELP = "separate moving objects from the background of a video"

DESCRIPTION = """\
Learn the background of VIDEO and write into the output folder, for the
video STEM (its file name without the extension; with it, cam_mp4, when another
input has the same name):
  STEM_background.png   the estimated background
  STEM_mask.gif         the foreground mask of every frame: 255 foreground,
                        127 shadow (--method mog2 --shadows only), 0 background
                        (a frame equal to the one before has its top-left
                        pixel moved by 1, 0 -> 1 or 255 -> 254, or GIF would
                        merge the two: threshold at 127, not at 0)
  STEM_foreground.gif   the frames with the background blacked out
(.mp4 instead of .gif with --format mp4).  Every method writes one mask per
frame of the video, frame 1 of the mask for frame 1 of the video.

Methods: adaptive (the recommended pipeline: an online per-pixel mixture
with feedback against jitter and flicker, and a cleaned-up mask), mog2
(the same mixture and clean-up without the feedback) and knn (a per-pixel
sample model, OpenCV's KNN, with the same clean-up) learn from every frame
as they go; pixelgmm (a Gaussian mixture per pixel), mean, median and kmeans
(a background image, then a threshold on the distance to it) learn from the
first --train-frames frames only.  Before any mask is made, the first
--train-frames frames are learnt (the online methods then learn them again
as they mask them; their masks of the first few frames can still miss an
object that is in the video from its first frame, which the batch methods
find).  The files of an earlier run for the same
video are not replaced unless --overwrite is given.  Several videos are
processed one after the other, or at once with --workers N (local processes)
or --scheduler ADDRESS (a Dask cluster); a video that fails is reported and
skipped, the others are finished, and the exit status is then 1.
"""

EPILOG = """\
examples:
  gmmfast bgsub traffic.gif                          adaptive, into out/
  gmmfast bgsub clip.mp4 --method median --train-frames 60 --format mp4 -o result/
  gmmfast bgsub frames/ --method pixelgmm --grey     a folder of images is a video
  gmmfast bgsub cam1.mp4 cam2.mp4 cam3.mp4 --workers 3 -o result/
"""

ONLINE_METHODS = ("adaptive", "mog2", "knn")
BATCH_METHODS = ("pixelgmm", "mean", "median", "kmeans")
DEFAULT_TRAIN_FRAMES = 48
# frames per BackgroundSubtractor.apply_many call: the model's state is read once per
# batch instead of once per frame (8 frames gave ~1.45x per frame at 1080p, as 16 did)
MOG2_BATCH = 8
DEFAULT_THRESHOLD = {"pixelgmm": None, "mean": 30.0, "median": 30.0, "kmeans": 30.0}

#: library parameter -> option, for messages (see _common.user_message)
OPTIONS = {"max_frames": "--max-frames", "n_components": "--components", "threshold": "--threshold",
           "n_threads": "--threads", "fps": "--fps"}


def available_methods() -> tuple[str, ...]:
    """Methods of this build, the recommended one first."""
    import gmmfast

    try:
        gmmfast.BackgroundSubtractor
    except (AttributeError, ImportError):
        return BATCH_METHODS
    return ONLINE_METHODS + BATCH_METHODS


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``bgsub`` subcommand."""
    methods = available_methods()
    p = subparsers.add_parser("bgsub", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("videos", nargs="+", metavar="VIDEO",
                   help="a GIF, MP4/AVI/... file or a folder of images (one video); several are processed "
                        "one after the other, or at once with --workers or --scheduler")
    add_output_options(p, "the background, the masks and the foreground")
    p.add_argument("--method", choices=methods, default=methods[0], help=f"method (default: {methods[0]})")
    p.add_argument("--train-frames", type=int_range(0), default=None, metavar="N",
                   help=f"frames learnt before the first mask (default: {DEFAULT_TRAIN_FRAMES}, or all the frames "
                        "of a shorter video, for the batch methods, which need at least 1; 0 for adaptive, mog2 "
                        "and knn)")
    if "mog2" in methods:
        p.add_argument("--shadows", action="store_true",
                       help="mog2: the plain MOG2 mixture with shadow detection, shadows grey (127) in the "
                            "mask, as OpenCV does (default: the recommended pipeline, shadows left out, "
                            "mask cleaned up)")
    p.add_argument("--threshold", type=real_range(0.0, low_open=True), default=None,
                   help="foreground threshold: Mahalanobis units for pixelgmm (default: 5), grey levels of "
                        "distance to the background for mean/median/kmeans (default: 30)")
    p.add_argument("-k", "--components", dest="components", type=int_range(1, 16), default=None, metavar="K",
                   help="pixelgmm: Gaussians per pixel (default: 2); kmeans: clusters per pixel (default: 3)")
    p.add_argument("--n-components", dest="components", type=int_range(1, 16), help=argparse.SUPPRESS)
    p.add_argument("--format", choices=("gif", "mp4"), default="gif",
                   help="format of the mask and foreground videos (default: gif; a GIF is held in memory "
                        "until written, so a video too long for the free memory is refused before any work: "
                        "mp4 is written as it goes)")
    p.add_argument("--grey", action="store_true", help="work on grey levels instead of colour")
    p.add_argument("--clean", action="store_true",
                   help="pixelgmm, mean, median, kmeans: clean each mask up as adaptive, mog2 and knn do (5x5 "
                        "median, 3x3 closing): fewer speckles where a video is noisy or dithered, slightly "
                        "rounder corners")
    p.add_argument("--max-frames", type=int_range(2), default=None, metavar="N",
                   help="use only the first N frames (2 or more)")
    p.add_argument("--fps", type=real_range(0.0, 1000.0, low_open=True), default=None,
                   help="frame rate of the outputs (default: the input's, or 10)")
    add_threads_option(p)
    add_parallel_options(p, "the videos")
    p.set_defaults(func=run)
    return p


def output_family(stem: str) -> re.Pattern:
    """The names ``bgsub`` writes for ``stem``."""
    return family(stem, r"background\.png|mask\.(?:gif|mp4)|foreground\.(?:gif|mp4)")


# --------------------------------------------------------------------------- the models

class _Model:
    """A background model behind one interface: learn training frames, mask frames, give the background."""

    def learn(self, frames: list[np.ndarray], progress: Progress) -> None:
        raise NotImplementedError

    def masks(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        """uint8 masks (0 / 127 / 255) of consecutive frames."""
        raise NotImplementedError

    def background(self) -> np.ndarray:
        raise NotImplementedError


class _Online(_Model):
    """adaptive, mog2 or knn: gmmfast.BackgroundSubtractor's pipelines, or with ``shadows`` the plain
    MOG2 mixture marking shadows 127."""

    batch = MOG2_BATCH

    def __init__(self, method: str, shadows: bool, n_threads: int | None) -> None:
        import gmmfast

        if shadows:
            self.model = gmmfast.BackgroundSubtractorMOG2(detect_shadows=True, n_threads=n_threads)
        else:
            self.model = gmmfast.BackgroundSubtractor(method=method, output="uint8", n_threads=n_threads)

    def learn(self, frames, progress):
        progress.start("learning", len(frames))
        for i in range(0, len(frames), self.batch):
            self.model.apply_many(frames[i:i + self.batch])
            progress.update(len(frames[i:i + self.batch]))
        progress.finish()

    def masks(self, batch):
        return list(self.model.apply_many(batch))

    def background(self):
        return self.model.background_image()


class _Batch(_Model):
    """pixelgmm, mean, median, kmeans: a model fitted on the training frames, then fixed."""

    batch = 1

    def __init__(self, method: str, threshold: float | None, n_components: int | None, clean: bool,
                 n_threads: int | None) -> None:
        self.method, self.threshold, self.n_components, self.n_threads = method, threshold, n_components, n_threads
        self.clean = clean

    def learn(self, frames, progress):
        import gmmfast

        progress.start(f"fitting {self.method} on {len(frames)} frames")
        stack = np.stack(frames)
        if self.method == "pixelgmm":
            params = {"n_threads": self.n_threads}
            if self.n_components is not None:
                params["n_components"] = self.n_components
            if self.threshold is not None:
                params["threshold"] = self.threshold
            self.gmm = gmmfast.PixelGMM(**params).fit(stack)
            self.bg = self.gmm.background_image()
        elif self.method == "mean":
            self.bg = gmmfast.mean_background(stack)
        elif self.method == "median":
            self.bg = gmmfast.median_background(stack)
        else:
            k = self.n_components if self.n_components is not None else 3
            self.bg = gmmfast.kmeans_background(stack, k, n_threads=self.n_threads)
        progress.finish()

    def masks(self, batch):
        import gmmfast

        if self.method == "pixelgmm":
            out = [self.gmm.apply(frame) for frame in batch]
        else:
            thr = self.threshold if self.threshold is not None else DEFAULT_THRESHOLD[self.method]
            out = [gmmfast.subtract(frame, self.bg, thr) for frame in batch]
        if self.clean:
            from .._background import clean_mask

            out = [clean_mask(m, n_threads=self.n_threads) for m in out]
        return [m.view(np.uint8) * np.uint8(255) if m.dtype == bool else m for m in out]

    def background(self):
        return self.bg


def _make_model(method: str, train_frames: int | None, threshold: float | None, n_components: int | None,
                shadows: bool, clean: bool, n_threads: int | None) -> tuple[_Model, int]:
    """The model of ``method`` and the number of training frames, with the options checked."""
    if method not in available_methods():
        raise CLIError(f"unknown method {method!r}; this build has {', '.join(available_methods())}")
    if train_frames is None:
        train_frames = 0 if method in ONLINE_METHODS else DEFAULT_TRAIN_FRAMES
    if train_frames < 0 or (method not in ONLINE_METHODS and train_frames < 1):
        raise CLIError(f"--train-frames must be >= 1 for --method {method} (>= 0 for {', '.join(ONLINE_METHODS)}), "
                       f"got {train_frames}")
    if shadows and method != "mog2":
        raise CLIError("--shadows needs --method mog2 (the other methods leave shadows out or do not detect them)")
    if n_components is not None and method not in ("pixelgmm", "kmeans"):
        raise CLIError(f"-k/--components applies to --method pixelgmm and kmeans only (got --method {method})")
    if threshold is not None and method in ONLINE_METHODS:
        raise CLIError(f"--threshold applies to --method {', '.join(BATCH_METHODS)} only, not {method} "
                       "(which adapts its own thresholds)")
    if clean and method in ONLINE_METHODS:
        raise CLIError(f"--clean applies to --method {', '.join(BATCH_METHODS)} only ({', '.join(ONLINE_METHODS)} "
                       "clean their masks themselves)")
    if method in ONLINE_METHODS:
        return _Online(method, shadows, n_threads), train_frames
    return _Batch(method, threshold, n_components, clean, n_threads), train_frames


# --------------------------------------------------------------------------- the run

@dataclass
class SubtractionResult:
    """What a background-subtraction run did (for the summary line and the demo)."""

    n_frames: int = 0
    n_train: int = 0
    frame_shape: tuple = ()
    seconds: float = 0.0
    masks: list = field(default_factory=list)
    paths: list = field(default_factory=list)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _read_training(frames: Iterator[np.ndarray], n: int, progress: Progress) -> list[np.ndarray]:
    """The first ``n`` frames (fewer if the video is shorter)."""
    return list(progress.step(itertools.islice(frames, n), "reading the training frames", n))


def _batches(frames: Iterable[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    """Consecutive frames in lists of ``size`` (the last one may be shorter)."""
    it = iter(frames)
    while True:
        batch = list(itertools.islice(it, size))
        if not batch:
            return
        yield batch


def _foreground(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    keep = mask == 255
    return np.where(keep[..., None] if frame.ndim == 3 else keep, frame, 0).astype(np.uint8)


def _mask_all(frames: Iterable[np.ndarray], model: _Model, writers, total: int | None, res: SubtractionResult,
              progress: Progress, keep_masks: bool) -> None:
    """Mask every frame, writing the masks and the foreground."""
    mask_out, fg_out = writers
    progress.start("masking", total)
    for batch in _batches(frames, model.batch):
        for frame in batch:
            if res.frame_shape and frame.shape != res.frame_shape:
                raise ValueError(f"frame {res.n_frames + 1} has shape {frame.shape}, not {res.frame_shape}")
            res.frame_shape = frame.shape
        for frame, m8 in zip(batch, model.masks(batch)):
            mask_out.write(m8)
            fg_out.write(_foreground(frame, m8))
            if keep_masks:
                res.masks.append(m8.copy())
            res.n_frames += 1
        progress.update(len(batch))
    progress.finish()


def _finish_writers(writers, progress: Progress) -> None:
    for writer in writers:
        progress.start(f"encoding {writer.path.name}")
        writer.close()
    progress.finish()


def subtract_video(frames: Iterable[np.ndarray], outputs: Outputs, stem: str, *, method: str,
                   train_frames: int | None = None, threshold: float | None = None,
                   n_components: int | None = None, shadows: bool = False, clean: bool = False, fmt: str = "gif",
                   fps: float = 10.0,
                   n_threads: int | None = None, total: int | None = None, keep_masks: bool = False,
                   progress: Progress | None = None) -> SubtractionResult:
    """Run one method over the frames; stages ``STEM_background.png``, ``STEM_mask.<fmt>`` and
    ``STEM_foreground.<fmt>`` in ``outputs`` (commit them afterwards).

    Every frame gets a mask, the training frames included.  Raises CLIError on bad options or a
    video shorter than ``train_frames``.
    """
    from ..io import write_image
    from ..video import VideoWriter

    progress = progress or Progress(enabled=False)
    model, n_train = _make_model(method, train_frames, threshold, n_components, shadows, clean, n_threads)
    # the default learns at most DEFAULT_TRAIN_FRAMES: all the frames of a shorter video
    explicit = train_frames is not None
    if total is not None and total < n_train:
        if explicit:
            raise CLIError(f"the video has only {total} frames, fewer than --train-frames {n_train}")
        n_train = total
    start = time.perf_counter()
    it = iter(frames)
    train = _read_training(it, n_train, progress)
    if len(train) < n_train:
        if explicit or not train:
            raise CLIError(f"the video has only {len(train)} frames, fewer than --train-frames {n_train}")
        n_train = len(train)
    res = SubtractionResult(n_train=n_train, frame_shape=train[0].shape if train else ())
    if train:
        model.learn(train, progress)
    paths = [outputs.stage(f"{stem}_mask.{fmt}"), outputs.stage(f"{stem}_foreground.{fmt}")]
    writers = [VideoWriter(paths[0], fps), VideoWriter(paths[1], fps)]
    try:
        _mask_all(itertools.chain(train, it), model, writers, total, res, progress, keep_masks)
        del train
        _finish_writers(writers, progress)
    except BaseException:
        for writer in writers:
            writer.abandon()
        raise
    bg_path = write_image(outputs.stage(f"{stem}_background.png"), _to_uint8(model.background()))
    res.seconds = time.perf_counter() - start
    res.paths = [bg_path, *paths]
    return res


#: Bytes the two GIF outputs hold per frame pixel until they are encoded at the end (Pillow writes
#: a GIF from all its frames): 2.2 to 3.1 measured above the mp4 run's peak (800 frames of 640x480:
#: 949 MB against 190 MB with --format mp4, which streams; 81 of 1280x720: 495 MB against 330 MB).
GIF_BYTES_PER_PIXEL = 3.2


def _check_gif_memory(path: Path, n_frames: int | None, shape: tuple) -> None:
    """Refuse, before any work, GIF outputs that would not fit in the free memory (a long HD
    video ran out of memory at the end, its work lost)."""
    if n_frames is None:
        return
    need = GIF_BYTES_PER_PIXEL * n_frames * shape[0] * shape[1]
    check_fits_in_memory(need, f"{path}: holding the GIF outputs of its {n_frames} frames of {shape[1]}x{shape[0]} "
                         "until they are written", "use --format mp4 (written as it goes) or --max-frames N",
                         share=0.8, error=CLIError)


def _open_video(path: Path, args):
    """The reader of the input, refusing inputs that are not a usable video before any work."""
    from ..video import VideoReader

    reader = VideoReader(path, grey=args.grey, max_frames=args.max_frames)
    try:
        if reader.truncation is not None and args.max_frames is None:
            raise CLIError(f"{path} is truncated ({reader.truncation}); repair it, or give --max-frames N "
                           "to use only the frames before the damage")
        if reader.n_frames is not None and reader.n_frames < 2:
            raise CLIError(f"{path} holds a single picture, not a video: bgsub needs several frames")
        if args.format == "gif":
            _check_gif_memory(path, reader.n_frames, reader.frame_shape)
    except CLIError:
        reader.close()  # the decoder (an FFmpeg process) ends here, not at garbage collection
        raise
    return reader


def _subtract_one(path: Path, stem: str, args, outputs: Outputs, progress: Progress, where: str = "") -> str:
    """Subtract the background of one video and commit its files; returns the summary line."""
    with _open_video(path, args) as reader:
        fps = min(max(args.fps or reader.fps or 10.0, 0.1), 1000.0)
        res = subtract_video(reader, outputs, stem, method=args.method, train_frames=args.train_frames,
                             threshold=args.threshold, n_components=args.components,
                             shadows=getattr(args, "shadows", False), clean=args.clean, fmt=args.format, fps=fps,
                             n_threads=args.threads, total=reader.n_frames, progress=progress)
    if res.n_frames < 2:
        raise CLIError(f"{path} holds a single picture, not a video: bgsub needs several frames")
    written = outputs.commit([output_family(stem)])
    h, w = res.frame_shape[:2]
    return (f"{path}: {args.method}, {res.n_frames} frames of {w}x{h} ({res.n_train} learnt first, "
            f"{res.n_frames} masked) in {res.seconds:.2f} s, {res.n_frames / max(res.seconds, 1e-9):.1f} fps "
            "-> " + ", ".join(str(p) for p in written))


def run(args: argparse.Namespace) -> int:
    """Run ``gmmfast bgsub``; returns the exit status (1 if any video failed)."""
    from .._batch import unique_stems

    on_workers = parallel(args)
    paths = [Path(v) for v in args.videos]
    for p in paths:
        refuse_folder_as_output(p, args.output, "frames", "-o")
    names = unique_stems([str(p) for p in paths], default="video")
    with Progress() as progress, Outputs(args.output, overwrite=args.overwrite, protect=paths) as outputs, \
            Warnings(OPTIONS, progress) as caught:
        outputs.check_free([output_family(stem) for stem in names])
        if len(paths) == 1 and not on_workers:  # one video: its error is the run's error
            caught.source = str(paths[0])
            say(_subtract_one(paths[0], names[0], args, outputs, progress), progress)
            return 0
        failures = run_many(_subtract_one, paths, names, args, outputs, output_family, caught, progress,
                            on_workers)
    if failures:
        error(f"{failures} of {len(paths)} videos could not be processed")
        return 1
    return 0


def _f_measure(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = np.count_nonzero(pred & truth)
    fp = np.count_nonzero(pred & ~truth)
    fn = np.count_nonzero(~pred & truth)
    return 2 * tp / max(2 * tp + fp + fn, 1)


def demo_step(out_dir: Path, report: Callable[[str], None] = print) -> None:
    """``gmmfast demo``: background subtraction on the built-in clip.

    Writes the clip (``clip.gif``) and, per method, a folder ``bgsub-<method>``
    with clip_background.png, clip_mask.gif and clip_foreground.gif into
    ``out_dir``, and reports one line per method with the F-measure against the
    clip's known masks on the frames after the batch methods' training frames.
    """
    from ..data import sample_clip
    from ..video import write_video

    out_dir = Path(out_dir)
    frames, truth = sample_clip()
    with Outputs(out_dir, overwrite=True) as outputs:
        write_video(outputs.stage("clip.gif"), frames, fps=10)
        outputs.commit()
    train = DEFAULT_TRAIN_FRAMES
    for method in [m for m in ("adaptive", "pixelgmm", "median") if m in available_methods()]:
        with Outputs(out_dir / f"bgsub-{method}", overwrite=True) as outputs:
            res = subtract_video(frames, outputs, "clip", method=method, keep_masks=True)
            outputs.commit([output_family("clip")])
        pred = np.stack(res.masks) == 255
        f_after = _f_measure(pred[train:], truth[train:])
        report(
            f"bgsub {method}: built-in clip {frames.shape[2]}x{frames.shape[1]}, F = {f_after:.3f} on frames "
            f"{train}-{len(frames) - 1}, {res.n_frames / max(res.seconds, 1e-9):.0f} fps -> {out_dir / f'bgsub-{method}'}"
        )
