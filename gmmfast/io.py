"""Reading and writing images (Pillow, from the ``image`` extra).

Images are NumPy arrays in the NumPy/Pillow convention: H x W grey,
H x W x 3 RGB or H x W x 4 RGBA, uint8 (or uint16 / float where the format
allows).  Video lives in :mod:`gmmfast.video`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import IO, Union

import numpy as np

from ._files import atomic_write
from ._validation import user_stacklevel

__all__ = ["read_image", "write_image"]

PathLike = Union[str, os.PathLike[str]]


def _pillow_image(what: str = "reading and writing images", extra: str = "image"):
    """PIL.Image, or an ImportError that says which extra to install."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"{what} needs Pillow: pip install 'gmmfast[{extra}]'") from exc
    return Image


_pillow = _pillow_image


def read_image(source: PathLike | IO[bytes]) -> np.ndarray:
    """Read an image file into an array (grey H x W, RGB H x W x 3 or RGBA H x W x 4).

    Palette and other modes are converted to RGB (RGBA when some pixel is
    transparent); of an animation or a multi-page file the first frame is read,
    with a warning (:func:`gmmfast.video.read_video` reads them all); 16-bit
    greyscale stays uint16 (16-bit colour is read at 8 bits, with a warning);
    32-bit integer and float images (TIFF) come back as int32 / float32 grey,
    scaled as they are stored.  A photo with an EXIF orientation tag is turned
    upright, as image viewers show it.  An image larger than Pillow's limit
    (``PIL.Image.MAX_IMAGE_PIXELS``), or whose pixels would not fit in the free
    memory, is refused before it is decoded.

    Parameters
    ----------
    source : str, os.PathLike or binary file object
        The image file, or an open file object with a ``read`` method (e.g.
        ``open(path, "rb")`` or ``io.BytesIO(data)``).  Bytes are not taken
        (wrap image data in ``io.BytesIO``).

    Returns
    -------
    ndarray
        A new, writable array: (H, W), (H, W, 3) or (H, W, 4), uint8 (uint16,
        int32 or float32 grey as described above).

    Raises
    ------
    FileNotFoundError
        If the path does not exist.
    TypeError
        If ``source`` is neither a path nor a binary file object.
    ValueError
        If the file is not an image Pillow can read (the message says what
        it holds instead: text, a video, a damaged image, ...), a path names
        a folder, or the image is too large (see above).
    """
    Image = _pillow()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"no such image file: {str(path)!r}")
        if path.is_dir():
            raise ValueError(f"{str(path)!r} is a folder, not an image file")
        if not path.is_file():      # a pipe with no writer blocks the open for ever
            raise ValueError(f"{str(path)!r} is not a file (a pipe or a device?); save the image to a file first")
        name = str(path)
    elif callable(getattr(source, "read", None)):
        name = getattr(source, "name", "<file object>")
    else:   # (bytes are not a path here: Pillow would take them for a file object)
        advice = " (wrap image data in io.BytesIO; pass a bytes path as os.fsdecode(path))" \
            if isinstance(source, bytes) else ""
        raise TypeError(f"source must be a path or a binary file object, got {type(source).__name__}{advice}.")
    try:
        with Image.open(source) as img:
            _check_decoded_size(img, name)
            _warn_if_narrowed(img, name)
            img.load()
            _warn_if_more_frames(img, name)
            # a camera's JPEG stores its pixels unrotated and says how to show them in the EXIF
            # orientation tag: turned here as every viewer turns it, so results line up with the photo
            arr = _pillow_array(_upright(img))
    except Image.DecompressionBombError as exc:
        raise ValueError(too_many_pixels(name, exc)) from None
    except _ImageTooLarge:
        raise      # (a ValueError, but not a damaged file's)
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(_unreadable(source, name, exc)) from exc
    return arr


def too_many_pixels(name: str, exc: Exception) -> str:
    """The message for Pillow's guard against images from unknown sources (``DecompressionBombError``,
    raised on opening a file that declares more than twice ``PIL.Image.MAX_IMAGE_PIXELS``; its warning,
    below that, passes through)."""
    return (f"{name!r}: {exc} Resize the image, or, if the file is yours and the memory suffices, raise that "
            "limit (PIL.Image.MAX_IMAGE_PIXELS).")


#: Bytes per pixel and band of the arrays Pillow decodes each band size into.
_BAND_BYTES = {"I": 4, "F": 4, "I;16": 2, "I;16B": 2, "I;16L": 2}


class _ImageTooLarge(ValueError):
    """An image refused for its size before it is decoded."""


def _check_decoded_size(img, name: str) -> None:
    """Refuse an image whose pixels would not fit in the memory free now, before decoding it: a
    small file can declare any size (a 'decompression bomb'), and decoding it would exhaust the
    memory -- the system then kills the process -- rather than fail."""
    from ._memory import check_fits_in_memory

    w, h = img.size
    need = w * h * len(img.getbands()) * _BAND_BYTES.get(img.mode, 1) * 2     # the decode and the array
    check_fits_in_memory(need, f"{name!r} is {w}x{h} pixels: reading it", "resize the image or free memory",
                         error=_ImageTooLarge)


def _warn_if_narrowed(img, name: str) -> None:
    """Pillow decodes a colour image of 16 bits per channel (PNG, TIFF) to 8 bits, silently."""
    if img.mode in ("RGB", "RGBA") and any(";16" in str(tile[3]) for tile in getattr(img, "tile", ())):
        warnings.warn(f"{name!r} has 16 bits per colour channel; it is read at 8 (Pillow reads colour images "
                      "so): convert it to 8 bits first to choose how", UserWarning,
                      stacklevel=user_stacklevel())


def _warn_if_more_frames(img, name: str) -> None:
    n = getattr(img, "n_frames", 1)
    if n > 1:
        warnings.warn(f"{name!r} holds {n} frames (an animation or a multi-page file); its first is read. "
                      "gmmfast.video.read_video reads them all", UserWarning, stacklevel=user_stacklevel())


def _orientation(img) -> int:
    """The EXIF orientation tag of an open Pillow image: 1 (as stored) to 8."""
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:          # a damaged EXIF block: the pixels as stored
        return 1
    return value if value in range(1, 9) else 1


def _upright(img):
    """``img`` turned by its EXIF orientation tag, or itself when it has none."""
    if _orientation(img) == 1:
        return img
    from PIL import ImageOps

    return ImageOps.exif_transpose(img)


def _upright_size(img) -> tuple[int, int]:
    """(width, height) of ``img`` once turned upright, read from its header (tags 5-8 turn it
    a quarter, swapping the sides)."""
    w, h = img.size
    return (h, w) if _orientation(img) >= 5 else (w, h)


def _pillow_array(img) -> np.ndarray:
    """A loaded Pillow image (or one frame of a sequence) as a writable array:
    grey, RGB or RGBA uint8; 16-bit grey, and 32-bit integer grey within
    0..65535, as uint16 (other 32-bit values as int32, not clipped); float grey
    as float32.  Converting those modes to "RGB" would clip them to 255."""
    mode = img.mode
    if mode in ("1", "L", "I;16", "I;16B", "I;16L"):
        arr = np.asarray(img.convert("L") if mode == "1" else img)
    elif mode == "I":            # 32-bit integers: uint16 when they fit, else kept (callers refuse them)
        arr = np.asarray(img)
        if arr.size and 0 <= int(arr.min()) and int(arr.max()) <= 65535:
            arr = arr.astype(np.uint16)
    elif mode == "F":
        arr = np.asarray(img, dtype=np.float32)
    elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        arr = np.asarray(img.convert("RGBA"))
        if mode == "P" and arr[..., 3].min(initial=255) == 255:
            arr = arr[..., :3]    # a palette's transparent entry that no pixel uses (GIFs often declare one)
    else:
        arr = np.asarray(img.convert("RGB"))
    return np.array(arr)  # writable, owns its data


def _unreadable(source, name: str, exc: BaseException) -> str:
    """Why Pillow could not read ``source``, from what the file holds."""
    from . import _sniff

    try:
        content = _sniff.sniff(source) if isinstance(source, (str, os.PathLike)) else None
    except OSError:
        content = None
    if content is None or content.kind == _sniff.UNKNOWN:
        return f"{name!r} is not an image file Pillow can read ({exc})"
    if content.kind in (_sniff.TEXT, _sniff.EMPTY, _sniff.VIDEO):
        return f"{name!r} is {content.describe()}, not an image"
    return f"{name!r} is a damaged or truncated {content.format} image ({exc})"


def write_image(path: PathLike, image: np.ndarray) -> Path:
    """Write an array as an image file; the format follows the file extension.

    Parent folders are created.  The file is written under a temporary name
    and renamed, so an interrupted write leaves no partial image.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its extension (any Pillow registers, such as
        ``.png``, ``.jpg``, ``.tif``) chooses the format.
    image : array-like
        H x W (grey), H x W x 3 (RGB) or H x W x 4 (RGBA), of uint8, uint16
        (grey only) or bool (written as 0/255).  Convert float images first.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    TypeError
        If the array's dtype is not uint8, uint16 or bool (the message says
        how to convert it).
    ValueError
        If the shape is not one of the above, a uint16 image has colour, the
        extension is unknown, or the format cannot hold the image (e.g.
        alpha or 16 bits in a JPEG).
    """
    Image = _pillow()
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(
            f"an image must be H x W, H x W x 3 or H x W x 4; got an array of shape {arr.shape}"
        )
    if arr.dtype == np.uint16 and arr.ndim != 2:
        raise ValueError("uint16 images can only be written as greyscale; convert to uint8 first")
    if arr.dtype not in (np.uint8, np.uint16):
        how = ""
        if arr.dtype.kind in "fiu" and arr.size:
            unit = arr.dtype.kind == "f" and float(np.nanmax(arr)) <= 1      # (the 0..1 scale: floats only)
            how = (" (values up to 1: (image * 255).round().astype(np.uint8))" if unit
                   else " (e.g. image.clip(0, 255).round().astype(np.uint8) for values on the 0..255 scale,"
                        " as PixelGMM's backgrounds are)")
        raise TypeError(f"write_image takes uint8, uint16 or bool arrays, got {arr.dtype}; convert first{how}")
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot write {str(path)!r}: unknown image extension (use one such as .png)")
    pil = Image.fromarray(np.ascontiguousarray(arr))
    try:
        with atomic_write(path) as fh:
            pil.save(fh, format=fmt)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"cannot write {str(path)!r}: {exc} (use an extension such as .png)") from exc
    except OSError as exc:
        if "cannot write mode" not in str(exc):
            raise
        # e.g. JPEG holds neither alpha nor 16 bits: say what to change, not Pillow's mode name
        what = "an alpha channel" if arr.ndim == 3 and arr.shape[2] == 4 else f"{arr.dtype} values"
        raise ValueError(f"cannot write {str(path)!r}: {fmt} files cannot hold {what}; write a .png "
                         "(or drop the alpha channel / convert to uint8 first)") from None
    return path
