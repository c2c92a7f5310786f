"""Camera-shake compensation for the adaptive background pipeline (step 0 of
:class:`gmmfast.BackgroundSubtractor`).

A shaking camera moves the whole scene by a few pixels from frame to frame, and a
per-pixel model sees every edge of the scene as foreground.  Each frame is shifted by
the integer translation that best aligns it with the model's background image before
the model sees it, and the mask is shifted back, so the model and its feedback live in
the background's coordinates (image registration ahead of background subtraction, as
the camera-jitter entries of the CDnet 2014 benchmark do).  The band the shift uncovers
takes the background image's pixels, and is background in the mask.

The shift is found coarse to fine: the green channel (or the only one) and its 2x2
block sums, halved while the shorter side stays at least ``_COARSE_SIDE`` and the
search there still reaches 2 pixels (a 240x320 frame: down to 1/8), each turned into
an edge-strength image (the absolute forward differences: edges, not brightness, so a
scene's shading and the background image's blend of a shaking camera's positions do not
pull the search), an exhaustive search at the smallest size, then +-1 pixel at each
larger one.  The cost is the mean absolute
difference truncated at ``_CAP`` (so a passing object cannot outweigh the scene), over
every other row.  A shift other than none is taken only when, on the rows the search did
not read, it lowers the full-size cost below ``_GAIN`` times the unshifted cost, or
lowers it in at least ``_BLOCKS_LOWER`` of ``_BLOCKS`` x ``_BLOCKS`` blocks of the frame:
swaying foliage and moving cars make small gains in a part of the frame, a moved camera
a large or a general one.  Checking on rows the search did not choose the shift on keeps
noise out (the best of a few hundred shifts always beats the unshifted frame on the rows
it was picked on), and 13 of 16 blocks, not all 4 quarters, keeps a still, featureless
scene from passing by chance (1 in 16 frames for 4 coin flips, about 1 in 100 for 13 of
16).  The background is re-read every ``_REFRESH`` frames.  Chosen on CDnet cameraJitter
(traffic) and generated foliage and jitter clips, and confirmed on CDnet highway, its long
run, highway seen through a generated shaking camera and generated busy roads
(bench/RESULTS.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _dispatch

_COARSE_SIDE = 30    # the exhaustive search runs on the smallest half-size level whose
                     # shorter side is at least this (1/8 of a 240x320 frame)
_CAP = 32            # truncation of an edge-strength difference, in grey levels at full size
_GAIN = 0.95         # a shift must bring the cost below this fraction of the unshifted cost
_REFRESH = 30        # frames between readings of the model's background (~0.8 ms at 320x240)
_MIN_SIDE = 32       # smaller frames are not searched
_ROW_STEP = 2        # the search reads every other row, the check of its answer the others
_BLOCKS = 4          # the check splits the frame into _BLOCKS x _BLOCKS blocks ...
_BLOCKS_LOWER = 13   # ... and a shift that lowers the cost in this many of them is general


_K = _dispatch.load("_mog2fb")


def _levels(shape: tuple[int, int], max_shift: int) -> int:
    """Halvings down to the level the exhaustive search runs on: while the shorter side
    stays at least _COARSE_SIDE and the search there still reaches 2 pixels each way (a
    larger frame keeps a wider search at a larger level rather than a 0- or 1-pixel one)."""
    side, levels = min(shape), 0
    while side // 2 >= _COARSE_SIDE and max_shift >> (levels + 1) >= 2:
        side //= 2
        levels += 1
    return levels


class _Pyramid:
    """Edge strength of a frame's grey plane at full size and ``levels`` halvings (2x2
    sums, so level l is on a scale 4^l times the full one), in buffers kept between frames."""

    def __init__(self, shape: tuple[int, int], levels: int) -> None:
        h, w = shape
        # the 2x2 sums of levels 1, 2, ... (level 1 comes with the full size's edges, in one
        # pass over the frame, and is made even when no level below the full size is used)
        self.sums = [np.empty((h >> l, w >> l), np.int32) for l in range(1, max(levels, 1) + 1)]
        self.edges = [np.empty((h >> l, w >> l), np.int32) for l in range(levels + 1)]

    def of(self, x: np.ndarray) -> list[np.ndarray]:
        """The edge-strength levels of frame ``x`` (H, W, C): the green channel, or the only one."""
        _K.frame_levels(x, 1 if x.shape[2] >= 3 else 0, self.edges[0], self.sums[0])
        for l in range(1, len(self.edges) - 1):
            _K.half_sum(self.sums[l - 1], self.sums[l])
        for l in range(1, len(self.edges)):
            _K.edge_strength(self.sums[l - 1], self.edges[l])
        return self.edges


def shifted(image: np.ndarray, dy: int, dx: int, fill: np.ndarray | None) -> np.ndarray:
    """``out[y + dy, x + dx] = image[y, x]`` for an (H, W, C) frame or an (H, W) mask; the
    pixels nothing moves onto (a band of ``|dy|`` rows and one of ``|dx|`` columns) are
    ``fill``'s there (an array the shape of ``image``), or 0 / False when ``fill`` is None."""
    out = np.empty_like(image)
    if image.ndim == 2:      # a mask: bytes, one channel
        image, out_k = image.view(np.uint8)[..., None], out.view(np.uint8)[..., None]
        fill = None if fill is None else fill.view(np.uint8)[..., None]
    else:
        out_k = out
    _K.shift_copy(image, fill, out_k, dy, dx)
    return out


class ShakeAligner:
    """Aligns each frame with a model's background (see the module docstring)."""

    def __init__(self, max_shift: int | None, shape: tuple[int, int]) -> None:
        """``max_shift``: pixels each way, None for a tenth of the shorter side (a camera's
        shake in pixels grows with the resolution); at most an eighth of it, which leaves
        the cost three quarters of the frame."""
        h, w = shape
        side = min(h, w)
        reach = side // 10 if max_shift is None else min(int(max_shift), side // 8)
        self.max_shift = reach if side >= _MIN_SIDE else 0
        self.shape = shape
        self.levels = _levels(shape, self.max_shift)
        self.frames = 0
        self.ref_levels: list[np.ndarray] | None = None
        self.fill: np.ndarray | None = None
        self._ref_pyramid = _Pyramid(shape, self.levels)
        self._frame_pyramid = _Pyramid(shape, self.levels)
        self._blocks = (np.empty((_BLOCKS, _BLOCKS), np.int64), np.empty((_BLOCKS, _BLOCKS), np.int64))

    def _refresh(self, model: Any, x: np.ndarray) -> None:
        """The reference: the model's background (the frame itself before the model has
        any), its edge-strength levels, and the same image in the frames' type, which
        fills the band a shift uncovers."""
        if "state_" in model.__dict__:
            bg = model._background()
            self.fill = np.clip(np.rint(bg), 0, 255).astype(np.uint8) if x.dtype == np.uint8 else bg
        else:
            bg = self.fill = x.copy()
        self.ref_levels = self._ref_pyramid.of(bg)

    def estimate(self, x: np.ndarray) -> tuple[int, int]:
        """The shift (dy, dx) that moves ``x``'s content onto the reference."""
        cur = self._frame_pyramid.of(x)
        # every shift within reach at the top level, then +-1 pixel around twice the
        # previous level's answer; margin: the border the shifts read into
        top = self.levels
        margin = (self.max_shift >> top) + 1
        _, a, b = _K.shift_search(cur[top], self.ref_levels[top], 0, 0, margin - 1, margin,
                                 _CAP << (2 * top), _ROW_STEP)
        for level in range(top - 1, -1, -1):
            margin = (self.max_shift >> level) + 1
            _, a, b = _K.shift_search(cur[level], self.ref_levels[level], 2 * a, 2 * b, 1, margin,
                                     _CAP << (2 * level), _ROW_STEP)
        if (a, b) != (0, 0) and not self._helps(cur[0], a, b, margin):
            return 0, 0
        return a, b

    def _helps(self, cur: np.ndarray, a: int, b: int, margin: int) -> bool:
        """Whether the shift (a, b) aligns the whole frame rather than a moving part of it,
        judged on the rows the search skipped: it lowers the cost there below ``_GAIN``
        times the unshifted one, or in at least ``_BLOCKS_LOWER`` of the blocks (a camera
        moves every block; swaying branches or a passing truck, a part)."""
        moved, still = self._blocks
        _K.block_costs(cur, self.ref_levels[0], a, b, margin, _CAP, _ROW_STEP, 1, moved)
        _K.block_costs(cur, self.ref_levels[0], 0, 0, margin, _CAP, _ROW_STEP, 1, still)
        return bool(moved.sum() < _GAIN * still.sum() or (moved < still).sum() >= _BLOCKS_LOWER)

    def align(self, model: Any, x: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """``x`` (H, W, C) moved onto the model's background, and the shift applied; the
        pixels the shift uncovers take the background's."""
        if not self.max_shift:
            return x, (0, 0)
        if self.ref_levels is None or self.frames % _REFRESH == 0 or self.fill.dtype != x.dtype:
            self._refresh(model, x)      # (also when the frames' type changed: the fill is in it)
        self.frames += 1
        dy, dx = self.estimate(x)
        if (dy, dx) == (0, 0):
            return x, (0, 0)
        return shifted(x, dy, dx, self.fill), (dy, dx)

    @staticmethod
    def restore(mask: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
        """A mask of an aligned frame moved back onto the frame (uncovered pixels 0)."""
        if shift == (0, 0):
            return mask
        return shifted(mask, -shift[0], -shift[1], None)
