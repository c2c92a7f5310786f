"""Tests of the non-parametric KNN background subtractor (BackgroundSubtractorKNN).

Three kinds of reference:

* a plain NumPy implementation of the per-pixel algorithm, written here from the
  description in gmmfast/_knn.py (same random draws: the per-period keys of
  ``gmmfast._knn.period_key`` and the documented per-pixel formula), compared exactly;
* OpenCV's ``createBackgroundSubtractorKNN`` on scenes where its random draws cannot
  matter (constant backgrounds), compared exactly;
* OpenCV on real and generated clips, where they do matter: ours must agree with
  OpenCV as well as OpenCV agrees with itself on the same clip shifted by one pixel
  (which hands every scene pixel other random draws), and score the same F-measure
  against the CDnet ground truth to within what other draws change.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest

import gmmfast
from gmmfast import NotFittedError
from gmmfast._knn import period_key

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# --------------------------------------------------------------------------- generated video
def moving_scene(n: int = 120, h: int = 90, w: int = 120, seed: int = 0) -> np.ndarray:
    """Colour frames (n, h, w, 3) uint8: a textured background with sensor noise and a
    slow exposure drift, a flickering patch, two boxes of changing colour crossing it,
    and a darker copy of the background (a shadow) sliding along the bottom."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    bg = np.stack([110 + 50 * np.sin(xx / (9.0 + 3 * c) + c) * np.cos(yy / (13.0 - 2 * c))
                   for c in range(3)], axis=-1)
    bg += np.kron(rng.normal(0, 18, (h // 8 + 1, w // 8 + 1, 3)), np.ones((8, 8, 1)))[:h, :w]
    bg = np.clip(bg, 20, 235)
    frames = np.empty((n, h, w, 3), np.uint8)
    for t in range(n):
        f = bg * (1.0 + 0.06 * np.sin(2 * np.pi * t / n)) + rng.normal(0, 3.0, bg.shape)
        if rng.random() < 0.5:
            f[4:16, w - 22:w - 4] += 45.0                     # two-state flicker
        x1 = (3 * t) % (w + 20) - 20
        f[20:36, max(x1, 0):max(x1 + 20, 0)] = rng.integers(0, 256, 3)
        x2 = w - (2 * t) % (w + 26)
        f[44:66, max(x2, 0):max(x2 + 26, 0)] = (40, 200, 90) + rng.normal(0, 3.0, 3)
        xs = (t * 2) % w
        f[h - 16:h - 4, xs:xs + 30] *= 0.7                    # shadow
        frames[t] = np.clip(f, 0, 255).astype(np.uint8)
    return frames


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return moving_scene()


# --------------------------------------------------------------------------- NumPy reference
def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h.astype(np.uint64) & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h


class ReferenceKNN:
    """The per-pixel algorithm, written plainly: every sample is compared (no early
    stop), float64 arithmetic, the sets as explicit first-in first-out rings."""

    def __init__(self, shape, history=500, T=400.0, k=2, N=7, shadows=True, sv=127, tau=0.5, seed=0):
        h, w, c = shape
        self.shape, self.P, self.C = (h, w), h * w, c
        self.history, self.T, self.k, self.N = history, T, k, N
        self.shadows, self.sv, self.tau, self.seed = shadows, sv, tau, seed
        self.restart()

    def restart(self):
        S, P = 3 * self.N, self.P
        self.vals = np.zeros((S, P, self.C))          # sample j = set * N + ring slot
        self.flags = np.zeros((S, P), bool)
        self.pos = np.zeros((3, P), np.int64)         # oldest slot of each set
        self.slot = np.zeros((3, P), np.int64)
        self.c = [0, 0, 0]                            # position in the current period
        self.pid = [0, 0, 0]                          # periods begun
        self.length = [0, 0, 0]                       # the current period's length
        self.n = 0

    def periods(self, a):
        if a >= 1:
            return [1, 1, 1]
        ages = [int(math.log(p) / math.log(1 - a)) for p in (0.7, 0.4, 0.1)]
        short = ages[0] + 1
        mid = ages[1] - short + 1
        long_ = ages[2] - short - mid + 1
        return [span // self.N + 1 for span in (short, mid, long_)]

    def classify(self, x):
        d2 = np.zeros(self.vals.shape[:2])
        for c in range(self.C):
            d2 += (x[None, :, c] - self.vals[:, :, c]) ** 2
        close = d2 < self.T
        pb, pbf = close.sum(0), (close & self.flags).sum(0)
        mask = np.where(pbf >= self.k, 0, 255).astype(np.uint8)
        if self.shadows:
            num = np.zeros(d2.shape)
            den = np.zeros(d2.shape)
            xx = np.zeros(self.P)
            for c in range(self.C):
                num += x[None, :, c] * self.vals[:, :, c]
                den += self.vals[:, :, c] ** 2
                xx += x[:, c] ** 2
            with np.errstate(invalid="ignore", divide="ignore"):
                t = num / den
                res = xx[None] - num * num / den
                dark = self.flags & (den > 0) & (t >= self.tau) & (t <= 1) & (res < self.T * t * t)
            mask[(mask == 255) & (dark.sum(0) >= self.k)] = self.sv
        return mask, pb >= self.k

    def apply(self, frame, lr=-1.0, known=None):
        x = np.asarray(frame, np.float64).reshape(self.P, self.C)
        if lr >= 1:
            self.restart()
        mask, confirmed = self.classify(x)
        if lr == 0:
            return mask.reshape(self.shape)
        automatic = lr < 0 or self.n == 0            # (the first frame at the automatic rate)
        a = 1.0 / min(2 * max(self.n, 1), self.history) if automatic else lr
        self.n += 1
        due = []
        for s, period in enumerate(self.periods(a)):
            if automatic:                            # the length follows the automatic rate...
                self.length[s] = period
            if self.c[s] >= self.length[s]:          # ...a fixed rate's is set when a period begins
                self.c[s], self.length[s] = 0, period
            if self.c[s] == 0:
                self.pid[s] += 1
                key = period_key(self.seed, s, self.pid[s])
                h = _fmix32((np.arange(self.P, dtype=np.uint64) * 0x9E3779B1 + key) & 0xFFFFFFFF)
                self.slot[s] = (h * self.length[s]) >> 32
            due.append(self.slot[s] == self.c[s])
            self.c[s] += 1
        if known is not None:
            due = [d & ~np.asarray(known, bool).reshape(-1) for d in due]
        N = self.N
        for s in (2, 1, 0):                          # long <- mid's oldest, mid <- short's, short <- x
            p = np.flatnonzero(due[s])
            dst = s * N + self.pos[s, p]
            if s > 0:
                src = (s - 1) * N + self.pos[s - 1, p]
                self.vals[dst, p] = self.vals[src, p]
                self.flags[dst, p] = self.flags[src, p]
            else:
                self.vals[dst, p] = x[p]
                self.flags[dst, p] = confirmed[p]
            self.pos[s, p] = (self.pos[s, p] + 1) % N
        return mask.reshape(self.shape)


def _model_samples(sub):
    """(values (S, P, C), flags (S, P), pos (3, P)) of a gmmfast model's state."""
    st = sub.state_
    c = sub.frame_shape_[2]
    rec = st["samples"]
    S = rec.shape[0]
    return (rec[..., :c].reshape(S, -1, c).astype(np.float64), rec[..., -1].reshape(S, -1) != 0,
            st["pos"].reshape(3, -1).astype(np.int64))


REF_CASES = [
    dict(),
    dict(grey=True),
    dict(float_frames=True),
    dict(history=20, knn_samples=3, n_samples=4),
    dict(history=12, dist2_threshold=150.5, shadow_threshold=0.6, shadow_value=90, knn_samples=1),
    dict(detect_shadows=False, n_samples=2, history=30),
    dict(rates=[-1] * 20 + [0.05] * 15 + [0] * 3 + [0.3] * 5 + [-1] * 17),
    dict(known=True, history=25),
    dict(channels=4, history=15),
    dict(channels=2, float_frames=True, history=15),
]


@pytest.mark.parametrize("case", REF_CASES, ids=lambda c: ",".join(k if k == "rates" else f"{k}={v}" for k, v in c.items()) or "defaults")
def test_matches_numpy_reference_exactly(scene, case):
    case = dict(case)
    grey, float_frames = case.pop("grey", False), case.pop("float_frames", False)
    rates, known, channels = case.pop("rates", None), case.pop("known", False), case.pop("channels", 3)
    frames = scene[:60, 60:76, 40:56].astype(np.float64)          # 16 x 16 pixels: a box, the shadow
    if grey:
        frames = frames.mean(axis=-1, keepdims=True).round()
    elif channels != 3:
        frames = np.concatenate([frames, frames[..., :1] * 0.5], axis=-1)[..., :channels]
    frames = frames + 0.37 * np.sin(np.arange(frames.size)).reshape(frames.shape) if float_frames else frames.round()
    frames = frames.astype(np.float32 if float_frames else np.uint8)
    sub = gmmfast.BackgroundSubtractorKNN(n_threads=1, random_state=7, **case)
    ref = ReferenceKNN(frames.shape[1:], history=sub.history, T=sub.dist2_threshold, k=sub.knn_samples,
                       N=sub.n_samples, shadows=sub.detect_shadows, sv=sub.shadow_value,
                       tau=sub.shadow_threshold,
                       seed=int(np.random.RandomState(7).randint(0, 2**63 - 1, dtype=np.int64)))
    rates = rates or [-1] * len(frames)
    rng = np.random.default_rng(1)
    seen = set()
    for t, (f, lr) in enumerate(zip(frames, rates)):
        kf = rng.random(f.shape[:2]) < 0.3 if known and t > 5 else None
        got = sub.apply(f[..., 0] if grey else f, learning_rate=lr, known_foreground=kf)
        want = ref.apply(f, lr, kf)
        np.testing.assert_array_equal(got, want, err_msg=f"frame {t}")
        seen.update(np.unique(got).tolist())
    vals, flags, pos = _model_samples(sub)
    np.testing.assert_array_equal(vals, ref.vals)
    np.testing.assert_array_equal(flags, ref.flags)
    np.testing.assert_array_equal(pos, ref.pos)
    assert sub.n_frames_ == ref.n
    # the case exercised the decisions it is about
    assert 0 in seen and 255 in seen
    if sub.detect_shadows and not float_frames and channels == 3 and not grey:
        assert sub.shadow_value in seen


@pytest.mark.parametrize("rows, cols", [(slice(66, 67), slice(40, 56)), (slice(60, 76), slice(47, 48)),
                                        (slice(66, 67), slice(47, 48))], ids=["row", "column", "pixel"])
def test_one_pixel_high_or_wide_frames_match_numpy_reference(scene, rows, cols):
    # a length-1 axis used to give the state planes strides the kernel refused
    frames = scene[:60, rows, cols]
    sub = gmmfast.BackgroundSubtractorKNN(n_threads=1, random_state=7)
    ref = ReferenceKNN(frames.shape[1:], history=sub.history, T=sub.dist2_threshold, k=sub.knn_samples,
                       N=sub.n_samples, shadows=sub.detect_shadows, sv=sub.shadow_value,
                       tau=sub.shadow_threshold,
                       seed=int(np.random.RandomState(7).randint(0, 2**63 - 1, dtype=np.int64)))
    for t, f in enumerate(frames):
        np.testing.assert_array_equal(sub.apply(f), ref.apply(f, -1, None), err_msg=f"frame {t}")


# --------------------------------------------------------------------------- OpenCV, exact where draws cannot matter
def _cv_knn(cv2, kwargs):
    names = {"history": "History", "dist2_threshold": "Dist2Threshold", "detect_shadows": "DetectShadows",
             "knn_samples": "kNNSamples", "n_samples": "NSamples", "shadow_value": "ShadowValue",
             "shadow_threshold": "ShadowThreshold"}
    ref = cv2.createBackgroundSubtractorKNN()
    for key, value in kwargs.items():
        getattr(ref, "set" + names[key])(value)
    return ref


@pytest.mark.parametrize("kwargs", [
    {}, {"knn_samples": 1}, {"knn_samples": 3}, {"knn_samples": 1, "n_samples": 3},
    {"knn_samples": 5, "n_samples": 10}, {"history": 3}, {"detect_shadows": False},
])
@pytest.mark.parametrize("value", [0, 100])
def test_constant_scene_matches_opencv_exactly(kwargs, value):
    """From the first frame on: when a constant value becomes background (2k + 1 frames;
    black frames sooner, as the empty model's samples are zero).  Every set samples every
    frame until then (periods of 1 while (1 - a)^(N - 1) < 0.7), so no draw matters."""
    cv2 = pytest.importorskip("cv2")
    ref = _cv_knn(cv2, kwargs)
    sub = gmmfast.BackgroundSubtractorKNN(**kwargs)
    frame = np.full((6, 7, 3), value, np.uint8)
    got = [sub.apply(frame) for _ in range(40)]
    want = [ref.apply(frame) for _ in range(40)]
    np.testing.assert_array_equal(got, want)
    assert got[0].max() == 255 and got[-1].max() == 0


@pytest.mark.parametrize("rate", [0.02, 0.01, 0.005])
@pytest.mark.parametrize("automatic_frames", [0, 2, 3])
def test_a_fixed_rate_learns_a_scene_when_opencv_does(rate, automatic_frames):
    """A static scene of random colours learnt at a fixed rate (after 0-3 frames at the automatic
    rate): the frame where its pixels start to become background.  It fell 2-10 frames after
    OpenCV's: the periods' lengths followed the rate frame by frame, so the first long period
    waited for the first frame's short one to stretch.  (The frame where all pixels are
    background agrees too, except after 3 automatic frames, where OpenCV's pixels all turn at
    once and these over the period's length: 6, 9, 14 against 4.)"""
    cv2 = pytest.importorskip("cv2")
    scene = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    rates = [-1] * automatic_frames + [rate] * (80 - automatic_frames)
    ref, sub = cv2.createBackgroundSubtractorKNN(), gmmfast.BackgroundSubtractorKNN(random_state=0)
    want = [float(np.mean(ref.apply(scene, learningRate=r) == 255)) for r in rates]
    got = [float(np.mean(sub.apply(scene, r) == 255)) for r in rates]
    first = [next(i for i, v in enumerate(seq) if v < 1) for seq in (got, want)]
    settled = [next(i for i, v in enumerate(seq) if v == 0) for seq in (got, want)]
    assert first[0] == first[1], (first, settled)
    assert settled[0] == settled[1] or automatic_frames == 3, (first, settled)


@pytest.mark.parametrize("kwargs", [{}, {"dist2_threshold": 400.5}, {"dist2_threshold": 150.0},
                                    {"shadow_threshold": 0.6}, {"shadow_threshold": 0.8, "shadow_value": 60}])
def test_decision_boundaries_match_opencv_exactly(kwargs):
    """Background, shadow and foreground of test values around the thresholds, one per
    pixel, against a settled constant background (every sample equal, so no draw matters)."""
    cv2 = pytest.importorskip("cv2")
    tests = [(v, 100, 100) for v in range(30, 140)]                           # one channel off
    tests += [tuple(np.round(np.array([100.0] * 3) * c)) for c in np.arange(0.3, 1.25, 0.01)]  # scaled
    tests += [(100 - d, 100 + d, 100) for d in range(20)]                     # colour shift
    tests = np.array(tests, np.uint8)[None]                                    # (1, n, 3)
    ref, sub = _cv_knn(cv2, kwargs), gmmfast.BackgroundSubtractorKNN(**kwargs)
    base = np.full(tests.shape, 100, np.uint8)
    for _ in range(30):
        ref.apply(base)
        sub.apply(base)
    got, want = sub.apply(tests), ref.apply(tests)
    np.testing.assert_array_equal(got, want)
    assert {0, 255} <= set(np.unique(got).tolist())


# --------------------------------------------------------------------------- OpenCV on clips
def _shifted_floor(cv2, frames, kwargs, grey=False):
    """Share of mask pixels equal between OpenCV and OpenCV on the clip shifted by one
    column (every scene pixel gets other random draws), and OpenCV's own masks."""
    a, b = _cv_knn(cv2, kwargs), _cv_knn(cv2, kwargs)
    own, agree = [], []
    for f in frames:
        if grey:
            f = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
        m = a.apply(f)
        pad = ((0, 0), (1, 0)) + (((0, 0),) if f.ndim == 3 else ())
        m2 = b.apply(np.ascontiguousarray(np.pad(f, pad, mode="edge")))[:, 1:]
        own.append(m)
        agree.append(np.mean(m == m2))
    return float(np.mean(agree)), np.array(own)


@pytest.mark.parametrize("kwargs,grey", [
    ({}, False), ({}, True), ({"detect_shadows": False, "history": 50}, False),
    ({"knn_samples": 3, "n_samples": 5, "dist2_threshold": 250.0, "shadow_threshold": 0.6,
      "shadow_value": 90}, False),
])
def test_agrees_with_opencv_on_generated_clip(scene, kwargs, grey):
    """Ours within 0.002 of OpenCV's agreement with itself under other draws.  Measured:
    OpenCV against OpenCV on the clip shifted by 1-2 pixels and ours (seeds 0-4) against
    OpenCV both spread over up to 0.001 (0.9877-0.9880 / 0.9876-0.9878 with the defaults,
    0.9255-0.9265 / 0.9254-0.9260 with k = 3, N = 5); the margin is twice that."""
    cv2 = pytest.importorskip("cv2")
    floor, want = _shifted_floor(cv2, scene, kwargs, grey)
    frames = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in scene] if grey else scene
    got = gmmfast.BackgroundSubtractorKNN(**kwargs).apply_many(frames)
    agree = float(np.mean(got == want))
    assert agree >= floor - 0.002, (agree, floor)
    assert floor < 0.9995      # the clip does exercise the random draws


def _cdnet(name: str):
    root = DATA / name
    if not (root / "input").is_dir():
        pytest.skip(f"{name} data not present")
    Image = pytest.importorskip("PIL.Image")
    ins = sorted((root / "input").glob("in*.jpg"))
    gts = sorted((root / "groundtruth").glob("gt*.png"))
    frames = np.array([np.asarray(Image.open(f).convert("RGB")) for f in ins])
    truth = np.array([np.asarray(Image.open(g).convert("L")) for g in gts])
    ids = np.array([int(f.stem[2:]) for f in ins])
    # highway: its temporal ROI; traffic (a slice inside the ROI): after 30 warm-up frames
    scored = ids >= 470 if name == "cdnet-highway" else np.arange(len(ids)) >= 30
    return frames, truth, scored


def _f_measure(masks, truth, scored) -> float:
    m, g = masks[scored] == 255, truth[scored]
    valid, pos = (g != 170) & (g != 85), g == 255
    tp, fp, fn = np.sum(m & pos & valid), np.sum(m & ~pos & valid), np.sum(~m & pos & valid)
    return 2 * tp / max(2 * tp + fp + fn, 1)


# margins: five times the spread seen between draws (ours with seeds 0-4, OpenCV on the
# clip shifted by 0-2 pixels): agreement 0.9950-0.9951 / 0.9335-0.9339, F 0.781-0.784 /
# 0.459-0.461 on highway / traffic
@pytest.mark.parametrize("name,agree_margin,f_margin", [("cdnet-highway", 0.0005, 0.005),
                                                        ("cdnet-traffic", 0.002, 0.006)])
def test_agrees_with_opencv_on_cdnet(name, agree_margin, f_margin):
    cv2 = pytest.importorskip("cv2")
    frames, truth, scored = _cdnet(name)
    floor, want = _shifted_floor(cv2, frames, {})
    got = gmmfast.BackgroundSubtractorKNN().apply_many(frames)
    agree = float(np.mean(got == want))
    f_ours, f_cv2 = _f_measure(got, truth, scored), _f_measure(want, truth, scored)
    assert agree >= floor - agree_margin, (agree, floor)
    assert abs(f_ours - f_cv2) <= f_margin, (f_ours, f_cv2)


def test_agrees_with_opencv_on_seed_traffic_gif():
    cv2 = pytest.importorskip("cv2")
    path = DATA / "seed" / "traffic.gif"
    if not path.is_file():
        pytest.skip("seed/traffic.gif not present")
    Image = pytest.importorskip("PIL.Image")
    gif = Image.open(path)
    frames = []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(np.asarray(gif.convert("RGB")))
    frames = np.array(frames)
    floor, want = _shifted_floor(cv2, frames, {})
    got = gmmfast.BackgroundSubtractorKNN().apply_many(frames)
    assert np.mean(got == want) >= floor - 0.002, (np.mean(got == want), floor)


# --------------------------------------------------------------------------- behaviour
def test_apply_many_equals_repeated_apply(scene):
    kf = np.zeros((len(scene),) + scene.shape[1:3], bool)
    kf[40:, 10:30, 10:50] = True
    for kwargs in ({}, {"learning_rate": 0.02}):
        a = gmmfast.BackgroundSubtractorKNN(n_threads=1)
        b = gmmfast.BackgroundSubtractorKNN(n_threads=2)
        singles = np.array([a.apply(f, known_foreground=k, **kwargs) for f, k in zip(scene, kf)])
        out = np.empty(singles.shape, np.uint8)
        many = b.apply_many(list(scene[:50]), known_foreground=kf[:50], **kwargs)
        b.apply_many(scene[50:], known_foreground=kf[50:], out=out[50:], **kwargs)
        out[:50] = many
        np.testing.assert_array_equal(singles, out)
        for key in a.state_:
            np.testing.assert_array_equal(a.state_[key], b.state_[key])
        assert a.n_frames_ == b.n_frames_ == len(scene)


def test_threads_and_kernel_variants_do_not_change_results(scene, monkeypatch):
    import importlib

    import gmmfast._knn as knn_module
    from gmmfast._dispatch import _cpu_runs, module_name

    big = np.tile(scene[:25], (1, 4, 4, 1))       # 360 x 480: two threads' worth of pixels (_threads_for)
    want = gmmfast.BackgroundSubtractorKNN(n_threads=1).apply_many(big)
    for _ in range(5):     # on a loaded machine the second thread can wake after the first took every row
        knn_module._k.threads_reset()
        np.testing.assert_array_equal(gmmfast.BackgroundSubtractorKNN(n_threads=2).apply_many(big), want)
        if knn_module._k.threads_used() == 2:
            break
    assert knn_module._k.threads_used() == 2                # the rows were really split
    tried = 0
    for variant in ("baseline", "avx2", "avx512"):
        if not _cpu_runs(variant):
            continue
        try:
            kernel = importlib.import_module(module_name("_knn", variant))
        except ImportError:                                # not built here
            continue
        monkeypatch.setattr(knn_module, "_k", kernel)
        np.testing.assert_array_equal(gmmfast.BackgroundSubtractorKNN(n_threads=2).apply_many(big), want,
                                      err_msg=variant)
        tried += 1
    assert tried >= 1


def test_random_state(scene):
    a = gmmfast.BackgroundSubtractorKNN(random_state=3).apply_many(scene)
    b = gmmfast.BackgroundSubtractorKNN(random_state=3).apply_many(scene)
    c = gmmfast.BackgroundSubtractorKNN(random_state=4).apply_many(scene)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.mean(a == c) > 0.98                          # only the draws differ
    # scikit-learn's meaning: an int seeds a RandomState, generators are drawn from
    assert gmmfast.BackgroundSubtractorKNN(random_state=np.random.RandomState(3)).apply_many(scene[:1]) is not None
    g = gmmfast.BackgroundSubtractorKNN(random_state=np.random.default_rng(5))
    g.apply(scene[0])
    assert isinstance(g.seed_, int)
    np.random.seed(12)
    n = gmmfast.BackgroundSubtractorKNN(random_state=None)
    n.apply(scene[0])
    assert n.seed_ == int(np.random.RandomState(12).randint(0, 2**63 - 1, dtype=np.int64))


def test_learning_rate_zero_freezes_and_one_restarts(scene):
    # a model's first frame is learnt at the automatic rate whatever the rate, OpenCV's rule
    # (unlike OpenCV's KNN, whose rate-0 schedule keeps sampling, ours then learns nothing more)
    sub, auto = gmmfast.BackgroundSubtractorKNN(), gmmfast.BackgroundSubtractorKNN()
    np.testing.assert_array_equal(sub.apply(scene[0], learning_rate=0), auto.apply(scene[0]))
    for key in sub.state_:
        np.testing.assert_array_equal(sub.state_[key], auto.state_[key])
    sub = gmmfast.BackgroundSubtractorKNN()
    for f in scene[:30]:
        sub.apply(f)
    before = {k: v.copy() for k, v in sub.state_.items()}
    m1 = sub.apply(scene[30], learning_rate=0)
    for k, v in sub.state_.items():
        np.testing.assert_array_equal(v, before[k])
    np.testing.assert_array_equal(m1, sub.apply(scene[30], learning_rate=0))
    assert sub.n_frames_ == 30
    # 1 restarts: the frame is learnt into an empty model, as a first frame would be
    fresh = gmmfast.BackgroundSubtractorKNN()
    np.testing.assert_array_equal(sub.apply(scene[31], learning_rate=1), fresh.apply(scene[31], learning_rate=1))
    for key in sub.state_:
        np.testing.assert_array_equal(sub.state_[key], fresh.state_[key])
    assert sub.n_frames_ == 1


def test_known_foreground_is_not_learnt(scene):
    parked = scene[:80].copy()
    parked[20:, 0:10, 0:10] = 250                          # an object parks at frame 20
    kf = np.zeros(parked.shape[1:3], bool)
    kf[0:10, 0:10] = True
    plain, masked = gmmfast.BackgroundSubtractorKNN(history=20), gmmfast.BackgroundSubtractorKNN(history=20)
    for t, f in enumerate(parked):
        a = plain.apply(f)
        b = masked.apply(f, known_foreground=kf if t >= 20 else None)
    assert np.all(a[:10, :10] == 0)                        # learnt into the background
    assert np.all(b[:10, :10] == 255)                      # never learnt
    np.testing.assert_array_equal(a[10:], b[10:])


def test_background_image(scene):
    with pytest.raises(NotFittedError, match="apply"):
        gmmfast.BackgroundSubtractorKNN().background_image()
    sub = gmmfast.BackgroundSubtractorKNN()
    for f in scene:
        sub.apply(f)
    bg = sub.background_image()
    assert bg.shape == scene.shape[1:] and bg.dtype == np.uint8
    # the per-pixel rule: the first confirmed sample, short set first
    vals, flags, _ = _model_samples(sub)
    first = np.where(flags.any(0), np.argmax(flags, 0), 0)
    want = vals[first, np.arange(vals.shape[1])].reshape(bg.shape)
    np.testing.assert_array_equal(bg, want)
    # away from the boxes' and shadow's paths it is the scene without them (noise sd 3)
    still = np.median(scene[:, :18, :60].astype(float), axis=0)
    assert np.median(np.abs(bg[:18, :60] - still)) <= 4
    grey = gmmfast.BackgroundSubtractorKNN()
    grey.apply(scene[0, ..., 0])
    assert grey.background_image().shape == scene.shape[1:3]
    fl = gmmfast.BackgroundSubtractorKNN()
    fl.apply(scene[0].astype(np.float32) + 0.4)
    np.testing.assert_array_equal(fl.background_image(), scene[0])   # rounded


def test_float_frames(scene):
    with pytest.warns(UserWarning, match="0-255"):
        gmmfast.BackgroundSubtractorKNN().apply(scene[0] / 255.0)
    a, b = gmmfast.BackgroundSubtractorKNN(), gmmfast.BackgroundSubtractorKNN()
    for f in scene[:40]:                                   # whole-number floats: same as uint8
        np.testing.assert_array_equal(a.apply(f), b.apply(f.astype(np.float64)))
    assert a.state_["samples"].dtype == np.uint8 and b.state_["samples"].dtype == np.float32
    with pytest.raises(ValueError, match="whole numbers"):
        a.apply(scene[40] + 0.5)                           # a uint8 model cannot keep fractions
    with pytest.raises(ValueError, match="whole numbers"):
        a.apply(scene[40].astype(np.float32) * 2)         # nor values above 255
    b.apply(scene[40])                                     # uint8 frames into a float model: exact


def test_save_load_round_trip(tmp_path, scene):
    sub = gmmfast.BackgroundSubtractorKNN(history=77, dist2_threshold=300.0, n_samples=5, random_state=11)
    for f in scene[:25]:
        sub.apply(f)
    path = tmp_path / "model.npz"
    sub.save(path)
    other = gmmfast.BackgroundSubtractorKNN.load(path, n_threads=1)
    assert other.get_params() == {**sub.get_params(), "n_threads": 1}
    assert other.n_frames_ == sub.n_frames_ and other.seed_ == sub.seed_
    for key in sub.state_:
        np.testing.assert_array_equal(other.state_[key], sub.state_[key])
    for f in scene[25:60]:                     # the same draws go on: the same masks
        np.testing.assert_array_equal(other.apply(f), sub.apply(f))
    np.testing.assert_array_equal(other.background_image(), sub.background_image())
    # a file of the release before the periods' lengths were kept (6 counters) loads and goes on
    old = copy.deepcopy(sub)
    old.state_["counters"] = old.state_["counters"][:6].copy()
    old.save(tmp_path / "old.npz")
    older = gmmfast.BackgroundSubtractorKNN.load(tmp_path / "old.npz")
    assert older.state_["counters"].shape == (9,) and older.apply(scene[60], 0.01).shape == scene[60].shape[:2]
    empty = tmp_path / "empty.npz"
    gmmfast.BackgroundSubtractorKNN(random_state=None).save(empty)
    assert gmmfast.BackgroundSubtractorKNN.load(empty).frame_shape_ is None
    np.savez(tmp_path / "junk.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a gmmfast model file"):
        gmmfast.BackgroundSubtractorKNN.load(tmp_path / "junk.npz")
    with pytest.raises(ValueError, match="MOG2"):
        gmmfast.BackgroundSubtractorMOG2.load(path)
    sub.state_["pos"][0, 0, 0] = 9                         # a ring position past n_samples
    sub.save(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="inconsistent"):
        gmmfast.BackgroundSubtractorKNN.load(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="random_state"):  # a generator cannot be written down
        gmmfast.BackgroundSubtractorKNN(random_state=np.random.default_rng(0)).save(tmp_path / "g.npz")


def test_reset_and_parameters():
    sub = gmmfast.BackgroundSubtractorKNN()
    sub.apply(np.zeros((8, 8), np.uint8))
    assert sub.frame_shape_ == (8, 8, 1)
    sub.reset()
    assert sub.frame_shape_ is None and sub.n_frames_ == 0
    sub.apply(np.zeros((4, 5, 3), np.uint8))
    assert sub.frame_shape_ == (4, 5, 3)
    sub.set_params(dist2_threshold=300, knn_samples=3)
    assert sub.get_params()["dist2_threshold"] == 300 and sub.knn_samples == 3
    sub.apply(np.zeros((4, 5, 3), np.uint8))               # changed k: the model goes on
    assert sub.n_frames_ == 2
    sub.n_samples = 4                                      # a new N needs a new model: refused
    with pytest.raises(ValueError, match=r"n_samples changed from 7 to 4 after the model learnt 2 frame.*reset\(\)"):
        sub.apply(np.zeros((4, 5, 3), np.uint8))
    assert sub.n_frames_ == 2 and sub.state_["samples"].shape[0] == 21
    sub.reset().apply(np.zeros((4, 5, 3), np.uint8))
    assert sub.n_frames_ == 1 and sub.state_["samples"].shape[0] == 12
    assert repr(sub) == "BackgroundSubtractorKNN(dist2_threshold=300, knn_samples=3, n_samples=4)"
    with pytest.raises(ValueError, match="var_threshold"):
        sub.set_params(var_threshold=3)


@pytest.mark.parametrize("name,value,exc", [
    ("history", 0, ValueError), ("history", 2.5, TypeError), ("dist2_threshold", 0, ValueError),
    ("dist2_threshold", float("nan"), ValueError), ("dist2_threshold", "400", TypeError),
    ("detect_shadows", 1, TypeError), ("knn_samples", 0, ValueError), ("knn_samples", 22, ValueError),
    ("n_samples", 0, ValueError), ("n_samples", 65, ValueError), ("n_samples", 7.0, TypeError),
    ("shadow_value", 256, ValueError), ("shadow_value", -1, ValueError),
    ("shadow_threshold", 1.5, ValueError), ("shadow_threshold", -0.1, ValueError),
    ("random_state", -1, ValueError), ("random_state", 2**40, ValueError), ("random_state", "seed", TypeError),
    ("random_state", 1.5, TypeError),
    ("n_threads", 0, ValueError), ("n_threads", "2", TypeError),
])
def test_bad_parameters(name, value, exc):
    sub = gmmfast.BackgroundSubtractorKNN(**{name: value})     # stored as given ...
    with pytest.raises(exc, match=name):                       # ... refused at first use
        sub.apply(np.zeros((4, 4, 3), np.uint8))
    assert sub.frame_shape_ is None


def test_bad_frames():
    sub = gmmfast.BackgroundSubtractorKNN()
    sub.apply(np.zeros((10, 12, 3), np.uint8))
    cases = [
        (np.zeros((10, 13, 3), np.uint8), ValueError, "reset"),        # another size
        (np.zeros((10, 12), np.uint8), ValueError, "reset"),           # another channel count
        (np.zeros((10, 12, 5), np.uint8), ValueError, "channels"),
        (np.zeros((2, 10, 12, 3), np.uint8), ValueError, "shape"),
        (np.zeros((10, 12, 3), np.int16), TypeError, "dtype"),
        (np.zeros((10, 12, 3), bool), TypeError, "dtype"),
        ([[1, 2], [3, 4]], TypeError, "NumPy array"),
        (np.zeros((0, 5), np.uint8), ValueError, "empty"),
    ]
    nan = np.zeros((10, 12, 3), np.float32)
    nan[3, 4, 1] = np.nan
    inf = nan.copy()
    inf[3, 4, 1] = np.inf
    cases += [(nan, ValueError, "NaN"), (inf, ValueError, "NaN")]
    for frame, exc, match in cases:
        with pytest.raises(exc, match=match):
            sub.apply(frame)
    ok = np.zeros((10, 12, 3), np.uint8)
    for lr in (1.5, float("nan"), "fast"):
        with pytest.raises((ValueError, TypeError), match="learning_rate"):
            sub.apply(ok, learning_rate=lr)
    with pytest.raises(ValueError, match="known_foreground"):
        sub.apply(ok, known_foreground=np.zeros((10, 11), bool))
    with pytest.raises(TypeError, match="known_foreground"):
        sub.apply(ok, known_foreground=np.zeros((10, 12), np.float32))
    with pytest.raises(ValueError, match="frames"):
        sub.apply_many([])
    with pytest.raises(ValueError, match="frames\\[1\\]"):
        sub.apply_many([ok, np.zeros((10, 11, 3), np.uint8)])
    with pytest.raises(ValueError, match="out"):
        sub.apply_many([ok, ok], out=np.zeros((3, 10, 12), np.uint8))
    with pytest.raises(TypeError, match="out"):
        sub.apply_many([ok, ok], out=np.zeros((2, 10, 12), np.float32))
    grey = np.zeros((2, 10, 12), np.uint8)
    with pytest.raises(ValueError, match="out shares memory with the frames"):   # it gave wrong masks
        sub.apply_many(grey, out=grey)
    kf = np.zeros((2, 10, 12), np.uint8)
    with pytest.raises(ValueError, match="out shares memory with the frames or known_foreground"):
        sub.apply_many(grey, known_foreground=kf.view(bool), out=kf)
    assert sub.n_frames_ == 1                                          # failed calls learnt nothing


@pytest.mark.parametrize("detect_shadows", [True, False])
def test_recommended_pipeline_method_knn(scene, detect_shadows):
    """BackgroundSubtractor(method='knn') is the KNN model's foreground (255 only: shadows
    are background when excluded, else the model does not look for them) cleaned by a 5x5
    median and a 3x3 closing, here OpenCV's filters with replicated edges."""
    cv2 = pytest.importorskip("cv2")
    bs = gmmfast.BackgroundSubtractor(method="knn", history=200, detect_shadows=detect_shadows,
                                      output="uint8", n_threads=1)
    with pytest.raises(NotFittedError):
        bs.background_image()
    got = np.concatenate([bs.apply_many(scene[:40]), np.stack([bs.apply(f) for f in scene[40:60]])])
    raw = gmmfast.BackgroundSubtractorKNN(history=200, detect_shadows=detect_shadows, shadow_threshold=0.7,
                                          n_threads=1)
    for t, f in enumerate(scene[:60]):
        fg = np.where(raw.apply(f) == 255, 255, 0).astype(np.uint8)
        want = cv2.morphologyEx(cv2.medianBlur(fg, 5), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8),
                                borderType=cv2.BORDER_REPLICATE)
        if t == 0:
            want[:] = 0                                   # the frame that starts the model
        np.testing.assert_array_equal(got[t], want)
    assert type(bs.model_) is gmmfast.BackgroundSubtractorKNN
    np.testing.assert_array_equal(bs.background_image(), raw.background_image())
    bs.reset()
    np.testing.assert_array_equal(bs.apply_many(scene[:5]), got[:5])
