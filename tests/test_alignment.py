"""Unaligned float arrays reach the kernels only as aligned copies.

NumPy accepts an array whose data starts at an odd address (``np.frombuffer``
at an offset, a block dask.distributed deserialised from a message, a memmap
at an odd offset), and ``ascontiguousarray`` keeps it so; the kernels read
elements through typed pointers, where that is undefined behaviour (the
UndefinedBehaviorSanitizer run of tools/sanitize.sh reported it in the Dask
fit).  On x86 the results would still come out right, so the checks here are
that what the Python layer hands on is aligned, and that results equal those
of an aligned copy.
"""

from __future__ import annotations

import numpy as np
import pytest

import gmmfast
from gmmfast import maxflow
from gmmfast._validation import check_frame, check_samples, kernel_array


def unaligned(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` whose data starts one byte past an aligned address."""
    raw = np.empty(a.nbytes + 1, np.uint8)
    out = np.ndarray(a.shape, a.dtype, buffer=raw, offset=1)
    out[...] = a
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_validation_hands_on_aligned_arrays(dtype):
    X = np.random.default_rng(0).normal(size=(500, 3)).astype(dtype)
    for got in (check_samples(unaligned(X)), kernel_array(unaligned(X)), kernel_array(unaligned(X), np.float64)):
        assert got.flags.aligned and got.flags.c_contiguous
        np.testing.assert_array_equal(got, X)
    frame = unaligned(np.random.default_rng(1).uniform(0, 255, (8, 9, 3)).astype(np.float32))
    assert check_frame(frame).flags.aligned
    aligned = np.ascontiguousarray(X)
    assert kernel_array(aligned) is aligned            # no copy when nothing is wrong


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unaligned_inputs_give_the_aligned_results(dtype):
    rng = np.random.default_rng(2)
    X = np.concatenate([rng.normal(c, 1, (400, 3)) for c in (0, 6, 12)]).astype(dtype)
    a = gmmfast.GaussianMixture(3, random_state=0).fit(X)
    b = gmmfast.GaussianMixture(3, random_state=0).fit(unaligned(X))
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(unaligned(X)))
    ka, kb = gmmfast.kmeans(X, 3, random_state=0), gmmfast.kmeans(unaligned(X), 3, random_state=0)
    np.testing.assert_array_equal(ka.centers, kb.centers)
    w = rng.uniform(0, 1, (20, 30)).astype(dtype)
    t = rng.normal(0, 1, (20, 30)).astype(dtype)
    flows = []
    for weights, terminals in ((w, t), (unaligned(w), unaligned(t))):
        g = maxflow.GridGraph((20, 30))
        g.set_neighbor_weights(weights)
        g.set_terminal_weights(np.maximum(terminals, 0), np.maximum(-terminals, 0))
        flows.append(g.maxflow())
    assert flows[0] == flows[1]


def test_pixel_gmm_frames_reach_the_kernel_aligned():
    from gmmfast._batch_background import _kernel_input

    frames = np.random.default_rng(3).uniform(0, 255, (6, 10, 12, 3)).astype(np.float32)
    got = _kernel_input(unaligned(frames))
    assert got.flags.aligned and got.shape == (6, 120, 3)
    a = gmmfast.PixelGMM(2, max_iter=3).fit(frames)
    b = gmmfast.PixelGMM(2, max_iter=3).fit(unaligned(frames))
    np.testing.assert_array_equal(a.means_, b.means_)
