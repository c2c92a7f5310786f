"""GrabCut: kernels against plain NumPy/SciPy, cuts against PyMaxflow, results
against synthetic objects, and bad input.  The 30 shared benchmark images
against cv2.grabCut are in test_grabcut_benchmark.py."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import gmmfast
from gmmfast import _grabcut as G
from gmmfast._grabcut import BGD, FGD, PR_BGD, PR_FGD, ColourModel, GrabCut, grabcut


def scene(H=120, W=160, seed=0, contrast=1.0):
    """Noisy textured background, a two-colour object (ellipse) and its box."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    t = xx / (W - 1)
    bg = (1 - t)[..., None] * np.array([60.0, 100.0, 160.0]) + t[..., None] * np.array([110.0, 150.0, 80.0])
    bg += 20.0 * ((yy // 6) % 2)[..., None]
    cy, cx = H * (0.45 + 0.1 * rng.random()), W * (0.45 + 0.1 * rng.random())
    ry, rx = H * (0.2 + 0.1 * rng.random()), W * (0.2 + 0.1 * rng.random())
    obj = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    fg = np.where(((xx // 5 + yy // 5) % 2)[..., None] == 0, [220.0, 70.0, 40.0], [240.0, 210.0, 50.0])
    fg = bg + contrast * (fg - bg)
    img = np.where(obj[..., None], fg, bg) + rng.normal(0, 6.0, (H, W, 3))
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    ys, xs = np.nonzero(obj)
    x0, y0 = max(xs.min() - 4, 0), max(ys.min() - 4, 0)
    x1, y1 = min(xs.max() + 5, W), min(ys.max() + 5, H)
    return img, obj, (int(x0), int(y0), int(x1 - x0), int(y1 - y0))


def iou(a, b):
    return np.count_nonzero(a & b) / max(np.count_nonzero(a | b), 1)


# --------------------------------------------------------------------------- references

def ref_edge_weights(img, gamma, connectivity, beta=None):
    z = img.astype(np.float64)
    H, W, _ = z.shape
    offs = [(0, 1), (1, 0), (1, 1), (1, -1)][: 4 if connectivity == 8 else 2]
    d2 = np.zeros((len(offs), H, W))
    valid = np.zeros((len(offs), H, W), bool)
    for d, (dy, dx) in enumerate(offs):
        for i in range(H - dy):
            for j in range(W):
                if 0 <= j + dx < W:
                    d2[d, i, j] = ((z[i, j] - z[i + dy, j + dx]) ** 2).sum()
                    valid[d, i, j] = True
    if beta is None:
        mean = d2[valid].mean()
        beta = 1 / (2 * mean) if mean > 0 else 0.0
    dist = np.array([1, 1, np.sqrt(2), np.sqrt(2)])[: len(offs)]
    w = gamma / dist[:, None, None] * np.exp(-beta * d2)
    w[~valid] = 0
    return w, beta


def random_models(rng, K):
    models = []
    for _ in range(2):
        w = rng.random(K) + 0.1
        w[rng.integers(K)] = 0.0 if K > 1 else w[0]
        means = rng.uniform(20, 230, (K, 3))
        A = rng.normal(0, 1, (K, 3, 3))
        covs = A @ A.transpose(0, 2, 1) * rng.uniform(20, 300, (K, 1, 1)) + 2 * np.eye(3)
        models.append(ColourModel(w / w.sum(), means, covs))
    return models


def ref_logpdf(model, X):
    from scipy.stats import multivariate_normal
    out = np.full((X.shape[0], model.n_components), -np.inf)
    for k in range(model.n_components):
        if model.weights[k] > 0:
            out[:, k] = np.log(model.weights[k]) + multivariate_normal(model.means[k], model.covariances[k]).logpdf(X)
    return out


# --------------------------------------------------------------------------- kernels

@pytest.mark.parametrize("connectivity", [4, 8])
def test_edge_weights_match_numpy(connectivity):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    img[:6] //= 4  # some structure
    D = 4 if connectivity == 8 else 2
    out = np.empty((D, 13, 17), np.float32)
    beta = G._k.edge_weights(img, 37.5, connectivity, 2, out)
    ref, ref_beta = ref_edge_weights(img, 37.5, connectivity)
    assert beta == pytest.approx(ref_beta, rel=1e-12)
    np.testing.assert_allclose(out, ref, rtol=2e-5, atol=1e-6)
    assert G._k.contrast_beta(img, connectivity, 2) == pytest.approx(ref_beta, rel=1e-12)
    # a given beta (a window of a larger image takes the whole image's)
    assert G._k.edge_weights(img, 37.5, connectivity, 1, out, 0.25 * ref_beta) == 0.25 * ref_beta
    ref, _ = ref_edge_weights(img, 37.5, connectivity, beta=0.25 * ref_beta)
    np.testing.assert_allclose(out, ref, rtol=2e-5, atol=1e-6)
    with pytest.raises(ValueError, match="beta"):
        G._k.edge_weights(img, 37.5, connectivity, 1, out, float("nan"))


def test_edge_weights_flat_image():
    img = np.full((5, 6, 3), 77, np.uint8)
    out = np.empty((4, 5, 6), np.float32)
    assert G._k.edge_weights(img, 50.0, 8, 1, out) == 0.0
    ref, _ = ref_edge_weights(img, 50.0, 8)
    np.testing.assert_allclose(out, ref, rtol=1e-6)


@pytest.mark.parametrize("K", [1, 3, 5])
def test_unaries_match_scipy(K):
    rng = np.random.default_rng(K)
    models = random_models(rng, K)
    N = 3000
    X = rng.integers(0, 256, (N, 3), dtype=np.uint8)
    hard = rng.choice([0, 0, 0, 1, 2], N).astype(np.uint8)
    means, chol, lconst = G._kernel_params(models)
    src, snk = np.empty(N, np.float32), np.empty(N, np.float32)
    comp = np.zeros((2, N), np.uint8)
    const = G._k.unaries(X, means, chol, lconst, hard, 123.0, 2, src, snk, comp)
    lp = [ref_logpdf(m, X.astype(np.float64)) for m in models]
    D = [-np.logaddexp.reduce(l, axis=1) for l in lp]          # 0 bg, 1 fg
    lo = np.minimum(D[0], D[1])
    free = hard == 0
    tol = 2e-4 * np.maximum(1, np.abs(D[0] - D[1]).max())
    np.testing.assert_allclose(src[free], (D[0] - lo)[free], atol=tol)
    np.testing.assert_allclose(snk[free], (D[1] - lo)[free], atol=tol)
    assert np.all(src[hard == 1] == 0) and np.all(snk[hard == 1] == 123)
    assert np.all(src[hard == 2] == 123) and np.all(snk[hard == 2] == 0)
    assert const == pytest.approx(lo[free].sum(), rel=1e-5)
    for m in range(2):
        am = lp[m].argmax(axis=1)
        srt = np.sort(lp[m], axis=1)
        clear = srt[:, -1] - srt[:, -2] > 1e-3 if K > 1 else np.ones(N, bool)
        np.testing.assert_array_equal(comp[m][clear], am[clear])


def test_component_stats_match_numpy():
    rng = np.random.default_rng(3)
    N, K = 5000, 4
    X = rng.integers(0, 256, (N, 3), dtype=np.uint8)
    alpha = rng.integers(0, 2, N).astype(np.uint8)
    comp = rng.integers(0, K, (2, N)).astype(np.uint8)
    for T in (1, 3):
        st = G._k.component_stats(X, alpha, comp, K, T)
        Xi = X.astype(np.int64)
        for m in range(2):
            for k in range(K):
                sel = (alpha == m) & (comp[m] == k)
                Z = Xi[sel]
                assert st[m, k, 0] == sel.sum()
                np.testing.assert_array_equal(st[m, k, 1:4], Z.sum(0))
                np.testing.assert_array_equal(st[m, k, 4:10], (Z.T @ Z)[np.triu_indices(3)])


def test_fit_models_are_mean_and_covariance():
    rng = np.random.default_rng(4)
    X = rng.integers(0, 256, (800, 3), dtype=np.uint8)
    lab = rng.integers(0, 3, 800)
    stats = np.stack([G._stats_of(X.astype(np.int64), lab, 3)] * 2)
    bg = G._fit_models(stats, 0.0)[0]
    for k in range(3):
        Z = X[lab == k].astype(np.float64)
        np.testing.assert_allclose(bg.means[k], Z.mean(0), rtol=1e-12)
        np.testing.assert_allclose(bg.covariances[k], np.cov(Z.T, bias=True), rtol=1e-9, atol=1e-9)
        assert bg.weights[k] == pytest.approx((lab == k).mean())


def ref_orchard_bouman(X, K):
    """Orchard-Bouman splitting written plainly: split the cluster whose
    covariance has the largest eigenvalue, through its mean, along that
    eigenvector (the side with a positive projection becomes the new cluster)."""
    labels = np.zeros(len(X), int)
    Xf = X.astype(np.float64)
    for new in range(1, K):
        best = None
        for c in range(new):
            Z = Xf[labels == c]
            if len(Z) < 2:
                continue
            ev, evec = np.linalg.eigh(np.cov(Z.T, bias=True))
            if best is None or ev[-1] > best[0]:
                best = (ev[-1], c, Z.mean(0), evec[:, -1])
        if best is None or best[0] <= 0:
            break
        _, c, mu, e = best
        labels[(labels == c) & ((Xf - mu) @ e > 0)] = new
    return labels


@pytest.mark.parametrize("K", [1, 2, 5, 8])
def test_orchard_bouman_matches_reference(K):
    rng = np.random.default_rng(K)
    centres = rng.integers(30, 220, (6, 3))
    X = np.clip(centres[rng.integers(0, 6, 4000)] + rng.normal(0, 12, (4000, 3)), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(G._orchard_bouman(X, K), ref_orchard_bouman(X, K))
    # a large tight cluster and a small wide one: the variance criterion splits the
    # small one first (the total squared error would split the large one)
    Y = np.concatenate([rng.normal(60, 4, (3000, 3)), rng.normal(190, 30, (30, 3))])
    Y = np.clip(Y, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(G._orchard_bouman(Y, K), ref_orchard_bouman(Y, K))
    flat = np.full((50, 3), 7, np.uint8)            # no variance: one cluster however large K is
    np.testing.assert_array_equal(G._orchard_bouman(flat, K), 0)


def pymaxflow_cut(maxflow, img, Dbg, Dfg, gamma, connectivity):
    """Foreground of PyMaxflow's minimum cut of the GrabCut graph: terminal costs Dbg (paid
    when a pixel is background), Dfg (when foreground) and the reference edge weights."""
    wts, _ = ref_edge_weights(img, gamma, connectivity)
    g = maxflow.GraphFloat()
    ids = g.add_grid_nodes(img.shape[:2])
    for d, (dy, dx) in enumerate([(0, 1), (1, 0), (1, 1), (1, -1)][: wts.shape[0]]):
        st = np.zeros((3, 3))
        st[1 + dy, 1 + dx] = 1
        g.add_grid_edges(ids, weights=wts[d], structure=st, symmetric=True)
    g.add_grid_tedges(ids, Dbg, Dfg)
    g.maxflow()
    return ~g.get_grid_segments(ids)

def ref_block_sums(a, f):
    H, W = a.shape
    Hs, Ws = -(-H // f), -(-W // f)
    P = np.zeros((Hs * f, Ws * f))
    P[:H, :W] = a
    return P.reshape(Hs, f, Ws, f).sum(axis=(1, 3))


def ref_block_edge_weights(w, f):
    """Block-grid capacities from an explicit edge list: for side-by-side blocks, the
    cheapest vertical (horizontal) cut line at offsets -f/2..f/2 from their block line,
    each line priced by the edges that cross it with both ends in the blocks' rows
    (columns); diagonal blocks: their one corner edge."""
    D, H, W = w.shape
    offs = [(0, 1), (1, 0), (1, 1), (1, -1)][:D]
    edges = {}
    crossing = ({}, {})     # per axis: (line k, first end's row/column) -> [(other end's, capacity)]
    for d, (dy, dx) in enumerate(offs):
        for y in range(H):
            for x in range(W):
                if y + dy < H and 0 <= x + dx < W:
                    c = float(w[d, y, x])
                    edges[(y, x, y + dy, x + dx)] = c
                    if dx:          # crosses the vertical line between min(x, x + dx) and max
                        crossing[1].setdefault((max(x, x + dx), y), []).append((y + dy, c))
                    if dy:          # crosses the horizontal line between y and y + 1
                        crossing[0].setdefault((y + 1, x), []).append((x + dx, c))
    Hs, Ws = -(-H // f), -(-W // f)
    out = np.zeros((D, Hs, Ws))

    def line(axis, k, span):        # the cut line before row / column k, both ends within span
        return sum(c for a in span for b, c in crossing[axis].get((k, a), []) if b in span)

    for I in range(Hs):
        rows = range(I * f, min(I * f + f, H))
        for J in range(Ws):
            cols = range(J * f, min(J * f + f, W))
            if J + 1 < Ws:
                out[0, I, J] = min(line(1, c, rows) for c in range((J + 1) * f - f // 2, (J + 1) * f + f // 2 + 1)
                                   if 1 <= c < W)
            if I + 1 < Hs:
                out[1, I, J] = min(line(0, r, cols) for r in range((I + 1) * f - f // 2, (I + 1) * f + f // 2 + 1)
                                   if 1 <= r < H)
            if D == 4 and I + 1 < Hs:
                r = (I + 1) * f
                out[2, I, J] = edges.get((r - 1, (J + 1) * f - 1, r, (J + 1) * f), 0.0)
                out[3, I, J] = edges.get((r - 1, J * f, r, J * f - 1), 0.0)
    return out


@pytest.mark.parametrize("shape, f", [((9, 11), 2), ((10, 12), 2), ((13, 9), 4), ((8, 16), 4)])
def test_block_sums_match_numpy(shape, f):
    a = np.random.default_rng(f).random(shape).astype(np.float32)
    out = np.empty((-(-shape[0] // f), -(-shape[1] // f)), np.float32)
    G._k.block_sums(a, f, out)
    np.testing.assert_allclose(out, ref_block_sums(a, f), rtol=1e-6)
    with pytest.raises(ValueError, match="rows"):
        G._k.block_sums(a, f, np.empty((out.shape[0] + 1, out.shape[1]), np.float32))
    with pytest.raises(ValueError, match="at least 1"):
        G._k.block_sums(a, 0, out)
    # a block larger than the image is one block; a huge f must not wrap the block count
    one = np.empty((1, 1), np.float32)
    G._k.block_sums(a, 2**62, one)
    assert one[0, 0] == pytest.approx(a.sum(), rel=1e-5)
    with pytest.raises(ValueError, match="rows"):
        G._k.block_sums(a, 2**63 - 1, np.empty((0, 0), np.float32))


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("shape, f", [((9, 11), 2), ((10, 12), 2), ((13, 10), 4), ((7, 7), 2)])
def test_block_edge_weights_match_edge_list(connectivity, shape, f):
    img = np.random.default_rng(sum(shape) + f).integers(0, 255, shape + (3,), dtype=np.uint8)
    w = ref_edge_weights(img, 50.0, connectivity)[0].astype(np.float32)
    Hs, Ws = -(-shape[0] // f), -(-shape[1] // f)
    out = np.empty((w.shape[0], Hs, Ws), np.float32)
    G._k.block_edge_weights(w, f, out, 1)
    np.testing.assert_allclose(out, ref_block_edge_weights(w, f), rtol=1e-5, atol=1e-5)
    two = np.empty_like(out)
    G._k.block_edge_weights(w, f, two, 2)
    np.testing.assert_array_equal(out, two)


def test_coarse_cut_is_the_block_problem_cut():
    """One coarse iteration: PyMaxflow's cut of the block grid built here from the
    engine's full-resolution unaries (summed per block) and the reference block
    weights gives the same labels and the same energy."""
    maxflow = pytest.importorskip("maxflow")
    img, obj, rect = scene(H=130, W=150, seed=11)
    eng = G._Engine(img, n_components=5, gamma=50.0, connectivity=8, n_threads=1, multiscale=True)
    eng.init_rect(rect)._ensure_models()
    eng._iterate_coarse(1)
    H, W = img.shape[:2]
    src = ref_block_sums(eng._src.reshape(H, W), 2)
    snk = ref_block_sums(eng._snk.reshape(H, W), 2)
    wb = ref_block_edge_weights(ref_edge_weights(img, 50.0, 8)[0], 2)
    g = maxflow.GraphFloat()
    ids = g.add_grid_nodes(src.shape)
    for d, (dy, dx) in enumerate([(0, 1), (1, 0), (1, 1), (1, -1)]):
        st = np.zeros((3, 3))
        st[1 + dy, 1 + dx] = 1
        g.add_grid_edges(ids, weights=wb[d], structure=st, symmetric=True)
    g.add_grid_tedges(ids, src, snk)
    flow = g.maxflow()
    fg = ~g.get_grid_segments(ids)
    up = np.repeat(np.repeat(fg, 2, axis=0), 2, axis=1)[:H, :W]
    assert np.mean(up == eng.foreground) > 0.998
    # the recorded energy: the block cut's flow plus the unaries' constant (min(D_fg, D_bg)
    # summed over the free pixels, under the models of the same pass)
    assert eng.n_iter_ == 1
    assert eng.energies_[0] == pytest.approx(flow + eng_const(eng, img.reshape(-1, 3)), rel=1e-4)


def test_blocks_that_cannot_hold_the_object_fall_back_to_full_resolution():
    """A window five rows high: its 8 x 8 blocks span every row, definite-background rows
    included, so the block cut labels every free pixel background.  The coarse stage then
    runs at full resolution, and the result is that of multiscale=False."""
    rng = np.random.default_rng(1)
    H, W = 5, 300007
    img = rng.integers(0, 60, (H, W, 3), dtype=np.uint8)
    img[1:4, W // 4: W - W // 4] += 150
    mask = np.full((H, W), BGD, np.uint8)
    mask[1:4, 7:W - 10] = PR_FGD
    a = GrabCut(max_iter=3, margin=None, n_threads=1).fit(img, mask=mask)
    b = GrabCut(max_iter=3, margin=None, n_threads=1, multiscale=False).fit(img, mask=mask)
    assert H * W > G.MULTISCALE_PIXELS
    np.testing.assert_array_equal(a.mask_, b.mask_)
    np.testing.assert_allclose(a.energies_, b.energies_, rtol=1e-6)
    assert a.n_iter_ == 3 and iou(a.foreground_, img[..., 0] > 100) > 0.99


def eng_const(eng, X):
    """Sum over free pixels of min(D_fg, D_bg) under the engine's models (SciPy densities)."""
    Dbg = -np.logaddexp.reduce(ref_logpdf(eng.background_model_, X.astype(np.float64)), axis=1)
    Dfg = -np.logaddexp.reduce(ref_logpdf(eng.foreground_model_, X.astype(np.float64)), axis=1)
    free = eng._hard == 0
    return float(np.minimum(Dbg, Dfg)[free].sum())


# --------------------------------------------------------------------------- the cut

@pytest.mark.parametrize("connectivity", [4, 8])
def test_frozen_cut_matches_pymaxflow(connectivity):
    maxflow = pytest.importorskip("maxflow")
    img, obj, rect = scene(60, 80, seed=5)
    gc = GrabCut(connectivity=connectivity, gamma=30.0, max_iter=1, margin=None).fit(img, rect=rect)._engine
    bg, fg = gc.background_model_, gc.foreground_model_
    gc.evaluate()
    # the same energy built independently: scipy densities, NumPy weights, PyMaxflow
    X = img.reshape(-1, 3).astype(np.float64)
    Dbg = -np.logaddexp.reduce(ref_logpdf(bg, X), axis=1).reshape(img.shape[:2])
    Dfg = -np.logaddexp.reduce(ref_logpdf(fg, X), axis=1).reshape(img.shape[:2])
    x, y, w, h = rect
    outside = np.ones(img.shape[:2], bool)
    outside[y:y + h, x:x + w] = False
    Dbg[outside], Dfg[outside] = 0.0, 1e9
    ref_fg = pymaxflow_cut(maxflow, img, Dbg, Dfg, 30.0, connectivity)
    assert np.mean(gc.foreground == ref_fg) > 0.998


def test_cut_of_the_free_window_matches_whole_image_pymaxflow():
    """The graph spans only the free pixels' bounding box (+1 pixel); fixed
    strokes right outside it and inside it must act as on the whole image."""
    maxflow = pytest.importorskip("maxflow")
    img, obj, rect = scene(70, 90, seed=11)
    x, y, w, h = rect
    m = np.full(obj.shape, BGD, np.uint8)
    m[y:y + h, x:x + w] = PR_FGD
    m[y + 3:y + 6, x + 2:x + 12] = BGD            # background stroke inside the box
    m[y:y + h, x - 1] = FGD                       # a foreground stroke along the box, outside it
    m[y + h, x + w // 2:x + w // 2 + 4] = FGD
    m[2:6, 2:8] = PR_BGD                          # a second free patch: the window spans both
    # a strong smoothness weight: the stroke pulls the box's first column to the
    # foreground, which only happens if the stroke is part of the graph
    gc = GrabCut(gamma=200.0, max_iter=2, margin=None).fit(img, mask=m)._engine
    bg, fg = gc.background_model_, gc.foreground_model_
    gc.evaluate()
    X = img.reshape(-1, 3).astype(np.float64)
    Dbg = -np.logaddexp.reduce(ref_logpdf(bg, X), axis=1).reshape(obj.shape)
    Dfg = -np.logaddexp.reduce(ref_logpdf(fg, X), axis=1).reshape(obj.shape)
    Dbg[m == BGD], Dfg[m == BGD] = 0.0, 1e9
    Dbg[m == FGD], Dfg[m == FGD] = 1e9, 0.0
    ref_fg = pymaxflow_cut(maxflow, img, Dbg, Dfg, 200.0, 8)
    assert np.mean(gc.foreground == ref_fg) > 0.998
    assert np.all(gc.foreground[m == FGD]) and not np.any(gc.foreground[m == BGD])
    assert ref_fg[y:y + h, x].mean() > 0.5      # the test is sensitive to the stroke


def test_free_window():
    hard = np.full((6, 7), G._FIXED_BG, np.uint8)
    assert G._free_window(hard, (6, 7)) is None
    hard[2, 3] = G._FREE
    assert G._free_window(hard, (6, 7)) == (slice(1, 4), slice(2, 5))
    hard[5, 0] = G._FREE
    assert G._free_window(hard, (6, 7)) == (slice(1, 6), slice(0, 5))


# --------------------------------------------------------------------------- results

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_objects_are_found(seed):
    img, obj, rect = scene(seed=seed)
    res = grabcut(img, rect=rect)
    assert iou(res.foreground, obj) > 0.95
    assert res.mask.dtype == np.uint8 and set(np.unique(res.mask)) <= {BGD, PR_BGD, PR_FGD}
    x, y, w, h = rect
    outside = np.ones(obj.shape, bool)
    outside[y:y + h, x:x + w] = False
    assert np.all(res.mask[outside] == BGD)
    assert np.all(np.isfinite(res.energies))
    assert res.n_iter == 5
    cut = res.cutout()
    assert cut.shape == img.shape[:2] + (4,) and cut.dtype == np.uint8
    np.testing.assert_array_equal(cut[..., :3], img)
    np.testing.assert_array_equal(cut[..., 3] == 255, res.foreground)
    np.testing.assert_array_equal(cut[..., 3][~res.foreground], 0)
    for model in (res.background_model, res.foreground_model):
        assert model.weights.sum() == pytest.approx(1.0)
        assert model.means.shape == (5, 3) and model.covariances.shape == (5, 3, 3)
    # the foreground model describes the object's colours better than the background model
    Xo = img[obj].astype(np.float64)
    assert res.foreground_model.score_samples(Xo).mean() > res.background_model.score_samples(Xo).mean() + 5


def test_multiscale_agrees_with_full_resolution():
    img, obj, rect = scene(H=401, W=403, seed=9)    # odd sizes, above the multiscale threshold
    assert obj.size > G.MULTISCALE_PIXELS
    a = grabcut(img, rect=rect)
    b = grabcut(img, rect=rect, multiscale=False)
    assert np.mean(a.mask == b.mask) > 0.99
    assert iou(a.foreground, obj) > 0.95 and iou(b.foreground, obj) > 0.95
    assert a.n_iter == 5 and len(a.energies) == 5 and np.all(np.isfinite(a.energies))
    # fixed labels survive the coarse stage (a definite-foreground pixel next to background)
    m = np.full(obj.shape, BGD, np.uint8)
    x, y, w, h = rect
    m[y:y + h, x:x + w] = PR_FGD
    m[y + 1, x + 1] = FGD
    m[y + 2:y + 12, x + w // 2] = BGD
    res = grabcut(img, mask=m)
    assert res.mask[y + 1, x + 1] == FGD and res.foreground[y + 1, x + 1]
    assert np.all(res.mask[y + 2:y + 12, x + w // 2] == BGD)
    assert np.all(res.mask[m == BGD] == BGD)
    with pytest.raises(TypeError, match="multiscale"):
        grabcut(img, rect=rect, multiscale="yes")


def test_low_contrast_object_and_connectivity_4():
    img, obj, rect = scene(seed=7, contrast=0.5)
    for conn in (4, 8):
        assert iou(grabcut(img, rect=rect, connectivity=conn).foreground, obj) > 0.9


def test_threads_do_not_change_the_result(two_threads):
    img, obj, rect = scene(seed=3)
    a = grabcut(img, rect=rect, n_threads=1)
    with two_threads("_grabcut"):
        b = grabcut(img, rect=rect, n_threads=2)
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_allclose(a.foreground_model.means, b.foreground_model.means)


def test_energy_does_not_increase():
    img, obj, rect = scene(seed=4)
    e = grabcut(img, rect=rect, max_iter=6).energies
    assert all(e[i + 1] <= e[i] * (1 + 1e-4) + 1e-3 for i in range(len(e) - 1))


def test_grey_rgba_and_integer_images():
    img, obj, rect = scene(seed=2)
    rgba = np.dstack([img, np.full(obj.shape, 255, np.uint8)])
    np.testing.assert_array_equal(grabcut(rgba, rect=rect).mask, grabcut(img, rect=rect).mask)
    np.testing.assert_array_equal(grabcut(img.astype(np.int32), rect=rect).mask, grabcut(img, rect=rect).mask)
    grey = img.mean(axis=2).astype(np.uint8)
    assert grabcut(grey, rect=rect).mask.shape == obj.shape


def test_mask_initialisation_and_rect_with_mask():
    img, obj, rect = scene(seed=1)
    m = np.full(obj.shape, PR_BGD, np.uint8)
    m[obj] = PR_FGD
    m[0, :] = BGD
    res = grabcut(img, mask=m)
    assert iou(res.foreground, obj) > 0.95
    assert np.all(res.mask[0] == BGD)
    res2 = grabcut(img, rect=rect, mask=np.full(obj.shape, PR_FGD, np.uint8))
    assert iou(res2.foreground, obj) > 0.95


def test_strokes_are_fixed_and_evaluate_freezes_models():
    img, obj, rect = scene(seed=6)
    est = GrabCut(max_iter=3).fit(img, rect=rect)
    gc = est._engine
    before_fg = gc.foreground_model_.means.copy()
    stroke_bg = np.zeros(obj.shape, bool)
    ys, xs = np.nonzero(obj)
    stroke_bg[ys.min():ys.min() + 10, :] = obj[ys.min():ys.min() + 10, :]
    stroke_fg = np.zeros(obj.shape, bool)
    stroke_fg[0:3, 0:3] = True   # outside the box: a user can override the box
    gc.add_strokes(foreground=stroke_fg, background=stroke_bg)
    gc.evaluate()
    np.testing.assert_array_equal(gc.foreground_model_.means, before_fg)
    assert np.all(gc.mask[stroke_bg] == BGD) and not gc.foreground[stroke_bg].any()
    assert np.all(gc.mask[stroke_fg] == FGD) and gc.foreground[stroke_fg].all()
    gc.iterate(1)
    assert np.all(gc.mask[stroke_bg] == BGD) and np.all(gc.mask[stroke_fg] == FGD)
    assert est.result().n_iter == 4 and est.n_iter_ == 4
    # the public refine: strokes then iterations, the same as on the engine
    again = GrabCut(max_iter=3).fit(img, rect=rect).refine(foreground=stroke_fg, background=stroke_bg,
                                                            max_iter=1)
    ref = GrabCut(max_iter=3).fit(img, rect=rect)._engine
    ref.add_strokes(foreground=stroke_fg, background=stroke_bg)
    ref.iterate(1)
    np.testing.assert_array_equal(again.mask_, ref.mask)


def test_flat_colours_singular_covariance():
    # each region a single colour: every covariance is singular without the ridge
    img = np.zeros((40, 50, 3), np.uint8)
    img[:] = (10, 200, 30)
    img[12:30, 15:35] = (250, 20, 90)
    obj = np.zeros((40, 50), bool)
    obj[12:30, 15:35] = True
    res = grabcut(img, rect=(10, 8, 30, 27))
    np.testing.assert_array_equal(res.foreground, obj)
    for m in (res.background_model, res.foreground_model):
        assert np.all(np.isfinite(m.covariances)) and np.all(np.isfinite(m.means))
    # a single pixel of background sample is enough
    res = grabcut(img, rect=(1, 0, 49, 40))
    assert res.foreground.sum() > 0


def test_tiny_images():
    img = np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8)
    res = grabcut(img, mask=np.array([[BGD, PR_FGD]], np.uint8))
    assert res.foreground.tolist() == [[False, True]]
    res = grabcut(np.zeros((3, 3, 3), np.uint8), rect=(1, 1, 1, 1))
    assert res.mask.shape == (3, 3)


# --------------------------------------------------------------------------- bad input

def test_bool_and_grey_alpha_images_are_read_as_every_function_reads_them():
    # The one validation module's rule: bool is 0/255 uint8, grey + alpha is grey.
    img, obj, rect = scene(30, 40)
    mask = img[:, :, 0] > 127
    as_bool = grabcut(np.repeat(mask[:, :, None], 3, axis=2), rect=rect).mask
    as_uint8 = grabcut(np.repeat(mask[:, :, None], 3, axis=2).astype(np.uint8) * 255, rect=rect).mask
    np.testing.assert_array_equal(as_bool, as_uint8)
    grey_alpha = np.stack([img[:, :, 0], np.full(img.shape[:2], 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(grabcut(grey_alpha, rect=rect).mask,
                                  grabcut(np.repeat(img[:, :, :1], 3, axis=2), rect=rect).mask)


def test_bad_images():
    with pytest.raises(TypeError, match="uint8"):
        grabcut(np.zeros((10, 10, 3)), rect=(1, 1, 5, 5))
    with pytest.raises(ValueError, match="shape"):
        grabcut(np.zeros((10, 10, 5), np.uint8), rect=(1, 1, 5, 5))
    with pytest.raises(ValueError, match="shape"):
        grabcut(np.zeros((2, 10, 10, 3), np.uint8), rect=(1, 1, 5, 5))
    with pytest.raises(ValueError, match="empty"):
        grabcut(np.zeros((0, 10, 3), np.uint8), rect=(1, 1, 5, 5))
    with pytest.raises(ValueError, match="0..255"):
        grabcut(np.full((10, 10, 3), 300, np.int32), rect=(1, 1, 5, 5))


def test_bad_rects():
    img, obj, rect = scene(40, 50)
    with pytest.raises(ValueError, match="whole"):
        grabcut(img, rect=(0, 0, 50, 40))
    with pytest.raises(ValueError, match="whole"):
        grabcut(img, rect=(-5, -5, 100, 100))
    for r in [(0, 0, 0, 10), (0, 0, 10, -1), (60, 0, 10, 10), (-20, -20, 10, 10)]:
        with pytest.raises(ValueError, match="no pixel"):
            grabcut(img, rect=r)
    with pytest.raises(TypeError):
        grabcut(img, rect=(1, 2, 3))
    with pytest.raises(TypeError):
        grabcut(img, rect="1,2,3,4")
    with pytest.raises(ValueError, match="finite"):
        grabcut(img, rect=(1, 2, np.nan, 4))
    with pytest.raises(ValueError, match="rect"):
        grabcut(img)


def test_bad_masks():
    img, obj, rect = scene(40, 50)
    with pytest.raises(ValueError, match="no foreground"):
        grabcut(img, mask=np.full(obj.shape, PR_BGD, np.uint8))
    with pytest.raises(ValueError, match="no background"):
        grabcut(img, mask=np.full(obj.shape, PR_FGD, np.uint8))
    with pytest.raises(ValueError, match="no background"):
        grabcut(img, mask=np.full(obj.shape, FGD, np.uint8))
    with pytest.raises(ValueError, match="values"):
        grabcut(img, mask=np.full(obj.shape, 4, np.uint8))
    with pytest.raises(ValueError, match="values"):
        grabcut(img, mask=np.full(obj.shape, -1, np.int8))
    with pytest.raises(ValueError, match="shape"):
        grabcut(img, mask=np.zeros((3, 3), np.uint8))
    with pytest.raises(TypeError):
        grabcut(img, mask=np.zeros(obj.shape, np.float32))


def test_bad_parameters():
    img, obj, rect = scene(40, 50)
    for kw, exc in [(dict(max_iter=-1), ValueError), (dict(max_iter=2.5), TypeError),
                    (dict(n_components=0), ValueError), (dict(n_components=1000), ValueError),
                    (dict(n_components=True), TypeError), (dict(gamma=-1.0), ValueError),
                    (dict(gamma=np.inf), ValueError), (dict(gamma="a"), TypeError),
                    (dict(connectivity=6), ValueError), (dict(n_threads=0), ValueError),
                    (dict(box_prior="yes"), TypeError)]:
        with pytest.raises(exc):
            grabcut(img, rect=rect, **kw)


def test_bad_state_and_strokes():
    img, obj, rect = scene(40, 50)
    gc = GrabCut()
    with pytest.raises(gmmfast.NotFittedError, match="fit"):
        gc.refine(foreground=obj)
    with pytest.raises(gmmfast.NotFittedError):
        gc.mask_
    gc.fit(img, rect=rect)
    with pytest.raises(ValueError, match="both"):
        gc.refine(foreground=obj, background=obj)
    with pytest.raises(ValueError, match="shape"):
        gc.refine(foreground=np.zeros((3, 3), bool))
    with pytest.raises(TypeError):
        gc.refine(background=np.zeros(obj.shape, np.float64))
    with pytest.raises(ValueError, match="max_iter"):
        gc.refine(foreground=obj, max_iter=-1)
    with pytest.raises(ValueError, match="no pixel left"):
        GrabCut().fit(img, rect=rect).refine(background=np.ones(obj.shape, bool))
    with pytest.raises(ValueError, match="rect"):
        GrabCut().fit(img)


def test_refused_strokes_change_nothing():
    # A refine whose strokes would leave one label empty is refused, and the
    # model goes on as if it had not been called: its mask, and the cut of a
    # later refine, are those of a model that never saw the refused strokes.
    img, obj, rect = scene(60, 80)
    H, W = obj.shape
    fresh, tried = GrabCut(max_iter=2).fit(img, rect=rect), GrabCut(max_iter=2).fit(img, rect=rect)
    mask = tried.mask_.copy()
    everything = np.ones((H, W), bool)
    with pytest.raises(ValueError, match="not applied"):
        tried.refine(background=everything)
    with pytest.raises(ValueError, match="not applied"):
        tried.refine(foreground=everything)          # grows the window to the whole image first
    np.testing.assert_array_equal(tried.mask_, mask)
    stroke = np.zeros((H, W), bool)
    stroke[int(H * 0.5), int(W * 0.3):int(W * 0.7)] = True
    np.testing.assert_array_equal(tried.refine(foreground=stroke).mask_, fresh.refine(foreground=stroke).mask_)


def test_cutout_keeps_an_rgba_image_transparency(tmp_path):
    img, obj, rect = scene(60, 80)
    rgb = grabcut(img, rect=rect)
    alpha = np.full(obj.shape, 255, np.uint8)
    alpha[:, : obj.shape[1] // 2] = 40                      # half the image, object included, translucent
    rgba = grabcut(np.dstack([img, alpha]), rect=rect)
    np.testing.assert_array_equal(rgba.mask, rgb.mask)        # the cut ignores transparency
    cut = rgba.cutout()
    np.testing.assert_array_equal(cut[..., :3], img)
    np.testing.assert_array_equal(cut[..., 3], np.where(rgb.foreground, np.minimum(alpha, 255), 0))
    np.testing.assert_array_equal(grabcut(np.dstack([img, np.full(obj.shape, 255, np.uint8)]), rect=rect).cutout(),
                                  rgb.cutout())
    # the same from an RGBA file, and from a grey + alpha image
    gmmfast.io.write_image(tmp_path / "rgba.png", np.dstack([img, alpha]))
    np.testing.assert_array_equal(grabcut(tmp_path / "rgba.png", rect=rect).cutout(), cut)
    grey = img[:, :, 1]
    la = grabcut(np.dstack([grey, alpha]), rect=rect)
    np.testing.assert_array_equal(la.cutout()[..., 3], np.where(la.foreground, alpha, 0))
    # and after a save and load (the saved image had lost its alpha: the cut-out came back opaque)
    model = GrabCut().fit(np.dstack([img, alpha]), rect=rect)
    model.save(tmp_path / "model.npz")
    np.testing.assert_array_equal(GrabCut.load(tmp_path / "model.npz").result().cutout(), cut)


def test_colour_model_opencv_layout_round_trip():
    rng = np.random.default_rng(8)
    m = random_models(rng, 5)[0]
    a = m.to_opencv()
    assert a.shape == (1, 65) and a.dtype == np.float64
    np.testing.assert_array_equal(a[0, :5], m.weights)
    np.testing.assert_array_equal(a[0, 5:20].reshape(5, 3), m.means)
    np.testing.assert_array_equal(a[0, 20:].reshape(5, 3, 3), m.covariances)
    back = ColourModel.from_opencv(a)
    np.testing.assert_allclose(back.covariances, m.covariances)
    X = rng.uniform(0, 255, (50, 3))
    np.testing.assert_allclose(back.score_samples(X), np.logaddexp.reduce(ref_logpdf(m, X), axis=1), rtol=1e-9)
    with pytest.raises(ValueError, match="13"):
        ColourModel.from_opencv(np.zeros(64))
    with pytest.raises(ValueError, match="weights"):
        ColourModel.from_opencv(np.zeros((1, 65)))
    with pytest.raises(ValueError, match="NaN"):
        ColourModel.from_opencv(np.full((1, 65), np.nan))
    # a colour far from every component has log-density -inf (it was NaN), and the grid's shape is kept
    far = back.score_samples(np.array([[1e300, 0.0, 0.0], [10.0, 20.0, 30.0]]))
    assert far[0] == -np.inf and np.isfinite(far[1])
    assert back.score_samples(rng.uniform(0, 255, (4, 6, 3))).shape == (24,)
    with pytest.raises(ValueError, match="read-only"):
        back.means[0, 0] = 1.0                       # frozen, arrays included
    # a covariance summed in float32 (an EM step) is asymmetric by ~1e-8 and was refused
    D = rng.normal(0, 30, (10000, 3)).astype(np.float32)
    r = rng.random(10000).astype(np.float32)
    c = (D * r[:, None]).T @ D / r.sum()
    assert not np.array_equal(c, c.T)
    model = ColourModel(np.ones(1), D.mean(0)[None], c[None])
    np.testing.assert_array_equal(model.covariances[0], model.covariances[0].T)
    with pytest.raises(ValueError, match="not symmetric"):
        ColourModel(np.ones(1), np.zeros((1, 3)), np.array([[[1.0, 0.5, 0], [0, 1, 0], [0, 0, 1]]]))


# --------------------------------------------------------------------------- CLI

def test_cli_writes_mask_and_cutout(tmp_path):
    PIL = pytest.importorskip("PIL.Image")
    from gmmfast.cli import main
    img, obj, rect = scene(seed=0)
    PIL.fromarray(img).save(tmp_path / "in.png")
    out = tmp_path / "out"
    assert main(["grabcut", str(tmp_path / "in.png"), "--rect", ",".join(map(str, rect)), "-o", str(out),
                 "--iterations", "3"]) == 0
    mask = np.asarray(PIL.open(out / "in_mask.png"))
    cut = np.asarray(PIL.open(out / "in_cutout.png"))
    expect = grabcut(img, rect=rect, max_iter=3).foreground
    np.testing.assert_array_equal(mask == 255, expect)
    assert cut.shape == img.shape[:2] + (4,)
    np.testing.assert_array_equal(cut[..., 3] == 255, expect)
    # bad box: clean error, no traceback
    assert main(["grabcut", str(tmp_path / "in.png"), "--rect", "0,0,160,120", "-o", str(out)]) == 1
    with pytest.raises(SystemExit):
        main(["grabcut", str(tmp_path / "in.png"), "--rect", "1,2,3"])
    assert main(["grabcut", str(tmp_path / "missing.png"), "--rect", "1,2,3,4", "-o", str(out)]) == 1


def test_demo_step(tmp_path):
    pytest.importorskip("PIL.Image")
    from gmmfast.cli.grabcut import demo_step
    lines = []
    demo_step(tmp_path, lines.append)
    assert len(lines) == 1 and "grabcut" in lines[0]
    assert (tmp_path / "grabcut_mask.png").exists() and (tmp_path / "grabcut_cutout.png").exists()



# --------------------------------------------------------------------------- box-tightness check

def _cover(fg, rect):
    """Shares of the box's rows and columns that hold foreground (plain NumPy)."""
    x, y, w, h = rect
    f = fg[y:y + h, x:x + w]
    return f.any(axis=1).mean(), f.any(axis=0).mean()


def _fit(img, rect, seeding):
    return GrabCut(box_prior=False, n_threads=1)._fit_engine(img, rect, None, seeding).foreground


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_box_prior_keeps_the_seeding_that_reaches_more_of_the_box(seed):
    # a box far larger than the object: the foreground reaches about half of its rows, so the check runs
    img, obj, _ = scene(seed=seed)
    H, W = obj.shape
    rect = (4, 4, W - 8, H - 8)
    ob, km = _fit(img, rect, "orchard-bouman"), _fit(img, rect, "kmeans")
    c_ob, c_km = _cover(ob, rect), _cover(km, rect)
    assert min(c_ob) < G.TIGHT_COVER
    expected = km if np.mean(c_km) > np.mean(c_ob) + G.TIGHT_GAIN else ob
    np.testing.assert_array_equal(GrabCut(box_prior=True, n_threads=1).fit(img, rect=rect).foreground_, expected)
    np.testing.assert_array_equal(GrabCut(n_threads=1).fit(img, rect=rect).foreground_, ob)   # off by default


def test_box_prior_rerun_replaces_a_cut_that_misses_rows(monkeypatch):
    img, obj, rect = scene(seed=0)
    calls = []
    real = GrabCut._fit_engine

    def fit_engine(self, image, rect_, mask, seeding):
        engine = real(self, image, rect_, mask, seeding)
        calls.append(seeding)
        if seeding == "orchard-bouman":        # lose the object's upper half, as person4 loses its head
            x, y, w, h = rect_
            core = engine.engine              # the window's engine: rows from the window's top
            core._alpha.reshape(core._shape)[: y + h // 2 - engine.window[0].start] = 0
        return engine

    monkeypatch.setattr(GrabCut, "_fit_engine", fit_engine)
    fg = GrabCut(box_prior=True, n_threads=1).fit(img, rect=rect).foreground_
    assert calls == ["orchard-bouman", "kmeans"]
    assert iou(fg, obj) > 0.95
    calls.clear()
    GrabCut(n_threads=1).fit(img, rect=rect)
    assert calls == ["orchard-bouman"]


def test_kmeans_seeding_clusters_distinct_colours():
    rng = np.random.default_rng(0)
    centres = np.array([[20, 30, 40], [200, 40, 60], [40, 220, 90]])
    X = np.clip(np.repeat(centres, 300, axis=0) + rng.normal(0, 4, (900, 3)), 0, 255).astype(np.uint8)
    labels = G._kmeans_labels(X, 3)
    for k in range(3):                      # each true cluster is one k-means cluster
        assert len(np.unique(labels[300 * k:300 * (k + 1)])) == 1
    assert len(np.unique(labels)) == 3
    assert G._kmeans_labels(X[:2], 3).shape == (2,)      # fewer rows than clusters


# --------------------------------------------------------------------------- the window (margin)

def lookalike_scene(seed=0, H=120, W=240):
    """A white-and-red object on blue, and far to the right a white wall of the object's white:
    a background model learnt from the whole image learns that white too (as 24077's second statue)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.empty((H, W, 3))
    img[:] = (70, 110, 170)
    img[:, 150:] = (225, 225, 215)
    obj = ((yy - 60) / 40.0) ** 2 + ((xx - 60) / 30.0) ** 2 <= 1
    img[obj] = (225, 225, 215)
    img[obj & (yy > 70)] = (200, 60, 40)
    img += rng.normal(0, 5.0, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), obj, (24, 14, 73, 93)


def test_margin_keeps_a_far_lookalike_out_of_the_background_model():
    img, obj, rect = lookalike_scene()
    local = GrabCut(n_threads=1).fit(img, rect=rect)
    assert local.get_params()["margin"] == G.MARGIN == 0.1
    assert iou(local.foreground_, obj) > 0.95
    # the trap is real: a background model of the whole image loses the white part
    assert iou(GrabCut(margin=None, n_threads=1).fit(img, rect=rect).foreground_, obj) < 0.6
    cv2 = pytest.importorskip("cv2")
    m = np.zeros(obj.shape, np.uint8)
    cv2.setRNGSeed(0)
    cv2.grabCut(np.ascontiguousarray(img[:, :, ::-1]), m, rect, np.zeros((1, 65)), np.zeros((1, 65)), 5,
                cv2.GC_INIT_WITH_RECT)
    assert iou((m & 1).astype(bool), obj) < 0.6
    # compat.grabCut, OpenCV's signature, cuts with the window too (it used the whole image)
    from gmmfast import compat

    m = np.zeros(obj.shape, np.uint8)
    compat.grabCut(np.ascontiguousarray(img[:, :, ::-1]), m, rect, None, None, 5, compat.GC_INIT_WITH_RECT)
    np.testing.assert_array_equal(m, GrabCut().fit(img, rect=rect).mask_)


@pytest.mark.parametrize("margin, rows, cols", [
    (0.1, (6, 34), (16, 64)),       # 20 x 40 box, 4 pixels on each side
    (0.0, (9, 31), (19, 61)),       # never less than one pixel
    (0.5, (0, 50), (0, 80)),        # clipped to the 50 x 80 image
    (None, (0, 50), (0, 80)),       # the whole image
])
def test_window_is_the_box_grown_by_the_margin(margin, rows, cols):
    mask = np.full((50, 80), BGD, np.uint8)
    mask[10:30, 20:60] = PR_FGD
    mask[12, 22] = FGD
    mask[45, 70] = BGD              # definite background does not widen the window
    ys, xs = G._window_around(mask, margin)
    assert (ys.start, ys.stop, xs.start, xs.stop) == rows + cols


def test_window_result_is_the_crop_cut_pasted_back():
    """The window's fit is a GrabCut of the crop (with the whole image's beta), pasted back."""
    img, obj, rect = scene(seed=3)
    x, y, w, h = rect
    m = round(0.1 * max(w, h))
    ys = slice(max(y - m, 0), min(y + h + m, obj.shape[0]))
    xs = slice(max(x - m, 0), min(x + w + m, obj.shape[1]))
    _, whole_beta = ref_edge_weights(img, 50.0, 8)
    crop = G._Engine(np.ascontiguousarray(img[ys, xs]), n_components=5, gamma=50.0, connectivity=8,
                     n_threads=1, multiscale=True, beta=whole_beta)
    crop.init_rect((x - xs.start, y - ys.start, w, h)).iterate(3)
    est = GrabCut(margin=0.1, max_iter=3, n_threads=1).fit(img, rect=rect)
    expect = np.full(obj.shape, BGD, np.uint8)
    expect[ys, xs] = crop.mask
    np.testing.assert_array_equal(est.mask_, expect)
    res = est.result()
    assert res.mask.shape == obj.shape and res.image.shape == img.shape
    np.testing.assert_array_equal(res.foreground, expect & 1 == 1)


def test_window_takes_the_whole_images_contrast():
    img, obj, rect = scene(seed=5)
    _, whole_beta = ref_edge_weights(img, 50.0, 8)
    est = GrabCut(max_iter=1, multiscale=False).fit(img, rect=rect)
    win = est._engine.window
    assert (win[0].stop - win[0].start) * (win[1].stop - win[1].start) < obj.size
    _, crop_beta = ref_edge_weights(np.ascontiguousarray(img[win]), 50.0, 8)
    assert abs(crop_beta - whole_beta) > 1e-3 * whole_beta        # the two differ here
    assert est._engine.engine.beta_ == pytest.approx(whole_beta, rel=1e-6)
    whole = GrabCut(max_iter=1, multiscale=False, margin=None).fit(img, rect=rect)
    assert whole._engine.engine.beta_ == pytest.approx(whole_beta, rel=1e-6)


def test_foreground_stroke_outside_the_window_grows_it():
    img, obj, rect = scene(seed=4)
    est = GrabCut(max_iter=2).fit(img, rect=rect)
    far_fg = np.zeros(obj.shape, bool)
    far_fg[-3:, -3:] = True                         # the bottom-right corner: outside the window
    far_bg = np.zeros(obj.shape, bool)
    far_bg[:2, :2] = True                           # the top-left corner: background already
    assert not est._engine.foreground[far_fg].any()
    before, window = est.mask_, est._engine.window
    with pytest.raises(ValueError, match="both"):   # refused before the window grows
        est.refine(foreground=far_fg, background=far_fg)
    np.testing.assert_array_equal(est.mask_, before)
    assert est._engine.window == window and est.n_iter_ == 2
    est.refine(foreground=far_fg, background=far_bg)
    assert np.all(est.mask_[far_fg] == FGD) and est.foreground_[far_fg].all()
    assert np.all(est.mask_[far_bg] == BGD)
    assert est.n_iter_ == 3 and len(est.energies_) == 3
    assert iou(est.foreground_ & ~far_fg, obj) > 0.9
    # a saved fit of the grown window comes back with the same window and continues alike
    copy = pickle.loads(pickle.dumps(est))
    stroke = np.zeros(obj.shape, bool)
    stroke[obj.shape[0] // 2, :4] = True
    np.testing.assert_array_equal(copy.refine(background=stroke).mask_, est.refine(background=stroke).mask_)


@pytest.mark.parametrize("margin, error", [(-0.1, ValueError), (float("nan"), ValueError),
                                           ("0.1", TypeError), (True, TypeError)])
def test_bad_margin(margin, error):
    img, obj, rect = scene(seed=0)
    with pytest.raises(error, match="margin"):
        GrabCut(margin=margin).fit(img, rect=rect)
