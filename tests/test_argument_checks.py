"""Arguments that a sweep of every public callable found taken in silence or refused in another
library's words (a helper's bad-input walk, 2026-12-07): each is now refused up front with a
ValueError or TypeError that names it.  Every case here failed before its fix."""

from __future__ import annotations

import io

import numpy as np
import pytest

import gmmfast
from gmmfast._kmeans import kmeans_plusplus


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def seg(image):
    return gmmfast.segment(image, 2)


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "clip.gif"
    gmmfast.video.write_video(path, np.random.default_rng(1).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8))
    return path


X = np.random.default_rng(2).random((50, 3))
FRAMES = np.random.default_rng(3).integers(0, 256, (5, 8, 9), dtype=np.uint8)

CASES = {
    # truthy strings were taken for True
    "read_video grey='x'": (lambda c: gmmfast.video.read_video(c["clip"], grey="x"), TypeError, "grey"),
    "kmeans_background return_clusters='x'": (
        lambda c: gmmfast.kmeans_background(FRAMES, 2, return_clusters="x"), TypeError, "return_clusters"),
    "Graph.maxflow('x')": (lambda c: gmmfast.maxflow.Graph(2).maxflow("x"), TypeError, "reuse"),
    # ranges nothing checked: a prior weight >= 1 prunes every mode; counters past C int
    "MOG2 complexity_reduction=2": (
        lambda c: gmmfast.BackgroundSubtractorMOG2(complexity_reduction=2.0).apply(FRAMES[0]), ValueError,
        "complexity_reduction"),
    "PixelGMM max_iter=10**12": (lambda c: gmmfast.PixelGMM(max_iter=10**12).fit(FRAMES), ValueError, "max_iter"),
    "PixelGMM n_init_iter=10**12": (
        lambda c: gmmfast.PixelGMM(n_init_iter=10**12).fit(FRAMES), ValueError, "n_init_iter"),
    "kmeans_background max_iter=10**12": (
        lambda c: gmmfast.kmeans_background(FRAMES, 2, max_iter=10**12), ValueError, "max_iter"),
    # NumPy's "expected a sequence of integers", "'<' not supported", a 7 TiB MemoryError
    "kmeans_plusplus n_local_trials=True": (lambda c: kmeans_plusplus(X, 2, n_local_trials=True), TypeError,
                                            "n_local_trials"),
    "kmeans_plusplus n_local_trials='3'": (lambda c: kmeans_plusplus(X, 2, n_local_trials="3"), TypeError,
                                           "n_local_trials"),
    "kmeans_plusplus n_local_trials=10**12": (lambda c: kmeans_plusplus(X, 2, n_local_trials=10**12), ValueError,
                                              "n_local_trials"),
    # AttributeError "'int' object has no attribute 'read'"; bytes taken for a file object
    "read_image(3)": (lambda c: gmmfast.io.read_image(3), TypeError, "path or a binary file object"),
    "read_image(b'/x.png')": (lambda c: gmmfast.io.read_image(b"/x.png"), TypeError, "os.fsdecode"),
    # "'NoneType' object is not iterable"; a JobResult per image carrying "[Errno 17] File exists"
    "segment_many(None)": (lambda c: gmmfast.segment_many(None, 2), TypeError, "paths must be"),
    "segment_many(array)": (lambda c: gmmfast.segment_many(c["image"], 2), TypeError, "segment()"),
    "segment_many output_dir=file": (
        lambda c: gmmfast.segment_many([c["png"]], 2, output_dir=c["file"]), NotADirectoryError, "is a file"),
    # stem '' wrote '_segmented.png', '../x' wrote outside the folder; a file as the folder: Errno 17
    "save stem=''": (lambda c: c["seg"].save(c["tmp"], stem=""), ValueError, "stem"),
    "save stem='../x'": (lambda c: c["seg"].save(c["tmp"], stem="../x"), ValueError, "stem"),
    "save into a file": (lambda c: c["seg"].save(c["file"]), NotADirectoryError, "is a file"),
    # NumPy's "expected non-negative integer" / "SeedSequence expects int ..."; the three generators
    # had validation code of their own
    "sample_image random_state=-1": (lambda c: gmmfast.data.sample_image(random_state=-1), ValueError, "random_state"),
    "sample_mixture random_state='x'": (lambda c: gmmfast.data.sample_mixture(10, random_state="x"), TypeError,
                                        "random_state"),
    "sample_clip random_state=1.5": (lambda c: gmmfast.data.sample_clip(2, random_state=1.5), TypeError,
                                     "random_state"),
    # a plain ValueError (an `except TypeError` missed it), from a check of its own in each module
    "GrabCut connectivity=6": (lambda c: gmmfast.grabcut(c["image"], rect=(2, 2, 20, 20), connectivity=6),
                               gmmfast.InvalidParameterError, "connectivity must be 4 or 8"),
    "GridGraph connectivity=6": (lambda c: gmmfast.maxflow.GridGraph((4, 4), 6), gmmfast.InvalidParameterError,
                                 "connectivity must be 4 or 8"),
    "GaussianMixture random_state=-1": (lambda c: gmmfast.GaussianMixture(2, random_state=-1).fit(X),
                                        gmmfast.InvalidParameterError, "random_state must be in"),
    # "convert first", not how: PixelGMM's background_image() (float32, 0..255) met it straight away
    "write_image float 0..255": (lambda c: gmmfast.io.write_image(c["tmp"] / "f.png", np.full((4, 4), 200.0)),
                                 TypeError, "image.clip(0, 255).round().astype(np.uint8)"),
    "write_image float 0..1": (lambda c: gmmfast.io.write_image(c["tmp"] / "f.png", np.full((4, 4), 0.5)),
                               TypeError, "values up to 1: (image"),
    # NaN colours came out black with a cast warning, 1e9 wrapped
    "overlay colours NaN": (lambda c: c["seg"].overlay(0.5, np.full((2, 3), np.nan)), ValueError, "colours"),
    "overlay colours 1e9": (lambda c: c["seg"].overlay(0.5, np.full((2, 3), 1e9)), ValueError, "colours"),
    "write_video(None)": (lambda c: gmmfast.video.write_video(c["tmp"], None), TypeError, "iterable of frames"),
    # GrabCut: '>f8' was named float32; '<u2' was refused for values outside 0..255 that were inside it
    # while '>u2' with the same values was taken; refine() without strokes spoke of "these strokes"
    "grabcut >f8": (lambda c: gmmfast.grabcut(c["image"].astype(">f8"), (4, 4, 12, 10)), TypeError, "dtype >f8"),
    "grabcut <u2": (lambda c: gmmfast.grabcut(c["image"].astype("<u2"), (4, 4, 12, 10)), ValueError,
                    "image.astype(np.uint8)"),
    "grabcut >u2": (lambda c: gmmfast.grabcut(c["image"].astype(">u2"), (4, 4, 12, 10)), ValueError,
                    "image.astype(np.uint8)"),
    "refine() of an empty cut": (lambda c: gmmfast.GrabCut().fit(np.zeros((20, 24, 3), np.uint8), rect=(4, 4, 12, 10))
                                 .refine(), ValueError, "nothing to refine without strokes"),
    # inf backgrounds, with only NumPy's overflow warning (PixelGMM already refused such frames)
    "mean_background 1e300": (lambda c: gmmfast.mean_background(np.full((3, 4, 4, 3), 1e300)), ValueError,
                              "rescale the frames"),
    "median_background float32 max": (
        lambda c: gmmfast.median_background(np.full((4, 4, 4, 3), np.finfo("f4").max, "f4")), ValueError,
        "rescale the frames"),
    "kmeans_background 1e300": (lambda c: gmmfast.kmeans_background(np.full((3, 4, 4), 1e300), 2), ValueError,
                                "rescale the frames"),
    # a bad background= was reported as "component must be ..."
    "binary_map background=9": (lambda c: c["seg"].binary_map(9), ValueError, "background must be"),
    "save background=-1": (lambda c: c["seg"].save(c["tmp"], background=-1), ValueError, "background must be"),
    # the same bad labels were a ValueError here and a TypeError in alpha_expansion
    "potts_energy bool labels": (lambda c: gmmfast.maxflow.potts_energy(np.zeros((4, 5, 2)), np.zeros((4, 5), bool)),
                                 TypeError, "labels must be an integer array, got dtype bool"),
    "potts_energy labels shape": (lambda c: gmmfast.maxflow.potts_energy(np.zeros((4, 5, 2)), np.zeros((5, 4), int)),
                                  ValueError, "labels must have shape (4, 5)"),
    # a path (which X takes) was refused as "X must be ..."
    "m_step reseed_from path": (lambda c: c["gm"].m_step(c["gm"].e_step_statistics(np.ones((5, 3))),
                                                         reseed_from=str(c["file"])), TypeError, "reseed_from must be"),
    # median_background ignored a mask that mean_background honoured
    "median_background masked": (lambda c: gmmfast.median_background(
        np.ma.masked_array(np.zeros((3, 4, 4)), np.eye(4, dtype=bool)[None].repeat(3, 0))), ValueError,
        "masked array with masked values"),
    "median_background masked list": (lambda c: gmmfast.median_background(list(
        np.ma.masked_array(np.zeros((3, 4, 4)), np.eye(4, dtype=bool)[None].repeat(3, 0)))), ValueError,
        "masked array with masked values"),
    "MOG2.apply_many masked": (lambda c: gmmfast.BackgroundSubtractorMOG2().apply_many(
        np.ma.masked_array(np.zeros((3, 4, 4), np.uint8), np.eye(4, dtype=bool)[None].repeat(3, 0))), ValueError,
        "masked array with masked values"),
    "MOG2.apply masked": (lambda c: gmmfast.BackgroundSubtractorMOG2().apply(
        np.ma.masked_array(np.zeros((4, 4), np.uint8), np.eye(4, dtype=bool))), ValueError,
        "masked array with masked values"),
    # masked values were read as data (their hidden fill values) by the mixture, segment and GrabCut
    "GaussianMixture.fit masked": (lambda c: gmmfast.GaussianMixture(2).fit(
        np.ma.masked_invalid([[1.0, 2.0], [np.nan, 3.0], [4.0, 5.0], [6.0, 7.0]])), ValueError,
        "masked array with masked values.*leave out the rows"),
    "predict masked": (lambda c: c["gm"].predict(np.ma.masked_equal(np.ones((4, 3)), 1.0)), ValueError,
                       "masked array with masked values"),
    "segment masked": (lambda c: gmmfast.segment(np.ma.masked_equal(np.zeros((8, 8, 3), np.uint8), 0), 2),
                       ValueError, "image is a masked array with masked values"),
    "grabcut masked": (lambda c: gmmfast.grabcut(np.ma.masked_equal(np.zeros((20, 24, 3), np.uint8), 0),
                                                 rect=(4, 4, 12, 10)), ValueError, "masked array with masked values"),
    "PixelGMM.fit masked": (lambda c: gmmfast.PixelGMM().fit(
        np.ma.masked_array(np.zeros((3, 4, 4)), np.eye(4, dtype=bool)[None].repeat(3, 0))), ValueError,
        "masked array with masked values"),
    # ColourModel took anything: NaN scores, LinAlgError, a broadcast error in to_opencv
    "ColourModel NaN mean": (lambda c: gmmfast.ColourModel(np.ones(1), np.full((1, 3), np.nan), np.eye(3)[None]),
                             ValueError, "NaN"),
    "ColourModel negative covariance": (lambda c: gmmfast.ColourModel(np.ones(1), np.zeros((1, 3)), -np.eye(3)[None]),
                                        ValueError, "not positive definite"),
    "ColourModel sizes": (lambda c: gmmfast.ColourModel(np.ones(2) / 2, np.zeros((3, 3)), np.tile(np.eye(3), (2, 1, 1))),
                          ValueError, "means (K, 3)"),
    "ColourModel weights": (lambda c: gmmfast.ColourModel(np.array([5.0]), np.zeros((1, 3)), np.eye(3)[None]),
                            ValueError, "sum to 1"),
    "ColourModel.score_samples NaN": (lambda c: gmmfast.ColourModel(np.ones(1), np.zeros((1, 3)), np.eye(3)[None])
                                      .score_samples(np.full((1, 3), np.nan)), ValueError, "NaN"),
    "ColourModel.score_samples 4 columns": (lambda c: gmmfast.ColourModel(np.ones(1), np.zeros((1, 3)), np.eye(3)[None])
                                            .score_samples(np.zeros((2, 4))), ValueError, "3 values each"),
    # NumPy's "Unable to allocate 7.11 PiB"
    "GaussianMixture.sample(10**15)": (lambda c: c["gm"].sample(10**15), MemoryError, "draw fewer samples"),
    "sample_mixture(10**15)": (lambda c: gmmfast.data.sample_mixture(10**15), MemoryError, "ask for fewer samples"),
    # mkdir's FileExistsError [Errno 17] named neither the file in the way nor the one being written
    "write_image below a file": (lambda c: gmmfast.io.write_image(c["file"] / "sub" / "x.png", c["image"]),
                                 NotADirectoryError, "a_file' is a file, not a folder"),
    "write_video below a file": (lambda c: gmmfast.video.write_video(c["file"] / "x.gif", [c["image"]] * 2),
                                 NotADirectoryError, "a_file' is a file, not a folder"),
    "Segmentation.save below a file": (lambda c: c["seg"].save(c["file"] / "sub"), NotADirectoryError,
                                       "a_file' is a file, not a folder"),
    # a truthy string was taken for True; gamma past float32 was reported as NaN "neighbor weights"
    "alpha_expansion return_energy='no'": (lambda c: gmmfast.maxflow.alpha_expansion(
        np.zeros((3, 3, 2)), 0.1, return_energy="no"), TypeError, "return_energy"),
    "grabcut gamma=1e300": (lambda c: gmmfast.grabcut(c["image"], (4, 4, 12, 10), gamma=1e300), ValueError, "gamma"),
    # AttributeError on an unfitted model or None, IndexError for dim=3, dim=True taken as 1
    "component_variances(None)": (lambda c: gmmfast.plotting.component_variances(None), TypeError, "GaussianMixture"),
    "component_variances unfitted": (lambda c: gmmfast.plotting.component_variances(gmmfast.GaussianMixture(2)),
                                     gmmfast.NotFittedError, "fit"),
    "component_variances dim=3": (lambda c: gmmfast.plotting.component_variances(c["gm"], 3), ValueError, "dim"),
    "component_variances dim=True": (lambda c: gmmfast.plotting.component_variances(c["gm"], True), TypeError, "dim"),
    # a wrong-size mask in GC_EVAL was told to mask.astype(np.uint8), which does not change a size
    "compat.grabCut mask size": (lambda c: gmmfast.compat.grabCut(
        c["image"][..., ::-1].copy(), np.zeros((5, 5), np.uint8), None, np.zeros((1, 65)), np.zeros((1, 65)), 1,
        gmmfast.compat.GC_EVAL), ValueError, "image's size"),
    # '>u2' frames were told to use astype(np.float32), which keeps 16-bit values off the 0-255 scale
    "MOG2 >u2 frame": (lambda c: gmmfast.BackgroundSubtractorMOG2().apply(np.zeros((8, 8), ">u2")), TypeError,
                       "frame / 257"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_argument_is_refused_by_name(name, tmp_path, image, seg, clip_path):
    call, error, words = CASES[name]
    (tmp_path / "a_file").write_text("x")
    gmmfast.io.write_image(tmp_path / "a.png", image)
    context = {"clip": clip_path, "image": image, "seg": seg, "tmp": tmp_path / "out", "gm": seg.model,
               "file": tmp_path / "a_file", "png": tmp_path / "a.png"}
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        call(context)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a_file"]     # nothing written


def test_the_good_values_beside_them_still_work(image, seg, tmp_path, clip_path):
    assert gmmfast.video.read_video(clip_path, grey=True).ndim == 3
    assert len(gmmfast.kmeans_background(FRAMES, 2, return_clusters=True)) == 3
    assert kmeans_plusplus(X, 2, n_local_trials=3)[0].shape == (2, 3)
    assert kmeans_plusplus(X[:1], 1)[1].tolist() == [0]         # the default trials on one sample
    gmmfast.io.write_image(tmp_path / "a.png", image)
    assert gmmfast.io.read_image(io.BytesIO((tmp_path / "a.png").read_bytes())).shape == image.shape
    assert [p.name for p in seg.save(tmp_path, stem="photo")][0] == "photo_segmented.png"
    rng = np.random.default_rng(5)                  # a Generator as random_state, as before the seed checks
    assert gmmfast.data.sample_mixture(10, random_state=rng)[0].shape == (10, 3)
    g = gmmfast.maxflow.Graph(2)                    # empty lists: no edges ("must be an integer array")
    g.add_edges([], [], [])
    g.add_tedges([0, 1], [3.0, 0.0], [0.0, 2.0])
    assert g.maxflow() == 0.0
