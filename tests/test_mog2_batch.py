"""BackgroundSubtractorMOG2.apply_many: a stack of frames in one call must be exactly the
frames applied one by one (the kernel only changes the order of the work)."""

from __future__ import annotations

import numpy as np
import pytest

import gmmfast


@pytest.fixture(scope="module")
def video():
    """60 colour frames 90x120: a textured background with noise, a moving box and a
    flickering patch (so pixels take both the vectorised and the general update)."""
    rng = np.random.default_rng(2)
    h, w = 90, 120
    yy, xx = np.mgrid[0:h, 0:w]
    bg = np.stack([120 + 50 * np.sin(xx / (9.0 + c)) * np.cos(yy / 13.0) for c in range(3)], -1)
    bg = bg + rng.normal(0, 12, bg.shape)
    frames = np.empty((60, h, w, 3), np.uint8)
    for t in range(60):
        f = bg + rng.normal(0, 3, bg.shape)
        f[5:20, 90:110] += 40.0 * (rng.random() < 0.5)
        x0 = (4 * t) % (w - 20)
        f[30:50, x0:x0 + 20] = rng.integers(0, 256, 3)
        frames[t] = np.clip(f, 0, 255).astype(np.uint8)
    return frames, None


def _one_by_one(model, frames, **kwargs):
    kf = kwargs.pop("known_foreground", None)
    return np.stack([model.apply(f, known_foreground=None if kf is None else kf[i], **kwargs)
                     for i, f in enumerate(frames)])


def _same_model(a, b):
    assert a.n_frames_ == b.n_frames_
    np.testing.assert_array_equal(a.state_["state"], b.state_["state"])
    np.testing.assert_array_equal(a.state_["nmodes"], b.state_["nmodes"])


@pytest.mark.parametrize("grey", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_batches_equal_frame_by_frame(video, grey, dtype):
    frames, _ = video
    frames = (frames.mean(axis=3) if grey else frames).astype(dtype)
    a = gmmfast.BackgroundSubtractorMOG2()
    b = gmmfast.BackgroundSubtractorMOG2()
    # the first batch starts the model; batches of several sizes, a list and an array
    for lo, hi in [(0, 1), (1, 9), (9, 30), (30, 31), (31, 60)]:
        batch = frames[lo:hi]
        expected = _one_by_one(a, batch)
        got = b.apply_many(list(batch) if lo % 2 else batch)
        assert got.shape == (hi - lo,) + frames.shape[1:3] and got.dtype == np.uint8
        np.testing.assert_array_equal(got, expected)
        _same_model(a, b)
    np.testing.assert_array_equal(a.background_image(), b.background_image())


@pytest.mark.parametrize("as_list", [False, True])
def test_long_batches_are_split_without_changing_results(video, as_list):
    # more frames than one kernel call takes (gmmfast._background._BATCH)
    from gmmfast._background import _BATCH

    frames, _ = video
    frames = np.concatenate([frames, frames[::-1]])[: 2 * _BATCH + 7]
    kf = np.random.default_rng(3).random(frames.shape[:3]) < 0.05
    a, b = gmmfast.BackgroundSubtractorMOG2(), gmmfast.BackgroundSubtractorMOG2()
    expected = _one_by_one(a, frames, known_foreground=kf)
    got = b.apply_many(list(frames) if as_list else frames, known_foreground=kf)
    np.testing.assert_array_equal(got, expected)
    _same_model(a, b)


def test_batches_with_fixed_rates_and_known_foreground(video):
    frames, _ = video
    rng = np.random.default_rng(5)
    kf = rng.random(frames.shape[:3]) < 0.1
    a = gmmfast.BackgroundSubtractorMOG2(history=50)
    b = gmmfast.BackgroundSubtractorMOG2(history=50)
    np.testing.assert_array_equal(b.apply_many(frames[:20]), _one_by_one(a, frames[:20]))
    for lr in (0.05, 0.0, 0.5):
        np.testing.assert_array_equal(
            b.apply_many(frames[20:35], learning_rate=lr, known_foreground=kf[20:35]),
            _one_by_one(a, frames[20:35], learning_rate=lr, known_foreground=kf[20:35]))
        _same_model(a, b)
    # past the history the automatic rate settles at 1 / history
    np.testing.assert_array_equal(b.apply_many(frames[35:]), _one_by_one(a, frames[35:]))
    _same_model(a, b)


def test_learning_rate_one_in_a_batch_restarts_at_every_frame(video):
    frames, _ = video
    a, b = gmmfast.BackgroundSubtractorMOG2(), gmmfast.BackgroundSubtractorMOG2()
    b.apply_many(frames[:10])
    _one_by_one(a, frames[:10])
    np.testing.assert_array_equal(b.apply_many(frames[10:14], learning_rate=1),
                                  _one_by_one(a, frames[10:14], learning_rate=1))
    _same_model(a, b)
    np.testing.assert_array_equal(b.background_image(), frames[13])


def test_batches_do_not_depend_on_threads(video, two_threads):
    frames, _ = video
    big = np.tile(frames[:24], (1, 4, 4, 1))      # large enough for rows to be split
    one = gmmfast.BackgroundSubtractorMOG2(n_threads=1)
    two = gmmfast.BackgroundSubtractorMOG2(n_threads=2)
    for batch in (big[:12], big[12:]):
        with two_threads("_mog2"):
            masks = two.apply_many(batch)
        np.testing.assert_array_equal(one.apply_many(batch), masks)
    _same_model(one, two)


def test_bad_batches():
    sub = gmmfast.BackgroundSubtractorMOG2()
    sub.apply(np.zeros((10, 12, 3), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        sub.apply_many([])
    with pytest.raises(ValueError, match="empty"):
        sub.apply_many(np.zeros((0, 10, 12, 3), np.uint8))
    with pytest.raises(ValueError, match="apply"):
        sub.apply_many(np.zeros((10, 12), np.uint8))                   # one frame: use apply()
    with pytest.raises(ValueError, match="same size"):
        sub.apply_many([np.zeros((10, 12, 3), np.uint8), np.zeros((10, 13, 3), np.uint8)])
    with pytest.raises(ValueError, match="reset"):
        sub.apply_many(np.zeros((2, 10, 13, 3), np.uint8))             # not the model's size
    with pytest.raises(ValueError, match="channels"):
        sub.apply_many(np.zeros((2, 10, 12, 7), np.uint8))
    with pytest.raises(TypeError, match="dtype"):
        sub.apply_many(np.zeros((2, 10, 12, 3), np.int32))
    with pytest.raises(TypeError, match="sequence"):
        sub.apply_many(5)
    bad = np.zeros((3, 10, 12, 3), np.float32)
    bad[2, 3, 4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sub.apply_many(bad)
    with pytest.raises(ValueError, match="NaN"):
        sub.apply_many(list(bad))
    with pytest.raises(ValueError, match="known_foreground"):
        sub.apply_many(np.zeros((2, 10, 12, 3), np.uint8), known_foreground=np.zeros((10, 12), bool))
    with pytest.raises(TypeError, match="known_foreground"):
        sub.apply_many(np.zeros((2, 10, 12, 3), np.uint8), known_foreground=np.zeros((2, 10, 12), np.float32))
    with pytest.raises(ValueError, match="learning_rate"):
        sub.apply_many(np.zeros((2, 10, 12, 3), np.uint8), learning_rate=2)
    assert sub.n_frames_ == 1                                          # failed calls learnt nothing


def test_masks_into_a_given_buffer(video):
    frames, _ = video
    a, b = gmmfast.BackgroundSubtractorMOG2(), gmmfast.BackgroundSubtractorMOG2()
    buf = np.full((10,) + frames.shape[1:3], 7, np.uint8)
    for lo in (0, 10, 20):
        got = b.apply_many(frames[lo:lo + 10], out=buf)
        assert got is buf
        np.testing.assert_array_equal(buf, _one_by_one(a, frames[lo:lo + 10]))
    np.testing.assert_array_equal(b.apply_many(frames[30:32], learning_rate=1, out=buf[:2]),
                                  _one_by_one(a, frames[30:32], learning_rate=1))
    _same_model(a, b)
    with pytest.raises(ValueError, match="out"):
        b.apply_many(frames[:3], out=buf)                              # wrong length
    with pytest.raises(ValueError, match="out"):
        b.apply_many(frames[:3], out=np.zeros((3,) + frames.shape[1:3], np.uint8)[:, :, ::2])
    with pytest.raises(TypeError, match="out"):
        b.apply_many(frames[:3], out=np.zeros((3,) + frames.shape[1:3], bool))
    with pytest.raises(TypeError, match="out"):
        b.apply_many(frames[:3], out=[[0]])
    grey = np.ascontiguousarray(frames[:3, :, :, 0])
    with pytest.raises(ValueError, match="out shares memory with the frames"):   # it gave wrong masks
        b.apply_many(grey, out=grey)


def test_mixed_dtypes_in_a_list_are_read_as_float(video):
    frames, _ = video
    a, b = gmmfast.BackgroundSubtractorMOG2(), gmmfast.BackgroundSubtractorMOG2()
    mixed = [f if i % 2 else f.astype(np.float64) for i, f in enumerate(frames[:6])]
    np.testing.assert_array_equal(b.apply_many(mixed), _one_by_one(a, frames[:6]))


@pytest.mark.parametrize("output", ["bool", "uint8"])
def test_pipeline_batches_equal_frame_by_frame(video, output):
    frames, _ = video
    a = gmmfast.BackgroundSubtractor(output=output)
    b = gmmfast.BackgroundSubtractor(output=output)
    expected = np.stack([a.apply(f) for f in frames])
    got = np.concatenate([b.apply_many(frames[:25]), b.apply_many(frames[25:])])
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(a.background_image(), b.background_image())
    with pytest.raises(ValueError, match="method"):
        gmmfast.BackgroundSubtractor(method="gsoc").apply_many(frames[:2])
