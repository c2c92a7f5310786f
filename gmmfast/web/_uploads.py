"""Checking uploads by their content, never by their name.

An upload is accepted as an image only when its first bytes are the
signature of JPEG, PNG, WebP, BMP, TIFF or GIF *and* Pillow parses its header
as that format *and* the declared size is within the pixel limit -- checked
from the header, before any pixel is decoded, so a small file declaring
50 000 x 50 000 pixels is refused without allocating them.  Videos are
recognised the same way (GIF, animated PNG/WebP, AVI, MP4/MOV, Matroska/WebM).
The client's file name is used only for display and for the names inside
downloads, after :func:`safe_stem` has reduced it to letters, marks and digits (of any
script) and ``._-``.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from ._jobs import UserError

#: Image formats accepted (Pillow's format name -> the name users know).
#: A GIF is read as its first frame.
IMAGE_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP", "TIFF": "TIFF", "GIF": "GIF"}

#: What the pages say is accepted.
IMAGE_TYPES_TEXT = "JPEG, PNG, WebP, BMP or TIFF"
VIDEO_TYPES_TEXT = "GIF, MP4, AVI, MOV, WebM/MKV, animated PNG or WebP"


class BadUpload(UserError):
    """The upload is not a usable image or video (answered with 400)."""


class TooLarge(UserError):
    """The upload declares more pixels or frames than the server allows (answered with 413)."""


def sniff(data: bytes) -> str | None:
    """The container an upload's first bytes announce ('jpeg', 'png', 'gif', 'webp', 'bmp',
    'tiff', 'avi', 'mp4', 'mkv'), or None."""
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"BM") and len(data) >= 26:
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] in (b"ftyp", b"moov", b"mdat"):
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "mkv"
    return None


def safe_stem(filename: str | None, default: str = "image") -> str:
    """A file stem safe in download names: letters, marks and digits of any script, '-', '_' and
    '.', at most 40 characters.  Control, format (e.g. right-to-left override), space, symbol and
    punctuation characters become '_'; NFC first, so a letter typed as letter + accent stays one."""
    name = unicodedata.normalize("NFC", (filename or "").replace("\\", "/").rsplit("/", 1)[-1])
    stem = name.rsplit(".", 1)[0] if "." in name.strip(".") else name
    # letters, marks (the vowel signs of Devanagari and other scripts) and digits of any script
    kept = "".join(c if c in "._-" or unicodedata.category(c)[0] in "LMN" else "\0" for c in stem)
    stem = re.sub("\0+", "_", kept).strip("._")[:40]
    return stem or default


@dataclass(frozen=True)
class ImageHeader:
    """What an image upload's header says."""

    format: str
    width: int
    height: int
    mode: str
    frames: int = 1           # an animation's frames (its first is the image)


def check_image_bytes(data: bytes, max_pixels: int) -> ImageHeader:
    """Check that ``data`` is an image of an accepted format within ``max_pixels``.

    Only the header is parsed.  Raises :class:`BadUpload` for anything that
    is not such an image and :class:`TooLarge` for a declared size above the
    limit.
    """
    from PIL import Image, UnidentifiedImageError

    from ..io import _upright_size

    kind = sniff(data)
    if kind is None or kind in ("avi", "mp4", "mkv"):
        raise BadUpload(f"This file is not an image (accepted: {IMAGE_TYPES_TEXT}).")
    try:
        with Image.open(io.BytesIO(data)) as img:
            # the size the decoded image will have: read_image turns a photo upright by its EXIF tag
            fmt, (width, height), mode = img.format, _upright_size(img), img.mode
            frames = getattr(img, "n_frames", 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise BadUpload(f"This file looks like a {kind.upper()} image but cannot be read: {exc}") from None
    except Image.DecompressionBombError as exc:
        raise _declares_too_many(exc, "image", max_pixels) from None
    if fmt == "MPO":  # a camera JPEG carrying extra pictures: its first is an ordinary JPEG
        fmt = "JPEG"
    if fmt not in IMAGE_FORMATS or fmt.lower() != kind:
        raise BadUpload(f"This file is not an image of an accepted format (accepted: {IMAGE_TYPES_TEXT}).")
    _check_pixels(width, height, max_pixels)
    return ImageHeader(fmt, width, height, mode, frames)


def _declares_too_many(exc: Exception, what: str, max_pixels: int) -> TooLarge:
    """Pillow's refusal of a file that declares more pixels than its own, higher limit (its message
    carries the declared pixel count) as the page's message."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    declared = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "too many pixels"
    return TooLarge(f"This {what} declares {declared}; the limit is {max_pixels / 1e6:.0f} megapixels.")


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise BadUpload(f"This image declares an empty size ({width}x{height}).")
    if width * height > max_pixels:
        raise TooLarge(f"This image declares {width}x{height} pixels ({width * height / 1e6:.0f} megapixels); "
                       f"the limit is {max_pixels / 1e6:.0f} megapixels. Please resize it first.")


def decode_image(data: bytes, max_pixels: int) -> tuple[np.ndarray, ImageHeader]:
    """Check the header (:func:`check_image_bytes`), then decode the pixels with :func:`gmmfast.io.read_image`."""
    from ..io import read_image

    header = check_image_bytes(data, max_pixels)
    try:
        image = read_image(io.BytesIO(data))
    except ValueError as exc:
        raise BadUpload(f"This {IMAGE_FORMATS[header.format]} image is damaged and cannot be decoded.") from exc
    return image, header


def video_suffix(data: bytes) -> str:
    """The file extension the video reader needs for this upload's content.

    Raises :class:`BadUpload` when the content is neither a video nor an
    animated image.
    """
    kind = sniff(data)
    suffix = {"gif": ".gif", "png": ".apng", "webp": ".webp", "avi": ".avi", "mp4": ".mp4", "mkv": ".mkv"}.get(kind or "")
    if suffix is None:
        raise BadUpload(f"This file is not a video (accepted: {VIDEO_TYPES_TEXT}).")
    return suffix


def check_video_header(path, suffix: str, max_frame_pixels: int) -> tuple[int, int]:
    """(width, height) a stored video declares, checked against ``max_frame_pixels`` before decoding."""
    if suffix in (".gif", ".apng", ".webp"):
        from PIL import Image

        try:
            with Image.open(path) as img:
                width, height = img.size
                frames = getattr(img, "n_frames", 1)
        except Image.DecompressionBombError as exc:
            raise _declares_too_many(exc, "animated image", max_frame_pixels) from None
        except Exception:
            raise BadUpload("This animated image cannot be read.") from None
        if frames < 2:
            raise BadUpload("This is a still image (one frame), not a video: background subtraction needs a "
                            "video or an animated GIF / PNG / WebP of at least 2 frames.")
    else:
        width, height = _ffmpeg_size(path)
    _check_pixels(width, height, max_frame_pixels)
    return width, height


def _ffmpeg_size(path) -> tuple[int, int]:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise BadUpload("This server cannot read MP4/AVI/WebM videos (imageio-ffmpeg is not installed); "
                        "upload a GIF instead.") from None
    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
        width, height = (int(v) for v in meta["size"])
    except (RuntimeError, OSError, StopIteration, KeyError, TypeError, ValueError):
        raise BadUpload("This video cannot be read (damaged, or a codec FFmpeg does not know).") from None
    finally:
        reader.close()
    return width, height
