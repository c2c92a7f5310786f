"""Tests of gmmfast.segment / Segmentation, the image kernels and the sample image."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import gmmfast
from gmmfast import data
from gmmfast._segmentation import OUTLIER_PROBABILITY, Segmentation, adjusted_rand_index, segment

sk_metrics = pytest.importorskip("sklearn.metrics")
ari = sk_metrics.adjusted_rand_score

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

COLOURS = np.array([[40, 60, 150], [200, 60, 50], [90, 180, 70], [235, 225, 120]], dtype=np.float64)


def shapes_image(k=3, h=120, w=160, noise=10.0, seed=0, colours=COLOURS):
    """Background, a rectangle, a disc and a band, in k distinct colours, with Gaussian noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    truth = np.zeros((h, w), dtype=np.int64)
    if k >= 2:
        truth[(yy > h * 0.15) & (yy < h * 0.6) & (xx > w * 0.1) & (xx < w * 0.45)] = 1
    if k >= 3:
        truth[(yy - h * 0.6) ** 2 + (xx - w * 0.7) ** 2 < (h * 0.25) ** 2] = 2
    if k >= 4:
        truth[(yy > h * 0.82)] = 3
    img = colours[truth] + rng.normal(0, noise, (h, w, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8), truth


# ----------------------------------------------------------------------------- the sample image


def test_sample_image_deterministic_and_consistent():
    a = data.sample_image()
    b = data.sample_image()
    assert a.image.shape == (320, 480, 3) and a.image.dtype == np.uint8
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert set(np.unique(a.labels)) == set(range(len(a.names)))
    np.testing.assert_array_equal(a.mask, np.isin(a.labels, [3, 4]))
    x, y, w, h = a.rect                           # grabcut's (x, y, width, height)
    ys, xs = np.nonzero(a.mask)
    assert x <= xs.min() and xs.max() < x + w and y <= ys.min() and ys.max() < y + h
    with pytest.warns(DeprecationWarning, match="use rect"):    # the corners it was, still there
        assert a.box == (x, y, x + w, y + h)
    # every region has its own colour: region means differ by far more than the noise
    means = np.array([a.image[a.labels == k].mean(axis=0) for k in range(5)])
    dists = np.linalg.norm(means[:, None] - means[None], axis=2) + np.eye(5) * 1e9
    assert dists.min() > 30
    a.image[0, 0] = [1, 2, 3]  # returned arrays are copies: the cached image is unchanged
    np.testing.assert_array_equal(data.sample_image().image[0, 0], b.image[0, 0])
    with pytest.raises(ValueError):
        data.sample_image(height=5)


def test_sample_image_segments_well():
    s = data.sample_image()
    seg = segment(s.image, 5, features="lab", smoothing=1.0)
    assert ari(s.labels.ravel(), seg.labels.ravel()) > 0.9


# ----------------------------------------------------------------------------- recovery


@pytest.mark.parametrize("features", ["rgb", "lab", "gray", "rgbxy", "labxy"])
def test_recovers_known_regions(features):
    img, truth = shapes_image(3)
    seg = segment(img, 3, features=features, random_state=1)
    assert isinstance(seg, Segmentation)
    assert seg.labels.shape == truth.shape and seg.labels.dtype == np.uint8
    assert ari(truth.ravel(), seg.labels.ravel()) >= 0.95


def test_adjusted_rand_index_matches_sklearn():
    rng = np.random.default_rng(3)
    for _ in range(5):
        a = rng.integers(0, 4, 500)
        b = np.where(rng.random(500) < 0.7, a, rng.integers(0, 6, 500))
        assert adjusted_rand_index(a, b) == pytest.approx(ari(a, b), abs=1e-12)
    assert adjusted_rand_index(np.zeros(10), np.zeros(10)) == pytest.approx(ari(np.zeros(10), np.zeros(10)))


def test_components_ordered_by_luminance_and_deterministic():
    img, truth = shapes_image(4)
    seg = segment(img, 4)
    pix = img.reshape(-1, 3).astype(np.float64)
    luma = pix @ np.array([0.299, 0.587, 0.114])
    per_label = [luma[seg.labels.ravel() == k].mean() for k in range(4)]
    assert np.all(np.diff(per_label) > 0)
    np.testing.assert_array_equal(seg.labels, segment(img, 4).labels)
    # the model is renumbered too: its means follow the labels
    means_luma = np.asarray(seg.model.means_) @ np.array([0.299, 0.587, 0.114])
    assert np.all(np.diff(means_luma) > 0)
    np.testing.assert_array_equal(seg.model.predict(pix.astype(np.float32)), seg.labels.ravel())


def test_same_result_for_any_thread_count(two_threads):
    # 1000 x 1000: enough pixels for the E-step and the smoothing to split across two threads
    img, _ = shapes_image(3, h=1000, w=1000, noise=30, seed=4)
    for smoothing in (0.0, 1.0):
        a = segment(img, 3, smoothing=smoothing, n_threads=1)
        with two_threads("_gmm", "_imagekernels"):
            b = segment(img, 3, smoothing=smoothing, n_threads=2)
        np.testing.assert_array_equal(a.labels, b.labels)


def test_subsampled_fit_labels_like_full_fit():
    img, truth = shapes_image(3, h=400, w=600, seed=5)
    sub = segment(img, 3, max_fit_pixels=20_000)
    full = segment(img, 3, max_fit_pixels=img.shape[0] * img.shape[1])
    assert np.mean(sub.labels == full.labels) > 0.995
    assert ari(truth.ravel(), sub.labels.ravel()) >= 0.95


@pytest.mark.parametrize("k", [2, 3, 4])
def test_auto_finds_true_k(k):
    img, truth = shapes_image(k, noise=8, seed=k)
    seg = segment(img, "auto", k_range=(1, 7))
    assert seg.n_components == k
    # the table holds K = 1, 2, ... up to where the search stopped (two K past the last distinct one)
    assert list(seg.criterion) == list(range(1, max(seg.criterion) + 1))
    assert seg.criterion[k].distinct and not any(r.distinct for K, r in seg.criterion.items() if K > k)
    assert ari(truth.ravel(), seg.labels.ravel()) >= 0.95


# ----------------------------------------------------------------------------- derived pictures


def test_masks_segmented_image_binary_consistent_with_labels():
    img, _ = shapes_image(3, noise=25, seed=2)
    seg = segment(img, 3)
    K = seg.n_components
    masks = seg.masks()
    assert len(masks) == K and all(m.dtype == bool for m in masks)
    np.testing.assert_array_equal(np.sum(masks, axis=0), 1)
    for k in range(K):
        np.testing.assert_array_equal(masks[k], seg.labels == k)
        np.testing.assert_array_equal(seg.binary(k), np.where(seg.labels == k, 255, 0).astype(np.uint8))
    painted = seg.segmented_image()
    assert painted.shape == img.shape and painted.dtype == img.dtype
    for k in range(K):
        expected = np.round(img[seg.labels == k].astype(np.float64).mean(axis=0))
        assert np.all(painted[seg.labels == k] == expected)
    lmap = seg.label_map()
    assert lmap.dtype == np.uint8 and lmap.min() == 0 and lmap.max() == 255
    levels = [np.unique(lmap[seg.labels == k]) for k in range(K)]
    assert all(len(v) == 1 for v in levels) and np.all(np.diff([v[0] for v in levels]) > 0)
    # the binary map is binary: 0 on the component holding most of the border, 255 elsewhere
    border = np.concatenate([seg.labels[0], seg.labels[-1], seg.labels[:, 0], seg.labels[:, -1]])
    counts = [np.sum(border == k) for k in range(K)]
    assert seg.background_component() == int(np.argmax(counts))
    bmap = seg.binary_map()
    assert set(np.unique(bmap)) == {0, 255}
    np.testing.assert_array_equal(bmap == 0, seg.labels == int(np.argmax(counts)))
    np.testing.assert_array_equal(seg.binary_map(background=1) == 0, seg.labels == 1)
    with pytest.raises(ValueError, match="background must be"):
        seg.binary_map(background=K)
    np.testing.assert_array_equal(seg.overlay(0.0), img)
    pal = gmmfast._segmentation.palette(K)
    np.testing.assert_array_equal(seg.overlay(1.0), pal[seg.labels])
    with pytest.raises(ValueError):
        seg.overlay(1.5)
    with pytest.raises(ValueError):
        seg.binary(K)
    with pytest.raises(TypeError):
        seg.binary(0.5)
    np.testing.assert_array_equal(seg.counts(), np.bincount(seg.labels.ravel(), minlength=K))


def test_probabilities_match_independent_gaussian_densities():
    stats = pytest.importorskip("scipy.stats")
    img, _ = shapes_image(3, noise=30, seed=6)
    seg = segment(img, 3)
    P = seg.probabilities()
    assert P.shape == img.shape[:2] + (3,)
    np.testing.assert_allclose(P.sum(axis=2), 1.0, atol=1e-5)
    np.testing.assert_array_equal(P.argmax(axis=2), seg.labels)
    m = seg.model
    x = img.reshape(-1, 3)[::97].astype(np.float64)
    dens = np.stack([m.weights_[k] * stats.multivariate_normal(m.means_[k], m.covariances_[k]).pdf(x)
                     for k in range(3)], axis=1)
    np.testing.assert_allclose(P.reshape(-1, 3)[::97], dens / dens.sum(axis=1, keepdims=True), atol=2e-4)


def test_dtypes_channels_and_file_inputs(tmp_path):
    img, truth = shapes_image(3, seed=7)
    base = segment(img, 3).labels
    u16 = img.astype(np.uint16) * 257
    seg16 = segment(u16, 3)
    np.testing.assert_array_equal(seg16.labels, base)
    assert seg16.segmented_image().dtype == np.uint16
    f = img.astype(np.float32) / 255.0
    segf = segment(f, 3)
    assert np.mean(segf.labels == base) > 0.999
    assert segf.segmented_image().dtype == np.float32
    rgba = np.dstack([img, np.random.default_rng(0).integers(0, 256, img.shape[:2], dtype=np.uint8)])
    with pytest.warns(UserWarning, match="alpha channel is ignored"):   # random alpha hides pixels
        sega = segment(rgba, 3)
    np.testing.assert_array_equal(sega.labels, base)
    painted = sega.segmented_image()
    assert painted.shape == rgba.shape
    np.testing.assert_array_equal(painted[..., 3], rgba[..., 3])
    grey = np.clip(np.array([40.0, 120.0, 200.0])[truth] + np.random.default_rng(1).normal(0, 10, truth.shape),
                   0, 255).astype(np.uint8)
    segg = segment(grey, 3)
    assert segg.segmented_image().shape == grey.shape
    assert ari(truth.ravel(), segg.labels.ravel()) > 0.9
    from gmmfast.io import write_image

    path = write_image(tmp_path / "shapes.png", img)
    np.testing.assert_array_equal(segment(path, 3).labels, base)
    np.testing.assert_array_equal(segment(str(path), 3).labels, base)
    with open(path, "rb") as fh:
        np.testing.assert_array_equal(segment(io.BytesIO(fh.read()), 3).labels, base)


def test_lab_features_match_reference_formula():
    rng = np.random.default_rng(8)
    rgb = rng.integers(0, 256, (50, 40, 3), dtype=np.uint8)
    rgb[0, :4] = [[255, 0, 0], [0, 0, 0], [255, 255, 255], [0, 255, 0]]

    def ref_lab(c):  # sRGB in [0, 1] -> CIE Lab (D65), textbook formulas
        lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        M = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                      [0.0193339, 0.1191920, 0.9503041]])
        xyz = lin @ M.T / np.array([0.95047, 1.0, 1.08883])
        e = (6 / 29) ** 3
        fx = np.where(xyz > e, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
        return np.stack([116 * fx[..., 1] - 16, 500 * (fx[..., 0] - fx[..., 1]),
                         200 * (fx[..., 1] - fx[..., 2])], axis=-1)

    from gmmfast._segmentation import _features

    expected = ref_lab(rgb.astype(np.float64) / 255.0).reshape(-1, 3)
    for arr in (rgb, rgb.astype(np.uint16) * 257, rgb.astype(np.float64) / 255.0):
        got = _features(np.ascontiguousarray(arr), "lab", 2)
        np.testing.assert_allclose(got, expected, atol=2e-3)
    np.testing.assert_allclose(expected[0], [53.2408, 80.0925, 67.2032], atol=1e-3)
    grey = _features(np.ascontiguousarray(rgb[:, :, :1]), "lab", 1)
    g = rgb[:, :, 0].astype(np.float64).reshape(-1, 1) / 255.0
    np.testing.assert_allclose(grey[:, 0], ref_lab(np.repeat(g, 3, axis=1))[:, 0], atol=2e-3)


def test_save_writes_the_files(tmp_path):
    from gmmfast.io import read_image

    img, _ = shapes_image(3)
    seg = segment(img, 3)
    paths = seg.save(tmp_path / "Result", "shapes")
    names = sorted(p.name for p in paths)
    assert names == sorted(["shapes_segmented.png", "shapes_mask0.png", "shapes_mask1.png",
                            "shapes_mask2.png", "shapes_binary.png"])
    np.testing.assert_array_equal(read_image(tmp_path / "Result" / "shapes_mask1.png") > 0, seg.labels == 1)
    np.testing.assert_array_equal(read_image(tmp_path / "Result" / "shapes_segmented.png"), seg.segmented_image())
    np.testing.assert_array_equal(read_image(tmp_path / "Result" / "shapes_binary.png"), seg.binary_map())


def test_summary_names_the_features_the_image_had():
    # a grey image was summarised as 'rgb' by the library (the CLI said 'grey'; two summaries)
    rng = np.random.default_rng(0)
    grey = (rng.random((30, 40)) * 255).astype(np.uint8)
    colour = np.dstack([grey, grey[::-1], grey[:, ::-1]])
    assert ", gray, " in segment(grey, 2).summary()      # the name features= takes (it said 'grey')
    assert ", L*, " in segment(grey, 2, features="lab").summary()
    assert ", rgb, " in segment(colour, 2).summary() and segment(colour, 2).features_used == "rgb"
    assert segment(colour, 2, features="gray").features_used == "gray"
    assert segment(grey, 2).summary(1.5).endswith(", 1.50 s")
    with pytest.raises(TypeError, match="seconds"):
        segment(grey, 2).summary("1.5")
    with pytest.raises(ValueError, match="seconds"):
        segment(grey, 2).summary(-1)


def test_rows_of_colour_values_are_not_silently_a_thin_grey_image():
    # pixels.reshape(-1, 3), as a from-scratch EM notebook holds them, gave labels of shape (1000, 3)
    rows = np.random.default_rng(0).random((1000, 3))
    with pytest.warns(UserWarning, match="grey image 3 pixels wide") as caught:
        segment(rows, 2)
    assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        segment(rows.reshape(40, 75), 2)                  # a grey image
        segment(rows.reshape(20, 50, 3), 2)               # a colour image


def test_save_names_the_files_by_the_image_file_segment_read(tmp_path):
    # every save(folder) wrote image_*: a loop over photos kept only the last one's files
    from gmmfast.io import write_image

    img, _ = shapes_image(3)
    paths = [write_image(tmp_path / name, img[:, ::step]) for name, step in (("rose.png", 1), ("cat.png", 2))]
    segs = [segment(p, 3) for p in paths]
    for seg in segs:
        seg.save(tmp_path / "Result")
    assert sorted(os.listdir(tmp_path / "Result")) == sorted([*segs[0].output_files("rose"),
                                                             *segs[1].output_files("cat")])
    assert segs[1].source == "cat.png" and segment(img, 3).source is None
    segment(img, 3).save(tmp_path / "arrays")                # an array's files are image_*
    assert "image_segmented.png" in os.listdir(tmp_path / "arrays")


def test_save_replaces_an_earlier_save_of_the_stem(tmp_path):
    # a K = 4 save then a K = 2 one left mask2 and mask3 of the first beside the second's files
    img, _ = shapes_image(4)
    segment(img, 4).save(tmp_path, "a")
    segment(img, 4).save(tmp_path, "ab")                    # another stem: untouched
    (tmp_path / "a_mask9.txt").write_text("mine")
    segment(img, 2).save(tmp_path, "a")
    names = sorted(os.listdir(tmp_path))
    assert [n for n in names if n.startswith("a_")] == ["a_binary.png", "a_mask0.png", "a_mask1.png",
                                                       "a_mask9.txt", "a_segmented.png"]
    assert sum(n.startswith("ab_mask") for n in names) == 4
    with pytest.raises(ValueError, match="background must be"):
        segment(img, 2).save(tmp_path / "never", "a", background=9)
    assert not (tmp_path / "never").exists()              # refused before the folder is made


@pytest.mark.parametrize("channels", [1, 2])
def test_grey_images_with_a_channel_axis_or_alpha_save(tmp_path, channels):
    from gmmfast.io import read_image

    grey, _ = shapes_image(3)
    grey = grey[..., :1]
    img = grey if channels == 1 else np.dstack([grey, np.full(grey.shape[:2], 255, np.uint8)])
    seg = segment(img, 3)
    seg.save(tmp_path, "g")
    painted = read_image(tmp_path / "g_segmented.png")
    expected = seg.segmented_image()
    if channels == 1:
        np.testing.assert_array_equal(painted, expected[:, :, 0])
    else:                                                  # grey + alpha written as RGBA
        np.testing.assert_array_equal(painted, np.dstack([expected[:, :, :1]] * 3 + [expected[:, :, 1:]]))


# ----------------------------------------------------------------------------- smoothing


def _potts_costs(P, labels, weight, eps=OUTLIER_PROBABILITY):
    """Energy of a labelling and, per pixel, the energy change of every relabelling (NumPy reference)."""
    H, W, K = P.shape
    U = -np.log((1 - eps) * P.astype(np.float64) + eps / K)
    pad = np.pad(labels, 1, constant_values=-1)
    agree = np.zeros((H, W, K))
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == dx == 0:
                continue
            w = weight if dy == 0 or dx == 0 else weight / np.sqrt(2)
            nb = pad[1 + dy:1 + dy + H, 1 + dx:1 + dx + W]
            agree += w * (nb[..., None] == np.arange(K))
    total = np.zeros((H, W))
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == dx == 0:
                continue
            w = weight if dy == 0 or dx == 0 else weight / np.sqrt(2)
            total += w * (pad[1 + dy:1 + dy + H, 1 + dx:1 + dx + W] >= 0)
    local = U - agree  # cost of each label at each pixel, neighbours fixed
    own_agree = np.take_along_axis(agree, labels[..., None], 2)[..., 0]
    unary = np.take_along_axis(U, labels[..., None], 2).sum()
    pairwise = 0.5 * np.sum(total - own_agree)  # every disagreeing pair is seen from both ends
    return unary + pairwise, local


def test_smoothing_removes_salt_and_pepper():
    rng = np.random.default_rng(9)
    H, W = 140, 180
    yy, xx = np.mgrid[0:H, 0:W]
    truth = ((yy - 70) ** 2 + (xx - 90) ** 2 < 50 ** 2).astype(np.int64)
    img = np.where(truth[..., None] == 1, [170.0, 150.0, 120.0], [60.0, 80.0, 110.0])
    img = img + rng.normal(0, 6, img.shape)
    salt = rng.random((H, W)) < 0.03
    pepper = rng.random((H, W)) < 0.03
    img[salt] = img[salt] * 0.2 + 0.8 * np.array([170.0, 150.0, 120.0])
    img[pepper] = img[pepper] * 0.2 + 0.8 * np.array([60.0, 80.0, 110.0])
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    plain = segment(img, 2)
    smooth = segment(img, 2, smoothing=1.0)
    err_plain = np.mean(plain.labels != truth)
    err_smooth = np.mean(smooth.labels != truth)
    assert err_plain > 0.02                # plain labelling keeps the speckle
    assert err_smooth < err_plain / 5      # smoothing removes most of it (small clumps may stay)

    def isolated(labels):  # pixels whose 8 neighbours all carry another label
        pad = np.pad(labels, 1, mode="edge")
        same = sum((pad[1 + dy:1 + dy + H, 1 + dx:1 + dx + W] == labels).astype(int)
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
        return int(np.count_nonzero(same == 0))

    assert isolated(plain.labels) > 100
    assert isolated(smooth.labels) == 0
    P = plain.probabilities()
    e_plain, _ = _potts_costs(P, plain.labels.astype(np.int64), 1.0)
    e_smooth, local = _potts_costs(P, smooth.labels.astype(np.int64), 1.0)
    assert e_smooth < e_plain
    # the result is a local minimum: no single pixel can lower the energy by changing label
    own = np.take_along_axis(local, smooth.labels[..., None].astype(np.int64), 2)[..., 0]
    assert np.all(own <= local.min(axis=2) + 1e-6)


@pytest.mark.parametrize("K", [3, 5])
def test_icm_reaches_local_minimum_on_noisy_multilabel_image(K):
    img, truth = shapes_image(min(K, 4), noise=45, seed=10 + K)
    seg = segment(img, K, smoothing=0.7)
    P = seg.probabilities()
    _, local = _potts_costs(P, seg.labels.astype(np.int64), 0.7)
    own = np.take_along_axis(local, seg.labels[..., None].astype(np.int64), 2)[..., 0]
    assert np.all(own <= local.min(axis=2) + 1e-5)
    plain = segment(img, K)
    assert np.mean(seg.labels != plain.labels) > 0.01  # something was smoothed


def test_icm_kernel_thread_independent_and_locally_optimal(two_threads):
    from gmmfast._segmentation import _ik

    rng = np.random.default_rng(12)
    H, W, K = 90, 123, 4
    P = rng.dirichlet(np.full(K, 0.3), size=H * W).astype(np.float32)
    outs = []
    for nt in (1, 2):
        cost = P.copy()
        lab = np.empty(H * W, np.uint8)
        with two_threads("_imagekernels") if nt == 2 else contextlib.nullcontext():
            sweeps, changes = _ik.potts_icm(cost, lab, H, W, 0.8, OUTLIER_PROBABILITY, 100, nt)
        assert 1 < sweeps < 100 and changes > 0
        outs.append(lab.reshape(H, W))
    np.testing.assert_array_equal(outs[0], outs[1])
    _, local = _potts_costs(P.reshape(H, W, K), outs[0].astype(np.int64), 0.8)
    own = np.take_along_axis(local, outs[0][..., None].astype(np.int64), 2)[..., 0]
    assert np.all(own <= local.min(axis=2) + 1e-5)


def _reference_icm(U, H, W, weight, max_sweeps):
    """Plain NumPy ICM in the kernel's order: four colour classes (row parity, column parity) per
    sweep, every pixel of a class moved at once (they are not neighbours of each other), no skipping."""
    K = U.shape[1]
    U = U.reshape(H, W, K).astype(np.float64)
    lab = U.argmin(axis=2)
    wd = weight / np.sqrt(2.0)
    offsets = [(dy, dx, weight if dy == 0 or dx == 0 else wd)
               for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    for sweep in range(1, max_sweeps + 1):
        changed = 0
        for py in (0, 1):
            for px in (0, 1):
                ys, xs = np.meshgrid(np.arange(py, H, 2), np.arange(px, W, 2), indexing="ij")
                agree = np.zeros(ys.shape + (K,))
                for dy, dx, w in offsets:
                    yy, xx = ys + dy, xs + dx
                    ok = (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
                    nl = lab[np.clip(yy, 0, H - 1), np.clip(xx, 0, W - 1)]
                    agree += w * (ok[..., None] & (nl[..., None] == np.arange(K)))
                cur = lab[ys, xs]
                c = U[ys, xs] - agree
                c -= 1e-9 * (np.arange(K) == cur[..., None])
                best = c.argmin(axis=2)
                changed += int(np.count_nonzero(best != cur))
                lab[ys, xs] = best
        if changed == 0:
            break
    return lab, sweep


@pytest.mark.parametrize("shape,K,dtype,weight", [((37, 53), 3, np.float32, 0.9), ((64, 70), 5, np.float64, 0.9),
                                                  ((30, 41), 300, np.float32, 0.9), ((1, 40), 4, np.float32, 0.9),
                                                  ((50, 60), 4, np.float32, 0.2), ((50, 60), 4, np.float64, 3e4)])
def test_icm_kernel_matches_plain_numpy_icm(shape, K, dtype, weight):
    # the kernel revisits only pixels whose neighbourhood changed and decides majority pixels
    # without their costs; the reference evaluates every pixel every sweep, so equal labels mean
    # no skip ever skipped a move (weight 3e4 exercises the unanimous-only skip)
    from gmmfast._segmentation import _ik

    H, W = shape
    rng = np.random.default_rng(H * W + K)
    P = rng.dirichlet(np.full(K, 0.4), size=H * W).astype(dtype)
    cost = P.copy()
    lab = np.empty(H * W, np.uint8 if K <= 255 else np.uint16)
    sweeps, _ = _ik.potts_icm(cost, lab, H, W, weight, OUTLIER_PROBABILITY, 100, 2)
    ref, ref_sweeps = _reference_icm(cost, H, W, weight, 100)  # cost now holds the kernel's unary costs
    np.testing.assert_array_equal(lab.reshape(H, W), ref)
    assert sweeps == ref_sweeps


def test_expansion_never_worse_than_icm():
    pytest.importorskip("gmmfast.maxflow")
    img, _ = shapes_image(4, h=48, w=64, noise=50, seed=21)
    icm = segment(img, 4, smoothing=1.5)
    exp = segment(img, 4, smoothing=1.5, smoothing_method="expansion")
    P = icm.probabilities()
    e_icm, _ = _potts_costs(P, icm.labels.astype(np.int64), 1.5)
    e_exp, local = _potts_costs(P, exp.labels.astype(np.int64), 1.5)
    assert e_exp <= e_icm + 1e-6
    own = np.take_along_axis(local, exp.labels[..., None].astype(np.int64), 2)[..., 0]
    assert np.all(own <= local.min(axis=2) + 1e-5)
    with pytest.raises(ValueError, match="smoothing_method"):
        segment(img, 2, smoothing=1.0, smoothing_method="bp")


# ----------------------------------------------------------------------------- bad input


def test_one_pixel_image():
    # fewer pixels than components is degenerate data, as fewer colours are: K drops, with a warning
    for k in (3, "auto"):
        with pytest.warns(gmmfast.DegenerateDataWarning, match="only 1 distinct colour"):
            seg = segment(np.full((1, 1, 3), 9, np.uint8), k)
        assert seg.n_components == 1 and seg.labels.shape == (1, 1)
    with pytest.raises(ValueError, match="max_fit_pixels=2 is fewer than the 3 components"):
        segment(np.arange(30, dtype=np.uint8).reshape(5, 2, 3) * 8, 3, max_fit_pixels=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seg = segment(np.full((1, 1, 3), 7, np.uint8), 1)
    assert seg.labels.shape == (1, 1) and seg.labels[0, 0] == 0
    np.testing.assert_array_equal(seg.segmented_image(), np.full((1, 1, 3), 7, np.uint8))


def test_more_components_than_colours():
    img = np.zeros((40, 50, 3), np.uint8)
    img[:, 25:] = [200, 30, 30]
    with pytest.warns(gmmfast.DegenerateDataWarning, match="only 2 distinct colour"):
        seg = segment(img, 4)
    assert seg.n_components == 2
    np.testing.assert_array_equal(seg.labels, (np.arange(50) >= 25)[None, :].repeat(40, 0))
    np.testing.assert_array_equal(seg.segmented_image(), img)


def test_constant_image():
    img = np.full((30, 30), 128, np.uint8)
    with pytest.warns(gmmfast.DegenerateDataWarning, match="only 1 distinct colour"):
        seg = segment(img, 3, smoothing=1.0)
    assert seg.n_components == 1
    assert np.all(seg.labels == 0)
    np.testing.assert_array_equal(seg.segmented_image(), img)
    assert seg.binary_map().max() == 0
    with pytest.warns(UserWarning):
        assert segment(img, "auto").n_components == 1


@pytest.mark.parametrize("bad, exc, match", [
    (np.zeros((4, 4, 3, 2, 2), np.uint8), ValueError, "5 dimensions"),
    (np.zeros((4,), np.uint8), ValueError, "1 dimensions"),
    (np.zeros((4, 4, 5), np.uint8), ValueError, "channels"),
    (np.zeros((0, 4, 3), np.uint8), ValueError, "empty"),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "numbers"),
    (np.full((4, 4), -3, np.int32), ValueError, "0..65535"),
])
def test_bad_arrays(bad, exc, match):
    with pytest.raises(exc, match=match):
        segment(bad, 2)


def test_nan_in_float_image():
    img = np.random.default_rng(0).random((20, 20, 3))
    img[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        segment(img, 2)
    img[3, 4, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        segment(img, 2)


def test_non_image_file_and_missing_file(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("this is not an image")
    with pytest.raises(ValueError, match="notes.png' is a text file, not an image"):
        segment(p, 2)
    with pytest.raises(FileNotFoundError):
        segment(tmp_path / "missing.png", 2)


# what EXIF orientation tag t asks a viewer to do to the stored pixels (the TIFF/EXIF standard), in NumPy
UPRIGHT = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, -1)[::-1],
           8: lambda a: np.rot90(a)}


@pytest.mark.parametrize("tag", range(1, 9))
def test_photos_are_read_upright_by_their_exif_orientation(tmp_path, tag):
    # a camera stores the pixels unrotated and tags how to show them; results must line up with the photo
    from PIL import Image

    from gmmfast.io import read_image

    stored = np.zeros((24, 40, 3), np.uint8)
    stored[:8, :12] = (250, 20, 20)          # a red block at the stored top-left, a green one below it
    stored[16:, :12] = (20, 250, 20)
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = tag
    img.save(tmp_path / "photo.png", exif=exif.tobytes())
    np.testing.assert_array_equal(read_image(tmp_path / "photo.png"), UPRIGHT[tag](stored))


def test_animations_warn_and_unused_palette_transparency_is_no_alpha(tmp_path):
    # traffic.gif came back RGBA (alpha all 255: its palette declares a transparent entry no pixel
    # uses), and an animation's first frame was read with no word about the others
    from PIL import Image

    from gmmfast.io import read_image

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 200, (12, 16, 3), dtype=np.uint8) for _ in range(3)]
    pil = [Image.fromarray(f).convert("P", palette=Image.Palette.ADAPTIVE, colors=64) for f in frames]
    pil[0].save(tmp_path / "anim.gif", save_all=True, append_images=pil[1:], transparency=255)
    with pytest.warns(UserWarning, match="holds 3 frames") as caught:
        first = read_image(tmp_path / "anim.gif")
    assert caught[0].filename == __file__
    np.testing.assert_array_equal(first, np.asarray(pil[0].convert("RGB")))     # RGB, as Pillow shows it
    hole = pil[0].copy()
    hole.putpixel((0, 0), 255)                          # now one pixel is the transparent entry
    hole.save(tmp_path / "hole.gif", transparency=255)
    rgba = read_image(tmp_path / "hole.gif")
    assert rgba.shape == (12, 16, 4) and rgba[0, 0, 3] == 0 and rgba[..., 3].sum() == 255 * (12 * 16 - 1)


def test_writing_what_a_format_cannot_hold_is_a_clear_error(tmp_path):
    # Pillow's "cannot write mode RGBA as JPEG" (an OSError) named a mode, not what to change
    from gmmfast.io import write_image

    for arr, words in [(np.zeros((4, 4, 4), np.uint8), "alpha channel"), (np.zeros((4, 4), np.uint16), "uint16")]:
        with pytest.raises(ValueError, match=f"JPEG files cannot hold (an )?{words}"):
            write_image(tmp_path / "x.jpg", arr)
        assert not list(tmp_path.iterdir())                   # no file, no temporary left
        write_image(tmp_path / "x.png", arr)
        (tmp_path / "x.png").unlink()


def test_a_32_bit_image_file_past_16_bits_is_refused(tmp_path):
    # read_image clipped it to 65535 and segment worked on the damaged picture
    from PIL import Image

    Image.fromarray((np.arange(40 * 50).reshape(40, 50) * 100).astype(np.int32)).save(tmp_path / "wide.tif")
    with pytest.raises(ValueError, match="0..65535, got 0..199900"):
        segment(tmp_path / "wide.tif", 2)


def test_float_images_must_be_on_the_unit_scale():
    # a 0-255 float image gave a white segmented image (and in Lab one component for almost all)
    img, _ = shapes_image(3)
    for bad, words in [(img.astype(np.float64), "divide by 255"), (img / 255.0 - 0.5, r"must lie in \[0, 1\], got -0\.4")]:
        with pytest.raises(ValueError, match=words):
            segment(bad, 3)
    # a resampling's small overshoot is clipped: the same labels as the clipped image
    over = img / 255.0 * 1.008 - 0.004
    np.testing.assert_array_equal(segment(over, 3).labels, segment(np.clip(over, 0, 1), 3).labels)


def test_bad_parameters():
    img, _ = shapes_image(2)
    with pytest.raises(ValueError, match="features"):
        segment(img, 2, features="hsv")
    with pytest.raises(ValueError, match="smoothing"):
        segment(img, 2, smoothing=-1)
    with pytest.raises(ValueError, match="smoothing"):
        segment(img, 2, smoothing=float("nan"))
    with pytest.raises(ValueError, match="n_components"):
        segment(img, 0)
    with pytest.raises(ValueError, match="n_components"):
        segment(img, "many")
    with pytest.raises(ValueError, match="k_range"):
        segment(img, "auto", k_range=(5, 2))
    with pytest.raises(ValueError, match="k_range applies to n_components='auto' only"):
        segment(img, 3, k_range=(2, 5))                   # was ignored in silence
    assert segment(img, "AUTO").n_components == segment(img, "auto").n_components
    with pytest.raises(ValueError, match="max_fit_pixels"):
        segment(img, 2, max_fit_pixels=0)
    with pytest.raises(ValueError, match="covariance_type"):
        segment(img, 2, covariance_type="round")
    with pytest.raises(TypeError, match="unknown option"):
        segment(img, 2, max_iterations=5)
    with pytest.raises(ValueError):
        segment(img, 2, n_threads=0)


@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical"])
def test_covariance_types(ct):
    img, truth = shapes_image(3, seed=11)
    seg = segment(img, 3, covariance_type=ct, max_iter=200)
    assert ari(truth.ravel(), seg.labels.ravel()) >= 0.95
    P = seg.probabilities()
    np.testing.assert_array_equal(P.argmax(axis=2), seg.labels)


# ----------------------------------------------------------------------------- plotting


def test_plot_segmentation(tmp_path):
    pytest.importorskip("matplotlib")
    from gmmfast.plotting import plot_segmentation

    img, _ = shapes_image(3)
    fig = plot_segmentation(segment(img, "auto", k_range=(2, 4)), tmp_path / "c.png")
    assert len(fig.axes) == 3 and (tmp_path / "c.png").stat().st_size > 1000
    grey = img.mean(axis=2).astype(np.uint8)
    fig = plot_segmentation(segment(grey, 3), tmp_path / "g.png")
    assert len(fig.axes) == 2 and (tmp_path / "g.png").exists()
    assert len(fig.axes[1].lines) == 4  # three Gaussians and their sum
    # a colour image segmented on its grey level gets the same histogram (it had colour bars)
    on_grey = segment(img, 3, features="gray")
    fig = plot_segmentation(on_grey)
    assert fig.axes[1].get_title() == "Intensity histogram and fitted Gaussians" and len(fig.axes[1].lines) == 4
    means = sorted(line.get_xdata()[np.argmax(line.get_ydata())] for line in fig.axes[1].lines[:3])
    np.testing.assert_allclose(means, np.sort(on_grey.model.means_[:, 0]), atol=1.0)   # peaks at the means
    with pytest.raises(TypeError, match="takes a Segmentation"):
        plot_segmentation(img, tmp_path / "x.png")     # the image instead of its segmentation


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_component_variances_are_the_models_and_a_copy(covariance_type):
    from gmmfast.plotting import component_variances

    X = np.random.default_rng(0).normal(size=(300, 3)) * (1.0, 2.0, 3.0)
    gm = gmmfast.GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    cov = np.asarray(gm.covariances_, np.float64)
    want = {"full": lambda: cov[:, 1, 1], "tied": lambda: np.full(2, cov[1, 1]),
            "diag": lambda: cov[:, 1], "spherical": lambda: cov}[covariance_type]()
    got = component_variances(gm, 1)
    np.testing.assert_array_equal(got, want)
    got[:] = -1.0                                  # the caller's array, not a view of the model
    np.testing.assert_array_equal(np.asarray(gm.covariances_, np.float64), cov)
    gm.set_params(covariance_type="spherical" if covariance_type != "spherical" else "diag")
    with pytest.raises(ValueError, match="fitted with another one"):
        component_variances(gm, 1)


# ----------------------------------------------------------------------------- BSDS


def _bsds_cases():
    root = DATA / "bsds"
    if not (root / "images").is_dir():
        return []
    cases = []
    for img_path in sorted((root / "images").glob("*.jpg")):
        gts = sorted((root / "gt_png").glob(f"{img_path.stem}_annot*.png"))
        if gts:
            cases.append((img_path, gts))
    return cases


@pytest.mark.skipif(not _bsds_cases(), reason="../shared/data/bsds is not present")
def test_bsds_no_worse_than_sklearn_and_smoothing_helps():
    sk_mixture = pytest.importorskip("sklearn.mixture")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from gmmfast.io import read_image

    ours, plain_sk, smoothed = [], [], []
    for img_path, gt_paths in _bsds_cases():
        img = read_image(img_path)
        gts = [read_image(p) for p in gt_paths]
        K = int(np.median([len(np.unique(g)) for g in gts]))
        pixels = img.reshape(-1, 3).astype(np.float64)
        # scikit-learn fitted on every 3rd pixel (to keep the test fast), then labelling all
        with threadpoolctl.threadpool_limits(1):
            sk_labels = sk_mixture.GaussianMixture(K, random_state=0).fit(pixels[::3]).predict(pixels)
        seg = segment(img, K, random_state=0)
        seg_s = segment(img, K, random_state=0, smoothing=1.0)
        plain_sk.append(np.mean([ari(g.ravel(), sk_labels) for g in gts]))
        ours.append(np.mean([ari(g.ravel(), seg.labels.ravel()) for g in gts]))
        smoothed.append(np.mean([ari(g.ravel(), seg_s.labels.ravel()) for g in gts]))
    print(f"BSDS mean ARI: sklearn {np.mean(plain_sk):.3f}, gmmfast {np.mean(ours):.3f}, "
          f"smoothed {np.mean(smoothed):.3f}")
    assert np.mean(ours) >= np.mean(plain_sk) - 0.01
    assert np.mean(smoothed) > np.mean(ours)


def test_transparent_pixels_are_warned_of_not_dropped_in_silence():
    img = np.zeros((20, 30, 4), np.uint8)
    img[:, :15, :3] = (200, 40, 40)
    img[:, 15:, :3] = (30, 60, 200)
    img[..., 3] = 255
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # opaque RGBA: no warning, alpha simply dropped
        opaque = segment(img, 2)
    np.testing.assert_array_equal(opaque.labels, segment(img[..., :3], 2).labels)
    img[:5, :, 3] = 0                                  # a quarter of the pixels transparent
    with pytest.warns(UserWarning, match=r"alpha channel is ignored: 25\.0% of its pixels"):
        segment(img, 2)


def test_an_expansion_that_would_not_fit_in_memory_is_refused_before_the_fit(monkeypatch):
    # 12 megapixels with expansion peaked at 6.4 GB after minutes of work (a helper's walk): the
    # need is estimated from the image and refused up front, with the way out named
    from gmmfast import _segmentation

    img = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    need = (_segmentation.EXPANSION_BYTES_PER_PIXEL + 3 * _segmentation.EXPANSION_BYTES_PER_PIXEL_AND_COMPONENT) \
        * img.shape[0] * img.shape[1]
    def no_fit(*args, **kwargs):
        raise AssertionError("the fit ran before the check")

    monkeypatch.setattr(_segmentation, "_fit_mixture", no_fit)
    monkeypatch.setattr("gmmfast._memory.available_memory", lambda: int(need))
    with pytest.raises(MemoryError, match=r"smoothing_method='icm'"):
        gmmfast.segment(img, 3, smoothing=1.0, smoothing_method="expansion")
    monkeypatch.undo()
    monkeypatch.setattr("gmmfast._memory.available_memory", lambda: int(need))
    gmmfast.segment(img, 3, smoothing=1.0)                          # ICM: no check
    monkeypatch.setattr("gmmfast._memory.available_memory", lambda: int(2 * need))
    gmmfast.segment(img, 3, smoothing=1.0, smoothing_method="expansion")



@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="reads the peak resident size from Linux's /proc")
def test_the_expansion_memory_estimate_matches_a_measured_peak():
    # the up-front refusal is only as good as its estimate: measured here, in a fresh process
    from gmmfast import _segmentation

    # the peak is read from VmHWM after resetting it (clear_refs 5): getrusage's ru_maxrss keeps
    # the forking pytest process's peak across exec, which hid the child's own
    script = textwrap.dedent("""
        import numpy as np, gmmfast
        def kb(field):
            with open("/proc/self/status") as fh:
                return next(int(line.split()[1]) for line in fh if line.startswith(field))
        img = np.random.default_rng(0).integers(0, 256, (600, 800, 3), dtype=np.uint8)
        gmmfast.segment(img, 3, max_iter=5)                   # the fit's and the labels' own memory
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        base = kb("VmHWM:")
        gmmfast.segment(img, 3, smoothing=1.0, smoothing_method="expansion", max_iter=5)
        print((kb("VmHWM:") - base) * 1024)
    """)
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True,
                          timeout=300)
    measured = int(done.stdout.split()[-1])
    estimate = (_segmentation.EXPANSION_BYTES_PER_PIXEL + 3 * _segmentation.EXPANSION_BYTES_PER_PIXEL_AND_COMPONENT) \
        * 600 * 800
    assert 0.5 * estimate <= measured <= 1.5 * estimate, (measured, estimate)
