"""Camera-shake compensation for the adaptive background pipeline (step 0 of
:class:`gmmfast.BackgroundSubtractor`).

A shaking camera moves the whole scene by a few pixels from frame to frame, and a
per-pixel model sees every edge of the scene as foreground.  Each frame is shifted by
the integer translation that best aligns it with the model's background image before
the model sees it, and the mask is shifted back, so the model and its feedback live in
the background's coordinates (image registration ahead of background subtraction, as
the camera-jitter entries of the CDnet 2014 benchmark do).

The shift is found coarse to fine: the green channel (or the only one) and its 2x2
block sums, halved while the shorter side stays at least ``_COARSE_SIDE`` (a 240x320
frame: half and quarter size), each turned into an edge-strength image (the absolute
forward differences: edges, not brightness, so a scene's shading and the model's blend of
a shaking camera's positions do not pull the search), an exhaustive search at the
smallest size, then +-1 pixel at each larger one.  The cost is the mean absolute
difference truncated at ``_CAP`` (so a passing object cannot outweigh the scene), over
every other row.  A shift other than none is taken only when, on the rows the search did
not read, it lowers the full-size cost below ``_GAIN`` times the unshifted cost or lowers
it in each quarter of the frame: swaying foliage and moving cars make small spurious gains
in a part of the frame, a moved camera a large or a general one (and checking on other
rows than the search chose it on keeps noise from passing: the best of a few hundred
shifts always beats the unshifted frame on the rows it was picked on).  The background
image is re-read every ``_REFRESH`` frames.  Chosen on CDnet cameraJitter (traffic) and
generated foliage and jitter clips, and confirmed on CDnet highway, its long run, highway
seen through a generated shaking camera and generated busy roads (bench/RESULTS.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _dispatch

_COARSE_SIDE = 60    # the exhaustive search runs on the smallest half-size level whose
                     # shorter side is at least this (1/4 of a 240x320 frame)
_CAP = 32            # truncation of an edge-strength difference, in grey levels at full size
_GAIN = 0.95         # a shift must bring the cost below this fraction of the unshifted cost
_REFRESH = 10        # frames between readings of the model's background image
_MIN_SIDE = 32       # smaller frames are not searched
_ROW_STEP = 2        # the search reads every other row, the check of its answer the others


def _kernels() -> Any:
    return _dispatch.load("_mog2fb")


def _levels(shape: tuple[int, int]) -> int:
    """Halvings down to the level the exhaustive search runs on."""
    side, levels = min(shape), 0
    while side // 2 >= _COARSE_SIDE:
        side //= 2
        levels += 1
    return levels


class _Pyramid:
    """Edge strength of a frame's grey plane at full size and ``levels`` halvings (2x2
    sums, so level l is on a scale 4^l times the full one), in buffers kept between frames."""

    def __init__(self, shape: tuple[int, int], levels: int) -> None:
        h, w = shape
        self.sums = [np.empty((h >> l, w >> l), np.int32) for l in range(levels + 1)]
        self.edges = [np.empty_like(g) for g in self.sums]

    def of(self, x: np.ndarray) -> list[np.ndarray]:
        """The edge-strength levels of frame ``x`` (H, W, C): the green channel, or the only one."""
        k = _kernels()
        k.grey_levels(x, 1 if x.shape[2] >= 3 else 0, self.sums[0])
        for l in range(len(self.sums) - 1):
            k.half_sum(self.sums[l], self.sums[l + 1])
        for g, e in zip(self.sums, self.edges):
            k.edge_strength(g, e)
        return self.edges


def shifted(image: np.ndarray, dy: int, dx: int, fill: np.ndarray) -> np.ndarray:
    """``out[y + dy, x + dx] = image[y, x]``; the pixels nothing moves onto are ``fill``'s."""
    out = fill.copy()
    h, w = image.shape[:2]
    src_y, dst_y = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    src_x, dst_x = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[dst_y, dst_x] = image[src_y, src_x]
    return out


class ShakeAligner:
    """Aligns each frame with a model's background image (see the module docstring)."""

    def __init__(self, max_shift: int, shape: tuple[int, int]) -> None:
        h, w = shape
        # a shift of up to an eighth of the shorter side leaves the cost three quarters of it
        self.max_shift = min(int(max_shift), min(h, w) // 8) if min(h, w) >= _MIN_SIDE else 0
        self.shape = shape
        self.levels = _levels(shape)
        self.frames = 0
        self.reference: np.ndarray | None = None
        self.ref_levels: list[np.ndarray] = []
        self._frame_pyramid = _Pyramid(shape, self.levels)
        self._blocks = (np.empty((2, 2), np.int64), np.empty((2, 2), np.int64))

    def _refresh(self, model: Any, x: np.ndarray) -> None:
        ref = model.background_image() if "state_" in model.__dict__ else x
        ref = ref.reshape(x.shape)
        self.reference = ref if ref.dtype == x.dtype else ref.astype(x.dtype)
        self.ref_levels = [e.copy() for e in _Pyramid(self.shape, self.levels).of(self.reference)]

    def estimate(self, x: np.ndarray) -> tuple[int, int]:
        """The shift (dy, dx) that moves ``x``'s content onto the reference."""
        k = _kernels()
        cur = self._frame_pyramid.of(x)
        # every shift within reach at the top level, then +-1 pixel around twice the
        # previous level's answer; margin: the border the shifts read into
        top = self.levels
        margin = (self.max_shift >> top) + 1
        _, a, b = k.shift_search(cur[top], self.ref_levels[top], 0, 0, margin - 1, margin,
                                 _CAP << (2 * top), _ROW_STEP)
        for level in range(top - 1, -1, -1):
            margin = (self.max_shift >> level) + 1
            _, a, b = k.shift_search(cur[level], self.ref_levels[level], 2 * a, 2 * b, 1, margin,
                                     _CAP << (2 * level), _ROW_STEP)
        if (a, b) != (0, 0) and not self._helps(cur[0], a, b, margin):
            return 0, 0
        return a, b

    def _helps(self, cur: np.ndarray, a: int, b: int, margin: int) -> bool:
        """Whether the shift (a, b) aligns the whole frame rather than a moving part of it,
        judged on the rows the search skipped (the search's best shift beats the unshifted
        frame on the rows it chose it on even in pure noise): it lowers the cost there below
        ``_GAIN`` times the unshifted one, or it lowers it in each quarter of the frame (a
        camera moves all four; swaying branches or a passing truck, a part)."""
        k = _kernels()
        moved, still = self._blocks
        k.block_costs(cur, self.ref_levels[0], a, b, margin, _CAP, _ROW_STEP, 1, moved)
        k.block_costs(cur, self.ref_levels[0], 0, 0, margin, _CAP, _ROW_STEP, 1, still)
        return bool(moved.sum() < _GAIN * still.sum() or (moved < still).all())

    def align(self, model: Any, x: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """``x`` (H, W, C) moved onto the model's background, and the shift applied."""
        if not self.max_shift:
            return x, (0, 0)
        if self.reference is None or self.frames % _REFRESH == 0:
            self._refresh(model, x)
        self.frames += 1
        dy, dx = self.estimate(x)
        if (dy, dx) == (0, 0):
            return x, (0, 0)
        return shifted(x, dy, dx, self.reference), (dy, dx)

    @staticmethod
    def restore(mask: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
        """A mask of an aligned frame moved back onto the frame (uncovered pixels 0)."""
        if shift == (0, 0):
            return mask
        return shifted(mask, -shift[0], -shift[1], np.zeros_like(mask))
