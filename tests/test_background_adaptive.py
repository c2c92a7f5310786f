"""Tests of the adaptive pipeline (BackgroundSubtractor(method='adaptive')): its kernels
against plain NumPy versions of the same per-pixel rules, the whole pipeline against a
NumPy composition of them, warm-up, sizes, channels and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import gmmfast
from gmmfast._background import BackgroundSubtractorMOG2, clean_mask
from gmmfast._dispatch import load

fbk = load("_mog2fb")


# --------------------------------------------------------------------------- NumPy references
def ref_suppress(x, state, nmodes, raw, v, radius, Tb, TB, v_on):
    """Foreground candidates: raw == 255, minus the pixels with v > v_on that a background
    mode of a pixel within ``radius`` explains (|x - mu|^2 < Tb min(var, own mode-0 var)),
    written pixel by pixel in float64."""
    x = np.asarray(x, np.float64)
    H, W, C = x.shape
    out = np.zeros((H, W), np.uint8)
    for y in range(H):
        for xx in range(W):
            if raw[y, xx] != 255:
                continue
            if v[y, xx] <= v_on or nmodes[y, xx] == 0:
                out[y, xx] = 1
                continue
            own = np.float64(state[0, 1, y, xx])
            hit = False
            for qy in range(max(0, y - radius), min(H, y + radius + 1)):
                for qx in range(max(0, xx - radius), min(W, xx + radius + 1)):
                    tot = 0.0
                    for m in range(nmodes[qy, qx]):
                        if tot >= TB:
                            break
                        var = min(np.float64(state[m, 1, qy, qx]), own)
                        d = x[y, xx] - state[m, 2:, qy, qx].astype(np.float64)
                        d2 = 0.0
                        for c in range(C):
                            d2 += d[c] * d[c]
                        if d2 < Tb * var:
                            hit = True
                        tot += np.float64(state[m, 0, qy, qx])
            out[y, xx] = 0 if hit else 1
    return out


def ref_blink(cand, fin, cand_prev, fin_prev, v, incr, decr, vmax):
    """Blinking score: +incr where the candidate label flipped while the cleaned mask is
    background now and before, else -decr; float32, clipped to [0, vmax]."""
    b = (cand != cand_prev) & (fin == 0) & (fin_prev == 0)
    s = np.where(b, v + np.float32(incr), v - np.float32(decr)).astype(np.float32)
    return np.clip(s, np.float32(0), np.float32(vmax)).astype(np.float32)


def ref_hold(fin, v, run, v_on, max_run):
    """Foreground runs (saturating at 255) and the held pixels: foreground in the first
    ``max_run`` frames of its run with v <= v_on, grown by a 3x3 window."""
    fg = fin != 0
    run = np.where(fg, np.minimum(run.astype(np.int64) + 1, 255), 0).astype(np.uint8)
    core = fg & (run <= max_run) & (v <= np.float32(v_on))
    p = np.pad(core, 1)
    H, W = core.shape
    held = np.zeros_like(core)
    for dy in range(3):
        for dx in range(3):
            held |= p[dy:dy + H, dx:dx + W]
    return run, core.astype(np.uint8), held.astype(np.uint8)


# --------------------------------------------------------------------------- generated clips
def jitter_clip(n=40, h=17, w=23, channels=3, seed=0, amp=2):
    """A smooth textured scene (blobs a few pixels wide) shaken by up to ``amp`` pixels each
    frame, with a box crossing it in the last two thirds."""
    rng = np.random.default_rng(seed)
    hh, ww = h + 2 * amp, w + 2 * amp
    coarse = rng.integers(30, 220, (hh // 3 + 2, ww // 3 + 2, channels)).astype(np.float64)
    big = np.kron(coarse, np.ones((3, 3, 1)))[:hh, :ww]
    for _ in range(2):                                   # box blur: values change gradually
        big = (big + np.roll(big, 1, 0) + np.roll(big, -1, 0)) / 3
        big = (big + np.roll(big, 1, 1) + np.roll(big, -1, 1)) / 3
    frames = np.empty((n, h, w, channels), np.uint8)
    for t in range(n):
        dy, dx = rng.integers(0, 2 * amp + 1, 2) if t % 2 else (amp, amp)
        f = big[dy:dy + h, dx:dx + w] + rng.normal(0, 1.5, (h, w, channels))
        if t > n // 3:
            x0 = (t * 2) % w
            f[h // 3:h // 3 + 5, x0:x0 + 6] = 250 - 10 * (t % 3)
        frames[t] = np.clip(f, 0, 255).astype(np.uint8)
    return frames if channels > 1 else frames[..., 0]


# --------------------------------------------------------------------------- kernels
def random_model(h, w, channels, k=4, seed=0):
    """A frame and a MOG2-layout state (K, 2 + C, H, W) whose modes hold values of the
    frame displaced by up to 2 pixels plus noise, with 1..K modes per pixel, weights
    sorted and summing to 1, variances 4..90; about half the pixels flagged 255."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (h, w, channels)).astype(np.float32)
    st = np.zeros((k, 2 + channels, h, w), np.float32)
    nm = rng.integers(1, k + 1, (h, w)).astype(np.uint8)
    wts = np.sort(rng.random((k, h, w)), axis=0)[::-1]
    wts = wts * (np.arange(k)[:, None, None] < nm)
    st[:, 0] = wts / wts.sum(0)
    st[:, 1] = rng.uniform(4, 90, (k, h, w))
    for m in range(k):
        dy, dx = rng.integers(-2, 3, 2)
        shifted = np.roll(x, (dy, dx), (0, 1))
        st[m, 2:] = np.moveaxis(shifted + rng.normal(0, 6, x.shape), -1, 0)
    raw = np.where(rng.random((h, w)) < 0.5, 255, rng.choice([0, 127], (h, w))).astype(np.uint8)
    v = rng.uniform(0, 4, (h, w)).astype(np.float32)
    return x, st, nm, raw, v


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("radius", [0, 1, 2])
def test_suppress_matches_numpy(channels, dtype, radius):
    x, st, nm, raw, v = random_model(13, 17, channels, seed=channels * 10 + radius)
    x = x.astype(dtype)
    ref = ref_suppress(x, st, nm, raw, v, radius, 16.0, 0.9, 1.5)
    for nt in (1, 2):
        out = np.full(raw.shape, 7, np.uint8)
        fbk.suppress(x, st, nm, raw, v, out, radius, 16.0, 0.9, np.float32(1.5), nt)
        np.testing.assert_array_equal(out, ref)
    # the rule must have had something to decide: with a window some blinking candidates
    # are explained away, and with a small one some are kept
    blinking = (raw == 255) & (v > 1.5)
    if radius > 0:
        assert not ref[blinking].all()
    if radius < 2:
        assert ref[blinking].any()


def test_suppress_reads_a_padded_state():
    """The model's state is a strided view (modes padded apart); the kernel must follow it."""
    x, st, nm, raw, v = random_model(9, 11, 3, seed=7)
    big = np.zeros((4, 5 + 3, 9, 11), np.float32)
    big[:, :5] = st
    view = big[:, :5]
    out1 = np.zeros(raw.shape, np.uint8)
    out2 = np.zeros(raw.shape, np.uint8)
    fbk.suppress(x, st, nm, raw, v, out1, 2, 16.0, 0.9, np.float32(1.5), 1)
    fbk.suppress(x, view, nm, raw, v, out2, 2, 16.0, 0.9, np.float32(1.5), 1)
    np.testing.assert_array_equal(out1, out2)


def test_blink_matches_numpy():
    rng = np.random.default_rng(5)
    shape = (19, 31)
    v = rng.uniform(0, 21, shape).astype(np.float32)
    cand, fin, cp, fp = (rng.integers(0, 2, shape).astype(np.uint8) for _ in range(4))
    want = ref_blink(cand, fin, cp, fp, v, 1.0, 0.1, 20.0)
    cp2, fp2, v2 = cp.copy(), fp.copy(), v.copy()
    fbk.blink(cand, fin, cp2, fp2, v2, 1.0, 0.1, 20.0, 2)
    np.testing.assert_array_equal(v2, want)
    np.testing.assert_array_equal(cp2, cand)
    np.testing.assert_array_equal(fp2, fin)
    assert (v2 == 0).any() and (v2 == 20).any()       # both bounds reached


def test_kernels_reject_mismatched_sizes():
    st = np.zeros((5, 5, 4, 6), np.float32)
    nm = np.ones((4, 6), np.uint8)
    with pytest.raises(ValueError):
        fbk.suppress(np.zeros((4, 6, 3), np.uint8), st, nm, np.zeros((4, 5), np.uint8),
                     np.zeros((4, 6), np.float32), np.zeros((4, 6), np.uint8), 1, 16.0, 0.9, 1.0, 1)
    with pytest.raises(ValueError):
        fbk.suppress(np.zeros((4, 6, 3), np.uint8), st, nm, np.zeros((4, 6), np.uint8),
                     np.zeros((4, 6), np.float32), np.zeros((4, 6), np.uint8), -1, 16.0, 0.9, 1.0, 1)
    x, good, nm2, raw2, v2 = random_model(6, 6, 3, seed=1)
    with pytest.raises(ValueError, match="C-contiguous"):      # planes transposed
        fbk.suppress(x, good.transpose(0, 1, 3, 2), nm2, raw2, v2, np.zeros((6, 6), np.uint8), 1, 16.0,
                     0.9, 1.0, 1)
    with pytest.raises(ValueError):
        fbk.blink(np.zeros((4, 6), np.uint8), np.zeros((4, 5), np.uint8), np.zeros((4, 6), np.uint8),
                  np.zeros((4, 6), np.uint8), np.zeros((4, 6), np.float32), 1.0, 0.1, 20.0, 1)


def test_hold_matches_numpy():
    rng = np.random.default_rng(3)
    for h, w in [(1, 1), (7, 9), (33, 70), (64, 200)]:
        run = rng.choice([0, 1, 5, 29, 30, 31, 254, 255], (h, w)).astype(np.uint8)
        v = rng.choice([0.0, 1.0, 2.0, 2.5, 7.0], (h, w)).astype(np.float32)
        for _ in range(3):
            fin = (rng.random((h, w)) < 0.4).astype(np.uint8)
            want = ref_hold(fin, v, run, 2.0, 30)
            core, held = np.empty((h, w), np.uint8), np.empty((h, w), np.uint8)
            got_run = run.copy()
            fbk.hold(fin, v, got_run, core, held, 2.0, 30, 2)
            np.testing.assert_array_equal(got_run, want[0])
            np.testing.assert_array_equal(core, want[1])
            np.testing.assert_array_equal(held, want[2])
            run = got_run
        assert h * w == 1 or run.max() >= 2      # runs did build up
    with pytest.raises(ValueError):
        fbk.hold(np.zeros((4, 6), np.uint8), np.zeros((4, 6), np.float32), np.zeros((4, 6), np.uint8),
                 np.zeros((4, 6), np.uint8), np.zeros((4, 5), np.uint8), 2.0, 30, 1)


# --------------------------------------------------------------------------- whole pipeline
def reference_pipeline(frames, radius=2, v_on=2.0, median=5, closing=3, hold_frames=30, known=None):
    """The adaptive pipeline composed from the MOG2 class and the NumPy rules above
    (``known``: a known_foreground mask per frame, or None)."""
    model = BackgroundSubtractorMOG2(var_min=16.0, var_init=16.0, var_max=80.0, shadow_threshold=0.7,
                                     n_threads=1)
    h, w = frames.shape[1:3]
    v = np.zeros((h, w), np.float32)
    cp = np.zeros((h, w), np.uint8)
    fp = np.zeros((h, w), np.uint8)
    run = np.zeros((h, w), np.uint8)
    held = np.zeros((h, w), np.uint8)
    masks = []
    for t, f in enumerate(frames):
        # the model's background ratio: 0.9 for its first 150 learnt frames, 0.8 after;
        # from then on it does not learn the pixels the previous frame held
        model.background_ratio = 0.9 if t < 150 else 0.8
        not_learnt = held.astype(bool) if hold_frames and t >= 150 else np.zeros((h, w), bool)
        if known is not None:
            not_learnt |= known[t]
        raw = model.apply(f, known_foreground=not_learnt)
        if t == 0:
            raw[:] = 0      # the frame that starts the model is all background (MOG2 flags unlearnt pixels)
        x = f.reshape(f.shape[:2] + (-1,))
        st = model.state_
        cand = ref_suppress(x, st["state"], st["nmodes"], raw, v, radius, 16.0, 0.9, v_on)
        fin = clean_mask(cand, median, closing, 1).astype(np.uint8)
        v = ref_blink(cand, fin, cp, fp, v, 1.0, 0.1, 20.0)
        cp, fp = cand, fin
        if hold_frames:
            run, _, held = ref_hold(fin, v, run, v_on, hold_frames)
        masks.append(fin.astype(bool))
    return np.stack(masks), v


@pytest.mark.parametrize("channels", [1, 3])
def test_pipeline_matches_numpy_composition(channels):
    frames = jitter_clip(n=40, channels=channels, seed=11)
    want, v = reference_pipeline(frames)
    bs = gmmfast.BackgroundSubtractor(n_threads=1)
    got = np.stack([bs.apply(f) for f in frames])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(bs.blink_, v)
    assert (v > 0).any()                                  # the feedback did engage
    bs2 = gmmfast.BackgroundSubtractor(n_threads=2)
    np.testing.assert_array_equal(bs2.apply_many(frames), want)
    all_cores = gmmfast.BackgroundSubtractor(n_threads=-1)      # the README's "-1: all cores" (was a ValueError)
    np.testing.assert_array_equal(np.stack([all_cores.apply(f) for f in frames]), want)


@pytest.mark.parametrize("median, closing", [(3, 5), (7, 0), (0, 3), (15, 15), (17, 3)])
def test_pipeline_matches_numpy_composition_other_windows(median, closing):
    """Clean-up windows other than the defaults: the fused clean-up-and-blink kernel (windows
    up to 15x15) and, past it, the separate passes."""
    frames = jitter_clip(n=30, seed=7)
    want, v = reference_pipeline(frames, median=median, closing=closing)
    bs = gmmfast.BackgroundSubtractor(median_size=median, closing_size=closing, n_threads=2)
    got = np.stack([bs.apply(f) for f in frames])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(bs.blink_, v)


@pytest.mark.parametrize("hold_frames", [30, 3, 0])
def test_pipeline_matches_numpy_composition_past_maturity(hold_frames):
    """Past 150 learnt frames the model's background ratio drops to 0.8 and the held pixels are
    not learnt; the suppression keeps 0.9 (the reference passes 0.9 to it throughout)."""
    frames = jitter_clip(n=200, seed=5)
    want, v = reference_pipeline(frames, hold_frames=hold_frames)
    bs = gmmfast.BackgroundSubtractor(hold_frames=hold_frames, n_threads=1)
    got = np.stack([bs.apply(f) for f in frames])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(bs.blink_, v)
    if hold_frames:
        # the hold engaged: the model differs from one that learnt every pixel
        assert bs.feedback_["held"].any()
        plain = gmmfast.BackgroundSubtractor(hold_frames=0, n_threads=1)
        for f in frames:
            plain.apply(f)
        assert not np.array_equal(plain.model_.state_["state"], bs.model_.state_["state"])
    if hold_frames == 3:
        assert bs.feedback_["run"].max() > 3    # and runs outlived it
    if hold_frames != 30:
        return
    assert bs.model_.background_ratio == 0.8 and bs.model_.n_frames_ == 200
    young = gmmfast.BackgroundSubtractor(n_threads=1)
    for f in frames[:150]:                    # the ratio is set before each frame is learnt
        young.apply(f)
    assert young.model_.background_ratio == 0.9
    young.apply(frames[150])
    assert young.model_.background_ratio == 0.8


@pytest.mark.parametrize("output", ["bool", "uint8"])
def test_known_foreground_is_not_learnt(output):
    """Known-foreground pixels are left out of the model, with the held ones, past maturity too;
    apply and apply_many (into out=) agree with the reference composition."""
    frames = jitter_clip(n=200, seed=5)
    known = np.random.default_rng(3).random((200,) + frames.shape[1:3]) < 0.2
    want, v = reference_pipeline(frames, known=known)
    bs = gmmfast.BackgroundSubtractor(n_threads=1, output=output)
    got = np.stack([bs.apply(f, known_foreground=k) for f, k in zip(frames, known)])
    np.testing.assert_array_equal(got, want if output == "bool" else want * np.uint8(255))
    np.testing.assert_array_equal(bs.blink_, v)
    out = np.ones(got.shape, got.dtype)
    many = gmmfast.BackgroundSubtractor(n_threads=2, output=output)
    assert many.apply_many(frames, known_foreground=known.astype(np.uint8), out=out) is out
    np.testing.assert_array_equal(out, got)
    plain = gmmfast.BackgroundSubtractor(n_threads=1)
    plain.apply_many(frames)
    assert not np.array_equal(plain.model_.state_["state"], bs.model_.state_["state"])   # it did something


@pytest.mark.parametrize("method", ["mog2", "knn"])
def test_known_foreground_and_out_of_the_model_only_methods(method):
    """'mog2' and 'knn' hand known_foreground to their model: the clean-up of its masks."""
    from gmmfast import BackgroundSubtractorKNN

    frames = jitter_clip(n=30, seed=8)
    known = np.random.default_rng(4).random(frames.shape[:3]) < 0.3
    if method == "mog2":
        model = BackgroundSubtractorMOG2(var_min=16.0, var_init=16.0, var_max=80.0, shadow_threshold=0.7,
                                         n_threads=1)
    else:
        model = BackgroundSubtractorKNN(shadow_threshold=0.7, n_threads=1)
    raw = [model.apply(f, known_foreground=k) for f, k in zip(frames, known)]
    want = np.stack([clean_mask(r == 255, 5, 3, 1) for r in raw])
    want[0] = False                                        # the frame that starts the model
    bs = gmmfast.BackgroundSubtractor(method=method, n_threads=1)
    np.testing.assert_array_equal(np.stack([bs.apply(f, known_foreground=k) for f, k in zip(frames, known)]),
                                  want)
    out = np.empty(want.shape, np.uint8)
    many = gmmfast.BackgroundSubtractor(method=method, n_threads=1, output="uint8")
    assert many.apply_many(frames, known_foreground=known, out=out) is out
    np.testing.assert_array_equal(out, want * np.uint8(255))


def test_known_foreground_moves_with_a_shaken_frame():
    """A parked car known to be foreground in every frame of a shaking camera: the mask given in
    each frame's position reaches the model in the model's, so no car colour is learnt."""
    rng = np.random.default_rng(6)
    h, w, amp = 60, 80, 3
    coarse = rng.integers(30, 220, ((h + 2 * amp) // 4 + 2, (w + 2 * amp) // 4 + 2, 3)).astype(np.float64)
    scene = np.kron(coarse, np.ones((4, 4, 1)))[:h + 2 * amp, :w + 2 * amp]
    scene[amp + 20:amp + 32, amp + 30:amp + 50] = (250, 250, 0)       # the car, parked in the scene
    car = np.zeros(scene.shape[:2], bool)
    car[amp + 20:amp + 32, amp + 30:amp + 50] = True
    frames, known = [], []
    for t in range(300):
        dy, dx = (amp, amp) if t == 0 else rng.integers(0, 2 * amp + 1, 2)
        frames.append(np.clip(scene[dy:dy + h, dx:dx + w] + rng.normal(0, 1.5, (h, w, 3)), 0, 255).astype(np.uint8))
        known.append(car[dy:dy + h, dx:dx + w])
    bs = gmmfast.BackgroundSubtractor(hold_frames=0, n_threads=1)
    masks = bs.apply_many(np.stack(frames), known_foreground=np.stack(known))
    learnt = np.abs(bs.background_image().astype(int) - (250, 250, 0)).sum(axis=2) < 60
    assert not learnt.any(), np.argwhere(learnt)
    assert masks[-1][known[-1]].mean() > 0.9                 # and the car is still found
    unknown = gmmfast.BackgroundSubtractor(hold_frames=0, n_threads=1)
    unknown.apply_many(np.stack(frames))
    assert (np.abs(unknown.background_image().astype(int) - (250, 250, 0)).sum(axis=2) < 60).sum() > 100


@pytest.mark.parametrize("method", ["adaptive", "mog2", "knn"])
def test_known_foreground_and_out_are_checked(method):
    bs = gmmfast.BackgroundSubtractor(method=method)
    frames = np.zeros((3, 8, 9), np.uint8)
    with pytest.raises(ValueError, match="known_foreground must have shape"):
        bs.apply(frames[0], known_foreground=np.zeros((8, 8), bool))
    with pytest.raises(ValueError, match="known_foreground must have shape"):
        bs.apply_many(frames, known_foreground=np.zeros((8, 9), bool))
    with pytest.raises(TypeError, match="out must be a bool NumPy array"):
        bs.apply_many(frames, out=np.zeros((3, 8, 9), np.uint8))
    with pytest.raises(ValueError, match="out must be a writeable C-contiguous array"):
        bs.apply_many(frames, out=np.zeros((2, 8, 9), bool))
    with pytest.raises(ValueError, match="out shares memory with the frames"):
        bs.apply_many(frames, out=frames.view(bool))
    assert bs.n_frames_ == 0                                 # refused before learning anything
    masks = bs.apply_many(iter(list(frames)))                # a generator of frames, read once
    assert masks.shape == (3, 8, 9) and bs.n_frames_ == 3


def _lane_clip(n, h, w, seed, lane):
    """A static scene (noise 2) whose lane carries a colour where ``lane(t, mask)`` marks it."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(60, 120, (h, w, 3)).astype(np.float64)
    frames, truth = [], []
    for t in range(n):
        f = bg + rng.normal(0, 2, bg.shape)
        m = np.zeros((h, w), bool)
        lane(t, m)
        f[m] = (200, 60, 40)
        frames.append(np.clip(np.rint(f), 0, 255).astype(np.uint8))
        truth.append(m)
    return np.stack(frames), np.stack(truth)


def busy_lane_clip(n=320, h=24, w=60, period=8, seed=0):
    """A static scene crossed every ``period`` frames by a block of the same colour
    (a busy lane's recurring car colour: present in 1/period of the frames)."""
    def lane(t, m):
        if t % period == 0:
            m[6:18, 20:40] = True
    return _lane_clip(n, h, w, seed, lane)


def moving_lane_clip(n=800, h=20, w=64, start=160, seed=0):
    """A static scene whose lane, from frame ``start`` on, carries blocks of one colour moving
    2 pixels a frame, 12 wide and 36 apart: each lane pixel shows the colour in runs of 6
    frames, a third of the time (a busy lane whose cars share a colour)."""
    def lane(t, m):
        if t >= start:
            for x0 in range(-36 + (2 * t) % 36, w, 36):
                m[6:14, max(x0, 0):max(min(x0 + 12, w), 0)] = True
    return _lane_clip(n, h, w, seed, lane)


def _recall(bs, frames, truth, start):
    """Share of the true foreground pixels of frames ``start``.. that ``bs`` finds."""
    hit = pos = 0
    for t, f in enumerate(frames):
        m = bs.apply(f)
        if t >= start:
            hit += int((m & truth[t]).sum())
            pos += int(truth[t].sum())
    return hit / pos


def test_recurring_colour_stays_foreground_in_a_long_run():
    """A colour that recurs in an eighth of the frames builds a mode of weight ~0.12: with
    MOG2's 0.9 ratio it becomes background (the mixture forgets the lane's cars over a long
    run); the mature model's 0.8 keeps it foreground."""
    frames, truth = busy_lane_clip()
    recall = {}
    for name, mature in (("default", None), ("ratio 0.9 throughout", 0.9)):
        bs = gmmfast.BackgroundSubtractor(n_threads=1)
        if mature is not None:
            bs._TB_MATURE = mature
        recall[name] = _recall(bs, frames, truth, 200)
    assert recall["default"] > 0.85, recall                # the 5x5 median rounds the corners
    assert recall["ratio 0.9 throughout"] < 0.5, recall     # what the switch is for


def test_held_pixels_keep_a_recurring_colour_out_of_the_model():
    """A colour a mature model sees at a lane's pixels a third of the time gains a weight
    above 0.2 and turns background if it is learnt (recall 0 by frame ~700); held out while
    it moves over the lane, it stays foreground."""
    frames, truth = moving_lane_clip()
    recall = {hold: _recall(gmmfast.BackgroundSubtractor(hold_frames=hold, n_threads=1), frames, truth, 700)
              for hold in (30, 0)}
    assert recall[30] > 0.8, recall          # the 5x5 median rounds the blocks' corners
    assert recall[0] < 0.2, recall           # what the hold is for


def test_held_pixels_delay_absorbing_a_stopped_object_by_hold_frames():
    """An object that stops is still absorbed into the background, hold_frames later than
    when every pixel is learnt (its pixels stop being held once their run passes it)."""
    rng = np.random.default_rng(1)
    bg = rng.integers(60, 160, (24, 32, 3)).astype(np.float64)
    frames = []
    for t in range(600):
        f = bg + rng.normal(0, 2, bg.shape)
        if t >= 200:
            f[8:16, 10:22] = (220, 40, 40)
        frames.append(np.clip(np.rint(f), 0, 255).astype(np.uint8))
    absorbed = {}
    for hold in (30, 0):
        bs = gmmfast.BackgroundSubtractor(hold_frames=hold, n_threads=1)
        for t, f in enumerate(frames):
            if bs.apply(f)[8:16, 10:22].mean() < 0.5 and t > 200 and hold not in absorbed:
                absorbed[hold] = t - 200
    assert set(absorbed) == {0, 30}, absorbed
    assert 25 <= absorbed[30] - absorbed[0] <= 35, absorbed


def test_suppression_helps_under_jitter():
    """On a shaken scene the adaptive pipeline flags fewer background pixels than the
    plain mixture and keeps the object."""
    frames = jitter_clip(n=80, h=40, w=60, seed=2)
    plain = gmmfast.BackgroundSubtractor(method="mog2", n_threads=1)
    adapt = gmmfast.BackgroundSubtractor(n_threads=1)
    fp_plain = fp_adapt = 0
    for t, f in enumerate(frames):
        a, b = plain.apply(f), adapt.apply(f)
        if t >= 40:
            fp_plain += int(a.sum())
            fp_adapt += int(b.sum())
    assert fp_adapt < 0.8 * fp_plain


def test_first_frame_and_sizes():
    for shape in [(1, 1), (2, 3), (5, 1), (7, 9, 3), (6, 4, 4), (3, 3, 2)]:
        bs = gmmfast.BackgroundSubtractor(output="uint8")
        f = np.full(shape, 100, np.uint8)
        m = bs.apply(f)
        assert m.shape == shape[:2] and m.dtype == np.uint8 and not m.any()
        m = bs.apply(np.full(shape, 250, np.uint8))
        assert m.shape == shape[:2]
    bs = gmmfast.BackgroundSubtractor()
    assert bs.apply(np.zeros((8, 8), np.float64)).dtype == bool


def test_methods_and_reset():
    frames = jitter_clip(n=10, channels=3, seed=4)
    a = gmmfast.BackgroundSubtractor(method="mog2", n_threads=1).apply_many(frames)
    b = gmmfast.BackgroundSubtractor(method="mog2", n_threads=1)
    np.testing.assert_array_equal(np.stack([b.apply(f) for f in frames]), a)
    bs = gmmfast.BackgroundSubtractor(n_threads=1)
    first = bs.apply_many(frames)
    bs.reset()
    assert not hasattr(bs, "blink_")
    np.testing.assert_array_equal(bs.apply_many(frames), first)
    assert gmmfast.BackgroundSubtractor().method == "adaptive"


@pytest.mark.parametrize("method", ["adaptive", "mog2", "knn"])
def test_parameters_changed_mid_stream_reach_the_model(method):
    # set_params (or assignment) after the first frame acts from the next frame, as on a
    # model built with the new values and carrying the learnt state: compared with the
    # underlying model set by hand
    frames = jitter_clip(n=24, channels=3, seed=5)
    a = gmmfast.BackgroundSubtractor(method=method, n_threads=1)
    b = gmmfast.BackgroundSubtractor(method=method, n_threads=1)
    for f in frames[:12]:
        np.testing.assert_array_equal(a.apply(f), b.apply(f))
    a.set_params(history=7, shadow_threshold=0.5)
    b.model_.set_params(history=7, shadow_threshold=0.5)
    if method != "knn":
        a.var_threshold = 40.0
        b.model_.set_params(var_threshold=40.0)
    for f in frames[12:]:
        np.testing.assert_array_equal(a.apply(f), b.apply(f))
    assert a.model_.history == 7 and a.model_.shadow_threshold == 0.5
    # a plain copy with the old parameters gives other masks: the change did act
    c = gmmfast.BackgroundSubtractor(method=method, n_threads=1)
    assert any((c.apply(f) != m).any() for f, m in zip(frames, [a.apply(f) for f in frames]))


def test_method_changed_mid_stream_needs_reset():
    frames = jitter_clip(n=4, channels=3, seed=5)
    bs = gmmfast.BackgroundSubtractor()
    bs.apply(frames[0])
    bs.set_params(method="knn")
    with pytest.raises(ValueError, match="reset"):
        bs.apply(frames[1])
    assert isinstance(bs.reset().apply(frames[1]), np.ndarray)
    assert type(bs.model_).__name__ == "BackgroundSubtractorKNN"


@pytest.mark.parametrize("params, error", [
    ({"n_components": 0}, ValueError), ({"n_components": 2.5}, TypeError),
    ({"method": "sample"}, ValueError), ({"method": None}, ValueError),
    ({"radius": -1}, ValueError), ({"radius": 1.5}, TypeError), ({"radius": 99}, ValueError),
    ({"blink_threshold": -0.5}, ValueError), ({"blink_threshold": "2"}, TypeError),
    ({"blink_threshold": float("nan")}, ValueError), ({"median_size": 4}, ValueError),
    ({"hold_frames": -1}, ValueError), ({"hold_frames": 256}, ValueError), ({"hold_frames": 2.5}, TypeError),
])
def test_bad_parameters(params, error):
    bs = gmmfast.BackgroundSubtractor(**params)
    with pytest.raises(error, match=next(iter(params))):     # the message names the parameter
        bs.apply(np.zeros((4, 4), np.uint8))


@pytest.mark.parametrize("method", ["adaptive", "mog2", "knn"])
@pytest.mark.parametrize("params", [{"median_size": 4}, {"closing_size": 2}, {"radius": -1}, {"hold_frames": -1},
                                    {"output": "xx"}, {"blink_threshold": -1}, {"max_shift": -3},
                                    {"max_shift": 10**6}, {"n_components": 3}])
def test_a_bad_or_structural_change_mid_stream_is_refused_before_learning(method, params):
    # these were accepted mid-stream (output='xx' gave bool masks), or refused only after the
    # frame had been learnt (median_size=4), or restarted the model in silence (n_components)
    frames = jitter_clip(n=8, channels=3, seed=5)
    a = gmmfast.BackgroundSubtractor(method=method, n_threads=1)
    b = gmmfast.BackgroundSubtractor(method=method, n_threads=1)
    for f in frames[:4]:
        a.apply(f), b.apply(f)
    good = {k: getattr(a, k) for k in params}
    a.set_params(**params)
    if method == "knn" and "n_components" in params:
        a.apply(frames[4]), b.apply(frames[4])          # KNN has no modes: nothing to refuse
    else:
        with pytest.raises(ValueError, match=next(iter(params))):
            a.apply(frames[4])
        with pytest.raises(ValueError, match=next(iter(params))):
            a.apply_many(frames[4:6])
        assert a.model_.n_frames_ == b.model_.n_frames_ == 4
        a.set_params(**good)                            # set back: the model goes on as if untouched
    for f in frames[4:]:
        np.testing.assert_array_equal(a.apply(f), b.apply(f))


@pytest.mark.parametrize("method", ["adaptive", "mog2", "knn"])
@pytest.mark.parametrize("first", ["black", "grey", "noise"])
def test_the_frame_that_starts_the_model_is_all_background(method, first):
    # a black first frame came out all foreground and any other all background (MOG2's, and
    # OpenCV's, first-frame mask is foreground or shadow by the pixel values): a video that fades
    # in from black got a wrong first mask, and its blinking scores a jolt
    rng = np.random.default_rng(1)
    frames = jitter_clip(n=12, channels=3, seed=5)
    frames[0] = {"black": 0, "grey": 90, "noise": rng.integers(0, 256, frames[0].shape)}[first]
    one = gmmfast.BackgroundSubtractor(method=method, n_threads=1)
    assert not one.apply(frames[0]).any()
    rest = [one.apply(f) for f in frames[1:]]
    many = gmmfast.BackgroundSubtractor(method=method, n_threads=1).apply_many(frames)
    assert not many[0].any()
    np.testing.assert_array_equal(many[1:], rest)
    assert not one.apply(frames[5], learning_rate=1).any()           # rate 1 restarts the model


@pytest.mark.parametrize("change", [{"n_components": 3}, {"method": "knn"}, {"history": 50}])
def test_a_change_after_a_refused_first_frame_starts_the_model_as_asked(change):
    # the refused frame left a model that had learnt nothing, and the change then raised
    # AttributeError ('n_frames_') or was refused as a change "after the model learnt 0 frame(s)"
    frames = jitter_clip(n=6, channels=3, seed=5)
    bs = gmmfast.BackgroundSubtractor(n_threads=1)
    with pytest.raises(TypeError):
        bs.apply(frames[0].astype(np.int32))
    bs.set_params(**change)
    fresh = gmmfast.BackgroundSubtractor(n_threads=1, **change)
    for f in frames:
        np.testing.assert_array_equal(bs.apply(f), fresh.apply(f))


def test_parameters_given_to_load_reach_the_model(tmp_path):
    # BackgroundSubtractor.load(path, history=10) ran with the saved history: the loaded model was
    # taken as built from the parameters of the moment
    frames = jitter_clip(n=12, channels=3, seed=5)
    a = gmmfast.BackgroundSubtractor(n_threads=1)
    a.apply_many(frames[:6])
    a.save(tmp_path / "m.npz")
    loaded = gmmfast.BackgroundSubtractor.load(tmp_path / "m.npz", history=10)
    a.set_params(history=10)
    for f in frames[6:]:
        np.testing.assert_array_equal(loaded.apply(f), a.apply(f))
    assert loaded.model_.history == 10
    with pytest.raises(ValueError, match="n_components changed from 5 to 3"):
        gmmfast.BackgroundSubtractor.load(tmp_path / "m.npz", n_components=3).apply(frames[0])


def test_bad_frames():
    bs = gmmfast.BackgroundSubtractor()
    with pytest.raises(TypeError):
        bs.apply([[1, 2], [3, 4]])
    with pytest.raises(ValueError):
        bs.apply(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError):
        bs.apply(np.full((4, 4), np.nan))
    bs.apply(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="reset"):
        bs.apply(np.zeros((5, 4), np.uint8))          # another size needs reset()
    with pytest.raises(ValueError):
        bs.apply_many(np.zeros((0, 4, 4), np.uint8))


def test_model_saved_without_the_hold_state_continues(tmp_path):
    """A model file written before the hold existed has no foreground runs in ``feedback_``:
    it continues as a model whose runs and held pixels start empty."""
    frames = jitter_clip(n=175, seed=5)
    bs = gmmfast.BackgroundSubtractor(n_threads=1)
    for f in frames[:160]:
        bs.apply(f)
    bs.save(tmp_path / "m.npz")
    old = gmmfast.BackgroundSubtractor.load(tmp_path / "m.npz")
    del old.feedback_["run"], old.feedback_["held"]
    bs.feedback_["run"][:] = 0
    bs.feedback_["held"][:] = 0
    for f in frames[160:]:
        np.testing.assert_array_equal(old.apply(f), bs.apply(f))
    np.testing.assert_array_equal(old.feedback_["run"], bs.feedback_["run"])
    assert bs.feedback_["run"].any()


@pytest.mark.parametrize("method", ["adaptive", "mog2", "knn"])
def test_frames_learnt_and_their_shape_are_the_models(method):
    # BackgroundSubtractor had neither (its MOG2 and KNN have both): bs.model_.n_frames_ only
    clip = gmmfast.data.sample_clip(n_frames=6)[0]
    bs = gmmfast.BackgroundSubtractor(method=method)
    assert bs.n_frames_ == 0 and bs.frame_shape_ is None
    bs.apply_many(clip[:4])
    bs.apply(clip[4])
    assert bs.n_frames_ == 5 == bs.model_.n_frames_ and bs.frame_shape_ == clip.shape[1:]
    assert bs.reset().n_frames_ == 0 and bs.frame_shape_ is None
