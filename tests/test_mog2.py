"""Tests of the online per-pixel mixtures (BackgroundSubtractorMOG2) and the recommended pipeline."""

from __future__ import annotations

from pathlib import Path

import warnings

import numpy as np
import pytest

import gmmfast
from gmmfast._background import clean_mask

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# --------------------------------------------------------------------------- synthetic video
def textured_background(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A photo-like colour image: smooth shading, edges, blotches and fine texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.empty((h, w, 3))
    for c in range(3):
        img[..., c] = 110 + 50 * np.sin(xx / (9.0 + 3 * c) + c) * np.cos(yy / (13.0 - 2 * c))
    # a few rectangles (buildings / road markings) and blotchy noise
    for _ in range(8):
        y0, x0 = rng.integers(0, h - 10), rng.integers(0, w - 10)
        img[y0:y0 + rng.integers(5, 30), x0:x0 + rng.integers(5, 30)] += rng.uniform(-60, 60, 3)
    coarse = rng.normal(0, 20, (h // 8 + 1, w // 8 + 1, 3))
    img += np.kron(coarse, np.ones((8, 8, 1)))[:h, :w]
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 10, 245)


def synthetic_video(n: int = 150, h: int = 90, w: int = 120, seed: int = 1):
    """Frames with noise, two moving sprites, a slow global brightness change and a
    flickering region; returns (frames uint8 (n, h, w, 3), true foreground masks (n, h, w))."""
    rng = np.random.default_rng(seed)
    bg = textured_background(h, w, seed)
    frames = np.empty((n, h, w, 3), np.uint8)
    truth = np.zeros((n, h, w), bool)
    flicker = (slice(5, 20), slice(w - 25, w - 5))
    # every pass of a sprite has its own colour and row, as different vehicles would
    pass_colour = rng.integers(0, 256, (64, 2, 3))
    pass_row = rng.integers(22, h - 20, (64, 2))
    for t in range(n):
        gain = 1.0 + 0.08 * np.sin(2 * np.pi * t / n)       # slow exposure drift
        f = bg * gain + rng.normal(0, 3.0, bg.shape)
        f[flicker] += 40.0 if rng.random() < 0.5 else 0.0    # two-state flicker
        # sprite 1: a box moving right at 3 px/frame; sprite 2: a larger one moving left at 4 px/frame
        p1, x1 = divmod(10 + 3 * t, w + 24)
        p2, x2 = divmod(4 * t, w + 28)
        for (y0, x0, hh, ww, colour) in ((pass_row[p1, 0], x1 - 24, 18, 24, pass_colour[p1, 0]),
                                         (pass_row[p2, 1], w - x2, 20, 28, pass_colour[p2, 1])):
            ys = slice(max(y0, 0), min(y0 + hh, h))
            xs = slice(max(x0, 0), min(x0 + ww, w))
            if ys.start < ys.stop and xs.start < xs.stop:
                f[ys, xs] = colour + rng.normal(0, 3.0, f[ys, xs].shape)
                truth[t, ys, xs] = True
        frames[t] = np.clip(f, 0, 255).astype(np.uint8)
    return frames, truth


def f_measure(masks, truth) -> float:
    masks = np.asarray(masks, bool)
    tp = np.sum(masks & truth)
    fp = np.sum(masks & ~truth)
    fn = np.sum(~masks & truth)
    p = tp / max(tp + fp, 1)
    r = tp / max(tp + fn, 1)
    return 2 * p * r / max(p + r, 1e-12)


@pytest.fixture(scope="module")
def video():
    return synthetic_video()


# --------------------------------------------------------------------------- plain reference
class ReferenceMOG2:
    """Straightforward per-pixel float64 implementation of the model, written from the
    papers for this test (Zivkovic & van der Heijden 2006; Prati et al. 2003)."""

    def __init__(self, shape, K=5, Tb=16.0, Tg=9.0, TB=0.9, v0=15.0, vmin=4.0, vmax=75.0,
                 cT=0.05, shadows=True, sv=127, tau=0.5):
        self.K, self.Tb, self.Tg, self.TB = K, Tb, Tg, TB
        self.v0, self.vmin, self.vmax, self.cT = v0, vmin, vmax, cT
        self.shadows, self.sv, self.tau = shadows, sv, tau
        h, w = shape[:2]
        self.modes = [[[] for _ in range(w)] for _ in range(h)]   # lists of [w, var, mean]

    def _shadow(self, x, modes):
        tw = 0.0
        for wt, var, mu in modes:
            den = mu @ mu
            if den == 0:
                return False
            a = (x @ mu) / den
            if self.tau <= a <= 1 and np.sum((a * mu - x) ** 2) < self.Tb * var * a * a:
                return True
            tw += wt
            if tw > self.TB:
                return False
        return False

    def _pixel(self, x, modes, alpha):
        bg = False
        owner = None
        total = 0.0
        for m in modes:
            m[0] = (1 - alpha) * m[0] - alpha * self.cT
        for i, m in enumerate(modes):
            d2 = np.sum((x - m[2]) ** 2)
            # background test against the weights accumulated before this mode
            prev = sum(mm[0] for mm in modes[:i])
            if prev < self.TB and d2 < self.Tb * m[1]:
                bg = True
            if d2 < self.Tg * m[1]:
                owner = i
                m[0] += alpha
                k = alpha / m[0]
                m[2] = m[2] + k * (x - m[2])
                m[1] = min(max(m[1] + k * (d2 - m[1]), self.vmin), self.vmax)
                break
        kept = [m for m in modes if m[0] >= alpha * self.cT or m is (modes[owner] if owner is not None else None)]
        # stable sort by weight, heaviest first (the owner moves up past lighter modes)
        kept.sort(key=lambda m: -m[0])
        if owner is not None:
            total = sum(m[0] for m in kept)
            for m in kept:
                m[0] /= total
        else:
            total = sum(m[0] for m in kept)
            if len(kept) == self.K:
                kept.pop()
            for m in kept:
                m[0] = m[0] / total * (1 - alpha) if total > 0 else m[0]
            new = [1.0 if not kept else alpha, self.v0, x.copy()]
            kept.append(new)
            kept.sort(key=lambda m: -m[0])
        modes[:] = kept
        if bg:
            return 0
        if self.shadows and self._shadow(x, modes):
            return self.sv
        return 255

    def apply(self, frame, alpha):
        frame = frame.astype(np.float64).reshape(frame.shape[0], frame.shape[1], -1)
        out = np.empty(frame.shape[:2], np.uint8)
        for y in range(frame.shape[0]):
            for x in range(frame.shape[1]):
                out[y, x] = self._pixel(frame[y, x], self.modes[y][x], alpha)
        return out


def test_matches_plain_reference(video):
    frames, _ = video
    crop = frames[:60, 20:32, 30:46]          # covers the sprite path, 12x16 pixels
    ref = ReferenceMOG2(crop.shape[1:])
    sub = gmmfast.BackgroundSubtractorMOG2(n_threads=1)
    agree = []
    for t, f in enumerate(crop):
        alpha = 1.0 / min(2 * (t + 1), 500)
        agree.append(np.mean(sub.apply(f) == ref.apply(f, alpha)))
    assert np.mean(agree) >= 0.99, np.mean(agree)
    # the learnt background matches the reference's heaviest modes
    bg = sub.background_image().astype(float)
    ref_bg = np.array([[row[x][0][2] for x in range(crop.shape[2])] for row in ref.modes])
    assert np.median(np.abs(bg - ref_bg)) < 1.0


# --------------------------------------------------------------------------- OpenCV agreement
@pytest.mark.parametrize("kwargs,grey", [
    ({}, False),
    ({}, True),
    ({"detect_shadows": False, "history": 50, "var_threshold": 25.0}, False),
    ({"n_components": 3, "background_ratio": 0.7, "var_threshold_gen": 6.0, "var_init": 20.0,
      "var_min": 2.0, "var_max": 50.0, "complexity_reduction": 0.1, "shadow_threshold": 0.6,
      "shadow_value": 90}, False),
    ({"n_components": 1, "var_threshold": 30.0}, False),        # one mode: the one-mode fast pass
])
def test_agrees_with_opencv(video, kwargs, grey):
    cv2 = pytest.importorskip("cv2")
    frames, _ = video
    names = {"history": "History", "var_threshold": "VarThreshold", "detect_shadows": "DetectShadows",
             "n_components": "NMixtures", "background_ratio": "BackgroundRatio",
             "var_threshold_gen": "VarThresholdGen", "var_init": "VarInit", "var_min": "VarMin",
             "var_max": "VarMax", "complexity_reduction": "ComplexityReductionThreshold",
             "shadow_value": "ShadowValue", "shadow_threshold": "ShadowThreshold"}
    ref = cv2.createBackgroundSubtractorMOG2()
    for k, v in kwargs.items():
        getattr(ref, "set" + names[k])(v)
    sub = gmmfast.BackgroundSubtractorMOG2(**kwargs)
    agree = []
    for f in frames:
        if grey:
            f = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
        agree.append(np.mean(sub.apply(f) == ref.apply(f)))
    assert min(agree) >= 0.98 and np.mean(agree) >= 0.995, (min(agree), np.mean(agree))
    bg_ref = ref.getBackgroundImage().astype(int)
    assert np.mean(np.abs(sub.background_image().astype(int) - bg_ref) <= 1) >= 0.99


def test_agrees_with_opencv_fixed_rate_and_float(video):
    cv2 = pytest.importorskip("cv2")
    frames, _ = video
    ref = cv2.createBackgroundSubtractorMOG2()
    sub = gmmfast.BackgroundSubtractorMOG2()
    agree = []
    for t, f in enumerate(frames[:80]):
        lr = -1 if t == 0 else 0.02        # OpenCV ignores the rate on the first frame
        ff = f.astype(np.float32)
        agree.append(np.mean(sub.apply(ff, learning_rate=lr) == ref.apply(ff, learningRate=lr)))
    assert np.mean(agree) >= 0.99, np.mean(agree)


# --------------------------------------------------------------------------- block vs one by one
def _jitter_video(n=40, h=12, w=40, c=3, seed=3):
    """A textured scene shaken by up to 3 pixels, with noise and flicker: most pixels hold
    several modes and many are owned by a mode other than their first, or by none."""
    rng = np.random.default_rng(seed)
    scene = rng.integers(0, 256, (h + 6, w + 6, c)).astype(np.float32)
    out = []
    for t in range(n):
        dy, dx = rng.integers(0, 4, 2)
        f = scene[dy:dy + h, dx:dx + w] + rng.normal(0, 4, (h, w, c))
        f[rng.random((h, w)) < 0.05] = rng.integers(0, 256)   # flicker: new modes
        out.append(np.clip(f, 0, 255).astype(np.uint8))
    return np.stack(out)


@pytest.mark.parametrize("c,kwargs", [
    (3, {}),
    (1, {}),
    (2, {"n_components": 3}),
    (4, {"n_components": 8, "detect_shadows": False}),
    (3, {"n_components": 2, "complexity_reduction": 0.5}),     # modes dropped often
    (3, {"n_components": 4, "var_min": 16.0, "var_init": 16.0, "var_max": 80.0, "shadow_threshold": 0.7}),
    (3, {"n_components": 1}),
])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_blocks_of_pixels_match_pixels_one_by_one(c, kwargs, dtype):
    """The general update runs on blocks of 8 neighbouring pixels of a row, in SIMD lanes
    (mog2_general_impl.h), and one pixel at a time in the scalar code (_update in
    _mog2.pyx) for a row's last W % 8 pixels.  Pixels are independent, so a frame seen as
    one column (W = 1: every pixel one by one) must give the same masks, mode counts and
    state bits as the frame itself; the scalar path is checked against OpenCV and the
    plain reference above."""
    frames = _jitter_video(c=c).astype(dtype)
    n, h, w = frames.shape[:3]
    a = gmmfast.BackgroundSubtractorMOG2(n_threads=1, **kwargs)
    b = gmmfast.BackgroundSubtractorMOG2(n_threads=1, **kwargs)
    kf = np.zeros((h, w), bool)
    kf[2:5, 3:20:3] = True       # blocks with a few lanes not learnt
    for t, f in enumerate(frames):
        lr = 0.02 if t >= 30 else -1
        k = kf if t % 3 == 0 else None
        ma = a.apply(f, learning_rate=lr, known_foreground=k)
        mb = b.apply(f.reshape(h * w, 1, c), learning_rate=lr,
                     known_foreground=None if k is None else k.reshape(h * w, 1))
        np.testing.assert_array_equal(ma, mb.reshape(h, w), err_msg=f"frame {t}")
    np.testing.assert_array_equal(a.state_["nmodes"], b.state_["nmodes"].reshape(h, w))
    sa = a.state_["state"]
    sb = b.state_["state"].reshape(sa.shape)
    # every slot a pixel uses, bit for bit (slots past a pixel's mode count are stale)
    used = np.arange(sa.shape[0])[:, None, None] < a.state_["nmodes"]
    np.testing.assert_array_equal(np.where(used[:, None], sa, 0), np.where(used[:, None], sb, 0))
    assert int(a.state_["nmodes"].max()) == a.n_components


# --------------------------------------------------------------------------- behaviour
def test_float_and_uint8_frames_give_the_same_masks(video):
    frames, _ = video
    a = gmmfast.BackgroundSubtractorMOG2()
    b = gmmfast.BackgroundSubtractorMOG2()
    for f in frames[:40]:
        np.testing.assert_array_equal(a.apply(f), b.apply(f.astype(np.float64)))


@pytest.mark.parametrize("n_components", [1, 5])
def test_two_channels_agree_with_three_with_a_zero_channel(video, n_components):
    """Two channels have their own vectorised pass; a zero third channel changes nothing."""
    frames, _ = video
    a = gmmfast.BackgroundSubtractorMOG2(n_components=n_components)
    b = gmmfast.BackgroundSubtractorMOG2(n_components=n_components)
    for f in frames[:40]:
        f2 = np.ascontiguousarray(f[..., :2])
        f3 = np.concatenate([f2, np.zeros_like(f[..., :1])], axis=2)
        np.testing.assert_array_equal(a.apply(f2), b.apply(f3))
    np.testing.assert_array_equal(a.background_image(), b.background_image()[..., :2])


def test_a_zero_fourth_channel_changes_nothing(video):
    frames, _ = video
    a = gmmfast.BackgroundSubtractorMOG2()
    b = gmmfast.BackgroundSubtractorMOG2()
    for f in frames[:40]:
        f4 = np.concatenate([f, np.zeros_like(f[..., :1])], axis=2)   # a zero 4th channel changes nothing
        np.testing.assert_array_equal(a.apply(f), b.apply(f4))
    np.testing.assert_array_equal(a.background_image(), b.background_image()[..., :3])


@pytest.mark.parametrize("cls", [gmmfast.BackgroundSubtractorMOG2, gmmfast.BackgroundSubtractorKNN,
                                 gmmfast.BackgroundSubtractor])
def test_frames_off_the_0_255_scale_warn(video, cls):
    # [0, 1] floats make everything background, 16-bit values made float everything foreground
    frames, _ = video
    with pytest.warns(UserWarning, match="0-255") as caught:
        cls().apply(frames[0] / 255.0)
    assert caught[0].filename == __file__                  # points at the caller
    with pytest.warns(UserWarning, match="frame / 257"):
        cls().apply(frames[0].astype(np.float32) * 257)
    with pytest.raises(TypeError, match="frame / 257"):
        cls().apply(frames[0].astype(np.uint16) * 257)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cls().apply(frames[0].astype(np.float32))          # 0-255 floats: silent


@pytest.mark.parametrize("cls", [gmmfast.BackgroundSubtractorMOG2, gmmfast.BackgroundSubtractor])
def test_a_switch_to_off_scale_float_frames_mid_stream_warns(video, cls):
    # uint8 frames, then frame / 255.0: every pixel foreground, without a word (KNN refuses it)
    frames, _ = video
    sub = cls()
    for f in frames[:5]:
        sub.apply(f)
    with pytest.warns(UserWarning, match=r"values in \[0, 1\]") as caught:
        sub.apply(frames[5] / 255.0)
    assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sub.apply(frames[6] / 255.0)                    # warned once per switch, not every frame
        sub.apply(frames[7])
        sub.apply(frames[8].astype(np.float32))        # 0-255 floats: silent


def test_threads_do_not_change_results(video, two_threads):
    frames, _ = video
    a = gmmfast.BackgroundSubtractorMOG2(n_threads=1)
    b = gmmfast.BackgroundSubtractorMOG2(n_threads=2)
    big = [np.tile(f, (4, 4, 1)) for f in frames[:15]]   # large enough to be split across threads
    with two_threads("_mog2"):
        masks = [b.apply(f) for f in big]
    for f, mask in zip(big, masks):
        np.testing.assert_array_equal(a.apply(f), mask)
    np.testing.assert_array_equal(a.state_["state"], b.state_["state"])


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_first_frame_is_learnt_whatever_the_rate_as_opencv_does(video, rate):
    # with rate 0 from the first frame the model learnt nothing and every pixel stayed
    # foreground for ever; OpenCV learns a model's first frame at the automatic rate
    cv2 = pytest.importorskip("cv2")
    frames, _ = video
    ours, theirs = gmmfast.BackgroundSubtractorMOG2(), cv2.createBackgroundSubtractorMOG2()
    for f in frames[:8]:
        mask = ours.apply(f, learning_rate=rate)
        assert np.mean(mask == theirs.apply(np.ascontiguousarray(f[..., ::-1]), learningRate=rate)) > 0.9999
    if rate == 0:
        assert 0 < np.mean(mask == 255) < 0.5


def test_learning_rate_zero_freezes(video):
    frames, _ = video
    sub = gmmfast.BackgroundSubtractorMOG2()
    for f in frames[:30]:
        sub.apply(f)
    before = {k: v.copy() for k, v in sub.state_.items()}
    m1 = sub.apply(frames[30], learning_rate=0)
    for k, v in sub.state_.items():
        np.testing.assert_array_equal(v, before[k])
    m2 = sub.apply(frames[30], learning_rate=0)
    np.testing.assert_array_equal(m1, m2)
    assert sub.n_frames_ == 30


def test_learning_rate_one_restarts_from_the_frame(video):
    frames, _ = video
    sub = gmmfast.BackgroundSubtractorMOG2()
    for f in frames[:10]:
        sub.apply(f)
    assert np.all(sub.apply(frames[10], learning_rate=1) != 0)   # as on a first frame: nothing is background yet
    np.testing.assert_array_equal(sub.background_image(), frames[10])
    assert sub.n_frames_ == 1 and int(sub.state_["nmodes"].max()) == 1


def test_known_foreground_is_not_learnt(video):
    frames, _ = video
    sub = gmmfast.BackgroundSubtractorMOG2()
    for f in frames[:20]:
        sub.apply(f)
    kf = np.zeros(frames.shape[1:3], bool)
    kf[10:30, 10:40] = True
    before = {k: v.copy() for k, v in sub.state_.items()}
    sub.apply(frames[20], known_foreground=kf)
    after = sub.state_
    np.testing.assert_array_equal(after["state"][:, :, kf], before["state"][:, :, kf])
    assert not np.array_equal(after["state"][:, :, ~kf], before["state"][:, :, ~kf])
    # a permanently known-foreground pixel never learns a bright object parked on it
    sub2 = gmmfast.BackgroundSubtractorMOG2()
    parked = frames[:60].copy()
    parked[:, 0:8, 0:8] = 250
    for f in parked:
        sub2.apply(f, known_foreground=kf | (np.arange(kf.shape[0])[:, None] < 8))
    assert np.all(sub2.background_image()[0:8, 0:8] == 0)  # never learnt: empty model


def _classify_plain(x, state, nmodes, Tb, Tg, TB):
    """Mask of each pixel of x under the model as it is (no learning), as the general code's
    classification reads it: the first mode within Tg stops the walk; background when a mode
    within Tb comes while the weights before it sum below TB; else 255 (shadows off).  float32
    like the kernel; also returns how close each pixel is to a threshold (relative)."""
    H, W, C = x.shape
    out = np.full((H, W), 255, np.uint8)
    margin = np.full((H, W), np.inf)
    for yy in range(H):
        for xx in range(W):
            tot = np.float32(0)
            for m in range(nmodes[yy, xx]):
                v = state[m, 1, yy, xx]
                d = x[yy, xx].astype(np.float32) - state[m, 2:, yy, xx]
                d2 = np.float32(np.sum(d * d, dtype=np.float32))
                margin[yy, xx] = min(margin[yy, xx], abs(d2 - Tb * v) / (Tb * v), abs(d2 - Tg * v) / (Tg * v))
                if tot < TB and d2 < Tb * v:
                    out[yy, xx] = 0
                    break
                if d2 < Tg * v:
                    break
                tot = np.float32(tot + state[m, 0, yy, xx])
    return out, margin


def test_known_foreground_pixels_are_classified_as_the_model_stands(video):
    """Known-foreground pixels are classified only, by the vectorised common case where the
    heaviest mode explains them and by the general code elsewhere: both must give the
    classification of the model before the frame."""
    frames, _ = video
    sub = gmmfast.BackgroundSubtractorMOG2(detect_shadows=False, n_threads=1)
    for f in frames[:40]:
        sub.apply(f)
    rng = np.random.default_rng(0)
    for f in frames[40:46]:
        kf = rng.random(f.shape[:2]) < 0.5
        before = {k: v.copy() for k, v in sub.state_.items()}
        got = sub.apply(f, known_foreground=kf)
        want, margin = _classify_plain(f.reshape(f.shape[:2] + (-1,)), before["state"], before["nmodes"],
                                       np.float32(sub.var_threshold), np.float32(sub.var_threshold_gen),
                                       np.float32(sub.background_ratio))
        close = margin < 1e-5                 # float rounding may go either way there
        np.testing.assert_array_equal(got[kf & ~close], want[kf & ~close])
        for k in before:                      # and nothing of theirs was learnt
            np.testing.assert_array_equal(sub.state_[k][..., kf], before[k][..., kf])
        assert (want[kf] == 0).any() and (want[kf] == 255).any()


def test_save_load_round_trip(tmp_path, video):
    frames, _ = video
    sub = gmmfast.BackgroundSubtractorMOG2(history=77, var_threshold=20.0, n_components=4)
    for f in frames[:25]:
        sub.apply(f)
    path = tmp_path / "model.npz"
    sub.save(path)
    other = gmmfast.BackgroundSubtractorMOG2.load(path)
    assert other.get_params() == sub.get_params() and other.n_frames_ == sub.n_frames_
    for k in sub.state_:
        np.testing.assert_array_equal(other.state_[k], sub.state_[k])
    for f in frames[25:45]:
        np.testing.assert_array_equal(other.apply(f), sub.apply(f))
    np.testing.assert_array_equal(other.background_image(), sub.background_image())
    # an empty model round-trips too, and garbage is refused
    empty = tmp_path / "empty.npz"
    gmmfast.BackgroundSubtractorMOG2().save(empty)
    assert gmmfast.BackgroundSubtractorMOG2.load(empty).frame_shape_ is None
    np.savez(tmp_path / "junk.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a gmmfast model file"):
        gmmfast.BackgroundSubtractorMOG2.load(tmp_path / "junk.npz")
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ValueError, match="not a gmmfast model file"):
        gmmfast.BackgroundSubtractorMOG2.load(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError):
        gmmfast.BackgroundSubtractorMOG2.load(tmp_path / "missing.npz")


def test_reset_and_parameters():
    sub = gmmfast.BackgroundSubtractorMOG2()
    sub.apply(np.zeros((8, 8), np.uint8))
    assert sub.frame_shape_ == (8, 8, 1)
    sub.reset()
    sub.apply(np.zeros((4, 5, 3), np.uint8))
    assert sub.frame_shape_ == (4, 5, 3)
    sub.var_threshold = 30
    assert sub.var_threshold == 30.0 and sub.get_params()["var_threshold"] == 30.0
    sub.n_components = 3                      # a new K needs a new model: refused, the model untouched
    state = sub.state_["state"].copy()
    with pytest.raises(ValueError, match=r"n_components changed from 5 to 3 after the model learnt 1 frame.*reset\(\)"):
        sub.apply(np.zeros((4, 5, 3), np.uint8))
    assert sub.n_frames_ == 1 and np.array_equal(sub.state_["state"], state)
    sub.apply(np.zeros((4, 5, 3), np.uint8), learning_rate=1)    # rate 1 restarts the model: allowed
    assert sub.state_["state"].shape[0] == 3 and sub.n_frames_ == 1
    sub.reset().apply(np.zeros((6, 7), np.uint8))
    assert sub.frame_shape_ == (6, 7, 1) and sub.state_["state"].shape[0] == 3 and sub.n_frames_ == 1
    sub.set_params(var_min=100.0, var_max=200.0)
    assert (sub.var_min, sub.var_max) == (100.0, 200.0)
    assert "var_threshold=30" in repr(sub) and "history" not in repr(sub)   # changed parameters only


@pytest.mark.parametrize("name,value,exc", [
    ("history", 0, ValueError), ("history", 2.5, TypeError), ("var_threshold", -1, ValueError),
    ("var_threshold", float("nan"), ValueError), ("detect_shadows", 1, TypeError),
    ("n_components", 0, ValueError), ("n_components", 300, ValueError),
    ("background_ratio", 0.0, ValueError), ("background_ratio", 1.5, ValueError),
    ("var_min", 100.0, ValueError), ("var_max", 1.0, ValueError), ("var_init", 0, ValueError),
    ("complexity_reduction", -0.1, ValueError), ("shadow_value", 256, ValueError),
    ("shadow_threshold", 1.5, ValueError), ("n_threads", 0, ValueError), ("n_threads", "2", TypeError),
])
def test_bad_parameters(name, value, exc):
    # parameters are stored as given and checked when the model is used, as in scikit-learn
    frame = np.zeros((4, 5, 3), np.uint8)
    sub = gmmfast.BackgroundSubtractorMOG2(**{name: value})
    with pytest.raises(exc, match=name):
        sub.apply(frame)
    with pytest.raises(exc, match=name):
        sub.apply_many([frame, frame])
    sub = gmmfast.BackgroundSubtractorMOG2()
    sub.apply(frame)
    setattr(sub, name, value)               # a change after the first frame is checked too
    with pytest.raises(exc, match=name):
        sub.apply(frame)
    assert sub.n_frames_ == 1


def test_bad_frames():
    sub = gmmfast.BackgroundSubtractorMOG2()
    sub.apply(np.zeros((10, 12, 3), np.uint8))
    with pytest.raises(ValueError, match="reset"):
        sub.apply(np.zeros((10, 13, 3), np.uint8))          # wrong size
    with pytest.raises(ValueError, match="reset"):
        sub.apply(np.zeros((10, 12), np.uint8))             # wrong channel count
    with pytest.raises(ValueError, match="channels"):
        sub.apply(np.zeros((10, 12, 5), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        sub.apply(np.zeros((2, 10, 12, 3), np.uint8))
    with pytest.raises(TypeError, match="dtype"):
        sub.apply(np.zeros((10, 12, 3), np.int16))
    with pytest.raises(TypeError, match="dtype"):
        sub.apply(np.zeros((10, 12, 3), bool))
    with pytest.raises(TypeError, match="NumPy array"):
        sub.apply([[1, 2], [3, 4]])
    bad = np.zeros((10, 12, 3), np.float32)
    bad[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sub.apply(bad)
    bad[3, 4, 1] = np.inf
    with pytest.raises(ValueError, match="NaN"):
        sub.apply(bad)
    with pytest.raises(ValueError, match="empty"):
        gmmfast.BackgroundSubtractorMOG2().apply(np.zeros((0, 5), np.uint8))
    with pytest.raises(ValueError, match="learning_rate"):
        sub.apply(np.zeros((10, 12, 3), np.uint8), learning_rate=1.5)
    with pytest.raises(ValueError, match="learning_rate"):
        sub.apply(np.zeros((10, 12, 3), np.uint8), learning_rate=float("nan"))
    with pytest.raises(ValueError, match="known_foreground"):
        sub.apply(np.zeros((10, 12, 3), np.uint8), known_foreground=np.zeros((10, 11), bool))
    with pytest.raises(TypeError, match="known_foreground"):
        sub.apply(np.zeros((10, 12, 3), np.uint8), known_foreground=np.zeros((10, 12), np.float32))
    with pytest.raises(gmmfast.NotFittedError, match="apply"):
        gmmfast.BackgroundSubtractorMOG2().background_image()
    assert sub.n_frames_ == 1                               # failed calls learnt nothing


# --------------------------------------------------------------------------- pipeline
def test_clean_mask_matches_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(3)
    for shape in [(37, 53), (5, 4), (1, 9), (300, 400)]:
        m = rng.random(shape) < 0.4
        # 15 is the largest window the byte-count kernel takes (225 < 256), 17 the word-count one
        for size in (3, 5, 7, 15, 17):
            got = clean_mask(m, median_size=size, closing_size=0, n_threads=2)
            want = ndimage.median_filter(m.astype(np.uint8), size=size, mode="nearest") > 0
            np.testing.assert_array_equal(got, want)
            got = clean_mask(m, median_size=0, closing_size=size)
            dil = ndimage.grey_dilation(m.astype(np.uint8), size=(size, size), mode="nearest")
            want = ndimage.grey_erosion(dil, size=(size, size), mode="nearest") > 0
            np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="odd"):
        clean_mask(m, median_size=4)
    with pytest.raises(ValueError, match="2-D"):
        clean_mask(np.zeros((2, 2, 2)))


def test_pipeline_f_measure_on_synthetic_video(video):
    frames, truth = video
    sub = gmmfast.BackgroundSubtractor()
    masks = np.array([sub.apply(f) for f in frames])
    assert masks.dtype == bool
    warm = 40
    f = f_measure(masks[warm:], truth[warm:])
    assert f >= 0.95, f
    # the background estimate is the scene without the sprites
    bg = sub.background_image().astype(float)
    clean = textured_background(*frames.shape[1:3], seed=1) * (1.0 + 0.08 * np.sin(2 * np.pi * (len(frames) - 1) / len(frames)))
    sel = np.ones(frames.shape[1:3], bool)
    sel[5:20, -25:-5] = False                                # the flicker region is bimodal
    assert np.median(np.abs(bg - np.clip(clean, 0, 255))[sel]) < 4.0


def test_pipeline_options(video):
    frames, _ = video
    sub = gmmfast.BackgroundSubtractor(output="uint8", median_size=3, closing_size=0, n_threads=1)
    m = sub.apply(frames[0])
    assert m.dtype == np.uint8 and set(np.unique(m)) <= {0, 255}
    with pytest.raises(ValueError, match="method"):
        gmmfast.BackgroundSubtractor(method="sift").apply(frames[0])
    with pytest.raises(ValueError, match="odd"):
        gmmfast.BackgroundSubtractor(median_size=4).apply(frames[0])
    with pytest.raises(gmmfast.NotFittedError, match="apply"):
        gmmfast.BackgroundSubtractor().background_image()


def _cdnet():
    root = DATA / "cdnet-highway"
    if not (root / "input").is_dir():
        pytest.skip("CDnet highway data not present")
    Image = pytest.importorskip("PIL.Image")
    ins = sorted((root / "input").glob("in*.jpg"))
    gts = sorted((root / "groundtruth").glob("gt*.png"))
    start = int((root / "temporalROI.txt").read_text().split()[0])
    return Image, ins, gts, start


def test_cdnet_highway_f_measure():
    Image, ins, gts, start = _cdnet()
    sub = gmmfast.BackgroundSubtractor()
    tp = fp = fn = 0
    for fi, gi in zip(ins, gts):
        mask = sub.apply(np.asarray(Image.open(fi).convert("RGB")))
        if int(fi.stem[2:]) < start:
            continue
        g = np.asarray(Image.open(gi))
        if g.ndim == 3:
            g = g[..., 0]
        scored = (g != 170) & (g != 85)
        pos = g == 255
        tp += np.sum(mask & pos & scored)
        fp += np.sum(mask & ~pos & scored)
        fn += np.sum(~mask & pos & scored)
    p, r = tp / (tp + fp), tp / (tp + fn)
    f = 2 * p * r / (p + r)
    assert f >= 0.95, (p, r, f)


# --------------------------------------------------------------------------- background kernel
def _numpy_background(state, nmodes, ratio):
    """The weighted mean of each pixel's heaviest modes up to ``ratio``: modes in order,
    stopping after the first whose running weight exceeds it (float64)."""
    k, f, h, w = state.shape
    out = np.zeros((h, w, f - 2))
    for y in range(h):
        for x in range(w):
            tot, acc = 0.0, np.zeros(f - 2)
            for m in range(nmodes[y, x]):
                acc += float(state[m, 0, y, x]) * state[m, 2:, y, x].astype(np.float64)
                tot += float(state[m, 0, y, x])
                if tot > ratio:
                    break
            out[y, x] = acc / tot if tot > 0 else acc
    return out


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("layout", ["padded", "contiguous", "strided"])
def test_background_kernel_matches_numpy(channels, layout):
    """The kernel walks the state by its strides: the padded layout the model keeps, a plain
    array and a view that skips every other column, against a NumPy loop."""
    from gmmfast._background import _k, _padded_state
    rng = np.random.default_rng(channels)
    k, h, w = 5, 7, 9
    full = rng.uniform(0, 255, (k, 2 + channels, h, 2 * w)).astype(np.float32)
    full[:, 0] = rng.dirichlet(np.ones(k), (h, 2 * w)).transpose(2, 0, 1)
    full[:, 0, 0, 0] = 0.0                       # no weight: the pixel's background is 0
    if layout == "strided":
        state = full[:, :, :, ::2]
    elif layout == "padded":
        state = _padded_state(k, 2 + channels, h, w)
        state[...] = full[:, :, :, :w]
    else:
        state = np.ascontiguousarray(full[:, :, :, :w])
    nmodes = rng.integers(0, k + 1, (h, w), dtype=np.uint8)
    nmodes[0, 0] = k
    for ratio in (0.3, 0.9, 2.0):
        got = _k.background(state, nmodes, ratio, 1)
        assert got.dtype == np.float32 and got.shape == (h, w, channels)
        np.testing.assert_allclose(got, _numpy_background(state, nmodes, ratio), rtol=1e-5, atol=1e-4)
