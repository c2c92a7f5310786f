"""Batch background methods: PixelGMM, mean/median/k-means backgrounds and subtraction."""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import numpy as np
import pytest

import gmmfast
from gmmfast import PixelGMM, kmeans_background, mean_background, median_background, subtract
from gmmfast.data import sample_clip

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TRAIN = 48


def f_measure(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = np.count_nonzero(pred & truth)
    fp = np.count_nonzero(pred & ~truth)
    fn = np.count_nonzero(~pred & truth)
    return 2 * tp / (2 * tp + fp + fn)


@pytest.fixture(scope="module")
def clip_rgb():
    return sample_clip()


@pytest.fixture(scope="module")
def clip_grey():
    return sample_clip(colour=False)


# ----------------------------------------------------------------------------- quality on known masks


@pytest.mark.parametrize("colour", [True, False], ids=["rgb", "grey"])
def test_pixelgmm_f_measure_on_synthetic_clip(colour, clip_rgb, clip_grey):
    # textured background, noise, moving sprites, global brightness change, flickering region
    frames, masks = clip_rgb if colour else clip_grey
    model = PixelGMM().fit(frames[:TRAIN])
    pred = model.predict(frames[TRAIN:]).mask
    assert pred.shape == masks[TRAIN:].shape and pred.dtype == bool
    assert f_measure(pred, masks[TRAIN:]) >= 0.95


def test_pixelgmm_three_components(clip_rgb):
    frames, masks = clip_rgb
    pred = PixelGMM(3).fit(frames[:TRAIN]).apply(frames[TRAIN:])
    assert f_measure(pred, masks[TRAIN:]) >= 0.95


def test_brightness_normalisation_is_what_handles_the_global_change():
    # a strong global gain change between training and test frames
    frames, masks = sample_clip(flicker=False, brightness=False)
    test = np.clip(frames[TRAIN:].astype(np.float32) * 0.8, 0, 255).astype(np.uint8)
    good = PixelGMM().fit(frames[:TRAIN]).apply(test)
    bad = PixelGMM(normalize_brightness=False).fit(frames[:TRAIN]).apply(test)
    assert f_measure(good, masks[TRAIN:]) >= 0.95
    assert f_measure(bad, masks[TRAIN:]) < 0.5


@pytest.mark.parametrize("colour", [True, False], ids=["rgb", "grey"])
def test_median_and_kmeans_baselines_where_the_scene_allows(colour):
    # no flicker: a single background mode per pixel, which these baselines assume
    frames, masks = sample_clip(colour=colour, flicker=False)
    truth = masks[TRAIN:]
    assert f_measure(subtract(frames[TRAIN:], median_background(frames[:TRAIN]), 30), truth) >= 0.95
    # k-means splits the brightness cycle into clusters and keeps one phase of it, so in
    # colour (where the channel offsets add up) it needs a scene without the brightness change
    if colour:
        frames, masks = sample_clip(colour=colour, flicker=False, brightness=False)
        truth = masks[TRAIN:]
    assert f_measure(subtract(frames[TRAIN:], kmeans_background(frames[:TRAIN]), 30), truth) >= 0.95


def test_mean_baseline_without_brightness_change_or_flicker():
    frames, masks = sample_clip(colour=False, flicker=False, brightness=False)
    pred = subtract(frames[TRAIN:], mean_background(frames[:TRAIN]), 30)
    assert f_measure(pred, masks[TRAIN:]) >= 0.95


def test_flicker_defeats_single_mode_baselines_but_not_pixelgmm(clip_rgb):
    frames, masks = clip_rgb
    truth = masks[TRAIN:]
    median_f = f_measure(subtract(frames[TRAIN:], median_background(frames[:TRAIN]), 30), truth)
    gmm_f = f_measure(PixelGMM().fit(frames[:TRAIN]).apply(frames[TRAIN:]), truth)
    assert median_f < 0.9 < gmm_f


def test_background_image_matches_sprite_free_values():
    frames, masks = sample_clip(flicker=False, brightness=False)
    train, m = frames[:TRAIN].astype(np.float64), masks[:TRAIN]
    counts = (~m).sum(0)
    clean_mean = (train * (~m)[..., None]).sum(0) / np.maximum(counts, 1)[..., None]
    ok = counts >= 10
    for bg in (PixelGMM().fit(frames[:TRAIN]).background_image(), kmeans_background(frames[:TRAIN])):
        assert bg.shape == frames.shape[1:] and bg.dtype == np.float32
        err = np.abs(bg - clean_mean)[ok]
        assert np.quantile(err, 0.9) < 4.0  # noise is 4 grey levels
    # the plain mean is pulled by the sprites: what the robust estimates avoid
    err = np.abs(mean_background(frames[:TRAIN]) - clean_mean)[ok]
    assert np.quantile(err, 0.9) > 8.0


# ----------------------------------------------------------------------------- EM against references


def _two_mode_pixels(rng, T, H, W, d):
    """Per-pixel mixtures of two well-separated Gaussians, and the true parameters."""
    w0 = rng.uniform(0.55, 0.8, size=(H, W))
    m0 = rng.uniform(40, 80, size=(H, W, d))
    m1 = rng.uniform(160, 200, size=(H, W, d))
    s0 = rng.uniform(3, 8, size=(H, W, d))
    s1 = rng.uniform(3, 8, size=(H, W, d))
    z = rng.random((T, H, W)) < w0
    X = np.where(z[..., None], m0 + s0 * rng.standard_normal((T, H, W, d)), m1 + s1 * rng.standard_normal((T, H, W, d)))
    return X.astype(np.float32), (w0, m0, m1, s0, s1)


@pytest.mark.parametrize("d", [1, 3])
def test_em_matches_sklearn_per_pixel(d):
    sklearn_mixture = pytest.importorskip("sklearn.mixture")
    rng = np.random.default_rng(1)
    T, H, W = 300, 4, 5
    X, _ = _two_mode_pixels(rng, T, H, W, d)
    frames = X[..., 0] if d == 1 else X
    model = PixelGMM(2, max_iter=300, tol=1e-7, var_min=1e-3, normalize_brightness=False).fit(frames)
    assert model.converged_
    means = model.means_.reshape(H, W, 2, d)
    variances = model.variances_.reshape(H, W, 2, d)
    for i in range(H):
        for j in range(W):
            ref = sklearn_mixture.GaussianMixture(2, covariance_type="diag", tol=1e-10, max_iter=1000,
                                                  reg_covar=1e-9, random_state=0)
            ref.fit(X[:, i, j].astype(np.float64))
            order = np.argsort(-ref.weights_, kind="stable")
            np.testing.assert_allclose(model.weights_[i, j], ref.weights_[order], atol=2e-3)
            np.testing.assert_allclose(means[i, j], ref.means_[order], atol=0.05)
            np.testing.assert_allclose(variances[i, j], ref.covariances_[order], rtol=0.02)


def test_em_recovers_true_parameters():
    rng = np.random.default_rng(2)
    T, H, W = 2000, 3, 4
    X, (w0, m0, m1, s0, s1) = _two_mode_pixels(rng, T, H, W, 3)
    model = PixelGMM(2, max_iter=100, tol=1e-6, normalize_brightness=False).fit(X)
    # sampling error of T=2000 draws: a few standard errors
    np.testing.assert_allclose(model.weights_[..., 0], w0, atol=0.04)
    np.testing.assert_allclose(model.means_[:, :, 0], m0, atol=1.0)
    np.testing.assert_allclose(model.means_[:, :, 1], m1, atol=1.5)
    np.testing.assert_allclose(np.sqrt(model.variances_[:, :, 0]), s0, rtol=0.1)


def test_predict_matches_numpy_rule(clip_rgb):
    frames, _ = clip_rgb
    model = PixelGMM(3, background_ratio=0.7, threshold=4.0, normalize_brightness=False).fit(frames[:TRAIN])
    frame = frames[60].astype(np.float64)
    w, mu, var = (a.astype(np.float64) for a in (model.weights_, model.means_, model.variances_))
    d2 = (((frame[:, :, None, :] - mu) ** 2) / var).sum(-1)  # (H, W, K)
    before = np.cumsum(w, axis=-1) - w  # weight of the heavier components
    is_bg = (before < 0.7) | (np.arange(3) == 0)
    fg_ref = np.where(is_bg, d2, np.inf).min(-1) > 16.0
    logp = np.log(w) - 0.5 * np.log(var).sum(-1) - 0.5 * d2
    labels, fg = model.predict(frames[60])
    assert model.predict(frames[60])[1] is not None and np.array_equal(model.predict(frames[60])[1], fg)
    assert np.mean(fg != fg_ref) < 1e-3
    assert np.mean(labels != logp.argmax(-1)) < 1e-3
    assert labels.dtype == np.int8 and fg.dtype == bool


def test_components_sorted_by_weight_and_finite(clip_rgb):
    frames, _ = clip_rgb
    model = PixelGMM(4).fit(frames[:TRAIN])
    assert np.all(np.diff(model.weights_, axis=-1) <= 1e-7)
    np.testing.assert_allclose(model.weights_.sum(-1), 1.0, atol=1e-5)
    for a in (model.weights_, model.means_, model.variances_, model.lower_bound_):
        assert np.all(np.isfinite(a))
    assert np.all(model.variances_ >= model.var_min_)
    np.testing.assert_array_equal(model.background_image(), model.means_[:, :, 0])


def test_constant_video_has_no_nan_and_clear_masks():
    frames = np.full((10, 8, 9), 100, dtype=np.uint8)
    model = PixelGMM(3).fit(frames)
    assert np.all(np.isfinite(model.means_)) and np.all(np.isfinite(model.variances_))
    assert np.all(model.variances_ == pytest.approx(4.0))
    assert not model.apply(frames[0]).any()
    # a local change (not a global one, which brightness normalisation would absorb)
    changed = frames[0].copy()
    changed[2:5, 3:6] = 160
    expected = np.zeros((8, 9), bool)
    expected[2:5, 3:6] = True
    np.testing.assert_array_equal(model.apply(changed), expected)


def test_threads_and_dtypes_give_identical_fits(clip_grey, two_threads):
    frames, _ = clip_grey
    a = PixelGMM(2, n_threads=1).fit(frames[:TRAIN])
    with two_threads("_pixelgmm"):
        b = PixelGMM(2, n_threads=2).fit(frames[:TRAIN])
    c = PixelGMM(2, n_threads=2).fit(frames[:TRAIN].astype(np.float32))
    d = PixelGMM(2).fit(list(frames[:TRAIN]))
    for other in (b, c, d):
        np.testing.assert_array_equal(a.means_, other.means_)
        np.testing.assert_array_equal(a.variances_, other.variances_)
    np.testing.assert_array_equal(a.apply(frames[TRAIN:]), c.apply(frames[TRAIN:].astype(np.float32)))


@pytest.mark.parametrize("colour", [False, True])
def test_vector_widths_agree(colour, clip_rgb, clip_grey):
    """The two-component passes run 8 lanes wide in the avx2 kernels and 16 in the avx512 ones,
    with the same operations in the same order.  The two builds agree to float rounding, not to
    the bit: GCC fuses multiply-adds differently for the two targets (with -ffp-contract=off they
    are bit-identical).  12 EM iterations of the sample clip differ by up to about 7e-4 relative
    (variances, where s2 / n - delta^2 cancels); a lane mixed up would differ by far more."""
    from gmmfast._dispatch import _built, _cpu_runs, module_name

    if not (_cpu_runs("avx512") and _built("avx512")):
        pytest.skip("no AVX-512 on this CPU (or in this build): only one width to run")
    frames = (clip_rgb if colour else clip_grey)[0][:TRAIN]
    X = np.ascontiguousarray(frames.reshape(frames.shape[0], -1, 3 if colour else 1))
    scale = np.ones(X.shape[0], np.float32)
    fits = []
    for variant, lanes in (("avx2", 8), ("avx512", 16)):
        kernel = importlib.import_module(module_name("_pixelgmm", variant))
        assert kernel.fused_lanes() == lanes
        fits.append(kernel.em_fit(X, scale, 2, 12, 0.0, 1.0, 3, 1))
    names = ("weights", "means", "variances", "loglik", "n_iter")
    for name, wide, narrow in zip(names, *fits):
        if name == "n_iter":
            np.testing.assert_array_equal(wide, narrow, err_msg=name)
        else:
            np.testing.assert_allclose(wide, narrow, rtol=5e-3, atol=1e-5, err_msg=name)


def test_the_loaded_kernels_set_the_vector_width():
    from gmmfast._dispatch import VARIANT
    from gmmfast._batch_background import _k

    assert _k().fused_lanes() == (16 if VARIANT == "avx512" else 8)


def test_float_frames_in_unit_range(clip_grey):
    frames, masks = clip_grey
    scaled = frames.astype(np.float32) / 255.0
    model = PixelGMM().fit(scaled[:TRAIN])
    assert model.var_min_ == pytest.approx((2 / 255) ** 2)
    assert f_measure(model.apply(scaled[TRAIN:]), masks[TRAIN:]) >= 0.95


def test_tol_zero_runs_max_iter():
    frames, _ = sample_clip(n_frames=20, height=48, width=48)
    model = PixelGMM(2, max_iter=7, tol=0.0).fit(frames)
    assert model.n_iter_ == 7 and not model.converged_


# ----------------------------------------------------------------------------- simple backgrounds


def test_mean_median_subtract_match_numpy():
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, size=(7, 10, 12, 3), dtype=np.uint8)
    np.testing.assert_allclose(mean_background(frames), frames.mean(0), rtol=1e-6)
    np.testing.assert_array_equal(median_background(frames), np.median(frames, 0).astype(np.float32))
    bg = median_background(frames)
    dist = np.sqrt(((frames.astype(np.float64) - bg) ** 2).sum(-1))
    np.testing.assert_array_equal(subtract(frames, bg, 40.0), dist > 40.0)
    grey = frames[..., 0]
    gbg = grey.mean(0)
    np.testing.assert_array_equal(subtract(grey[2], gbg, 25), np.abs(grey[2] - gbg) > 25)


def _numpy_kmeans_background(frames: np.ndarray, k: int, n_iter: int):
    """Plain per-pixel Lloyd k-means with the documented initialisation."""
    T = frames.shape[0]
    X = frames.reshape(T, -1, frames.shape[-1] if frames.ndim == 4 else 1).astype(np.float64)
    lum = X.sum(-1)
    lo = np.take_along_axis(X, lum.argmin(0)[None, :, None], 0)[0]
    hi = np.take_along_axis(X, lum.argmax(0)[None, :, None], 0)[0]
    f = ((np.arange(k) + 0.5) / k)[None, :, None]
    c = lo[:, None] * (1 - f) + hi[:, None] * f
    for it in range(n_iter + 1):
        lab = (((X[:, :, None, :] - c[None]) ** 2).sum(-1)).argmin(-1)  # (T, P)
        onehot = lab[..., None] == np.arange(k)
        cnt = onehot.sum(0)
        if it == n_iter:
            break
        sums = np.einsum("tpk,tpd->pkd", onehot, X)
        c = np.where(cnt[..., None] > 0, sums / np.maximum(cnt, 1)[..., None], c)
    best = cnt.argmax(-1)  # first largest cluster
    return np.take_along_axis(c, best[:, None, None], 1)[:, 0], cnt


def test_kmeans_background_matches_numpy_lloyd():
    rng = np.random.default_rng(4)
    frames = rng.uniform(0, 255, size=(30, 9, 11, 3)).astype(np.float32)
    ours, centres, sizes = kmeans_background(frames, 3, max_iter=8, return_clusters=True)
    ref, cnt = _numpy_kmeans_background(frames, 3, 8)
    # float32 vs float64 can flip a near-tie now and then
    close = np.all(np.abs(ours.reshape(-1, 3) - ref) < 1e-2, axis=1)
    assert close.mean() > 0.98
    np.testing.assert_array_equal(np.sort(sizes.reshape(-1, 3), -1)[close], np.sort(cnt, -1)[close])
    assert np.all(np.diff(sizes, axis=-1) <= 0) and np.all(sizes.sum(-1) == 30)


# ----------------------------------------------------------------------------- bad input


def test_bad_frames_are_clear_errors(clip_grey):
    frames, _ = clip_grey
    with pytest.raises(ValueError, match="0 frames"):
        PixelGMM().fit(np.zeros((0, 10, 10), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        PixelGMM().fit([])
    with pytest.raises(ValueError, match="stack of frames"):
        PixelGMM().fit(np.zeros((10, 10), np.uint8))
    with pytest.raises(TypeError, match="dtype bool"):
        PixelGMM().fit(np.zeros((5, 4, 4), bool))
    with pytest.raises(TypeError, match="complex"):
        mean_background(np.zeros((5, 4, 4), complex))
    with pytest.raises(TypeError, match="read_video"):
        PixelGMM().fit("video.mp4")
    nan = np.zeros((5, 4, 4), np.float32)
    nan[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PixelGMM().fit(nan)
    with pytest.raises(ValueError, match="channels"):
        PixelGMM().fit(np.zeros((5, 4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="same shape"):
        median_background([np.zeros((4, 4)), np.zeros((4, 5))])
    with pytest.raises(ValueError, match="at least 3 training frames"):
        PixelGMM(3).fit(frames[:2])
    model = PixelGMM().fit(frames[:10])
    with pytest.raises(ValueError, match="fitted on frames of shape"):
        model.predict(frames[0, :-1])
    with pytest.raises(ValueError, match="expected a frame"):
        model.predict(np.zeros((2, 2, 120, 160), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.zeros((120, 160, 3), np.uint8))  # colour frame, grey model
    with pytest.raises(TypeError, match="dtype"):
        model.predict(frames[0].astype(bool))
    with pytest.raises(gmmfast.NotFittedError, match="not fitted"):
        PixelGMM().predict(frames[0])
    with pytest.raises(gmmfast.NotFittedError, match="not fitted"):
        PixelGMM().background_image()
    # found by the long fuzz profile: an OverflowError and an infinite variance
    for huge in (np.full((1, 1, 1), 3.4e156, ">f8"), np.full((1, 1, 1), 2.4e21, np.float32)):
        with pytest.raises(ValueError, match="rescale"):
            PixelGMM(1).fit(huge)
    big = PixelGMM(1, max_iter=3).fit(np.full((2, 1, 1), 1e15, np.float32))
    assert np.isfinite(big.variances_).all() and np.isfinite(big.means_).all()


@pytest.mark.parametrize(
    "params, exc",
    [
        ({"n_components": 0}, ValueError),
        ({"n_components": 17}, ValueError),
        ({"n_components": 2.5}, TypeError),
        ({"threshold": -1.0}, ValueError),
        ({"threshold": float("nan")}, ValueError),
        ({"background_ratio": 1.5}, ValueError),
        ({"max_iter": 0}, ValueError),
        ({"tol": -1.0}, ValueError),
        ({"var_min": 0.0}, ValueError),
        ({"n_threads": 0}, ValueError),
        ({"normalize_brightness": "yes"}, TypeError),
    ],
)
def test_bad_parameters(params, exc):
    frames = np.zeros((5, 4, 4), np.uint8)
    with pytest.raises(exc):
        PixelGMM(**params).fit(frames)


def test_subtract_and_kmeans_bad_input():
    bg = np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match="does not match"):
        subtract(np.zeros((4, 6)), bg, 10)
    with pytest.raises(ValueError, match="threshold"):
        subtract(np.zeros((4, 5)), bg, -1)
    with pytest.raises(ValueError, match="background must be"):
        subtract(np.zeros((4,)), np.zeros((4,)), 10)
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans_background(np.zeros((5, 4, 4), np.uint8), 0)


def test_sklearn_style_params():
    model = PixelGMM(3, threshold=4.0)
    assert model.get_params()["n_components"] == 3
    assert model.set_params(threshold=6.0) is model and model.threshold == 6.0
    assert "PixelGMM(n_components=3" in repr(model)
    with pytest.raises(ValueError, match="(?i)invalid parameter"):
        model.set_params(foo=1)
    assert not hasattr(model, "weights_")


# ----------------------------------------------------------------------------- the replaced projects' demo


@pytest.mark.skipif(not (DATA / "seed" / "traffic.gif").exists(), reason="shared data not present")
def test_traffic_demo_against_their_reference():
    from gmmfast.video import read_video

    frames = read_video(DATA / "seed" / "traffic.gif", grey=True)
    ref = read_video(DATA / "seed" / "traffic_reference.gif", grey=True) > 127
    assert frames.shape == (80, 120, 160) and ref.shape == (32, 120, 160)
    pred = PixelGMM().fit(frames[:TRAIN]).apply(frames[TRAIN:])
    # their output is a reference, not ground truth: ask for broad agreement, and
    # that the same cars are found (recall of their foreground)
    agreement = f_measure(pred, ref)
    recall = np.count_nonzero(pred & ref) / np.count_nonzero(ref)
    assert agreement >= 0.65 and recall >= 0.8
    assert 0.5 < pred.mean() / ref.mean() < 2.0


def test_one_colour_frame_where_a_stack_belongs_warns():
    # (H, W, 3) given as frames is read as H grey frames 3 pixels wide: said, not silent
    frame = np.full((40, 50, 3), 90, np.uint8)
    for call in (lambda: median_background(frame), lambda: mean_background(frame), lambda: PixelGMM().fit(frame),
                 lambda: gmmfast.BackgroundSubtractorMOG2().apply_many(frame)):
        with pytest.warns(UserWarning, match=r"frame\[None\]") as caught:
            call()
        assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        median_background(frame[None])
        median_background(np.zeros((6, 40, 50), np.uint8))     # grey frames: silent


def test_subtract_warns_when_frame_and_background_scales_differ():
    # each of these gave an all-foreground or all-background mask in silence
    bg = np.full((20, 20, 3), 100, np.uint8)
    frame = bg.copy()
    frame[5:10, 5:10] = 200
    for f, b, thr, what in [(frame / 255.0, bg, 30.0, "different scales"),
                            (frame.astype(np.uint16) * 257, bg, 30.0, "different scales"),
                            (frame / 255.0, bg / 255.0, 30.0, "no pixel can be")]:
        with pytest.warns(UserWarning, match=what):
            subtract(f, b, thr)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ref = np.linalg.norm(frame.astype(float) - bg, axis=-1) > 30
        np.testing.assert_array_equal(subtract(frame, bg, 30.0), ref)
        np.testing.assert_array_equal(subtract(frame / 255.0, bg / 255.0, 30 / 255), ref)
        subtract(frame.astype(np.float32), bg, 30.0)
        # a background a little over 255, as PixelGMM's with brightness normalisation (the README's
        # subtract(frames[60], pg.background_image(), 30) warned of "different scales")
        subtract(frame, np.minimum(bg.astype(np.float32) * 2.6, 263.0), 30.0)


def test_a_masked_array_without_masked_values_is_read_as_its_data():
    frames = np.random.default_rng(0).integers(0, 255, (5, 6, 7), dtype=np.uint8)
    plain = np.ma.masked_array(frames, np.zeros(frames.shape, bool))
    np.testing.assert_array_equal(gmmfast.median_background(plain), np.median(frames, axis=0))
    np.testing.assert_allclose(gmmfast.mean_background(plain), frames.mean(axis=0), rtol=1e-6)
