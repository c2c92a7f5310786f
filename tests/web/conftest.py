"""Fixtures of the web app's tests: generated inputs (no third-party data) and apps.

The helpers are handed to the tests through the ``gen`` fixture (test
modules are imported by path, so they cannot import this file).
"""

from __future__ import annotations

import io
import os
import struct
import types
import zlib
from pathlib import Path

import numpy as np
import pytest

#: Real images and video shared between projects (absent on a fresh clone); GMMFAST_SHARED_DATA
#: points elsewhere (a git worktree is not beside shared/).
SEED = Path(os.environ.get("GMMFAST_SHARED_DATA") or Path(__file__).resolve().parents[2].parent / "shared" / "data") / "seed"


def three_colour_image(height: int = 90, width: int = 120, seed: int = 0) -> np.ndarray:
    """An RGB image of three vertical bands (red, green, blue) with mild noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), dtype=np.float64)
    third = width // 3
    img[:, :third] = (200, 40, 40)
    img[:, third:2 * third] = (40, 180, 60)
    img[:, 2 * third:] = (50, 60, 210)
    img += rng.normal(0, 6, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def encode(image: np.ndarray, fmt: str, **options) -> bytes:
    """The image encoded by Pillow in ``fmt`` ('PNG', 'JPEG', 'WEBP', 'BMP', 'TIFF', 'GIF')."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **options)
    return buf.getvalue()


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny, valid-looking PNG whose header declares ``width`` x ``height`` grey pixels.

    Its only data chunk holds the compressed first rows: decoding it fully
    would need width x height bytes, which a safe server never allocates.
    """
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    rows = zlib.compress(b"\x00" * (width + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def gif_bytes(frames: np.ndarray, fps: float = 10.0) -> bytes:
    """An animated GIF of ``frames`` written by gmmfast.video (so it reads back the same way)."""
    import tempfile
    from pathlib import Path

    from gmmfast.video import write_video

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.gif"
        write_video(path, frames, fps)
        return path.read_bytes()


def decode_png(data: bytes) -> np.ndarray:
    """The pixels of PNG bytes (mode '1' masks as bool)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return np.array(img)


@pytest.fixture
def gen():
    """The input generators above, as ``gen.three_colour_image(...)`` etc."""
    return types.SimpleNamespace(three_colour_image=three_colour_image, encode=encode, png_bomb=png_bomb,
                                 gif_bytes=gif_bytes, decode_png=decode_png, seed=SEED)


@pytest.fixture
def make_app(tmp_path):
    """A factory of apps with small limits whose folders live under tmp_path; all are closed afterwards."""
    from gmmfast.web import close_app, create_app

    apps = []

    def make(**settings):
        base = dict(max_upload_mb=2, max_image_pixels=4_000_000, queue_size=4, job_ttl=600,
                    temp_dir=str(tmp_path), wait_seconds=60)
        app = create_app(**{**base, **settings})
        app.testing = True
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_app(app)


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()
