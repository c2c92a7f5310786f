"""The automatic number of components: gmmfast._auto_k and segment(image, 'auto')."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from gmmfast import segment
from gmmfast._auto_k import (MAX_OVERLAP, MIN_SHARE, PATIENCE, QUANTISATION_VARIANCE, choose_n_components,
                             component_overlap)
from gmmfast._segmentation import adjusted_rand_index

sk_mixture = pytest.importorskip("sklearn.mixture")
sk_metrics = pytest.importorskip("sklearn.metrics")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def regions_image(k: int, seed: int, noise: float, h: int = 120, w: int = 160):
    """k well-separated colours on random Voronoi cells, 3 x 3 box blur, Gaussian noise, uint8.

    Colours are at least 80 apart (0..255 RGB); cells are redrawn until every
    colour covers at least 5 % of the image.  Returns (image, region map).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    while True:
        colours: list[np.ndarray] = []
        while len(colours) < k:
            c = rng.uniform(20, 235, 3)
            if all(np.linalg.norm(c - o) >= 80 for o in colours):
                colours.append(c)
        n_cells = 2 * k
        centres = rng.uniform(0, 1, (n_cells, 2)) * [h, w]
        owner = np.concatenate([np.arange(k), rng.integers(0, k, n_cells - k)])
        dist = (yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2
        truth = owner[dist.argmin(axis=-1)]
        if np.bincount(truth.ravel(), minlength=k).min() >= 0.05 * h * w:
            break
    img = np.array(colours)[truth]
    padded = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    img = sum(padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)) / 9.0
    img = img + rng.normal(0, noise, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), truth


def overlap_reference(resp: np.ndarray) -> np.ndarray:
    """Each component's overlap written out from its definition (float64, plain NumPy): the binary
    entropy of "in k or not", summed over the pixels, divided by k's responsibility mass."""
    r = np.asarray(resp, dtype=np.float64)
    out = np.empty(r.shape[1])
    for k in range(r.shape[1]):
        p = r[:, k]
        inside = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
        outside = np.where(p < 1, -(1 - p) * np.log(np.where(p < 1, 1 - p, 1.0)), 0.0)
        out[k] = np.sum(inside + outside) / np.sum(p)
    return out


def sklearn_twin(model, X: np.ndarray):
    """A scikit-learn GaussianMixture holding our fitted parameters (float64), for independent E-steps."""
    twin = sk_mixture.GaussianMixture(model.n_components, covariance_type=model.covariance_type)
    twin.weights_ = np.asarray(model.weights_, dtype=np.float64)
    twin.means_ = np.asarray(model.means_, dtype=np.float64)
    twin.covariances_ = np.asarray(model.covariances_, dtype=np.float64)
    twin.precisions_cholesky_ = np.asarray(model.precisions_cholesky_, dtype=np.float64)
    twin.precisions_ = np.asarray(model.precisions_, dtype=np.float64)
    twin.converged_, twin.n_iter_, twin.lower_bound_, twin.n_features_in_ = True, 1, 0.0, X.shape[1]
    return twin


# ----------------------------------------------------------------------------- generated images: K is known


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("seed, noise", [(0, 4.0), (1, 8.0), (2, 12.0)])
def test_finds_the_number_of_well_separated_regions(k, seed, noise):
    img, truth = regions_image(k, seed=100 * k + seed, noise=noise)
    seg = segment(img, "auto")
    assert seg.n_components == k, {K: (round(r.overlap, 3), round(r.min_share, 3)) for K, r in seg.criterion.items()}
    assert sk_metrics.adjusted_rand_score(truth.ravel(), seg.labels.ravel()) >= 0.9


def test_rule_on_the_table():
    """The chosen K is the largest distinct K; distinct means the two thresholds; the search stops as documented."""
    for k, seed in ((3, 7), (5, 8)):
        img, _ = regions_image(k, seed=seed, noise=8.0)
        seg = segment(img, "auto", k_range=(1, 9))
        table = seg.criterion
        ks = sorted(table)
        assert ks == list(range(1, ks[-1] + 1))
        for K, row in table.items():
            assert row.n_components == K
            assert row.distinct == (K == 1 or (row.overlap < MAX_OVERLAP and row.min_share >= MIN_SHARE))
        distinct = [K for K, row in table.items() if row.distinct]
        assert seg.n_components == max(distinct)
        if ks[-1] < 9:  # stopped early: exactly PATIENCE non-distinct K after the chosen one
            assert ks[-1] == seg.n_components + PATIENCE


# ----------------------------------------------------------------------------- the criterion against a reference


def test_overlap_of_known_responsibilities():
    hard = np.eye(3)[np.random.default_rng(0).integers(0, 3, 500)]
    np.testing.assert_array_equal(component_overlap(hard), np.zeros(3))
    halves = np.full((400, 2), 0.5)
    # every pixel an even toss-up: log 2 nats per pixel over a mass of half a pixel
    np.testing.assert_allclose(component_overlap(halves), [2 * np.log(2)] * 2, rtol=1e-12)
    with_empty = np.column_stack([np.full(10, 0.5), np.full(10, 0.5), np.zeros(10)])
    ov = component_overlap(with_empty)
    assert np.isinf(ov[2]) and ov[0] == pytest.approx(2 * np.log(2))
    # 100 pixels certainly 0, 100 certainly 1, 100 even: each component has 100 log 2 nats over a mass of 150
    shared = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]] * 100)
    np.testing.assert_allclose(component_overlap(shared), [100 * np.log(2) / 150] * 2, rtol=1e-12)
    soft = np.random.default_rng(1).dirichlet([0.4, 0.7, 1.0, 0.2], size=3000)
    np.testing.assert_allclose(component_overlap(soft), overlap_reference(soft), rtol=1e-10)
    np.testing.assert_allclose(component_overlap(soft.astype(np.float32)), overlap_reference(soft), rtol=1e-5)
    with pytest.raises(ValueError, match="n x K"):
        component_overlap(np.zeros(5))


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_table_matches_an_independent_computation(covariance_type):
    """Each row's overlap, share and BIC against scikit-learn's E-step and BIC on the same parameters."""
    img, _ = regions_image(3, seed=5, noise=12.0)
    X = img.reshape(-1, 3).astype(np.float32)
    params = dict(covariance_type=covariance_type, random_state=0)
    for K in (1, 2, 3, 4, 5):
        res = choose_n_components(X, (K, K), params)
        row, model = res.table[K], res.model
        assert res.n_components == K and model.reg_covar == pytest.approx(QUANTISATION_VARIANCE)
        twin = sklearn_twin(model, X)
        resp = twin.predict_proba(X.astype(np.float64))
        share = resp.sum(axis=0).min() / len(X)
        ref = overlap_reference(resp).max() if K > 1 else 0.0
        assert row.overlap == pytest.approx(ref, rel=2e-3, abs=1e-5)
        assert row.min_share == pytest.approx(share, rel=1e-4)
        assert row.bic == pytest.approx(twin.bic(X.astype(np.float64)), rel=1e-5)
        assert row.distinct == (K == 1 or (ref < MAX_OVERLAP and share >= MIN_SHARE))


def test_segment_reports_the_chosen_model_and_its_row():
    img, _ = regions_image(4, seed=3, noise=8.0)
    seg = segment(img, "auto")
    X = seg.fit_features.astype(np.float64)
    resp = sklearn_twin(seg.model, X).predict_proba(X)
    row = seg.criterion[seg.n_components]
    assert row.overlap == pytest.approx(overlap_reference(resp).max(), rel=2e-3, abs=1e-5)
    assert "(auto)" in seg.summary()


# ----------------------------------------------------------------------------- behaviour


def test_deterministic_given_random_state_and_thread_count():
    img, _ = regions_image(4, seed=11, noise=10.0)
    a = segment(img, "auto", random_state=3, n_threads=1)
    b = segment(img, "auto", random_state=3, n_threads=2)
    c = segment(img, "auto", random_state=3)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.labels, c.labels)
    assert a.criterion == b.criterion == c.criterion


def test_stops_instead_of_splitting_one_colour():
    """One smoothly shaded colour plus one other: BIC keeps adding components, the rule does not."""
    rng = np.random.default_rng(0)
    h, w = 150, 200
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3))
    img[:] = (np.array([40.0, 90.0, 40.0]) + (xx / w)[..., None] * np.array([60.0, 120.0, 50.0]))  # green ramp
    disc = (yy - 75) ** 2 + (xx - 100) ** 2 < 40 ** 2
    img[disc] = [200.0, 30.0, 40.0]
    img = np.clip(np.round(img + rng.normal(0, 3, img.shape)), 0, 255).astype(np.uint8)
    seg = segment(img, "auto")
    assert seg.n_components == 2
    X = seg.fit_features.astype(np.float64)
    bic = [sk_mixture.GaussianMixture(K, random_state=0).fit(X).bic(X) for K in range(2, 6)]
    assert int(np.argmin(bic)) + 2 > 2  # the old rule would have split the ramp


def test_one_colour_region_with_exact_grey_pixels():
    """Pixels with R = G = B exactly lie on a line of RGB space; the floor keeps that from mattering."""
    rng = np.random.default_rng(2)
    h, w = 100, 150
    grey = np.clip(np.round(120 + rng.normal(0, 8, (h, w))), 0, 255)
    img = np.repeat(grey[..., None], 3, axis=2)
    img[:, 90:] = np.clip(np.round(np.array([210.0, 70.0, 50.0]) + rng.normal(0, 8, (h, 60, 3))), 0, 255)
    seg = segment(img.astype(np.uint8), "auto")
    assert seg.n_components == 2
    assert all(np.isfinite(r.bic) for r in seg.criterion.values())


def test_tiny_samples_do_not_get_a_component_per_pixel():
    # with 10 fitted pixels every K looked distinct (a component per pixel, 10 % of the sample each)
    from gmmfast import DegenerateDataWarning

    img, _ = regions_image(4, seed=3, noise=4.0)
    assert segment(img, "auto").n_components == 4
    with pytest.warns(DegenerateDataWarning, match="20 per component"):
        few = segment(img, "auto", max_fit_pixels=60)         # supports 60 // 20 = 3
    assert few.n_components <= 3
    tiny = np.random.default_rng(0).integers(0, 256, (4, 4, 3)).astype(np.uint8)
    with pytest.warns(DegenerateDataWarning):
        assert segment(tiny, "auto", k_range=(2, 64)).n_components == 2


def test_smallest_k_when_nothing_is_distinct():
    """Smooth noise without colour clusters: no K >= 2 is distinct, the answer is the range's smallest."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20_000, 3)).astype(np.float32) * [30.0, 20.0, 10.0] + 128.0
    res = choose_n_components(X, (2, 8), dict(random_state=0))
    assert res.n_components == 2 and not any(r.distinct for r in res.table.values())
    assert sorted(res.table) == [2, 3]  # stopped after PATIENCE failures
    assert choose_n_components(X, (1, 8), dict(random_state=0)).n_components == 1


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("X, k_range, kwargs, exc, match", [
    (np.zeros(10), (2, 3), {}, ValueError, "2-D"),
    (np.array([[1.0, np.nan]] * 5), (2, 3), {}, ValueError, "NaN"),
    (np.zeros((1, 3)), (1, 1), {}, ValueError, "minimum of 2"),
    (np.zeros((10, 3)), (0, 3), {}, ValueError, "k_range"),
    (np.zeros((10, 3)), (4, 3), {}, ValueError, "k_range"),
    (np.zeros((10, 3)), (2, 11), {}, ValueError, "k_range"),
    (np.zeros((10, 3)), "2-8", {}, TypeError, "k_range"),
    (np.zeros((10, 3)), (2.0, 3), {}, TypeError, "k_range"),
    (np.zeros((10, 3)), (2, 3), {"max_overlap": -0.1}, ValueError, "max_overlap"),
    (np.zeros((10, 3)), (2, 3), {"min_share": 1.5}, ValueError, "min_share"),
    (np.zeros((10, 3)), (2, 3), {"patience": 0}, ValueError, "patience"),
    (np.zeros((10, 3)), (2, 3), {"min_reg_covar": float("nan")}, ValueError, "min_reg_covar"),
])
def test_bad_input(X, k_range, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        choose_n_components(X, k_range, **kwargs)


def test_bad_mixture_option_and_segment_errors():
    X = np.random.default_rng(0).normal(size=(100, 2))
    with pytest.raises(TypeError):
        choose_n_components(X, (2, 3), {"no_such_option": 1})
    img, _ = regions_image(2, seed=0, noise=5.0)
    with pytest.raises(ValueError, match="k_range"):
        segment(img, "auto", k_range=(3, 2))
    with pytest.raises(ValueError, match="n_components"):
        segment(img, "automatic")


# ----------------------------------------------------------------------------- real photos (skipped when absent)

# What a person would say, written down from the photos before any segmentation was run: (K, acceptable range).
SEED_PHOTOS = {"rose.jpg": (2, (2, 3)), "Tiger.jpg": (3, (2, 4)), "cat.jpg": (3, (2, 3)),
               "plant_cells.jpg": (2, (2, 3)), "plant_cells_2.jpeg": (3, (2, 3))}


def _read(path: Path) -> np.ndarray:
    from gmmfast.io import read_image

    return read_image(path)


@pytest.mark.parametrize("name", sorted(SEED_PHOTOS))
def test_seed_photos_within_what_a_person_would_accept(name):
    path = DATA / "seed" / name
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    seg = segment(_read(path), "auto")
    lo, hi = SEED_PHOTOS[name][1]
    assert lo <= seg.n_components <= hi


def test_rose_flower_is_one_region():
    """The red flower is one label (the BIC rule cut it into several shades of red)."""
    path = DATA / "seed" / "rose.jpg"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    img = _read(path)
    seg = segment(img, "auto")
    r, g, b = (img[..., c].astype(np.float64) for c in range(3))
    red = (r > 1.5 * g) & (r > 1.5 * b) & (r > 60)  # the flower, by colour alone
    counts = np.bincount(seg.labels[red], minlength=seg.n_components)
    flower = int(counts.argmax())
    assert counts[flower] >= 0.95 * red.sum()
    assert np.mean(red[seg.labels == flower]) >= 0.9


def _bsds_cases():
    root = DATA / "bsds"
    if not (root / "images").is_dir():
        return []
    return [(p, sorted((root / "gt_png").glob(f"{p.stem}_annot*.png"))) for p in sorted((root / "images").glob("*.jpg"))]


def human_count(gt: np.ndarray) -> int:
    """Regions of one annotation covering at least 1 % of the image."""
    counts = np.bincount(gt.ravel())
    return int(np.sum(counts[counts > 0] >= 0.01 * gt.size))


@pytest.mark.skipif(not _bsds_cases(), reason="../shared/data/bsds is not present")
def test_bsds_agreement_with_the_annotators():
    """Tolerance: every image within 2 of the annotators' median count, on average within 1; the mean adjusted
    Rand index no more than 0.05 below a fixed K at the annotators' count and at least 0.1 above the lowest-BIC
    K of 2..8 (scikit-learn, fitted on every 3rd pixel)."""
    errors, ari_auto, ari_human_k, ari_bic = [], [], [], []
    for img_path, gt_paths in _bsds_cases():
        img, gts = _read(img_path), [_read(p) for p in gt_paths]
        humans = int(np.median([human_count(g) for g in gts]))
        seg = segment(img, "auto")
        errors.append(abs(seg.n_components - humans))
        ari_auto.append(np.mean([adjusted_rand_index(g, seg.labels) for g in gts]))
        fixed = segment(img, humans)
        ari_human_k.append(np.mean([adjusted_rand_index(g, fixed.labels) for g in gts]))
        pixels = img.reshape(-1, 3).astype(np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits = [sk_mixture.GaussianMixture(K, random_state=0).fit(pixels[::3]) for K in range(2, 9)]
        best = min(fits, key=lambda m: m.bic(pixels[::3]))
        ari_bic.append(np.mean([adjusted_rand_index(g.ravel(), best.predict(pixels)) for g in gts]))
    print(f"BSDS: |K - humans| {errors}, mean ARI auto {np.mean(ari_auto):.3f}, at the humans' K "
          f"{np.mean(ari_human_k):.3f}, lowest BIC {np.mean(ari_bic):.3f}")
    assert max(errors) <= 2 and np.mean(errors) <= 1.0
    assert np.mean(ari_auto) >= np.mean(ari_human_k) - 0.05
    assert np.mean(ari_auto) >= np.mean(ari_bic) + 0.1
