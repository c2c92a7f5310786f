"""Reading and writing video, frame by frame.

Sources that can be read:

- animated GIF (and other multi-frame images Pillow reads, e.g. TIFF stacks,
  APNG) through Pillow;
- MP4, AVI, MOV, MKV, WebM and anything else FFmpeg decodes, through the
  ``imageio-ffmpeg`` package (it ships an FFmpeg binary; no system FFmpeg is
  needed);
- a folder of images (PNG, JPEG, BMP, TIFF, WebP), read in natural order of
  the file names (``frame2.png`` before ``frame10.png``).

Both come with the optional extra ``video``: ``pip install 'gmmfast[video]'``.

Frames are uint8 arrays, H x W x 3 (RGB), or H x W when ``grey=True``
(ITU-R 601 luminance).  :func:`iter_frames` / :class:`VideoReader` give one
frame at a time (a video never needs to fit in memory); :func:`read_video`
returns a (T, H, W[, 3]) array.  :func:`write_video` / :class:`VideoWriter`
write GIF or MP4 (also AVI, MOV, MKV, WebM) from uint8 or bool frames.

The kind of file is recognised from its content, not its name: a text file,
an empty file or a still photo given as a video raises ValueError saying
what it is, and only a real video container asks for FFmpeg.  Files are
written under a temporary name and renamed when complete, so an interrupted
write never leaves a partial file (nor replaces an older one).

Errors: a missing path raises FileNotFoundError; a file that is not a video
(or is corrupt) raises ValueError naming the file; a video or folder with no
frames raises ValueError; a video that ends before the frames its header
declares (a truncated or damaged file) raises ValueError when the reading
gets there, saying after how many frames -- ``max_frames`` reads the frames
before the damage.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Union

import numpy as np

from . import _sniff
from ._validation import check_bool, check_int
from ._files import atomic_write, files_in, make_parent, publish_mode
from .io import _check_decoded_size, _pillow_array, _pillow_image, too_many_pixels

PathLike = Union[str, os.PathLike[str]]

__all__ = ["VideoReader", "VideoWriter", "iter_frames", "read_video", "write_video", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
_PILLOW_VIDEO = (".gif", ".apng", ".tif", ".tiff", ".webp")
_FFMPEG_OUT = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
# what Pillow raises on a damaged or cut-short file (a cut GIF can fail with IndexError/struct.error)
_PILLOW_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _pillow():
    Image = _pillow_image("reading and writing GIF", "video")
    from PIL import ImageSequence

    return Image, ImageSequence


def _ffmpeg():
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading and writing MP4/AVI needs imageio-ffmpeg: pip install 'gmmfast[video]'"
        ) from exc
    return imageio_ffmpeg


def _to_rgb_or_grey(arr: np.ndarray, grey: bool, name: str) -> np.ndarray:
    """uint8 H x W x 3 (or H x W when grey) from an image array."""
    if arr.dtype != np.uint8:
        if arr.dtype == np.uint16:     # the top 8 bits, as read_image's colour, segment and grabcut take them
            arr = arr >> 8
        elif arr.dtype.kind == "f":
            arr = np.clip(np.rint(arr * (255.0 if arr.max() <= 1.0 else 1.0)), 0, 255)
        elif arr.dtype.kind in "iu":    # 32-bit pages: refused past 16 bits rather than wrapped
            lo, hi = int(arr.min()), int(arr.max())
            if lo < 0 or hi > 65535:
                raise ValueError(f"{name}: 32-bit integer frames with values {lo}..{hi}, outside 0..65535; "
                                 "convert the video to 8 or 16 bits first.")
            arr = arr >> 8
        arr = arr.astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        return arr if grey else np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"{name}: unexpected frame shape {arr.shape}")
    if grey:
        return np.clip(np.rint(arr.astype(np.float32) @ _LUMA), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def _ffmpeg_error(name: str, text: str) -> str:
    """A one-line message from FFmpeg's error output (its first log line, without the banner)."""
    if "does not contain any stream" in text or "no video stream" in text.lower():
        return f"{name!r} contains no frames (no video stream)."
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    logged = [re.sub(r"^\[[^\]]*\]\s*", "", ln) for ln in lines if ln.startswith("[")]
    detail = logged[0] if logged else (lines[0] if lines else "unknown FFmpeg error")
    return f"cannot read {name!r} as a video: {detail}"


class _EndedEarly(ValueError):
    """A video whose frames end at damage; ``frames_read`` of them were readable (an interface
    that cannot take ``max_frames`` words its own advice from it)."""

    def __init__(self, message: str, frames_read: int):
        super().__init__(message)
        self.frames_read = frames_read


class VideoReader:
    """Frames of a video file or a folder of images, one at a time.

    Opening checks that the source exists, can be decoded and has at least one
    frame, so errors surface here rather than in the middle of a loop.

    Parameters
    ----------
    source : path
        A GIF, an MP4/AVI/... file, or a folder of images.
    grey : bool, default False
        Give H x W luminance frames instead of H x W x 3 RGB.
    max_frames : int or None
        Stop after this many frames.

    Attributes
    ----------
    path : Path
    fps : float or None
        Frame rate the file declares (None if it declares none).
    frame_shape : tuple
        (H, W, 3) or (H, W).
    n_frames : int or None
        Number of frames when the container says (folders and GIFs always do).

    Examples
    --------
    >>> with VideoReader("clip.mp4", grey=True) as video:  # doctest: +SKIP
    ...     for frame in video:
    ...         ...
    """

    def __init__(self, source: PathLike, *, grey: bool = False, max_frames: int | None = None) -> None:
        if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, (int, np.integer))
                                       or max_frames < 1):
            raise ValueError(f"max_frames must be None or a positive integer, got {max_frames!r}.")
        self.path = Path(source)
        self.grey = check_bool(grey, "grey")
        self.max_frames = None if max_frames is None else int(max_frames)
        self.fps: float | None = None
        self.n_frames: int | None = None
        #: how the file is cut short of the size its header declares, or None (see module doc)
        self.truncation: str | None = None
        self._declared: int | None = None  # frames the container declares, when it does
        if not self.path.exists():
            raise FileNotFoundError(f"no such video file or folder: {str(self.path)!r}")
        if not (self.path.is_dir() or self.path.is_file()):
            # a pipe is read by sniffing and seeked by the truncation check (or blocks with no writer)
            raise ValueError(f"{str(self.path)!r} is not a file or a folder (a pipe or a device?); save the "
                             "video to a file first.")
        self._gen = self._folder_frames() if self.path.is_dir() else self._file_frames()
        try:
            self._first = next(self._gen)
        except StopIteration:
            raise ValueError(f"{str(self.path)!r} contains no frames.") from None
        self.frame_shape = self._first.shape
        if self.max_frames is not None and self.n_frames is not None:
            self.n_frames = min(self.n_frames, self.max_frames)
        self._closed = False

    def _file_frames(self) -> Iterator[np.ndarray]:
        """Frames of a file, by a decoder chosen from its content."""
        name = str(self.path)
        content = _sniff.sniff(self.path)
        if content.kind in (_sniff.TEXT, _sniff.EMPTY):
            raise ValueError(f"{name!r} is {content.describe()}, not a video.")
        if content.kind == _sniff.IMAGE and not content.animated:
            raise ValueError(f"{name!r} is {content.describe()}, a still picture, not a video; "
                             "give a video file or a folder of frames.")
        self.truncation = _sniff.truncation(self.path, content)
        if content.kind == _sniff.IMAGE:
            return self._pillow_frames()
        if content.kind == _sniff.UNKNOWN:
            try:
                _ffmpeg()
            except ImportError:
                raise ValueError(f"{name!r} is not a video format gmmfast reads without FFmpeg (GIF, APNG, TIFF, "
                                 "WebP); if it is an MP4/AVI/... video, pip install 'gmmfast[video]'.") from None
        self._declared = _sniff.declared_frames(self.path, content)
        self.n_frames = self._declared
        return self._ffmpeg_frames()

    # -- the three kinds of source -------------------------------------------
    def _folder_frames(self) -> Iterator[np.ndarray]:
        from .io import read_image

        files = files_in(self.path, IMAGE_EXTENSIONS)
        if not files:
            raise ValueError(
                f"the folder {str(self.path)!r} has no images (looked for {', '.join(IMAGE_EXTENSIONS)})."
            )
        self.n_frames = len(files)
        shape = None
        for f in files:
            frame = _to_rgb_or_grey(read_image(f), self.grey, str(f))
            if shape is None:
                shape = frame.shape
            elif frame.shape != shape:
                raise ValueError(
                    f"images in a folder must all have one size: {f.name} is {frame.shape[1]}x{frame.shape[0]}, "
                    f"the first image is {shape[1]}x{shape[0]}."
                )
            yield frame

    def _pillow_frames(self) -> Iterator[np.ndarray]:
        Image, ImageSequence = _pillow()
        name = str(self.path)
        try:
            img = Image.open(self.path)
        except Image.DecompressionBombError as exc:
            raise ValueError(too_many_pixels(name, exc)) from None
        except _PILLOW_ERRORS as exc:
            raise ValueError(f"cannot read {name!r} as a video: {exc}") from exc
        with img:
            _check_decoded_size(img, name)     # a frame that would not fit in memory, refused before decoding
            if self.truncation is None:
                self.n_frames = self._declared = int(getattr(img, "n_frames", 1))
            duration = img.info.get("duration")
            if duration:
                self.fps = 1000.0 / float(duration)
            count, shape = 0, None
            pages = ImageSequence.Iterator(img)
            while True:
                try:
                    page = _pillow_array(next(pages))
                except StopIteration:
                    return
                except _PILLOW_ERRORS as exc:
                    if count == 0:
                        raise ValueError(f"cannot read {name!r} as a video: {exc}") from exc
                    raise self._ended_early(count, str(exc)) from exc
                arr = _to_rgb_or_grey(page, self.grey, name)   # 16-bit and float pages scaled as a folder's
                if shape is None:
                    shape = arr.shape
                elif arr.shape != shape:
                    raise ValueError(f"the frames of {name!r} must all have one size: frame {count + 1} is "
                                     f"{arr.shape[1]}x{arr.shape[0]}, the first is {shape[1]}x{shape[0]}.")
                yield arr
                count += 1

    def _ffmpeg_frames(self) -> Iterator[np.ndarray]:
        ffmpeg = _ffmpeg()
        name = str(self.path)
        reader = ffmpeg.read_frames(name, pix_fmt="rgb24")
        try:
            try:
                meta = next(reader)
            except (OSError, RuntimeError, StopIteration) as exc:
                if self.truncation is not None:
                    raise ValueError(f"cannot read {name!r}: {self.truncation}, and no frame can be decoded "
                                     "from what is there (the file is truncated).") from exc
                raise ValueError(_ffmpeg_error(name, str(exc))) from exc
            w, h = meta["size"]
            self.fps = float(meta["fps"]) if meta.get("fps") else None
            nbytes = w * h * 3
            while True:
                try:
                    raw = next(reader)
                except StopIteration:
                    return
                except (OSError, RuntimeError) as exc:
                    raise ValueError(_ffmpeg_error(name, str(exc))) from exc
                if len(raw) != nbytes:
                    return
                frame = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)
                yield _to_rgb_or_grey(frame.copy(), self.grey, name)
        finally:
            reader.close()

    # -- iteration ------------------------------------------------------------
    def __iter__(self) -> Iterator[np.ndarray]:
        if self._closed:
            raise ValueError("this VideoReader is closed (each reader can be iterated once).")
        self._closed = True
        count = 0
        first, self._first = self._first, None
        if first is not None:
            yield first
            count = 1
        try:
            # stop at max_frames before decoding one frame more: the frames after it may be the damaged ones
            while self.max_frames is None or count < self.max_frames:
                try:
                    frame = next(self._gen)
                except StopIteration:
                    if self.truncation is not None or (self._declared is not None and count < self._declared):
                        raise self._ended_early(count) from None
                    return
                yield frame
                count += 1
        finally:
            self._gen.close()

    def _ended_early(self, count: int, detail: str = "") -> _EndedEarly:
        """The error for a video whose frames end before the file says they do."""
        name = str(self.path)
        if self._declared is not None and count < self._declared:
            what = f"after {count} of the {self._declared} frames it declares"
        else:
            what = f"after {count} frame(s)"
        why = self.truncation or detail or "the file is damaged"
        return _EndedEarly(f"{name!r} ends {what} ({why}); it is truncated or damaged: pass "
                           f"max_frames={count} to read only the frames before the damage.", count)

    def close(self) -> None:
        """Release the file (also done when iteration ends)."""
        self._closed = True
        self._gen.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def iter_frames(source: PathLike, *, grey: bool = False, max_frames: int | None = None) -> VideoReader:
    """Frames of a video or a folder of images, one at a time (see :class:`VideoReader`).

    Parameters
    ----------
    source : str or os.PathLike
        A GIF (or other multi-frame image), an MP4/AVI/... file, or a folder
        of images; the kind is recognised from the content.
    grey : bool, default False
        Give H x W luminance frames instead of H x W x 3 RGB.
    max_frames : int or None, default None
        Stop after this many frames (>= 1); None reads them all.

    Returns
    -------
    VideoReader
        Opened (the first frame is decoded, so a bad source fails here);
        iterate over it once for the uint8 frames.

    Raises
    ------
    FileNotFoundError
        If ``source`` does not exist.
    ValueError
        If it is not a video or a folder of images, has no frames, or
        ``grey`` is not a bool or ``max_frames`` not None or an int >= 1.
    """
    return VideoReader(source, grey=grey, max_frames=max_frames)


def read_video(source: PathLike, *, grey: bool = False, max_frames: int | None = None) -> np.ndarray:
    """All frames (up to ``max_frames``) of a video, in memory.

    Parameters
    ----------
    source : str or os.PathLike
        A GIF (or other multi-frame image), an MP4/AVI/... file, or a folder
        of images; the kind is recognised from the content.
    grey : bool, default False
        Give H x W luminance frames instead of H x W x 3 RGB.
    max_frames : int or None, default None
        Stop after this many frames (>= 1); None reads them all.

    Returns
    -------
    ndarray (T, H, W, 3) or (T, H, W) uint8

    Raises
    ------
    FileNotFoundError
        If ``source`` does not exist.
    ValueError
        If it is not a video or a folder of images, has no frames, or
        ``grey`` is not a bool or ``max_frames`` not None or an int >= 1.
        Also when the video ends before the frames it declares (truncated
        or damaged): the message gives the ``max_frames`` that reads the
        frames before the damage.
    """
    reader = VideoReader(source, grey=grey, max_frames=max_frames)
    return np.stack(list(reader))


# ----------------------------------------------------------------------------- writing


def _frame_for_writing(frame, shape, path) -> np.ndarray:
    arr = np.asarray(frame)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8:
        raise TypeError(
            f"video frames must be uint8 (or bool masks), got {arr.dtype}; convert with "
            "np.clip(np.rint(frame), 0, 255).astype(np.uint8)."
        )
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3) or arr.size == 0:
        raise ValueError(f"a video frame must be H x W (grey) or H x W x 3 (RGB); got shape {arr.shape}.")
    if shape is not None and arr.shape != shape:
        raise ValueError(
            f"all frames of {str(path)!r} must have one shape: got {arr.shape} after {shape}."
        )
    return np.ascontiguousarray(arr)


#: Free bytes below which a failed FFmpeg write is put down to a full disk.
_FULL_DISK = 16 << 20


def _ffmpeg_process(gen) -> subprocess.Popen | None:
    """The FFmpeg process behind an imageio-ffmpeg ``write_frames`` generator (its local ``p``).
    The generator never looks at FFmpeg's exit status, so an encode that failed -- a full disk --
    was taken for a finished file and put in place cut short; with the process, close() can look."""
    frame = getattr(gen, "gi_frame", None)
    proc = frame.f_locals.get("p") if frame is not None else None
    return proc if isinstance(proc, subprocess.Popen) else None


class VideoWriter:
    """Write frames to a GIF or an MP4/AVI/... file, one at a time.

    Parameters
    ----------
    path : path
        Output file; the extension picks the format (``.gif`` through Pillow,
        ``.mp4``/``.avi``/``.mov``/``.mkv``/``.webm`` through FFmpeg, H.264 for MP4).
        Parent folders are created.
    fps : float, default 10
        Frame rate.
    quality : int, default 8
        FFmpeg quality 1..10, 10 the best (checked for GIF too, which ignores
        it: GIF is lossless for grey frames and quantises RGB frames to 256
        colours each).

    Frames are uint8 H x W (grey) or H x W x 3 (RGB), or bool masks (written
    as 0/255), all of one shape.  FFmpeg files of odd width or height are
    padded by one black row/column (H.264 needs even sizes).  A GIF frame equal
    to the one before (after quantisation) gets its top-left pixel's value
    changed by 1 (0 -> 1, 255 -> 254), so GIF writers do not merge the two
    and the frame count is kept: threshold a mask read back at 127, not 0.  RGB GIF
    frames are quantised as they are written, so :meth:`close` only encodes.

    The file is written under a temporary name beside ``path`` and renamed
    to ``path`` by :meth:`close`: until then (and if the writing fails or is
    interrupted) ``path`` is untouched.  Use as a context manager, or call
    :meth:`close`.
    """

    def __init__(self, path: PathLike, fps: float = 10.0, *, quality: int = 8) -> None:
        if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) or not 0 < float(fps) <= 1000:
            raise ValueError(f"fps must be a number in (0, 1000], got {fps!r}.")
        self.path = Path(path)
        self.fps = float(fps)
        self.quality = check_int(quality, "quality", low=1, high=10)
        ext = self.path.suffix.lower()
        if ext == ".gif":
            _pillow()
            self._kind = "gif"
        elif ext in _FFMPEG_OUT:
            _ffmpeg()
            self._kind = "ffmpeg"
        else:
            raise ValueError(
                f"cannot write video {str(self.path)!r}: use a .gif or one of {', '.join(_FFMPEG_OUT)} extension."
            )
        self._shape = None
        self._frames: list = []
        self._prev: bytes | None = None
        self._pipe = None
        self._proc: subprocess.Popen | None = None
        self._tmp: Path | None = None
        self.n_written = 0
        self._closed = False

    def write(self, frame: np.ndarray) -> None:
        """Append one frame.

        Parameters
        ----------
        frame : array-like (H, W) or (H, W, 3), uint8 or bool
            Grey or RGB; bool masks are written as 0/255.  Every frame must
            have the first frame's shape.

        Raises
        ------
        TypeError
            If the frame is neither uint8 nor bool.
        ValueError
            If the frame's shape is not one of the above or differs from the
            first frame's, or the writer is closed.
        OSError
            If FFmpeg stopped (e.g. the disk is full).
        """
        if self._closed:
            raise ValueError(f"the writer of {str(self.path)!r} is closed.")
        arr = _frame_for_writing(frame, self._shape, self.path)
        if self._shape is None:
            self._shape = arr.shape
            if self._kind == "ffmpeg":
                self._open_pipe(arr)
        if self._kind == "gif":
            self._frames.append(self._gif_frame(arr))
        else:
            try:
                self._pipe.send(arr)
            except OSError:          # FFmpeg has stopped (imageio-ffmpeg's message is its command line)
                raise self._ffmpeg_failed() from None
        self.n_written += 1

    def _gif_frame(self, arr: np.ndarray):
        """The Pillow image GIF stores for ``arr``: grey as it is, RGB quantised to an adaptive palette
        (what Pillow's GIF encoder does itself), kept distinct from the frame before."""
        Image, _ = _pillow()
        img = Image.fromarray(arr)
        if img.mode == "RGB":
            img = img.convert("P", palette=Image.Palette.ADAPTIVE)
        data = img.tobytes() + (bytes(img.getpalette() or ()) if img.mode == "P" else b"")
        if data == self._prev:
            # Pillow's GIF encoder merges a frame equal to the one before into it; move one corner
            # pixel to the neighbouring grey level / palette entry so the frame count is kept
            img = img.copy()
            value = img.getpixel((0, 0))
            img.putpixel((0, 0), value ^ 1)
            data = img.tobytes() + (bytes(img.getpalette() or ()) if img.mode == "P" else b"")
        self._prev = data
        return img

    def _open_pipe(self, arr: np.ndarray) -> None:
        ffmpeg = _ffmpeg()
        h, w = arr.shape[:2]
        out_params = []
        if h % 2 or w % 2:
            out_params = ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        # FFmpeg writes a temporary file with the same extension (it picks the container by it)
        make_parent(self.path)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=f".part{self.path.suffix}",
                                   dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        self._pipe = ffmpeg.write_frames(
            str(self._tmp),
            (w, h),
            pix_fmt_in="gray" if arr.ndim == 2 else "rgb24",
            fps=self.fps,
            quality=self.quality,
            macro_block_size=1,
            output_params=out_params or None,
            ffmpeg_log_level="error",
        )
        self._pipe.send(None)  # start ffmpeg
        self._proc = _ffmpeg_process(self._pipe)

    def _ffmpeg_failed(self) -> OSError:
        """The error of an FFmpeg that stopped or failed (its own lines are on stderr above)."""
        try:
            full = shutil.disk_usage(self.path.parent).free < _FULL_DISK
        except OSError:
            full = False
        if full:
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
        code = getattr(self._proc, "returncode", None)
        return OSError(f"FFmpeg failed to write {str(self.path)!r}" + (f" (exit status {code})" if code else "")
                       + "; its messages are above")

    def close(self) -> None:
        """Finish the file and put it in place.  Raises ValueError if no frame was written."""
        if self._closed:
            return
        self._closed = True
        if self.n_written == 0:
            raise ValueError(f"no frames were written to {str(self.path)!r}.")
        if self._kind == "gif":
            first, rest = self._frames[0], self._frames[1:]
            self._frames = []
            with atomic_write(self.path) as fh:
                first.save(fh, format="GIF", save_all=True, append_images=rest,
                           duration=max(1, int(round(1000.0 / self.fps))), loop=0)
        else:
            try:
                self._pipe.close()
                if self._proc is not None and self._proc.returncode != 0:
                    raise self._ffmpeg_failed()     # (a full disk: the file is cut short)
                publish_mode(self._tmp)
                os.replace(self._tmp, self.path)
            finally:
                self._discard_tmp()

    def abandon(self) -> None:
        """Stop without writing ``path`` (the temporary file is removed)."""
        self._closed = True
        self._frames = []
        if self._pipe is not None:
            with contextlib.suppress(Exception):
                self._pipe.close()
        self._discard_tmp()

    def _discard_tmp(self) -> None:
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # do not mask the original error
            self.abandon()


def write_video(path: PathLike, frames: Iterable[np.ndarray], fps: float = 10.0, *, quality: int = 8) -> Path:
    """Write frames to a GIF or an MP4/AVI/... file (see :class:`VideoWriter`).

    Parameters
    ----------
    path : str or os.PathLike
        Output file; the extension picks the format (``.gif``, ``.mp4``,
        ``.avi``, ``.mov``, ``.mkv``, ``.webm``, ``.m4v``).  Parent folders
        are created; the file appears only once complete.
    frames : array (T, H, W) or (T, H, W, 3), or an iterable of frames
        At least one frame; uint8, or bool masks (written as 0/255), all of
        one shape.
    fps : float, default 10.0
        Frame rate, in (0, 1000].
    quality : int, default 8
        FFmpeg quality 1..10, 10 the best (checked for GIF too, which
        ignores it).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If there are no frames, the extension is not a video format, ``fps``
        or ``quality`` is out of range, or the frames' shapes are wrong.
    TypeError
        If ``frames`` is not an array or iterable, or a frame is neither
        uint8 nor bool.
    """
    if isinstance(frames, np.ndarray) and (frames.ndim < 3 or frames.shape[0] == 0):
        raise ValueError(f"frames must be a non-empty stack (T, H, W[, 3]), got an array of shape {frames.shape}.")
    if not hasattr(frames, "__iter__") or isinstance(frames, (str, bytes)):
        raise TypeError(f"frames must be an array (T, H, W[, 3]) or an iterable of frames, got {type(frames).__name__}.")
    with VideoWriter(path, fps, quality=quality) as writer:
        for frame in frames:
            writer.write(frame)
    return Path(path)
