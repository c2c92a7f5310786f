"""GaussianMixture benchmark: gmmfast against scikit-learn, one thread each.

Workload (issue 2): the pixels of a 1024x1024 RGB photograph (N = 1,048,576,
d = 3), K = 5, 50 EM iterations with tol=0, both libraries started from the same
initial parameters (weights/means/precisions of a k-means of the pixels, computed
once outside the timing).  The photograph is a GrabCut/BSDS image from
../shared/data resized with Pillow; without it (or without Pillow) a synthetic
image with smooth regions, edges and noise is used.

scikit-learn needs ~0.5 s per iteration here, so it is timed on fewer iterations
and extrapolated: T(50) = T(n) + (50 - n) * (T(2n) - T(n)) / n, which keeps its
fixed costs (initialisation, final E-step) once (n = 5 by default; ``--sklearn-iters
50`` times the full fit instead).  gmmfast always runs the full 50 iterations.

Two ways to run it:

* ``python bench/bench_mixture.py`` prints the ratio table for bench/RESULTS.md
  (``--quick`` for a 256x256 image while developing);
* ``pytest bench/bench_mixture.py --benchmark-only`` for pytest-benchmark's
  statistics (scikit-learn anchors with ``benchmark.pedantic(rounds=1)``; the
  anchors are skipped when scikit-learn or threadpoolctl is missing).

OpenBLAS tuning variables slow NumPy's BLAS on this machine; run the anchors with
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SIDE = 1024
K = 5
N_ITER = 50
FLOOR_MS = 7.0  # the hand-written C loop: float32, full, one AVX2 core, per iteration
TARGETS = {
    "fit full float32": 50.0,
    "fit full float64": 20.0,
    "predict_proba float64": 10.0,
    "predict_proba float32": 10.0,
    "fit 2 threads / 1 thread": 1.8,
    "k-means init": 5.0,
}


# --------------------------------------------------------------------------- workload


def load_image(side: int = SIDE) -> tuple[np.ndarray, str]:
    """An RGB photograph resized to side x side (uint8), and where it came from."""
    candidates = [SHARED_DATA / "grabcut" / "imgs" / "flower.jpg", SHARED_DATA / "bsds" / "images" / "41096.jpg"]
    candidates += sorted((SHARED_DATA / "grabcut" / "imgs").glob("*.jpg")) if SHARED_DATA.is_dir() else []
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is not None:
        for path in candidates:
            if path.is_file():
                with Image.open(path) as im:
                    im = im.convert("RGB").resize((side, side), Image.Resampling.BICUBIC)
                    return np.asarray(im, dtype=np.uint8), f"{path.relative_to(SHARED_DATA.parent.parent)} resized to {side}x{side}"
    return synthetic_image(side), f"synthetic {side}x{side} image (shared data or Pillow not available)"


def synthetic_image(side: int = SIDE) -> np.ndarray:
    """Smooth colour regions with edges, shading and sensor noise (deterministic)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:side, 0:side] / side
    img = np.zeros((side, side, 3))
    img[:] = [60, 110, 170]  # sky
    ground = yy > 0.55 + 0.05 * np.sin(6 * xx)
    img[ground] = [70, 120, 50]
    disc = (xx - 0.35) ** 2 + (yy - 0.5) ** 2 < 0.04
    img[disc] = [200, 60, 40]
    box = (np.abs(xx - 0.75) < 0.1) & (np.abs(yy - 0.7) < 0.15)
    img[box] = [230, 220, 200]
    img *= (0.7 + 0.3 * (1 - yy))[..., None]  # shading
    img += rng.normal(scale=6.0, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def pixels(img: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(img.reshape(-1, 3), dtype=dtype)


def initial_parameters(x: np.ndarray, covariance_type: str, reg_covar: float = 1e-6, seed: int = 0):
    """weights/means/precisions from one k-means of the pixels (float64), in sklearn's layouts."""
    from gmmfast._kmeans import kmeans

    x64 = x.astype(np.float64)
    res = kmeans(x64, K, random_state=seed)
    labels = np.asarray(res.labels)
    d = x.shape[1]
    weights = np.bincount(labels, minlength=K) / len(x)
    means = np.asarray(res.centers, dtype=np.float64)
    covs = np.stack([np.cov(x64[labels == j], rowvar=False, bias=True) + reg_covar * np.eye(d) for j in range(K)])
    if covariance_type == "full":
        prec = np.linalg.inv(covs)
    elif covariance_type == "tied":
        prec = np.linalg.inv(np.einsum("k,kij->ij", weights, covs))
    elif covariance_type == "diag":
        prec = 1.0 / np.diagonal(covs, axis1=1, axis2=2)
    else:
        prec = 1.0 / np.diagonal(covs, axis1=1, axis2=2).mean(axis=1)
    return weights, means, prec


def model_kwargs(inits, covariance_type: str, max_iter: int, dtype) -> dict:
    w, m, p = inits
    return dict(
        n_components=K,
        covariance_type=covariance_type,
        tol=0.0,
        max_iter=max_iter,
        weights_init=w,
        means_init=m.astype(dtype),
        precisions_init=p.astype(dtype),
        init_params="random_from_data",  # every initial parameter is given
        random_state=0,
    )


@contextlib.contextmanager
def one_thread_sklearn():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def fit_gmmfast(x, inits, covariance_type, n_threads=1, max_iter=N_ITER):
    from gmmfast import GaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(**model_kwargs(inits, covariance_type, max_iter, x.dtype), n_threads=n_threads).fit(x)


def fit_sklearn(x, inits, covariance_type, max_iter=N_ITER):
    from sklearn.mixture import GaussianMixture

    kw = model_kwargs(inits, covariance_type, max_iter, x.dtype)
    w = kw["weights_init"].astype(x.dtype)
    kw["weights_init"] = w / w.sum()
    with warnings.catch_warnings(), one_thread_sklearn():
        warnings.simplefilter("ignore")
        return GaussianMixture(**kw).fit(x)


# --------------------------------------------------------------------------- script mode


def best_time(fn, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def sklearn_fit_time(x, inits, covariance_type, n: int) -> tuple[float, str]:
    """Time of a 50-iteration scikit-learn fit, measured or extrapolated from n and 2n iterations."""
    if n >= N_ITER:
        return best_time(lambda: fit_sklearn(x, inits, covariance_type, N_ITER), 1), "measured"
    t1 = best_time(lambda: fit_sklearn(x, inits, covariance_type, n), 1)
    t2 = best_time(lambda: fit_sklearn(x, inits, covariance_type, 2 * n), 1)
    per_iter = (t2 - t1) / n
    if per_iter <= 0 or t1 - n * per_iter < 0:  # too noisy to split fixed and per-iteration cost
        return t2 * N_ITER / (2 * n), f"scaled from {2 * n} iterations"
    return t1 + (N_ITER - n) * per_iter, f"extrapolated from {n} and {2 * n} iterations"


def machine_line() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs"


def run_script(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="256x256 image (development only)")
    ap.add_argument("--sklearn-iters", type=int, default=5,
                    help="time scikit-learn on n and 2n iterations and extrapolate to 50 (>= 50: measure 50)")
    ap.add_argument("--repeat", type=int, default=3, help="gmmfast timings: best of this many runs")
    args = ap.parse_args(argv)

    import gmmfast
    from gmmfast._kmeans import kmeans

    try:
        import sklearn
        from sklearn.cluster import KMeans
        import threadpoolctl  # noqa: F401
        have_sk = True
    except ImportError:
        have_sk = False

    side = 256 if args.quick else SIDE
    img, source = load_image(side)
    x64, x32 = pixels(img, np.float64), pixels(img, np.float32)
    print(f"# gmmfast {gmmfast.__version__} GaussianMixture benchmark")
    print(f"machine: {machine_line()}; kernels: {_variant()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}"
          + (f", scikit-learn {sklearn.__version__}" if have_sk else ", scikit-learn not installed"))
    print(f"workload: {source}: N={len(x64)}, d=3, K={K}, {N_ITER} EM iterations, tol=0, same initial parameters")
    env_note = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ]
    if env_note:
        print(f"warning: {', '.join(env_note)} set; unset them for the scikit-learn anchors")
    print()

    rows = []

    def row(name, ours, theirs, note=""):
        ratio = theirs / ours if theirs is not None else None
        rows.append((name, ours, theirs, ratio, TARGETS.get(name), note))
        r = f"{ratio:7.1f}x" if ratio is not None else "      -"
        t = f"{theirs:9.3f}" if theirs is not None else "        -"
        print(f"  {name:28s} gmmfast {ours:8.4f} s   sklearn {t} s   {r}  {note}", flush=True)

    inits_cache = {}

    def inits(ct):
        if ct not in inits_cache:
            inits_cache[ct] = initial_parameters(x64, ct)
        return inits_cache[ct]

    per_iter_ms = {}
    for ct, dtype in (("full", np.float32), ("full", np.float64), ("diag", np.float32),
                      ("spherical", np.float32), ("tied", np.float32)):
        x = x32 if dtype == np.float32 else x64
        ours = best_time(lambda: fit_gmmfast(x, inits(ct), ct, 1), args.repeat)
        per_iter_ms[(ct, np.dtype(dtype).name)] = 1000 * ours / N_ITER
        theirs, note = sklearn_fit_time(x, inits(ct), ct, args.sklearn_iters) if have_sk else (None, "")
        row(f"fit {ct} {np.dtype(dtype).name}", ours, theirs, note)

    # one and two threads alternate, so that a change in the machine's load hits both alike;
    # best of 8 each: the host steals time from either vCPU, and a two-thread run waits for both
    one = two = np.inf
    for _ in range(max(args.repeat, 8)):
        one = min(one, best_time(lambda: fit_gmmfast(x32, inits("full"), "full", 1), 1))
        two = min(two, best_time(lambda: fit_gmmfast(x32, inits("full"), "full", 2), 1))
    rows.append(("fit 2 threads / 1 thread", two, one, one / two, TARGETS["fit 2 threads / 1 thread"], "full float32"))
    print(f"  {'fit 2 threads / 1 thread':28s} 1 thread {one:8.4f} s   2 threads {two:8.4f} s   {one / two:5.2f}x", flush=True)

    for dtype, x in ((np.float64, x64), (np.float32, x32)):
        ours_model = fit_gmmfast(x, inits("full"), "full", 1, max_iter=5)
        ours = best_time(lambda: ours_model.predict_proba(x), args.repeat)
        theirs = None
        if have_sk:
            sk_model = fit_sklearn(x, inits("full"), "full", max_iter=5)
            with one_thread_sklearn():
                theirs = best_time(lambda: sk_model.predict_proba(x), 2)
        row(f"predict_proba {np.dtype(dtype).name}", ours, theirs)

    ours = best_time(lambda: kmeans(x32, K, random_state=0, n_threads=1), args.repeat)
    n_it = kmeans(x32, K, random_state=0, n_threads=1).n_iter
    theirs, note = None, f"gmmfast {n_it} Lloyd iterations"
    if have_sk:
        # the same number of Lloyd iterations (tol=0): left to its own tolerance scikit-learn's
        # k-means runs 40 here from its own k-means++ draw, and the ratio would time that difference
        sk_kmeans = KMeans(K, n_init=1, random_state=0, max_iter=n_it, tol=0)
        with one_thread_sklearn():
            theirs = best_time(lambda: sk_kmeans.fit(x32), 1)
            note += f", sklearn {sk_kmeans.fit(x32).n_iter_}"
    row("k-means init", ours, theirs, note)

    print()
    print("| measurement | gmmfast (s) | scikit-learn (s) | ratio | target |")
    print("|---|---:|---:|---:|---:|")
    for name, ours, theirs, ratio, target, note in rows:
        if name == "fit 2 threads / 1 thread":
            print(f"| {name} ({note}) | {ours:.3f} (2 thr) | {theirs:.3f} (1 thr, gmmfast) | {ratio:.2f}x | >= {target}x |")
            continue
        t = f"{theirs:.3f}" if theirs is not None else "-"
        r = f"**{ratio:.1f}x**" if ratio is not None else "-"
        tg = f">= {target:g}x" if target else ("as full" if name.startswith("fit") else "")
        print(f"| {name} | {ours:.3f} | {t} | {r} | {tg} |")
    print()
    print("Per EM iteration, gmmfast, one thread (issue's floor: 7 ms, float32 full on one AVX2 core):")
    for (ct, dt), ms in per_iter_ms.items():
        print(f"- {ct} {dt}: {ms:.1f} ms")
    return 0


def _variant() -> str:
    try:
        from gmmfast._dispatch import VARIANT

        return VARIANT
    except Exception:  # pragma: no cover - informative only
        return "?"


# --------------------------------------------------------------------------- pytest-benchmark mode

try:
    import pytest
except ImportError:  # script mode without pytest
    pytest = None

if pytest is not None:

    @pytest.fixture(scope="module")
    def workload():
        # GMMFAST_BENCH_SIDE: a smaller image to check the benchmark itself quickly
        img, source = load_image(int(os.environ.get("GMMFAST_BENCH_SIDE", SIDE)))
        x64 = pixels(img, np.float64)
        return {"source": source, np.float64: x64, np.float32: pixels(img, np.float32), "inits": {}}

    def _inits(workload, ct):
        if ct not in workload["inits"]:
            workload["inits"][ct] = initial_parameters(workload[np.float64], ct)
        return workload["inits"][ct]

    def _sklearn_or_skip():
        pytest.importorskip("sklearn")
        pytest.importorskip("threadpoolctl")

    FIT_CASES = [("full", np.float32), ("full", np.float64), ("diag", np.float32), ("spherical", np.float32),
                 ("diag", np.float64), ("spherical", np.float64)]
    FIT_IDS = [f"{ct}-{np.dtype(dt).name}" for ct, dt in FIT_CASES]
    SK_ITERS = int(os.environ.get("GMMFAST_BENCH_SKLEARN_ITERS", "10"))

    @pytest.mark.parametrize("ct, dtype", FIT_CASES, ids=FIT_IDS)
    def test_fit_gmmfast(benchmark, workload, ct, dtype):
        x, inits = workload[dtype], _inits(workload, ct)
        benchmark.group = f"fit {ct} {np.dtype(dtype).name}"
        benchmark.extra_info.update(iterations=N_ITER, workload=workload["source"])
        gm = benchmark.pedantic(fit_gmmfast, args=(x, inits, ct, 1), rounds=3, iterations=1)
        assert gm.n_iter_ == N_ITER

    @pytest.mark.parametrize("ct, dtype", FIT_CASES, ids=FIT_IDS)
    def test_fit_sklearn(benchmark, workload, ct, dtype):
        """scikit-learn on GMMFAST_BENCH_SKLEARN_ITERS iterations (default 10): multiply by 50/n to compare."""
        _sklearn_or_skip()
        x, inits = workload[dtype], _inits(workload, ct)
        benchmark.group = f"fit {ct} {np.dtype(dtype).name}"
        benchmark.extra_info.update(iterations=SK_ITERS, scale_to_50=N_ITER / SK_ITERS)
        gm = benchmark.pedantic(fit_sklearn, args=(x, inits, ct, SK_ITERS), rounds=1, iterations=1)
        assert gm.n_iter_ == SK_ITERS

    @pytest.mark.parametrize("n_threads", [1, 2])
    def test_fit_gmmfast_threads(benchmark, workload, n_threads):
        x, inits = workload[np.float32], _inits(workload, "full")
        benchmark.group = "fit full float32, threads"
        benchmark.pedantic(fit_gmmfast, args=(x, inits, "full", n_threads), rounds=3, iterations=1)

    @pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
    def test_predict_proba_gmmfast(benchmark, workload, dtype):
        x = workload[dtype]
        gm = fit_gmmfast(x, _inits(workload, "full"), "full", 1, max_iter=5)
        benchmark.group = f"predict_proba {np.dtype(dtype).name}"
        p = benchmark.pedantic(gm.predict_proba, args=(x,), rounds=5, iterations=1)
        assert p.shape == (len(x), K)

    @pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
    def test_predict_proba_sklearn(benchmark, workload, dtype):
        _sklearn_or_skip()
        x = workload[dtype]
        gm = fit_sklearn(x, _inits(workload, "full"), "full", max_iter=5)
        benchmark.group = f"predict_proba {np.dtype(dtype).name}"
        with one_thread_sklearn():
            benchmark.pedantic(gm.predict_proba, args=(x,), rounds=2, iterations=1)

    def test_kmeans_gmmfast(benchmark, workload):
        from gmmfast._kmeans import kmeans

        benchmark.group = "k-means init float32"
        benchmark.pedantic(kmeans, args=(workload[np.float32], K), kwargs=dict(random_state=0, n_threads=1),
                           rounds=3, iterations=1)

    def test_kmeans_sklearn(benchmark, workload):
        _sklearn_or_skip()
        from sklearn.cluster import KMeans

        from gmmfast._kmeans import kmeans

        benchmark.group = "k-means init float32"
        n_it = kmeans(workload[np.float32], K, random_state=0, n_threads=1).n_iter   # the same iterations
        with one_thread_sklearn():
            benchmark.pedantic(lambda: KMeans(K, n_init=1, random_state=0, max_iter=n_it, tol=0).fit(workload[np.float32]),
                               rounds=1, iterations=1)


if __name__ == "__main__":
    sys.exit(run_script())
