"""A short synthetic video with known moving objects, for background subtraction.

Everything is generated here from a seed (no third-party footage): a smooth
textured background in earthy colours, sensor noise, three textured sprites
that move at constant speed and bounce off the borders, a slow global
brightness change and a rectangular region whose light flickers on and off.
The ground-truth mask of each frame marks the sprites only; the brightness
change and the flicker are background.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_int, check_real, check_seed

# Sprites: (kind, half height, half width, colour RGB, start row, start col, row speed, col speed).
# Colours are far from the background in RGB and in luminance (dark or bright).
_SPRITES = (
    ("disc", 11, 11, (20.0, 30.0, 110.0), 0.25, 0.2, 1.7, 3.1),
    ("rect", 8, 13, (250.0, 235.0, 90.0), 0.7, 0.75, -2.3, -2.2),
    ("ellipse", 7, 14, (120.0, 10.0, 20.0), 0.5, 0.5, 2.9, -1.3),
)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, scale: int) -> np.ndarray:
    """Noise in [-1, 1] with features of about ``scale`` pixels (bilinear upsampling of a coarse grid)."""
    gh, gw = h // scale + 2, w // scale + 2
    grid = rng.uniform(-1.0, 1.0, size=(gh, gw))
    ys = np.arange(h) / scale
    xs = np.arange(w) / scale
    y0 = ys.astype(int)
    x0 = xs.astype(int)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    fy = fy * fy * (3 - 2 * fy)  # smoothstep: no visible grid lines
    fx = fx * fx * (3 - 2 * fx)
    a = grid[y0][:, x0]
    b = grid[y0][:, x0 + 1]
    c = grid[y0 + 1][:, x0]
    d = grid[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Float RGB background texture, luminance roughly 80..150."""
    tex = 0.55 * _smooth_noise(rng, h, w, 24) + 0.3 * _smooth_noise(rng, h, w, 8) + 0.15 * _smooth_noise(rng, h, w, 3)
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = 0.25 * np.sin(xx * 0.35 + 0.15 * yy)  # a fine regular texture, like paving
    base = np.array([118.0, 122.0, 96.0])  # earthy grey-green
    tint = np.array([22.0, 18.0, 14.0])
    bg = base + (tex + stripes * (yy > h // 2))[..., None] * tint
    return bg


def _sprite_mask(kind: str, hh: int, hw: int, cy: float, cx: float, h: int, w: int):
    """Mask of a sprite centred at (cy, cx), and the local coordinates inside it."""
    yy, xx = np.mgrid[0:h, 0:w]
    dy = (yy - cy) / hh
    dx = (xx - cx) / hw
    if kind == "rect":
        m = (np.abs(dy) <= 1.0) & (np.abs(dx) <= 1.0)
    else:  # disc and ellipse
        m = dy * dy + dx * dx <= 1.0
    return m, dy, dx


def sample_clip(
    n_frames: int = 80,
    height: int = 120,
    width: int = 160,
    *,
    colour: bool = True,
    noise: float = 4.0,
    brightness: bool = True,
    flicker: bool = True,
    random_state: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic video with moving sprites and its ground-truth masks.

    The defaults give 80 frames of 160 x 120 pixels, like the traffic demo of
    the projects gmmfast replaces (train a background on frames 0-47, extract
    the foreground of frames 48-79).  The same arguments always give the same
    clip.

    Parameters
    ----------
    n_frames : int, default 80
    height, width : int, default 120, 160
        At least 48 x 48.
    colour : bool, default True
        RGB frames (T, H, W, 3); False gives grey frames (T, H, W) (luminance).
    noise : float, default 4.0
        Standard deviation of the Gaussian sensor noise, in grey levels.
    brightness : bool, default True
        A global brightness change: the whole frame's gain varies by +-8%
        with a period of 40 frames.
    flicker : bool, default True
        A light on a rectangular background region turns on and off at random
        (half of the frames), adding 45 grey levels there.
    random_state : int or None, default 0
        Seed of the texture, the noise and the flicker (None: a new clip at
        each call).

    Returns
    -------
    frames : uint8 array (T, H, W, 3) or (T, H, W)
    masks : bool array (T, H, W)
        True on the sprites (the moving objects).
    """
    T = check_int(n_frames, "n_frames", low=1)
    H, W = check_int(height, "height", low=48), check_int(width, "width", low=48)
    noise = check_real(noise, "noise", low=0, high=100)
    rng = np.random.default_rng(check_seed(random_state))
    bg = _background(rng, H, W)
    flick_on = rng.random(T) < 0.5
    fy0, fy1 = H // 12, H // 12 + H // 5
    fx0, fx1 = W - W // 4 - W // 16, W - W // 16
    frames = np.empty((T, H, W, 3), dtype=np.uint8)
    masks = np.zeros((T, H, W), dtype=bool)
    # sprite textures are fixed per sprite (they move with it)
    for t in range(T):
        img = bg.copy()
        if flicker and flick_on[t]:
            img[fy0:fy1, fx0:fx1] += 45.0
        for kind, hh, hw, col, r0, c0, vr, vc in _SPRITES:
            # bounce: reflect the straight path into the allowed range of centres
            lo_r, hi_r = hh, H - 1 - hh
            lo_c, hi_c = hw, W - 1 - hw
            r = lo_r + r0 * (hi_r - lo_r) + vr * t
            c = lo_c + c0 * (hi_c - lo_c) + vc * t
            span_r, span_c = hi_r - lo_r, hi_c - lo_c
            r = lo_r + span_r - abs((r - lo_r) % (2 * span_r) - span_r)
            c = lo_c + span_c - abs((c - lo_c) % (2 * span_c) - span_c)
            m, dy, dx = _sprite_mask(kind, hh, hw, r, c, H, W)
            pattern = 12.0 * np.sin(6.0 * dx + 3.0 * dy)[m]
            img[m] = np.asarray(col)[None, :] + pattern[:, None]
            masks[t] |= m
        if brightness:
            img *= 1.0 + 0.08 * np.sin(2.0 * np.pi * t / 40.0)
        if noise > 0:
            img += rng.normal(0.0, float(noise), size=img.shape)
        frames[t] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if not colour:
        lum = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.clip(np.rint(lum), 0, 255).astype(np.uint8), masks
    return frames, masks
