"""Time each compiled kernel's main workload under each CPU variant (bench/RESULTS.md,
"Kernel variants").

    python bench/kernel_variants.py [--rounds 5] [--variants baseline,avx2] [--kernels _gmm,_mog2]

Every measurement runs in a fresh interpreter with GMMFAST_KERNELS set, so each
variant is the module gmmfast._dispatch.load() really picks.  Rounds alternate the
variants (baseline, avx2, baseline, ...) so that a change of the machine's load hits
both; a round reports the best of --reps calls, the table the best round.  One
thread throughout (the variants differ in their vector code, not in threading), timed
in CPU seconds of the process: on a machine shared with other work, wall time also
counts the time the process waited for a core.

A kernel built once (portable) is the same module under every variant: to decide
again whether a kernel pays per variant, build every kernel per variant first:
    pip install --no-build-isolation -e . -Ccmake.define.GMMFAST_EVERY_KERNEL_PER_VARIANT=ON
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

# Each workload: a setup and a call, run in the child; `k` is load(kernel).
# 80 frames 640 x 480 RGB of a noisy still scene with a moving square: the online subtractors' input
_SUBTRACTOR_FRAMES = """
rng = np.random.default_rng(0)
H, W, T = 480, 640, 80
base = rng.integers(0, 256, (H, W, 3), dtype=np.int16)
frames = np.clip(base + rng.normal(0, 3, (T, H, W, 3)), 0, 255).astype(np.uint8)
for t in range(T):                          # a moving 80 x 80 object
    frames[t, 100:180, 6 * t:6 * t + 80] = 230
"""

WORKLOADS = {
    "_gmm": ("EM pass, 1M x 3 float32, K = 5, full covariances", """
rng = np.random.default_rng(0)
X = rng.normal(size=(1 << 20, 3)).astype(np.float32) * 40 + 120
K, d = 5, 3
means = X[rng.choice(len(X), K, replace=False)].copy()
prec = np.tile((np.eye(d) / 30).ravel(), K).astype(np.float32)
lc = np.full(K, -15.0, np.float32)
nb = k.n_blocks(len(X))
bs, bl = np.empty((nb, K * k.n_stats(d, 0))), np.empty(nb)
call = lambda: k.em_pass(X, means, prec, lc, 0, bs, bl, 1)
"""),
    "_kmeans": ("Lloyd pass, 1M x 3 float32, K = 5", """
rng = np.random.default_rng(0)
X = rng.normal(size=(1 << 20, 3)).astype(np.float32) * 40 + 120
C = X[:5].copy()
lab = np.zeros(len(X), np.int32)
nc = k.n_chunks(len(X))
cs, ci, cc = np.empty((nc, 5 * 4)), np.empty(nc), np.empty(nc, np.int64)
call = lambda: k.lloyd_pass(X, C, lab, cs, ci, cc, 1)
"""),
    "_maxflow": ("max-flow, 512 x 512 grid, 8 neighbours, float32", """
rng = np.random.default_rng(0)
H = W = 512
I = np.clip(0.5 + 0.4 * np.sin(np.mgrid[0:H, 0:W][1] / 30.0) + 0.2 * rng.standard_normal((H, W)), 0, 1)
w = np.ascontiguousarray(np.round(10 * rng.uniform(0, 1, (4, H, W))), np.float32)
s = np.ascontiguousarray(np.round(30 * I), np.float32)
t = np.ascontiguousarray(np.round(30 * (1 - I)), np.float32)
def call():
    sol = k.Solver()
    sol.build_grid(2, w, None, s, t, greedy=True, n_threads=1)
    sol.run(1, 0)
"""),
    "_mog2": ("MOG2, 20 frames of 640 x 480 RGB uint8, 5 modes, after 20 frames of learning", """
rng = np.random.default_rng(0)
T, H, W, C, K = 20, 480, 640, 3, 5
bg = rng.uniform(40, 200, (H, W, C))
frames = np.clip(bg + rng.normal(0, 4, (2 * T, H, W, C)), 0, 255).astype(np.uint8)
for t in range(2 * T):                      # a moving 80 x 80 object
    frames[t, 100:180, 10 * t:10 * t + 80] = 230
try:                                        # the state layout the Python layer uses
    from gmmfast._background import _padded_state
except ImportError:
    from gmmfast.background import _padded_state
alphas = np.full(T, 0.01)
st, nm = _padded_state(K, 2 + C, H, W), np.zeros((H, W), np.uint8)
masks = np.empty((T, H, W), np.uint8)
k.apply(frames[:T], None, st, nm, masks, np.full(T, 0.05), 16.0, 9.0, 0.9, 15.0, 4.0, 75.0, 0.05, True, 127, 0.5, 1)
def call():   # goes on learning: after the first 20 frames most pixels take the vectorised path
    k.apply(frames[T:], None, st, nm, masks, alphas, 16.0, 9.0, 0.9, 15.0, 4.0, 75.0, 0.05, True, 127, 0.5, 1)
"""),
    "_knn": ("KNN subtractor, 20 frames 640 x 480 RGB after 60 learnt, history 100", """
from gmmfast import BackgroundSubtractorKNN   # its kernel: load("_knn"), the variant of GMMFAST_KERNELS
""" + _SUBTRACTOR_FRAMES + """sub = BackgroundSubtractorKNN(history=100, n_threads=1)
sub.apply_many(frames[:60])                 # the update periods reach their steady length (history / 2)
call = lambda: sub.apply_many(frames[60:])  # goes on learning
"""),
    "_mog2fb": ("the adaptive pipeline's suppression + blinking passes, 20 x on a 640 x 480 RGB frame", """
from gmmfast import BackgroundSubtractor
""" + _SUBTRACTOR_FRAMES + """sub = BackgroundSubtractor(n_threads=1)
sub.apply_many(frames[:60])                 # learnt state, blinking scores, feedback planes
x = frames[60]
raw = sub.model_.apply(x)
st, p, fb = sub.model_.state_, sub.model_._params(), sub.feedback_
def call():   # only this kernel's two passes (the MOG2 update is _mog2's), the raw mask as the clean one
    for _ in range(20):
        k.suppress(x, st["state"], st["nmodes"], raw, sub.blink_, fb["cand"], int(sub.radius),
                   p.var_threshold, p.background_ratio, float(sub.blink_threshold), 1)
        k.blink(fb["cand"], fb["cand"], fb["cand_prev"], fb["fin_prev"], sub.blink_,
                sub._V_INCR, sub._V_DECR, sub._V_MAX, 1)
"""),
    "_imagekernels": ("Lab features of 1024 x 1024 RGB + Potts ICM (K = 4) on 512 x 512", """
rng = np.random.default_rng(0)
img = rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
lut = k.srgb_linear_lut(256)
out = np.empty((1024 * 1024, 3), np.float32)
H = W = 512
P = rng.dirichlet(np.full(4, 0.5), size=H * W).astype(np.float32)
lab = np.empty(H * W, np.uint8)
def call():
    k.build_features(img, 1, False, lut, 1.0, out, 1)
    k.potts_icm(P.copy(), lab, H, W, 0.8, 0.05, 20, 1)
"""),
    "_pixelgmm": ("PixelGMM EM, 60 frames of 160 x 120 RGB, K = 2", """
rng = np.random.default_rng(0)
T, P = 60, 160 * 120
X = np.clip(rng.normal(120, 20, (T, P, 3)), 0, 255).astype(np.uint8)
X[T // 2:, : P // 3] = rng.integers(0, 256, (T - T // 2, P // 3, 3))
scale = np.ones(T, np.float32)
call = lambda: k.em_fit(X, scale, 2, 10, 0.0, 1.0, 3, 1)
"""),
    "_grabcut": ("GrabCut unaries (K = 5) and edge weights, 1024 x 1024 RGB", """
rng = np.random.default_rng(0)
img = rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
X = img.reshape(-1, 3)
N, K = X.shape[0], 5
means = rng.uniform(0, 255, (2, K, 3)).astype(np.float32)
chol = np.zeros((2, K, 6), np.float32)
chol[..., 0] = chol[..., 3] = chol[..., 5] = 0.03
lc = np.full((2, K), -12.0, np.float32)
hard = np.zeros(N, np.uint8)
src, snk = np.empty(N, np.float32), np.empty(N, np.float32)
comp = np.empty((2, N), np.uint8)
wts = np.empty((4, 1024, 1024), np.float32)
def call():
    k.unaries(X, means, chol, lc, hard, 1e9, 1, src, snk, comp)
    k.edge_weights(img, 50.0, 8, 1, wts)
"""),
}

CHILD = """
import json, sys, time
import numpy as np
from gmmfast._dispatch import load
kernel, reps = sys.argv[1], int(sys.argv[2])
k = load(kernel)
{setup}
call()
best = float("inf")
for _ in range(reps):
    t0 = time.process_time()
    call()
    best = min(best, time.process_time() - t0)
print(json.dumps({{"module": k.__name__, "seconds": best}}))
"""


def run(kernel: str, variant: str, reps: int) -> dict:
    setup = WORKLOADS[kernel][1]
    env = dict(os.environ, GMMFAST_KERNELS=variant, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", CHILD.format(setup=setup), kernel, str(reps)],
                         env=env, capture_output=True, text=True, cwd=os.path.expanduser("~"))
    if out.returncode:
        raise RuntimeError(f"{kernel} under {variant}: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])   # the last line: an editable install may print first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--variants", default="baseline,avx2")
    ap.add_argument("--kernels", default=",".join(WORKLOADS))
    args = ap.parse_args()
    variants = args.variants.split(",")
    print(f"| kernel | workload | {' | '.join(v + ' ms' for v in variants)} | "
          f"{variants[-1]} / {variants[0]} | modules |")
    print("|---|---|" + "---|" * (len(variants) + 2))
    for kernel in args.kernels.split(","):
        best = {v: float("inf") for v in variants}
        modules = {}
        for _ in range(args.rounds):
            for v in variants:
                r = run(kernel, v, args.reps)
                best[v] = min(best[v], r["seconds"])
                modules[v] = r["module"].rsplit(".", 1)[-1]
        ms = " | ".join(f"{1e3 * best[v]:.1f}" for v in variants)
        ratio = best[variants[-1]] / best[variants[0]]
        mods = ", ".join(sorted(set(modules.values())))
        print(f"| {kernel} | {WORKLOADS[kernel][0]} | {ms} | {ratio:.2f} | {mods} |", flush=True)


if __name__ == "__main__":
    main()
