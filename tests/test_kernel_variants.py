"""Two different CPU variants of each kernel module give the same results, within stated bounds.

The variants differ in vector width and in fused multiply-adds, so sums come out in another
order and products are rounded once instead of twice: close, not equal.  Each test runs
the same inputs through two variant modules (imported directly, both in this process) and
compares.  A pair the CPU cannot run, or the build does not hold, is skipped; so is a
kernel the build holds once (portable), which has no second variant to compare.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from gmmfast._dispatch import _built, _cpu_runs, module_name
from gmmfast._kernels import _manifest

PAIRS = [("baseline", "avx2"), ("avx2", "avx512"), ("baseline", "avx512")]


def _modules(kernel, pair):
    if kernel not in _manifest.PER_VARIANT:
        pytest.skip(f"{kernel} is built once, for every CPU")
    for variant in pair:
        if not (_cpu_runs(variant) and _built(variant)):
            pytest.skip(f"the {variant} kernels cannot run here")
        if variant not in _manifest.KERNEL_VARIANTS[kernel]:
            pytest.skip(f"{kernel} has no {variant} build")
    a, b = (importlib.import_module(module_name(kernel, v)) for v in pair)
    assert a is not b
    return a, b


def _close(a, b, rel, what):
    """max |a - b| <= rel * max |b| (NaN nowhere)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b)), what
    assert np.abs(a - b).max() <= rel * np.abs(b).max(), f"{what}: {np.abs(a - b).max()} vs {np.abs(b).max()}"


def _mostly_equal(a, b, fraction, what):
    same = np.mean(np.asarray(a) == np.asarray(b))
    assert same >= fraction, f"{what}: only {same:.4%} equal"


def _blobs(n, d, K, dtype, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (K, d))
    lab = rng.integers(0, K, n)
    X = (centres[lab] + rng.normal(0, 1, (n, d))).astype(dtype)
    return X, np.ascontiguousarray(centres.astype(dtype))


# float32 sums of 20000 terms in another order, exponentials 1-2 ulp apart
REL = {np.float32: 1e-5, np.float64: 1e-12}


@pytest.mark.parametrize("pair", PAIRS, ids="-".join)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", [0, 1, 2, 3], ids=["full", "diag", "spherical", "tied"])
@pytest.mark.parametrize("d", [3, 6])
def test_em_kernels(pair, dtype, kind, d):
    mods = _modules("_gmm", pair)
    K = 4
    X, means = _blobs(20000, d, K, dtype)
    if kind in (0, 3):
        prec = np.tile(np.eye(d).ravel(), K)
    else:
        prec = np.ones(K * d if kind == 1 else K)
    prec = np.ascontiguousarray(prec, dtype)
    lc = np.full(K, -np.log(K) - 0.5 * d * np.log(2 * np.pi), dtype)
    out = []
    for k in mods:
        nb = k.n_blocks(len(X))
        stats, ll = np.empty((nb, K * k.n_stats(d, kind))), np.empty(nb)
        k.em_pass(X, means, prec, lc, kind, stats, ll, 1)
        resp, labels = np.empty((len(X), K), dtype), np.empty(len(X), np.intp)
        k.e_step(X, means, prec, lc, kind, 1, labels=labels, resp=resp)
        out.append((stats.sum(0), ll.sum(), resp, labels))
    (s1, l1, r1, lab1), (s2, l2, r2, lab2) = out
    _close(s1, s2, REL[dtype], "statistics")
    _close(l1, l2, REL[dtype], "log-likelihood")
    _close(r1, r2, 10 * REL[dtype], "responsibilities")
    np.testing.assert_array_equal(lab1, lab2)  # well-separated clusters: no near ties


@pytest.mark.parametrize("pair", PAIRS, ids="-".join)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [2, 3, 5])
def test_kmeans_kernels(pair, dtype, d):
    mods = _modules("_kmeans", pair)
    K = 5
    X, centres = _blobs(20000, d, K, dtype, seed=1)
    out = []
    for k in mods:
        nc = k.n_chunks(len(X))
        labels, sums = np.zeros(len(X), np.int32), np.empty((nc, K * (d + 1)))
        inertia, changed = np.empty(nc), np.empty(nc, np.int64)
        k.lloyd_pass(X, centres, labels, sums, inertia, changed, 1)
        closest = np.full(len(X), np.inf)
        k.candidate_potentials(X, np.ascontiguousarray(X[:1]), closest, None, 1, True)
        out.append((labels, sums.sum(0), inertia.sum(), closest))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    for i, what in ((1, "sums"), (2, "inertia"), (3, "potentials")):
        _close(out[0][i], out[1][i], REL[dtype], what)


def _video(T, H, W, C, seed):
    rng = np.random.default_rng(seed)
    frames = np.clip(rng.uniform(40, 200, (H, W, C)) + rng.normal(0, 5, (T, H, W, C)), 0, 255)
    for t in range(T):
        frames[t, 10:30, 3 * t:3 * t + 25] = rng.uniform(0, 255, C)    # a moving block
    return np.ascontiguousarray(frames.astype(np.uint8))


@pytest.mark.parametrize("pair", PAIRS, ids="-".join)
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_mog2_kernel(pair, channels):
    mods = _modules("_mog2", pair)
    T, H, W, K = 20, 40, 90, 4
    frames = _video(T, H, W, channels, seed=channels)
    alphas = 1.0 / np.minimum(2 * (1 + np.arange(T)), 100.0)
    out = []
    for k in mods:
        state, nmodes = np.zeros((K, 2 + channels, H, W), np.float32), np.zeros((H, W), np.uint8)
        masks = np.empty((T, H, W), np.uint8)
        k.apply(frames, None, state, nmodes, masks, alphas, 16.0, 9.0, 0.9, 15.0, 4.0, 75.0, 0.05, True,
                127, 0.5, 1)
        out.append((masks, state))
    # a squared distance summed with or without FMA can fall on either side of a threshold
    _mostly_equal(out[0][0], out[1][0], 0.999, "masks")
    a, b = out[0][1], out[1][1]
    assert np.mean(np.abs(a - b) > 1e-4 * np.abs(b).max()) <= 1e-3


@pytest.mark.parametrize("pair", PAIRS, ids="-".join)
@pytest.mark.parametrize("channels,K", [(1, 2), (3, 2), (3, 3)])
def test_pixelgmm_kernel(pair, channels, K):
    mods = _modules("_pixelgmm", pair)
    T = 40
    X = _video(T, 12, 20, channels, seed=10 + K).reshape(T, -1, channels)
    scale = np.ones(T, np.float32)
    fits = [k.em_fit(X, scale, K, 12, 0.0, 1.0, 3, 1) for k in mods]
    for name, a, b in zip(("weights", "means", "variances", "loglik"), fits[0][:4], fits[1][:4]):
        _close(a, b, 1e-3, name)   # float32 EM, 12 iterations: differences of 1e-7 grow to ~1e-5


@pytest.mark.parametrize("pair", PAIRS, ids="-".join)
def test_image_kernels(pair):
    mods = _modules("_imagekernels", pair)
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    H, W, K = 60, 80, 5
    P = rng.dirichlet(np.full(K, 0.4), size=H * W).astype(np.float32)
    out = []
    for k in mods:
        feats = np.empty((50 * 70, 3), np.float32)
        k.build_features(img, 1, False, k.srgb_linear_lut(256), 1.0, feats, 1)
        cost, labels = P.copy(), np.empty(H * W, np.uint8)
        k.potts_icm(cost, labels, H, W, 0.8, 0.05, 50, 1)
        out.append((feats, cost, labels))
    _close(out[0][0], out[1][0], 1e-6, "Lab features")
    _close(out[0][1], out[1][1], 1e-6, "unary costs")
    _mostly_equal(out[0][2], out[1][2], 0.999, "ICM labels")


@pytest.mark.parametrize("pair", PAIRS, ids="-".join)
def test_grabcut_kernels(pair):
    mods = _modules("_grabcut", pair)
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    X, N, K = img.reshape(-1, 3), 40 * 60, 3
    means = rng.uniform(0, 255, (2, K, 3)).astype(np.float32)
    chol = np.zeros((2, K, 6), np.float32)
    chol[..., 0] = chol[..., 3] = chol[..., 5] = 0.03
    lconst = np.full((2, K), -12.0, np.float32)
    hard = np.zeros(N, np.uint8)   # no fixed pixels: their capacity (1e9) would swamp the others
    out = []
    for k in mods:
        w = np.empty((4, 40, 60), np.float32)
        beta = k.edge_weights(img, 50.0, 8, 1, w)
        src, snk, comp = np.empty(N, np.float32), np.empty(N, np.float32), np.empty((2, N), np.uint8)
        energy = k.unaries(X, means, chol, lconst, hard, 1e9, 1, src, snk, comp)
        out.append((w, beta, src, snk, comp, energy))
    for i, what in enumerate(("edge weights", "beta", "source capacities", "sink capacities")):
        _close(out[0][i], out[1][i], 1e-6, what)
    _mostly_equal(out[0][4], out[1][4], 0.999, "most likely components")
    _close(out[0][5], out[1][5], 1e-6, "energy")
