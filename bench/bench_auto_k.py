"""The cost of ``segment(photo, 'auto')`` on a 12-megapixel photo, against the previous BIC rule and a fixed K.

The previous rule (until this file was added) fitted every K of ``k_range``
(2..8) on the fitting subsample and kept the lowest BIC; the current one
(:mod:`gmmfast._auto_k`) stops two K past the last K whose components are
distinct.  The machine is shared, so the three calls alternate, round by
round, and the figures are ratios within one run:

- new: ``segment(photo, 'auto', n_threads=1)``;
- BIC: the same call with the previous rule substituted for the K search;
- fixed: ``segment(photo, K, n_threads=1)`` with the K the new rule chose
  (the cost of one fit plus the labelling of every pixel).

Target: the new rule costs no more than 1.25 x the BIC rule.

Run:  python -m pytest bench/bench_auto_k.py -p no:cacheprovider -o addopts="" -s

The photos are ``../shared/data/seed/plant_cells.jpg`` and ``rose.jpg``
upscaled to 4000 x 3000 (without the shared data, the built-in sample image
upscaled instead).
"""

from __future__ import annotations

import importlib.util
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import gmmfast
import gmmfast._segmentation as seg_module

pytest.importorskip("pytest_benchmark")


def _load_sibling(name: str):
    """A module of this folder (pytest's importlib mode does not put bench/ on sys.path)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_bic_rule = _load_sibling("auto_k_quality").bic_rule

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ROUNDS = 3
TARGET = 1.25


def _photo(stem: str) -> tuple[np.ndarray, str]:
    from PIL import Image

    src = DATA / "seed" / stem
    if src.is_file():
        im, name = Image.open(src).convert("RGB"), f"{src.name} upscaled"
    else:
        im, name = Image.fromarray(gmmfast.data.sample_image().image), "sample_image() upscaled"
    return np.asarray(im.resize((4000, 3000), Image.BICUBIC)), name


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


@pytest.mark.parametrize("stem", ["plant_cells.jpg", "rose.jpg"])
def test_auto_k_cost(benchmark, stem, monkeypatch):
    photo, name = _photo(stem)
    new_rule = seg_module._fit_mixture

    def new():
        return gmmfast.segment(photo, "auto", n_threads=1)

    def bic():
        monkeypatch.setattr(seg_module, "_fit_mixture", _bic_rule)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the BIC rule's large K may not converge
                return gmmfast.segment(photo, "auto", n_threads=1)
        finally:
            monkeypatch.setattr(seg_module, "_fit_mixture", new_rule)

    k_new = new().n_components
    times = {"new": [], "bic": [], "fixed": []}
    k_bic = None
    for _ in range(ROUNDS):
        times["fixed"].append(_timed(lambda: gmmfast.segment(photo, k_new, n_threads=1))[0])
        t, s = _timed(bic)
        times["bic"].append(t)
        k_bic = s.n_components
        t, s = _timed(new)
        times["new"].append(t)
        fit_new = s.timings["fit"]
    best = {k: min(v) for k, v in times.items()}
    benchmark.extra_info.update(best)
    benchmark.pedantic(new, rounds=1, iterations=1)
    print(f"\n{name}, 4000x3000, one thread, best of {ROUNDS} alternating rounds:\n"
          f"  new rule  K={k_new}: {best['new']:.3f} s (fit stage {fit_new:.3f} s)\n"
          f"  BIC rule  K={k_bic}: {best['bic']:.3f} s\n"
          f"  fixed K={k_new}:      {best['fixed']:.3f} s\n"
          f"  new / BIC = {best['new'] / best['bic']:.2f}, new / fixed = {best['new'] / best['fixed']:.2f}")
    assert best["new"] <= TARGET * best["bic"]
