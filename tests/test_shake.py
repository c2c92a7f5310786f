"""Camera-shake compensation (step 0 of BackgroundSubtractor's adaptive pipeline): its
kernels against plain NumPy versions, the pipeline against a composition of the model
without it on frames moved by the true shifts, a still camera never moved, quality on a
shaken clip, parameters and persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import gmmfast
from gmmfast import _shake
from gmmfast._dispatch import load

fbk = load("_mog2fb")
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


# --------------------------------------------------------------------------- NumPy references
def ref_grey_levels(frame, channel):
    c = np.asarray(frame[:, :, channel], np.float64)
    if frame.dtype == np.uint8:
        return c.astype(np.int32)
    out = np.floor(np.clip(np.nan_to_num(c, nan=0.0), 0, 255) + 0.5)
    return out.astype(np.int32)


def ref_half_sum(src):
    h, w = src.shape[0] // 2 * 2, src.shape[1] // 2 * 2
    s = src[:h, :w].astype(np.int64)
    return (s[0::2, 0::2] + s[0::2, 1::2] + s[1::2, 0::2] + s[1::2, 1::2]).astype(np.int32)


def ref_edge_strength(g):
    g = g.astype(np.int64)
    out = np.zeros_like(g)
    out[:-1, :-1] = np.abs(g[1:, :-1] - g[:-1, :-1]) + np.abs(g[:-1, 1:] - g[:-1, :-1])
    return out.astype(np.int32)


def ref_costs(cur, ref, a, b, margin, cap, row_step, row_offset=0):
    """The truncated differences shift_search and block_costs add up, as a 2-D array."""
    H, W = cur.shape
    y0 = margin + row_offset
    c = cur[y0:H - margin:row_step, margin:W - margin].astype(np.int64)
    r = ref[y0 + a:H - margin + a:row_step, margin + b:W - margin + b].astype(np.int64)
    return np.minimum(np.abs(c - r), cap)


def ref_shift_search(cur, ref, cy, cx, rad, margin, cap, row_step=1):
    best = None
    for a in range(cy - rad, cy + rad + 1):
        for b in range(cx - rad, cx + rad + 1):
            if max(abs(a), abs(b)) > margin:
                continue
            d = ref_costs(cur, ref, a, b, margin, cap, row_step)
            if best is None or d.sum() < best[0]:
                best = (d.sum(), d.size, a, b)
    return best[0] / best[1], best[2], best[3]


def ref_block_costs(cur, ref, a, b, margin, cap, row_step, row_offset, by, bx):
    d = ref_costs(cur, ref, a, b, margin, cap, row_step, row_offset)
    n, m = d.shape
    return np.array([[d[i * n // by:(i + 1) * n // by, j * m // bx:(j + 1) * m // bx].sum()
                      for j in range(bx)] for i in range(by)])


def _moved(image, dy, dx, fill):
    """out[y + dy, x + dx] = image[y, x], the rest from fill (written with np.roll and a mask)."""
    h, w = image.shape[:2]
    out = np.array(fill, copy=True)
    rolled = np.roll(image, (dy, dx), axis=(0, 1))
    ys, xs = np.arange(h) - dy, np.arange(w) - dx
    inside = ((ys >= 0) & (ys < h))[:, None] & ((xs >= 0) & (xs < w))[None, :]
    out[inside] = rolled[inside]
    return out


# --------------------------------------------------------------------------- generated clips
def shaken_clip(n=60, h=72, w=96, amp=6, seed=0, still=False, noise=2.0, contrast=108.0, sway=0,
                flat_half=False):
    """A scene of random coloured rectangles (sharp edges everywhere), seen through a camera
    moved by a random whole-pixel offset of up to ``amp`` each frame (none in frame 0, or
    never with ``still``), with a box crossing it from frame 20; rectangle colours within
    ``contrast`` of mid-grey; with ``sway``, the top left quarter of the scene moves sideways by up
    to ``sway`` pixels in a slow cycle (branches in the wind); with ``flat_half`` the
    bottom half is an even grey (a wall, the sky).  Returns frames (uint8),
    ground truth (bool) and each frame's offset: frame t's pixel (y, x) shows the scene
    point that frame 0 shows at (y + dy, x + dx)."""
    rng = np.random.default_rng(seed)
    H, W = h + 2 * amp, w + 2 * amp
    scene = np.full((H, W, 3), 128.0 - contrast / 3)
    for _ in range(60):
        y0, x0 = rng.integers(0, H - 4), rng.integers(0, W - 4)
        y1, x1 = y0 + rng.integers(4, 20), x0 + rng.integers(4, 24)
        scene[y0:y1, x0:x1] = rng.uniform(128 - contrast, 128 + contrast, 3)
    if flat_half:
        scene[H // 2:, :] = 128
    offsets = np.zeros((n, 2), int) if still else rng.integers(-amp, amp + 1, (n, 2))
    offsets[0] = 0
    frames, truth = [], []
    for t in range(n):
        img, gt = scene.copy(), np.zeros((H, W), bool)
        if sway:
            py, px = int(0.5 * H), int(0.5 * W)
            img[:py, :px] = np.roll(scene[:py, :px], int(round(sway * np.sin(t / 3))), axis=1)
        if t >= 20:
            bx = amp + (t - 20) * 3 % (w - 14)
            img[amp + h // 2 - 6:amp + h // 2 + 6, bx:bx + 14] = (250, 250, 250)
            gt[amp + h // 2 - 6:amp + h // 2 + 6, bx:bx + 14] = True
        dy, dx = offsets[t]
        crop = img[amp + dy:amp + dy + h, amp + dx:amp + dx + w] + rng.normal(0, noise, (h, w, 3))
        frames.append(np.clip(np.rint(crop), 0, 255).astype(np.uint8))
        truth.append(gt[amp + dy:amp + dy + h, amp + dx:amp + dx + w])
    return np.stack(frames), np.stack(truth), offsets


def smooth_clip(n=80, h=120, w=160, amp=2, seed=4, scale=8, noise=2.5):
    """A smooth colour field (features ``scale`` pixels wide, weak edges) with noise, moved
    by up to ``amp`` pixels each frame; returns frames and offsets as ``shaken_clip``."""
    rng = np.random.default_rng(seed)
    H, W = h + 2 * amp, w + 2 * amp
    field = np.kron(rng.random((H // scale + 2, W // scale + 2, 3)), np.ones((scale, scale, 1)))
    box = np.ones(scale) / scale
    for _ in range(2):      # box blur twice along both axes
        for axis in (0, 1):
            field = np.apply_along_axis(lambda v: np.convolve(v, box, "same"), axis, field)
    scene = 60 + 120 * field[scale // 2:scale // 2 + H, scale // 2:scale // 2 + W]
    offsets = rng.integers(-amp, amp + 1, (n, 2))
    offsets[0] = 0
    frames = [scene[amp + dy:amp + dy + h, amp + dx:amp + dx + w] + rng.normal(0, noise, (h, w, 3))
              for dy, dx in offsets]
    return np.clip(np.rint(np.stack(frames)), 0, 255).astype(np.uint8), offsets


def applied_shifts(monkeypatch, frames, **params):
    """The shift step 0 applied to each frame."""
    seen = []
    align = _shake.ShakeAligner.align

    def spy(self, model, x):
        out = align(self, model, x)
        seen.append(out[1])
        return out
    monkeypatch.setattr(_shake.ShakeAligner, "align", spy)
    gmmfast.BackgroundSubtractor(n_threads=1, **params).apply_many(frames)
    return np.array(seen)


def f_score(masks, truth, start=30):
    m, g = np.asarray(masks[start:], bool), np.asarray(truth[start:], bool)
    tp, fp, fn = (m & g).sum(), (m & ~g).sum(), (~m & g).sum()
    return 2 * tp / max(2 * tp + fp + fn, 1)


# --------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("shape", [(13, 17), (12, 16), (1, 1), (2, 3), (3, 1)])
def test_frame_levels_matches_numpy(dtype, channels, shape):
    rng = np.random.default_rng(channels)
    if dtype == np.uint8:
        frame = rng.integers(0, 256, shape + (channels,), dtype=np.uint8)
    else:
        frame = rng.uniform(-20, 280, shape + (channels,)).astype(np.float32)
        frame.flat[:3] = [np.nan, np.inf, -np.inf]
        frame[-1, -1, :] = 127.5
    for channel in range(channels):
        edges = np.full(shape, -1, np.int32)
        half = np.full((shape[0] // 2, shape[1] // 2), -1, np.int32)
        fbk.frame_levels(frame, channel, edges, half)
        g = ref_grey_levels(frame, channel)
        np.testing.assert_array_equal(edges, ref_edge_strength(g))
        np.testing.assert_array_equal(half, ref_half_sum(g))


@pytest.mark.parametrize("shape", [(9, 13), (8, 12), (1, 1), (2, 3)])
def test_half_sum_and_edge_strength_match_numpy(shape):
    rng = np.random.default_rng(shape[0])
    g = rng.integers(0, 4096, shape).astype(np.int32)
    half = np.empty((shape[0] // 2, shape[1] // 2), np.int32)
    fbk.half_sum(g, half)
    np.testing.assert_array_equal(half, ref_half_sum(g))
    edges = np.empty_like(g)
    fbk.edge_strength(g, edges)
    np.testing.assert_array_equal(edges, ref_edge_strength(g))


@pytest.mark.parametrize("row_step", [1, 2, 3])
def test_shift_search_and_block_costs_match_numpy(row_step):
    rng = np.random.default_rng(row_step)
    ref = rng.integers(0, 60, (31, 37)).astype(np.int32)
    cur = np.roll(ref, (2, -3), axis=(0, 1)) + rng.integers(0, 3, ref.shape).astype(np.int32)
    for cy, cx, rad, margin, cap in [(0, 0, 4, 5, 30), (-2, 3, 1, 5, 10), (0, 0, 0, 3, 1), (1, 1, 6, 6, 1000)]:
        got = fbk.shift_search(cur, ref, cy, cx, rad, margin, cap, row_step)
        want = ref_shift_search(cur, ref, cy, cx, rad, margin, cap, row_step)
        assert got[1:] == want[1:]
        assert got[0] == pytest.approx(want[0], rel=1e-12)
    # ties: a flat image has the same cost everywhere, the first shift in row-major order wins
    flat = np.full((20, 20), 7, np.int32)
    assert fbk.shift_search(flat, flat, 0, 0, 2, 3, 10, row_step) == (0.0, -2, -2)
    for a, b, by, bx in [(0, 0, 2, 2), (-3, 2, 2, 2), (1, 0, 3, 4), (0, -5, 1, 1)]:
        for offset in range(row_step):
            out = np.empty((by, bx), np.int64)
            fbk.block_costs(cur, ref, a, b, 5, 30, row_step, offset, out)
            np.testing.assert_array_equal(out, ref_block_costs(cur, ref, a, b, 5, 30, row_step, offset, by, bx))


def test_search_kernels_refuse_impossible_windows():
    g = np.zeros((10, 10), np.int32)
    with pytest.raises(ValueError, match="interior"):
        fbk.shift_search(g, g, 0, 0, 1, 5, 10, 1)
    with pytest.raises(ValueError, match="within margin"):
        fbk.shift_search(g, g, 9, 0, 1, 2, 10, 1)
    with pytest.raises(ValueError, match="within margin"):
        fbk.block_costs(g, g, 3, 0, 2, 10, 1, 0, np.empty((2, 2), np.int64))
    with pytest.raises(ValueError, match="blocks"):
        fbk.block_costs(g, g, 0, 0, 2, 10, 1, 0, np.empty((7, 2), np.int64))
    with pytest.raises(ValueError, match="row_offset"):
        fbk.block_costs(g, g, 0, 0, 2, 10, 2, 2, np.empty((2, 2), np.int64))


def ref_shifted(image, dy, dx, fill):
    """out[y + dy, x + dx] = image[y, x]; elsewhere fill's pixel, or 0."""
    out = np.zeros_like(image) if fill is None else fill.copy()
    H, W = image.shape[:2]
    for y in range(H):
        for x in range(W):
            if 0 <= y - dy < H and 0 <= x - dx < W:
                out[y, x] = image[y - dy, x - dx]
    return out


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("channels", [1, 3])
def test_shift_copy_matches_numpy(dtype, channels):
    rng = np.random.default_rng(channels)
    image = rng.integers(0, 256, (6, 7, channels)).astype(dtype)
    fill = rng.integers(0, 256, image.shape).astype(dtype)
    for dy in range(-5, 6):
        for dx in range(-6, 7):
            for f in (fill, None):
                out = np.full_like(image, 77)
                fbk.shift_copy(image, f, out, dy, dx)
                np.testing.assert_array_equal(out, ref_shifted(image, dy, dx, f))
    mask = image[..., 0] > 128                   # and through shifted(), for a bool mask
    np.testing.assert_array_equal(_shake.shifted(mask, 2, -3, None), ref_shifted(mask, 2, -3, None))


def test_shift_copy_refuses_bad_arguments():
    a = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match="dst must have"):
        fbk.shift_copy(a, None, np.zeros((4, 5, 1), np.uint8), 1, 1)
    with pytest.raises(ValueError, match="fill must have"):
        fbk.shift_copy(a, np.zeros((4, 4, 3), np.uint8), np.zeros_like(a), 1, 1)
    with pytest.raises(ValueError, match="leave part"):
        fbk.shift_copy(a, None, np.zeros_like(a), 4, 0)
    with pytest.raises(ValueError, match="src and dst must not overlap"):
        fbk.shift_copy(a, None, a, 1, 0)
    out = np.zeros_like(a)
    with pytest.raises(ValueError, match="fill and dst must not overlap"):
        fbk.shift_copy(a, out, out, 1, 0)


def test_row_kernels_refuse_overlapping_output():
    g = np.zeros((8, 8), np.int32)
    with pytest.raises(ValueError, match="overlap"):
        fbk.edge_strength(g, g)
    with pytest.raises(ValueError, match="overlap"):
        fbk.half_sum(g, g.reshape(-1)[:16].reshape(4, 4))


# --------------------------------------------------------------------------- the pipeline
def test_shifts_are_found_and_undone_exactly():
    """The default pipeline's masks are those of the pipeline without step 0 fed each frame
    moved by its true offset (the uncovered band from the model's background image, read
    every _REFRESH frames), with each mask moved back: so the search found every offset."""
    frames, _, offsets = shaken_clip()
    got = gmmfast.BackgroundSubtractor(n_threads=1).apply_many(frames)
    plain = gmmfast.BackgroundSubtractor(max_shift=0, n_threads=1)
    for t, f in enumerate(frames):
        if t % _shake._REFRESH == 0:
            fill = f if t == 0 else plain.background_image()
        dy, dx = offsets[t]
        mask = plain.apply(_moved(f, dy, dx, fill))
        np.testing.assert_array_equal(got[t], _moved(mask, -dy, -dx, np.zeros_like(mask)), err_msg=f"frame {t}")


def test_a_still_camera_is_never_moved():
    """A still camera with sensor noise, a moving object and a flickering patch: the masks are
    those of max_shift=0, bit for bit."""
    frames, _, _ = shaken_clip(n=80, still=True, noise=4.0, seed=3)
    frames = frames.astype(np.int16)
    frames[:, 5:30, 5:40] += (12 * np.sin(np.arange(len(frames)) * 1.3)).astype(np.int16)[:, None, None, None]
    frames = np.clip(frames, 0, 255).astype(np.uint8)
    a = gmmfast.BackgroundSubtractor(n_threads=1).apply_many(frames)
    b = gmmfast.BackgroundSubtractor(max_shift=0, n_threads=1).apply_many(frames)
    np.testing.assert_array_equal(a, b)


def test_a_still_flat_noisy_scene_is_never_moved(monkeypatch):
    """Faint edges under strong noise: the search's best shift is noise, and the rule
    (a shift must lower the cost by 5 % or in 13 of 16 blocks of the frame) keeps the
    camera still."""
    frames, _, _ = shaken_clip(n=60, still=True, contrast=5, noise=4.0)
    assert (applied_shifts(monkeypatch, frames) == 0).all()


def test_the_block_test_finds_shifts_the_gain_test_misses(monkeypatch):
    """Weak edges and noise: a true shift lowers the cost in nearly every block of the frame
    though often by less than 5 % overall.  The rule finds clearly more of the offsets than
    its 5 % gain test alone (the block test switched off by asking for more blocks than
    there are)."""
    frames, offsets = smooth_clip(scale=6, noise=3.0)
    rule = (applied_shifts(monkeypatch, frames) == offsets).all(axis=1).mean()
    monkeypatch.setattr(_shake, "_BLOCKS_LOWER", _shake._BLOCKS ** 2 + 1)
    gain_only = (applied_shifts(monkeypatch, frames) == offsets).all(axis=1).mean()
    assert rule > 0.5
    assert rule >= gain_only + 0.05, (rule, gain_only)


def test_a_shake_over_a_flat_half_is_found(monkeypatch):
    """Half of the frame with nothing to align (an even wall): the shift cannot lower the cost
    in those blocks, and is taken on its gain in the other half."""
    frames, _, offsets = shaken_clip(n=80, flat_half=True)
    assert (applied_shifts(monkeypatch, frames) == offsets).all()


@pytest.mark.skipif(not (DATA / "cdnet-highway" / "input").is_dir(), reason="shared data absent")
def test_cdnet_highway_is_never_moved():
    from PIL import Image
    files = sorted((DATA / "cdnet-highway" / "input").glob("in*.jpg"))[:120]
    frames = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    a = gmmfast.BackgroundSubtractor(n_threads=1).apply_many(frames)
    b = gmmfast.BackgroundSubtractor(max_shift=0, n_threads=1).apply_many(frames)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_shaking_camera_is_steadied(seed):
    """Offsets of up to 6 pixels, past the displacement search's radius 2: without step 0
    the scene's edges are foreground; with it the mask is the box (F against the truth)."""
    frames, truth, _ = shaken_clip(n=90, seed=seed)
    with_shake = f_score(gmmfast.BackgroundSubtractor(n_threads=1).apply_many(frames), truth)
    without = f_score(gmmfast.BackgroundSubtractor(max_shift=0, n_threads=1).apply_many(frames), truth)
    assert with_shake > 0.9
    assert with_shake > without + 0.2


def test_max_shift_bounds_the_search():
    frames, _, offsets = shaken_clip(n=40, amp=6)
    small = gmmfast.BackgroundSubtractor(max_shift=2, n_threads=1).apply_many(frames)
    full = gmmfast.BackgroundSubtractor(n_threads=1).apply_many(frames)
    assert np.abs(offsets).max() > 2
    assert not np.array_equal(small, full)


@pytest.mark.parametrize("value, error", [(-1, ValueError), (256, ValueError), (1.5, TypeError),
                                          ("4", TypeError), ("auto", TypeError)])
def test_bad_max_shift(value, error):
    with pytest.raises(error, match="max_shift"):
        gmmfast.BackgroundSubtractor(max_shift=value).apply(np.zeros((40, 40, 3), np.uint8))


def test_the_default_reach_grows_with_the_frame():
    """max_shift=None (the default) reaches a tenth of the shorter side: a 144x192 camera
    shaken by up to 12 pixels is steadied by the default and not by max_shift=6."""
    frames, truth, _ = shaken_clip(n=90, h=144, w=192, amp=12, seed=5)
    default = f_score(gmmfast.BackgroundSubtractor(n_threads=1).apply_many(frames), truth)
    short = f_score(gmmfast.BackgroundSubtractor(max_shift=6, n_threads=1).apply_many(frames), truth)
    assert default > 0.9
    assert default > short + 0.1


def test_float_frames_and_grey_frames_are_steadied_too():
    frames, truth, _ = shaken_clip(n=90)
    grey = frames.mean(axis=3).astype(np.float32)
    f = f_score(gmmfast.BackgroundSubtractor(n_threads=1).apply_many(frames.astype(np.float32)), truth)
    g = f_score(gmmfast.BackgroundSubtractor(n_threads=1).apply_many(grey), truth)
    assert f > 0.9 and g > 0.9


def test_frames_that_change_type_mid_stream_are_steadied_as_either_type():
    # a float frame after uint8 ones (or back) failed with Cython's "Buffer dtype mismatch"
    # once the camera shook: the band a shift uncovers was filled from the previous type
    frames, truth, _ = shaken_clip(n=90)
    sub = gmmfast.BackgroundSubtractor(n_threads=1)       # frame by frame: apply_many makes one type
    masks = np.stack([sub.apply(f.astype(np.float32) if t % 3 == 1 else f) for t, f in enumerate(frames)])
    same = gmmfast.BackgroundSubtractor(n_threads=1).apply_many(frames)
    assert f_score(masks, truth) > 0.9
    assert np.mean(masks != same) < 1e-3     # the values are the same whole numbers either way


def test_reset_and_a_saved_model_continue_the_same(tmp_path):
    """reset() forgets the alignment; a model saved at a multiple of _REFRESH frames and
    loaded continues with the same masks (the reference is re-read from the model)."""
    k = _shake._REFRESH
    frames, _, _ = shaken_clip(n=2 * k)
    whole = gmmfast.BackgroundSubtractor(n_threads=1)
    want = whole.apply_many(frames)
    part = gmmfast.BackgroundSubtractor(n_threads=1)
    part.apply_many(frames[:k])
    part.save(tmp_path / "m.gmmfast")
    loaded = gmmfast.BackgroundSubtractor.load(tmp_path / "m.gmmfast")
    np.testing.assert_array_equal(loaded.apply_many(frames[k:]), want[k:])
    whole.reset()
    assert "_shake" not in whole.__dict__
    np.testing.assert_array_equal(whole.apply_many(frames), want)
