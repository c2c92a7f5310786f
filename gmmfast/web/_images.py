"""Pictures for the browser: downsized previews and their encodings.

Previews are cut down to a longest side of about ``preview_side`` pixels by
an integer factor: the photo by Pillow's box reduction (each preview pixel
the mean of a factor x factor block), label maps by taking every factor-th
pixel (a label is a category, it cannot be averaged), so a preview of labels
and the preview of the photo have the same size and line up.  Full-size
files are made only when downloaded.
"""

from __future__ import annotations

import io
import math

import numpy as np


def preview_factor(height: int, width: int, side: int) -> int:
    """The integer factor that brings the longer side to at most ``side`` pixels."""
    return max(1, math.ceil(max(height, width) / max(1, side)))


def as_display(image: np.ndarray) -> np.ndarray:
    """The image as uint8 grey (H x W) or RGB (H x W x 3) for showing (alpha dropped)."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] in (2, 4):
        img = img[:, :, :-1]
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.ascontiguousarray(img)


def display_alpha(image: np.ndarray) -> np.ndarray | None:
    """The uint8 alpha channel (H x W) of a grey + alpha or RGBA image, on as_display's scale; else None."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] not in (2, 4):
        return None
    return as_display(img[:, :, -1])


def reduce_image(image: np.ndarray, factor: int) -> np.ndarray:
    """``image`` (uint8, grey or RGB) shrunk by ``factor`` with box averaging; size ceil(H/f) x ceil(W/f)."""
    if factor == 1:
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).reduce(factor))


def subsample(labels: np.ndarray, factor: int) -> np.ndarray:
    """Every ``factor``-th pixel of a label map (same size as :func:`reduce_image`'s result)."""
    return labels if factor == 1 else np.ascontiguousarray(labels[::factor, ::factor])


def encode_png(arr: np.ndarray, *, compress_level: int = 1) -> bytes:
    """PNG bytes of a uint8 grey/RGB/RGBA array or a bool mask (written 1 bit per pixel).

    Level 1 compresses photos and masks to within a few per cent of the
    default level 6 at about half the time; the pixels are the same.
    """
    from PIL import Image

    arr = np.asarray(arr)
    img = Image.fromarray(np.ascontiguousarray(arr))  # a bool array gives a 1-bit image
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def encode_jpeg(arr: np.ndarray, quality: int = 85) -> bytes:
    """JPEG bytes of a uint8 grey or RGB array (for photo previews)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def hex_colour(rgb) -> str:
    """'#rrggbb' of an RGB triple or a grey level (0..255)."""
    values = [int(v) for v in np.atleast_1d(rgb)[:3]]
    if len(values) == 1:
        values *= 3
    return "#" + "".join(f"{max(0, min(255, v)):02x}" for v in values)
