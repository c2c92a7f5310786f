"""What a file holds, from its first bytes, and whether it is cut short.

The readers of :mod:`gmmfast.io` and :mod:`gmmfast.video` look at a file's
content before choosing a decoder, so that a text file is reported as text
(not as "needs FFmpeg"), a still photo given as a video says so, and a file cut
short is recognised from its own declared sizes before any frame is decoded.
Only the containers' fixed headers are read (a few dozen bytes per box or
chunk), never the media data.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

# kinds
IMAGE, VIDEO, TEXT, EMPTY, UNKNOWN = "image", "video", "text", "empty", "unknown"

_HEAD = 4096


@dataclass(frozen=True)
class Content:
    """What :func:`sniff` found: ``kind`` (image, video, text, empty, unknown) and a format name."""

    kind: str
    format: str = ""
    animated: bool = False  # an image format holding several frames (GIF, APNG, ...)

    def describe(self) -> str:
        """'a text file', 'a JPEG image', 'an AVI video', ..."""
        if self.kind == TEXT:
            return "a text file"
        if self.kind == EMPTY:
            return "an empty file"
        if self.kind == UNKNOWN:
            return "a file of unknown content"
        noun = "animation" if self.animated else self.kind
        acronym = self.format[:2].isupper()
        article = "an" if self.format[:1] in ("AEFHILMNORSX" if acronym else "AEIOU") else "a"
        return f"{article} {self.format} {noun}"


def _png_animated(head: bytes) -> bool:
    """An APNG declares its animation (acTL) before the first image data (IDAT)."""
    idat = head.find(b"IDAT")
    actl = head.find(b"acTL")
    return actl != -1 and (idat == -1 or actl < idat)


def _is_text(head: bytes) -> bool:
    if b"\0" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut by the 4 KB window is still text
        if exc.start < len(head) - 4:
            return False
        text = head[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\t\r\n\f" for ch in text)
    return printable >= 0.95 * max(len(text), 1)


def sniff(path: str | os.PathLike) -> Content:
    """The kind of content of the file at ``path`` (raises OSError if it cannot be opened)."""
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
    if not head:
        return Content(EMPTY)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Content(IMAGE, "PNG", _png_animated(head))
    if head.startswith(b"\xff\xd8\xff"):
        return Content(IMAGE, "JPEG")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Content(IMAGE, "GIF", True)
    if head[:4] in (b"II*\0", b"MM\0*"):
        return Content(IMAGE, "TIFF", True)
    if head[:2] == b"BM":
        return Content(IMAGE, "BMP")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Content(IMAGE, "WebP", b"ANIM" in head[12:64])
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Content(VIDEO, "AVI")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return Content(VIDEO, "QuickTime" if brand == b"qt  " else "MP4")
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return Content(VIDEO, "QuickTime")
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return Content(VIDEO, "WebM" if b"webm" in head[:64] else "Matroska")
    if head[:3] == b"FLV":
        return Content(VIDEO, "FLV")
    if head[:4] in (b"\0\0\1\xba", b"\0\0\1\xb3"):
        return Content(VIDEO, "MPEG")
    if head[:4] == b"\x30\x26\xb2\x75":
        return Content(VIDEO, "ASF")
    if len(head) > 376 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return Content(VIDEO, "MPEG-TS")
    if head[:2] in (b"P5", b"P6") and head[2:3].isspace():
        return Content(IMAGE, "PNM")
    if _is_text(head):
        return Content(TEXT)
    return Content(UNKNOWN)


def truncation(path: str | os.PathLike, content: Content) -> str | None:
    """How the file is cut short of the size its own headers declare, or None.

    Checks the container's top-level structure: the RIFF size of AVI/WebP,
    the top-level box sizes of MP4/QuickTime, the segment size of
    Matroska/WebM, and the trailer byte every complete GIF ends with.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if content.format in ("AVI", "WebP"):
            fh.seek(4)
            declared = struct.unpack("<I", fh.read(4))[0] + 8
            return _short(size, declared)
        if content.format in ("MP4", "QuickTime"):
            return _short(size, _boxes_end(fh, size))
        if content.format in ("Matroska", "WebM"):
            return _short(size, _ebml_end(fh, size))
        if content.format == "GIF":
            fh.seek(max(size - 1, 0))
            if fh.read(1) != b";":
                return "it does not end with the GIF trailer (the file is cut short)"
    return None


def declared_frames(path: str | os.PathLike, content: Content) -> int | None:
    """The frame count the container's header states, where it states one exactly (AVI)."""
    if content.format != "AVI":
        return None
    with open(path, "rb") as fh:
        head = fh.read(64)
    # RIFF <size> 'AVI ' LIST <size> 'hdrl' 'avih' <size> then the main header, whose
    # fifth 32-bit field is dwTotalFrames
    if len(head) < 52 or head[12:16] != b"LIST" or head[20:28] != b"hdrlavih":
        return None
    total = struct.unpack("<I", head[48:52])[0]
    return total or None


def _short(size: int, declared: int | None) -> str | None:
    if declared is None or size >= declared:
        return None
    return f"the file holds {size} of the {declared} bytes its header declares"


def _boxes_end(fh, size: int) -> int | None:
    """Where the last top-level ISO-BMFF box declares that it ends."""
    off = 0
    while off + 8 <= size:
        fh.seek(off)
        box_size, _ = struct.unpack(">I4s", fh.read(8))
        if box_size == 1:  # 64-bit size follows the type
            wide = fh.read(8)
            if len(wide) < 8:
                return None
            box_size = struct.unpack(">Q", wide)[0]
        elif box_size == 0:  # the box runs to the end of the file
            return None
        if box_size < 8:
            return None  # not a box structure we understand: say nothing
        off += box_size
    return off


def _ebml_vint(fh) -> tuple[int, int] | None:
    """An EBML variable-length integer: (value with the length marker removed, its length in bytes)."""
    first = fh.read(1)
    if not first:
        return None
    b = first[0]
    length = 1
    while length <= 8 and not b & (0x80 >> (length - 1)):
        length += 1
    if length > 8:
        return None
    value = b & (0xFF >> length)
    for c in fh.read(length - 1):
        value = (value << 8) | c
    return value, length


def _ebml_end(fh, size: int) -> int | None:
    """Where the Matroska Segment (the element after the EBML header) declares that it ends."""
    fh.seek(4)
    header = _ebml_vint(fh)
    if header is None:
        return None
    fh.seek(4 + header[1] + header[0])
    seg_id = fh.read(4)
    if seg_id != b"\x18\x53\x80\x67":
        return None
    seg = _ebml_vint(fh)
    if seg is None or seg[0] == (1 << (7 * seg[1])) - 1:  # all ones: unknown size (live streams)
        return None
    return fh.tell() + seg[0]
