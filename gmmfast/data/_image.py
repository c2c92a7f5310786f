"""A photograph-like sample image with known regions, drawn by the project.

A landscape: sky with a brightness gradient, textured grass hills, a pond
with ripples, and a house (plaster wall, red tiled roof).  Colours carry
smooth texture, soft (anti-aliased) edges, a vignette and sensor-like noise,
so that segmenting it is a fair miniature of segmenting a photograph, while
the true region of every pixel is known.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from .._validation import RandomStateLike, check_int, check_real, check_seed

#: Names of the regions of :func:`sample_image`, in label order.
SAMPLE_IMAGE_REGIONS = ("sky", "grass", "pond", "roof", "wall")


class SampleImage(NamedTuple):
    """What :func:`sample_image` returns."""

    image: np.ndarray
    """H x W x 3 uint8 RGB picture."""
    labels: np.ndarray
    """H x W uint8 true region of each pixel (indices into ``names``)."""
    mask: np.ndarray
    """H x W bool: the house (roof and wall), the picture's foreground object."""
    rect: tuple[int, int, int, int]
    """(x, y, width, height) of a box around the house: ``grabcut(image, rect=rect)``'s convention."""
    names: tuple[str, ...]
    """Region names, indexed by label."""

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Deprecated: the box as corners (x1, y1, x2, y2), what this field was; use ``rect``."""
        warnings.warn("SampleImage.box (corners x1, y1, x2, y2) is deprecated: use rect, (x, y, width, "
                      "height), the box grabcut takes.", DeprecationWarning, stacklevel=2)
        x, y, w, h = self.rect
        return x, y, x + w, y + h


def _value_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Smooth random field in [-1, 1]: a random grid of spacing ``cell``, bilinearly interpolated."""
    H, W = shape
    gh, gw = H // cell + 2, W // cell + 2
    grid = rng.uniform(-1.0, 1.0, size=(gh, gw))
    y = np.arange(H) / cell
    x = np.arange(W) / cell
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    fy, fx = y - y0, x - x0
    fy = fy * fy * (3 - 2 * fy)  # smoothstep: no visible grid lines
    fx = fx * fx * (3 - 2 * fx)
    a = grid[np.ix_(y0, x0)]
    b = grid[np.ix_(y0, x0 + 1)]
    c = grid[np.ix_(y0 + 1, x0)]
    d = grid[np.ix_(y0 + 1, x0 + 1)]
    fx = fx[None, :]
    fy = fy[:, None]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def _fractal(rng: np.random.Generator, shape: tuple[int, int], cells=(48, 24, 12, 6)) -> np.ndarray:
    out = np.zeros(shape)
    amp, total = 1.0, 0.0
    for cell in cells:
        out += amp * _value_noise(rng, shape, cell)
        total += amp
        amp *= 0.55
    return out / total


def _box_blur3(img: np.ndarray) -> np.ndarray:
    p = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    H, W = img.shape[:2]
    acc = np.zeros_like(img, dtype=np.float64)
    for dy in range(3):
        for dx in range(3):
            acc += p[dy:dy + H, dx:dx + W]
    return acc / 9.0


def sample_image(height: int = 320, width: int = 480, noise: float = 4.0,
                 random_state: RandomStateLike = 0) -> SampleImage:
    """A deterministic photograph-like RGB image with its true region map.

    Parameters
    ----------
    height, width : int
        Size in pixels (at least 32 x 48; the scene scales with it).
    noise : float
        Standard deviation of the per-pixel sensor noise (0..255 scale).
    random_state : int, numpy Generator or RandomState, or None
        Seed of the textures and noise (as in the other generators); the
        default image is always the same, None draws a new one.

    Returns
    -------
    SampleImage
        ``(image, labels, mask, rect, names)``: the picture (uint8 H x W x 3),
        the region of each pixel (uint8, see :data:`SAMPLE_IMAGE_REGIONS`:
        0 sky, 1 grass, 2 pond, 3 roof, 4 wall), the house mask, a box
        around the house as (x, y, width, height), as ``grabcut``'s ``rect``,
        and the region names.
    """
    seed = check_seed(random_state)
    # (only an int seed makes the same image again: a generator, or None, draws a new one each call)
    build = _sample_image_cached if isinstance(seed, int) else _sample_image
    return SampleImage(*(a.copy() if isinstance(a, np.ndarray) else a for a in build(height, width, noise, seed)))


def _sample_image(height, width, noise, seed) -> SampleImage:
    H, W = check_int(height, "height", low=32), check_int(width, "width", low=48)
    noise = check_real(noise, "noise", low=0)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    u, v = xx / W, yy / H  # 0..1 scene coordinates

    # -- region map
    horizon = 0.47 + 0.05 * np.sin(2 * np.pi * (u * 1.3 + 0.15)) + 0.03 * np.sin(2 * np.pi * u * 3.7)
    labels = np.where(v < horizon, 0, 1).astype(np.uint8)
    pond = ((u - 0.25) / 0.17) ** 2 + ((v - 0.80) / 0.09) ** 2 < 1.0
    labels[pond] = 2
    wall = (u > 0.55) & (u < 0.80) & (v > 0.50) & (v < 0.80)
    labels[wall] = 4
    apex_u, apex_v, base_v, half = 0.675, 0.30, 0.50, 0.15
    roof = (v >= apex_v) & (v <= base_v) & (np.abs(u - apex_u) <= half * (v - apex_v) / (base_v - apex_v))
    labels[roof] = 3

    # -- colours with texture
    tex = _fractal(rng, (H, W))
    fine = _fractal(rng, (H, W), cells=(6, 3))
    img = np.zeros((H, W, 3))
    sky_top, sky_low = np.array([70.0, 130.0, 215.0]), np.array([165.0, 200.0, 240.0])
    t = np.clip(v / 0.55, 0, 1)[..., None]
    sky = sky_top * (1 - t) + sky_low * t + 6.0 * tex[..., None]
    grass = np.array([70.0, 135.0, 55.0]) + np.array([22.0, 30.0, 14.0]) * tex[..., None] \
        + np.array([8.0, 10.0, 6.0]) * fine[..., None]
    grass *= (0.85 + 0.25 * v)[..., None]  # nearer grass is lighter
    ripple = np.sin(2 * np.pi * (v * H / 7.0 + 0.8 * tex))
    water = np.array([35.0, 70.0, 105.0]) + np.array([10.0, 14.0, 18.0]) * ripple[..., None]
    tiles = np.sign(np.sin(2 * np.pi * yy / 9.0)) * 0.5 + 0.5  # rows of tiles with dark joints
    roof_c = np.array([175.0, 55.0, 40.0]) - np.array([25.0, 12.0, 8.0]) * (tiles < 0.5)[..., None] \
        + 8.0 * fine[..., None]
    wall_c = np.array([220.0, 205.0, 170.0]) + np.array([10.0, 10.0, 8.0]) * tex[..., None] \
        + 6.0 * fine[..., None]
    for k, colour in enumerate((sky, grass, water, roof_c, wall_c)):
        sel = labels == k
        img[sel] = colour[sel]

    # -- photographic touches: soft edges, vignette, noise
    img = _box_blur3(img)
    r2 = ((u - 0.5) ** 2 + (v - 0.5) ** 2) / 0.5
    img *= (1.0 - 0.12 * r2)[..., None]
    if noise > 0:
        img += rng.normal(0.0, noise, size=img.shape)
    image = np.clip(np.round(img), 0, 255).astype(np.uint8)

    mask = (labels == 3) | (labels == 4)
    ys, xs = np.nonzero(mask)
    pad = max(2, min(H, W) // 40)
    x, y = max(int(xs.min()) - pad, 0), max(int(ys.min()) - pad, 0)
    rect = (x, y, min(int(xs.max()) + 1 + pad, W) - x, min(int(ys.max()) + 1 + pad, H) - y)
    return SampleImage(image, labels, mask, rect, SAMPLE_IMAGE_REGIONS)


_sample_image_cached = lru_cache(maxsize=4)(_sample_image)
