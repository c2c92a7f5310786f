"""Bit-identity check of the adaptive background pipeline (BackgroundSubtractor()).

    python tools/check_adaptive_masks.py save REF.npz     # with the reference build
    python tools/check_adaptive_masks.py check REF.npz    # with the build under test

Runs the pipeline over both CDnet clips (RGB uint8, grey uint8, RGB float32, grey
float32) and generated frames (shaking 320x240 and a 97x61 odd size, same dtypes), plus
parameter variants (radius 0/1/3, other clean-up windows, uint8 output, apply_many,
two threads), and stores or compares every mask frame by frame, and at the end the
blinking score and the MOG2 state.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

import gmmfast

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def clip(name: str, n: int | None = None) -> np.ndarray:
    files = sorted((DATA / name / "input").glob("in*.jpg"))[:n]
    if not files:
        raise SystemExit(f"no frames under {DATA / name}")
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])


def generated(h: int, w: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bg = rng.integers(40, 200, (h + 8, w + 8, 3)).astype(np.float32)
    out = []
    for t in range(n):
        dy, dx = rng.integers(0, 5, 2)
        f = bg[dy:dy + h, dx:dx + w] + rng.normal(0, 3, (h, w, 3))
        x0 = (4 * t) % max(1, w - 40)
        f[h // 3:h // 3 + h // 6, x0:x0 + 40] = 230
        out.append(np.clip(f, 0, 255).astype(np.uint8))
    return np.stack(out)


def grey(frames: np.ndarray) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(f).convert("L")) for f in frames])


def variants(frames: np.ndarray):
    yield "rgb_u8", frames
    yield "grey_u8", grey(frames)
    yield "rgb_f32", frames.astype(np.float32)
    yield "grey_f32", grey(frames).astype(np.float32)


def cases():
    traffic, highway = clip("cdnet-traffic"), clip("cdnet-highway")
    # the traffic clip twice over: the blinking scores keep growing
    traffic2 = np.concatenate([traffic, traffic])
    gen = generated(240, 320, 120, 0)
    odd = generated(61, 97, 80, 1)
    for src, frames in (("traffic", traffic2), ("highway", highway), ("gen", gen), ("odd", odd)):
        for kind, f in variants(frames):
            yield f"{src}/{kind}", f, {}, "apply"
    for params in ({"radius": 0}, {"radius": 1}, {"radius": 3}, {"blink_threshold": 0.5},
                   {"median_size": 3, "closing_size": 5}, {"median_size": 0, "closing_size": 0},
                   {"median_size": 7, "closing_size": 0}, {"output": "uint8"}, {"n_threads": 2},
                   {"n_components": 3}, {"n_components": 9}, {"detect_shadows": False}):
        tag = ",".join(f"{k}={v}" for k, v in params.items())
        yield f"traffic/rgb_u8/{tag}", traffic2, params, "apply"
        yield f"gen/grey_u8/{tag}", grey(gen), params, "apply"
    yield "traffic/rgb_u8/apply_many", traffic2, {}, "apply_many"
    yield "highway/rgb_f32/apply_many", highway.astype(np.float32), {}, "apply_many"


def run(frames, params, how):
    p = {"n_threads": 1, **params}
    bs = gmmfast.BackgroundSubtractor(**p)
    if how == "apply_many":
        masks = np.concatenate([bs.apply_many(frames[i:i + 17]) for i in range(0, len(frames), 17)])
    else:
        masks = np.stack([bs.apply(f) for f in frames])
    st = bs.model_.state_
    nm = st["nmodes"]
    # the state of the modes in use (the rest is stale and not part of the model)
    used = np.arange(st["state"].shape[0])[:, None, None] < nm[None]
    state = np.where(used[:, None], st["state"], 0)
    return {"masks": np.packbits(masks.view(np.uint8).astype(bool), axis=-1) if masks.dtype == bool
            else masks, "dtype": np.array(str(masks.dtype)), "blink": bs.blink_,
            "nmodes": nm, "state": state}


def main() -> int:
    mode, path = sys.argv[1], sys.argv[2]
    results = {}
    ref = np.load(path) if mode == "check" else None
    bad = 0
    for name, frames, params, how in cases():
        out = run(frames, params, how)
        for k, v in out.items():
            results[f"{name}|{k}"] = v
        if ref is not None:
            diffs = []
            for k, v in out.items():
                r = ref[f"{name}|{k}"]
                if r.shape != v.shape or r.dtype != v.dtype or not np.array_equal(r, v):
                    diffs.append(k)
            if k == "state":
                pass
            n = len(frames)
            if diffs:
                bad += 1
                m, rm = out["masks"], ref[f"{name}|masks"]
                first = next((i for i in range(n) if not np.array_equal(m[i], rm[i])), None)
                print(f"DIFF {name}: {diffs}, first differing frame {first}", flush=True)
            else:
                print(f"same {name}: {n} frames, masks/blink/nmodes/state identical", flush=True)
    if mode == "save":
        np.savez_compressed(path, **results)
        print(f"saved {len(results)} arrays to {path}")
        return 0
    print("ALL IDENTICAL" if not bad else f"{bad} CASES DIFFER")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
