"""Fuzzed inputs for every public entry point (Hypothesis).

Each call either gives a correct result (checked against a plain NumPy
reference where one exists) or raises ValueError/TypeError whose message says
what to change; never another exception, a crash, a NaN in a result, or a
changed input array.

Profiles (``HYPOTHESIS_PROFILE``): ``ci`` (default, a few dozen examples per
test, what CI runs) and ``long`` (15 000 examples per test, about three
quarters of an hour on 2 cores, before a release:
``HYPOTHESIS_PROFILE=long pytest tests/test_fuzz.py``).
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import gmmfast  # noqa: E402

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=15000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# every kind of NumPy dtype a user can hand over, native and byte-swapped
_DTYPES = ["u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "f2", "f4", "f8", "c8", "c16", "?", "O"]
_DTYPES += [">u2", ">i4", ">f4", ">f8", "<f8"]


@st.composite
def arrays(draw, ndim_range=(1, 3), max_side=6, dtypes=_DTYPES, elements=None):
    """Arrays of any dtype, shape (zero-size included), layout and writeability."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    ndim = draw(st.integers(*ndim_range))
    shape = tuple(draw(st.lists(st.integers(0, max_side), min_size=ndim, max_size=ndim)))
    if dtype.kind == "O":
        values = draw(st.lists(st.one_of(st.floats(allow_nan=True), st.integers(-5, 5), st.text(max_size=2),
                                          st.none()), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        arr = np.empty(int(np.prod(shape)), dtype=object)
        arr[:] = values
        arr = arr.reshape(shape)
    else:
        arr = draw(hnp.arrays(dtype, shape, elements=elements if dtype.kind == "f" else None))
        # bias towards the values that break numerical code: a NaN, an infinity or a
        # huge value in one place, or very few distinct values (K larger than them)
        poison = draw(st.sampled_from(["none", "none", "nan", "inf", "huge", "constant"]))
        if arr.size and poison == "constant":
            arr = np.full_like(arr, arr.flat[0])
        elif arr.size and poison != "none" and dtype.kind in "fc":
            value = {"nan": np.nan, "inf": -np.inf, "huge": np.finfo(dtype).max / 2}[poison]
            arr.flat[draw(st.integers(0, arr.size - 1))] = value
    layout = draw(st.sampled_from(["c", "f", "reversed", "strided", "readonly"]))
    if layout == "f":
        arr = np.asfortranarray(arr)
    elif layout == "reversed" and arr.ndim:
        arr = arr[::-1]
    elif layout == "strided" and arr.ndim:
        arr = np.repeat(arr, 2, axis=0)[::2]
    elif layout == "readonly":
        arr = arr.copy()
        arr.flags.writeable = False
    return arr


def _call(fn, *args, **kwargs):
    """Run ``fn``; return its result, or None when it refused the input the way we promise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            assert str(exc).strip(), f"{type(exc).__name__} without a message"
            return None


def _unchanged(arr):
    """A snapshot to check that a call did not modify its input."""
    return arr.copy() if isinstance(arr, np.ndarray) else arr


def _assert_same(before, after):
    if isinstance(before, np.ndarray):
        assert before.dtype == after.dtype and before.shape == after.shape
        if before.dtype == object:
            assert repr(before.tolist()) == repr(after.tolist())
        else:
            np.testing.assert_array_equal(before, after)


def _finite(*values):
    for v in values:
        a = np.asarray(v)
        if a.dtype.kind in "fc":
            assert np.all(np.isfinite(a)), "a result holds NaN or infinity"


# --------------------------------------------------------------------------- mixtures and k-means


@given(X=arrays(ndim_range=(1, 3)), k=st.integers(-1, 4), ct=st.sampled_from(["full", "tied", "diag", "spherical"]))
def test_gaussian_mixture_fit_predict(X, k, ct):
    before = _unchanged(X)
    gm = _call(gmmfast.GaussianMixture(k, covariance_type=ct, random_state=0, max_iter=20).fit, X)
    _assert_same(before, X)
    if gm is None:
        return
    Xf = np.asarray(X, dtype=np.float64)
    labels = gm.predict(X)
    proba = gm.predict_proba(X)
    logp = gm.score_samples(X)
    _finite(gm.means_, gm.covariances_, gm.weights_, proba, logp)
    assert labels.shape == (Xf.shape[0],) and labels.min() >= 0 and labels.max() < k
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-4)
    np.testing.assert_array_equal(np.argmax(proba, axis=1)[proba.max(axis=1) > 0.51],
                                  labels[proba.max(axis=1) > 0.51])


@given(batches=st.lists(arrays(ndim_range=(1, 3)), min_size=1, max_size=3), k=st.integers(-1, 3))
def test_partial_fit_any_batches(batches, k):
    """Stepwise EM on fuzzed batches, then the statistics API on the model it left."""
    gm = gmmfast.GaussianMixture(k, random_state=0)
    for X in batches:
        before = _unchanged(X)
        fitted = _call(gm.partial_fit, X)
        _assert_same(before, X)
        if fitted is None:
            continue
        _finite(gm.means_, gm.covariances_, gm.weights_)
        np.testing.assert_allclose(gm.weights_.sum(), 1.0, rtol=1e-6)
        stats = _call(gm.e_step_statistics, X)
        if stats is not None:
            assert stats.n_samples == np.asarray(X).shape[0]
            _finite(stats.log_likelihood)
            if _call(gm.m_step, stats) is not None:
                _finite(gm.means_, gm.covariances_, gm.weights_)


@given(X=arrays(ndim_range=(1, 3), dtypes=["u1", "i2", "f4", "f8", ">f8", "c8", "?", "f2"]), k=st.integers(0, 3))
def test_fit_of_any_npy_file(tmp_path_factory, X, k):
    """The out-of-core path (an .npy path, read as a memmap) refuses or fits like the in-memory fit."""
    path = tmp_path_factory.mktemp("npy") / "x.npy"
    np.save(path, X)
    from_file = _call(gmmfast.GaussianMixture(k, random_state=0, max_iter=5).fit, str(path))
    in_memory = _call(gmmfast.GaussianMixture(k, random_state=0, max_iter=5).fit, X)
    assert (from_file is None) == (in_memory is None)
    if from_file is not None:
        np.testing.assert_allclose(from_file.means_, in_memory.means_, rtol=1e-10, atol=1e-10)


@given(X=arrays(ndim_range=(2, 2), dtypes=["f4", "f8", "i4", "u1", ">f8"],
                elements=st.floats(-1e6, 1e6, allow_nan=False, width=32)), k=st.integers(1, 5))
def test_kmeans_labels_are_nearest_centres(X, k):
    before = _unchanged(X)
    res = _call(gmmfast.kmeans, X, k, random_state=0)
    _assert_same(before, X)
    if res is None:
        return
    Xf = np.asarray(X, dtype=res.centers.dtype)
    _finite(res.centers, res.inertia)
    # distances in units of X's largest value: unscaled, values near the dtype's maximum overflowed them
    # and made the tolerance inf, passing any labels
    scale = max(float(np.abs(Xf).max()), 1.0)
    d2 = (((Xf[:, None, :].astype(np.float64) - res.centers[None].astype(np.float64)) / scale) ** 2).sum(axis=2)
    # labels are a nearest centre (ties and float32 rounding allowed for)
    chosen, best = d2[np.arange(len(Xf)), res.labels], d2.min(axis=1)
    assert np.all(np.isfinite(d2))
    assert np.all(chosen <= best + 1e-4 * ((1 / scale) ** 2 + best + 1e-3))


@given(X=arrays(ndim_range=(0, 3)), k=st.one_of(st.integers(-2, 3), st.floats(), st.text(max_size=2)))
def test_kmeans_plusplus_any_input(X, k):
    before = _unchanged(X)
    out = _call(gmmfast.kmeans_plusplus, X, k, random_state=0)
    _assert_same(before, X)
    if out is not None:
        centers, idx = out
        np.testing.assert_array_equal(centers, np.asarray(X)[idx].astype(centers.dtype))


# --------------------------------------------------------------------------- images


@given(img=arrays(ndim_range=(1, 4), max_side=7), k=st.one_of(st.integers(0, 4), st.just("auto")),
       smoothing=st.sampled_from([0.0, 1.0, -1.0, float("nan")]))
def test_segment_any_image(img, k, smoothing):
    before = _unchanged(img)
    seg = _call(gmmfast.segment, img, k, smoothing=smoothing, **({"k_range": (1, 3)} if k == "auto" else {}))
    _assert_same(before, img)
    if seg is None:
        return
    H, W = np.asarray(img).shape[:2]
    assert seg.labels.shape == (H, W)
    assert seg.labels.max() < seg.n_components
    _finite(seg.model.means_, seg.mean_colours())
    assert set(np.unique(seg.binary_map())) <= {0, 255}


@given(img=arrays(ndim_range=(2, 3), max_side=9, dtypes=["u1", "u2", "f4", "?", "i8", "O"]),
       rect=st.tuples(*[st.integers(-3, 10)] * 4))
def test_grabcut_any_image(img, rect):
    before = _unchanged(img)
    res = _call(gmmfast.grabcut, img, rect=rect)
    _assert_same(before, img)
    if res is None:
        return
    H, W = np.asarray(img).shape[:2]
    assert res.mask.shape == (H, W) and set(np.unique(res.mask)) <= {0, 1, 2, 3}
    x, y, w, h = rect
    outside = np.ones((H, W), bool)
    outside[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)] = False
    assert not np.any(res.foreground & outside)       # nothing outside the box is foreground


@given(data=st.binary(max_size=200))
def test_read_image_any_bytes(data):
    pytest.importorskip("PIL")
    from gmmfast.io import read_image

    out = _call(read_image, io.BytesIO(data))
    assert out is None or isinstance(out, np.ndarray)


# --------------------------------------------------------------------------- max-flow


@given(shape=st.tuples(st.integers(0, 5), st.integers(0, 5)), conn=st.sampled_from([4, 8, 6]),
       w=arrays(ndim_range=(0, 3), max_side=5, dtypes=["f4", "f8", "i4", "?", "c8"]),
       t=arrays(ndim_range=(2, 2), max_side=5, dtypes=["f4", "f8", "i2", ">f8"]))
def test_grid_graph_any_weights(shape, conn, w, t):
    from gmmfast.maxflow import GridGraph

    g = _call(GridGraph, shape, connectivity=conn)
    if g is None:
        return
    if _call(g.set_neighbor_weights, w) is None and not (np.ndim(w) == 0 and np.isfinite(np.real(w))):
        return
    if _call(g.set_terminal_weights, t, t[::-1] if t.ndim else t) is None:
        return
    flow = _call(g.maxflow)
    if flow is not None:
        _finite(flow)
        assert flow >= 0


@given(unary=arrays(ndim_range=(3, 3), max_side=4, dtypes=["f4", "f8", "i2", "?"],
                    elements=st.floats(-1e3, 1e3, allow_nan=False, width=32)),
       lam=st.one_of(st.floats(-1, 5), st.just(float("nan"))))
def test_alpha_expansion_never_worse_than_argmin(unary, lam):
    from gmmfast.maxflow import alpha_expansion, potts_energy

    out = _call(alpha_expansion, unary, lam, return_energy=True)
    if out is None:
        return
    labels, energy = out
    u = np.asarray(unary, dtype=np.float64)
    start = potts_energy(u, np.argmin(u, axis=2), lam)
    assert energy <= start + 1e-6 * (1 + abs(start))


# --------------------------------------------------------------------------- video


@pytest.mark.parametrize("model, pipeline", [("BackgroundSubtractorMOG2", "adaptive"),
                                              ("BackgroundSubtractorKNN", "knn")])
@given(frames=arrays(ndim_range=(2, 5), max_side=5), lr=st.sampled_from([-1, 0, 0.5, 1, 2, float("nan")]))
def test_online_subtractors_any_frames(model, pipeline, frames, lr):
    before = _unchanged(frames)
    sub = getattr(gmmfast, model)()
    masks = _call(sub.apply_many, frames, learning_rate=lr)
    _assert_same(before, frames)
    if masks is not None:
        assert masks.dtype == np.uint8 and set(np.unique(masks)) <= {0, 127, 255}
        assert masks.shape == np.asarray(frames).shape[:3]
    mask = _call(gmmfast.BackgroundSubtractor(method=pipeline).apply, frames)
    if mask is not None:
        assert mask.dtype == bool and mask.shape == np.asarray(frames).shape[:2]


@given(frames=arrays(ndim_range=(2, 5), max_side=5), k=st.integers(0, 3))
def test_pixel_gmm_any_frames(frames, k):
    before = _unchanged(frames)
    model = _call(gmmfast.PixelGMM(k, max_iter=3).fit, frames)
    _assert_same(before, frames)
    if model is None:
        return
    _finite(model.means_, model.variances_, model.weights_)
    pred = model.predict(np.asarray(frames)[0])
    assert pred.mask.shape == np.asarray(frames).shape[1:3]


@given(data=st.binary(max_size=300), suffix=st.sampled_from([".gif", ".avi", ".mp4", ".png", ".txt", ""]))
def test_video_reader_any_bytes(tmp_path_factory, data, suffix):
    pytest.importorskip("PIL")
    from gmmfast.video import read_video

    path = tmp_path_factory.mktemp("fuzz") / f"clip{suffix}"
    path.write_bytes(data)
    out = _call(read_video, path)
    assert out is None or (isinstance(out, np.ndarray) and out.ndim in (3, 4) and out.shape[0] >= 1)
