"""Every compiled kernel entry point refuses wrong arrays itself (issue 19).

The kernels index raw pointers with bounds checks off.  The Python layer prepares
their arrays, but a caller that reaches a kernel through ``gmmfast._dispatch.load``
must get a ValueError or TypeError for a wrong array, never a read or write outside
it.  For every def of every kernel module in the build's manifest, ``CASES`` holds
one valid call on small arrays; the tests check that call works, then break one
argument at a time (None, a wrong or byte-swapped dtype, a non-contiguous, read-only
or extra-dimensional array, one more element along an axis, a zero or negative
thread count, values that would index outside an array) and expect an exception.
An entry point with no case fails ``test_every_entry_point_has_a_case``, so a new
kernel cannot be left out.  Under tools/sanitize.sh a missing check shows up as an
AddressSanitizer report even where the wrong call happens not to crash.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest

from gmmfast import _dispatch

# entry points that take no arrays (sizes and diagnostics)
NO_ARRAYS = {
    "_gmm.n_chunks", "_gmm.n_blocks", "_gmm.n_stats", "_kmeans.n_chunks", "_kmeans.chunk_size",
    "_grabcut.max_components", "_pixelgmm.fused_lanes", "_knn.record_size", "_imagekernels.srgb_linear_lut",
    "_maxflow.Solver.run", "_maxflow.Solver.unused_source", "_maxflow.Solver.trees",
    "_maxflow.Solver.residual_terminals", "_maxflow.Solver.residual_arcs",
}


@dataclass
class Case:
    """A valid call of an entry point and what may change in it without an error."""

    fn: Callable[..., Any]
    kwargs: dict[str, Any]
    free: set[tuple[str, int]] = field(default_factory=set)   # (argument, axis) of any size
    optional: set[str] = field(default_factory=set)           # arguments that may be None
    strided: set[str] = field(default_factory=set)            # any strides accepted
    bad: list[dict[str, Any]] = field(default_factory=list)   # more wrong calls (overrides)


def _mod(kernel: str):
    return _dispatch.load(kernel)


def _f32(*shape: int, value: float = 1.0) -> np.ndarray:
    return np.full(shape, value, np.float32)


def _u8(*shape: int, value: int = 0) -> np.ndarray:
    return np.full(shape, value, np.uint8)


def _gmm_inputs(N: int = 700, d: int = 2, K: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return dict(X=rng.normal(size=(N, d)).astype(np.float32),
                means=rng.normal(size=(K, d)).astype(np.float32),
                prec=np.tile(np.eye(d, dtype=np.float32).ravel(), K), log_const=_f32(K, value=-2.0))


def _gmm_em_pass() -> Case:
    m = _mod("_gmm")
    a = _gmm_inputs()
    nb, ns = m.n_blocks(700), m.n_stats(2, m.FULL)
    return Case(m.em_pass, dict(a, kind=m.FULL, block_stats=np.zeros((nb, 3 * ns)),
                                block_loglik=np.zeros(nb), n_threads=2),
                free={("X", 0)}, bad=[dict(kind=7)])


def _gmm_e_step() -> Case:
    m = _mod("_gmm")
    return Case(m.e_step, dict(_gmm_inputs(), kind=m.FULL, n_threads=2, log_prob_norm=_f32(700),
                               labels=np.zeros(700, np.intp), resp=_f32(700, 3),
                               weighted_log_prob=_f32(700, 3)),
                optional={"log_prob_norm", "labels", "resp", "weighted_log_prob"},
                bad=[dict(means=_f32(0, 2), prec=_f32(0), log_const=_f32(0))])


def _gmm_elementwise(name: str) -> Callable[[], Case]:
    return lambda: Case(getattr(_mod("_gmm"), name), dict(x=_f32(10, value=-0.5)), free={("x", 0)})


def _gmm_hard_stats() -> Case:
    m = _mod("_gmm")
    a = _gmm_inputs()
    labels = np.arange(700, dtype=np.intp) % 4 - 1
    return Case(m.hard_stats, dict(X=a["X"], labels=labels, ref=a["means"], kind=m.FULL,
                                   chunk_stats=np.zeros((m.n_chunks(700), 3 * m.n_stats(2, m.FULL))),
                                   n_threads=2),
                bad=[dict(labels=labels + 1), dict(labels=labels - 1)])


def _gmm_params(m, K: int = 3, d: int = 2) -> dict[str, np.ndarray]:
    eye = np.tile(np.eye(d).ravel(), K)
    return dict(weights=np.full(K, 1.0 / K), means=np.zeros((K, d)), cov=eye.copy(), pchol=eye.copy(),
                k_means=_f32(K, d), k_prec=_f32(K * d * d), k_log_const=_f32(K))


def _gmm_m_step() -> Case:
    m = _mod("_gmm")
    em = _gmm_em_pass()
    em.fn(**em.kwargs)
    stats = dict(block_stats=em.kwargs["block_stats"], block_loglik=em.kwargs["block_loglik"])
    return Case(m.m_step, dict(stats, n_samples=700, ref=em.kwargs["means"], cov_type=0,
                               reg_covar=1e-6, eps=1e-10, stats=np.zeros((3, m.n_stats(2, m.FULL))),
                               **_gmm_params(m)),
                bad=[dict(cov_type=9)])


def _gmm_pack_params() -> Case:
    m = _mod("_gmm")
    return Case(m.pack_params, dict(cov_type=0, **_gmm_params(m)), bad=[dict(cov_type=-1)])


def _kmeans_column_variances() -> Case:
    X = np.random.default_rng(1).normal(size=(600, 3)).astype(np.float32)
    return Case(_mod("_kmeans").column_variances, dict(X=X, n_threads=2), free={("X", 0), ("X", 1)},
                bad=[dict(X=_f32(0, 3))])


def _kmeans_lloyd_pass() -> Case:
    m = _mod("_kmeans")
    nc = m.n_chunks(700)
    return Case(m.lloyd_pass, dict(X=_gmm_inputs()["X"], centers=_f32(3, 2), labels=np.zeros(700, np.int32),
                                   chunk_sums=np.zeros((nc, 9)), chunk_inertia=np.zeros(nc),
                                   chunk_changed=np.zeros(nc, np.int64), n_threads=2),
                bad=[dict(centers=_f32(0, 2), chunk_sums=np.zeros((nc, 0)))])


def _kmeans_candidate_potentials() -> Case:
    m = _mod("_kmeans")
    return Case(m.candidate_potentials,
                dict(X=_gmm_inputs()["X"], candidates=_f32(4, 2), closest=np.full(700, 5.0),
                     chunk_pots=np.zeros((m.n_chunks(700), 4)), n_threads=2, update=False),
                optional={"chunk_pots"}, bad=[dict(update=True)])


def _grabcut_edge_weights() -> Case:
    img = np.random.default_rng(2).integers(0, 255, (9, 11, 3), dtype=np.uint8)
    return Case(_mod("_grabcut").edge_weights,
                dict(img=img, gamma=50.0, connectivity=8, n_threads=2, out=_f32(4, 9, 11)),
                bad=[dict(connectivity=6), dict(img=img[:, :, :1].copy())])


def _grabcut_contrast_beta() -> Case:
    img = np.random.default_rng(3).integers(0, 255, (9, 11, 3), dtype=np.uint8)
    return Case(_mod("_grabcut").contrast_beta, dict(img=img, connectivity=4, n_threads=2),
                free={("img", 0), ("img", 1)}, bad=[dict(connectivity=6), dict(img=img[:, :, :1].copy())])


def _grabcut_unaries() -> Case:
    K, N = 3, 700
    chol = np.zeros((2, K, 6), np.float32)
    chol[:, :, [0, 3, 5]] = 0.05
    return Case(_mod("_grabcut").unaries,
                dict(X=_u8(N, 3, value=7), means=_f32(2, K, 3, value=100.0), chol=chol,
                     lconst=_f32(2, K, value=-9.0), hard=_u8(N), k_inf=1e9, n_threads=2,
                     src=_f32(N), snk=_f32(N), comp=_u8(2, N)),
                bad=[dict(means=_f32(2, 40, 3), chol=_f32(2, 40, 6), lconst=_f32(2, 40))])


def _grabcut_component_stats() -> Case:
    return Case(_mod("_grabcut").component_stats,
                dict(X=_u8(700, 3, value=9), alpha=_u8(700, value=1), comp=_u8(2, 700, value=2), K=3,
                     n_threads=2),
                bad=[dict(K=0), dict(K=1000)])


def _grabcut_block_sums() -> Case:
    # sizes that are multiples of f, so one more row or column changes the block count
    return Case(_mod("_grabcut").block_sums, dict(a=_f32(8, 10), f=2, out=_f32(4, 5)), bad=[dict(f=0)])


def _grabcut_block_edge_weights() -> Case:
    return Case(_mod("_grabcut").block_edge_weights,
                dict(w=_f32(4, 8, 10), f=2, out=_f32(4, 4, 5), n_threads=2),
                bad=[dict(f=0), dict(w=_f32(3, 8, 10), out=_f32(3, 4, 5))])


def _image_build_features() -> Case:
    m = _mod("_imagekernels")
    return Case(m.build_features,
                dict(img=_u8(5, 6, 3, value=3), kind=0, xy=False, lut=np.linspace(0, 255, 256),
                     xy_scale=1.0, out=_f32(30, 3), n_threads=2),
                free={("img", 2), ("lut", 0)},
                bad=[dict(kind=9), dict(lut=np.zeros(255)), dict(img=_u8(5, 6, 2))])


def _image_label_sums() -> Case:
    return Case(_mod("_imagekernels").label_sums,
                dict(pixels=_u8(50, 3, value=5), labels=_u8(50, value=1), K=4, n_threads=2),
                free={("pixels", 1)}, bad=[dict(K=-1)])


def _image_paint() -> Case:
    return Case(_mod("_imagekernels").paint,
                dict(labels=_u8(50, value=1), colours=_u8(4, 3, value=9), out=_u8(50, 3), n_threads=2),
                free={("colours", 0)})


def _image_potts_icm() -> Case:
    cost = np.random.default_rng(3).random((6 * 7, 3)).astype(np.float32)
    return Case(_mod("_imagekernels").potts_icm,
                dict(cost=cost, labels=_u8(42), H=6, W=7, weight=1.0, eps=0.01, max_sweeps=5, n_threads=2),
                free={("cost", 1)}, bad=[dict(H=-6, W=-7), dict(H=7, W=6 + 1)])


def _image_potts_energy() -> Case:
    cost = np.random.default_rng(4).random((42, 3)).astype(np.float32)
    return Case(_mod("_imagekernels").potts_energy,
                dict(cost=cost, labels=np.arange(42, dtype=np.uint8) % 3, H=6, W=7, weight=1.0),
                free={("cost", 1)}, bad=[dict(labels=_u8(42, value=3)), dict(H=-6, W=-7)])


def _mog2_state(K: int = 3, H: int = 5, W: int = 6) -> dict[str, np.ndarray]:
    state = np.zeros((K, 5, H, W), np.float32)
    state[:, 0] = 1.0 / K
    state[:, 1] = 15.0
    return dict(state=state, nmodes=_u8(H, W, value=K))


def _mog2_apply() -> Case:
    T, H, W = 2, 5, 6
    return Case(_mod("_mog2").apply,
                dict(frames=_u8(T, H, W, 3, value=40), known=_u8(T, H, W), **_mog2_state(),
                     masks=_u8(T, H, W), alphas=np.full(T, 0.01), var_threshold=16.0,
                     var_threshold_gen=9.0, background_ratio=0.9, var_init=15.0, var_min=4.0,
                     var_max=75.0, complexity_reduction=0.05, detect_shadows=True, shadow_value=127,
                     shadow_threshold=0.5, n_threads=2),
                free={("state", 0)}, optional={"known"},
                bad=[dict(nmodes=_u8(H, W, value=4)), dict(frames=_u8(T, H, W, 5))])


def _mog2_background() -> Case:
    # any mode count, and 1 to 4 channels (3 to 6 planes per mode)
    return Case(_mod("_mog2").background, dict(**_mog2_state(), background_ratio=0.9, n_threads=2),
                free={("state", 0), ("state", 1)}, strided={"state"},
                bad=[dict(nmodes=_u8(5, 6, value=4)), dict(state=_f32(3, 2, 5, 6)),
                     dict(state=_f32(3, 9, 5, 6))])


def _mog2_window_count_filter() -> Case:
    return Case(_mod("_mog2").window_count_filter, dict(src=_u8(7, 8, value=1), radius=1, lo=5, n_threads=2),
                free={("src", 0), ("src", 1)}, bad=[dict(radius=-1), dict(radius=101)])


def _mog2fb_suppress() -> Case:
    H, W = 5, 6
    return Case(_mod("_mog2fb").suppress,
                dict(frame=_u8(H, W, 3, value=40), **_mog2_state(H=H, W=W), raw=_u8(H, W, value=255),
                     v=_f32(H, W, value=2.0), out=_u8(H, W), radius=1, var_threshold=16.0,
                     background_ratio=0.9, v_on=1.0, n_threads=2),
                free={("state", 0)}, bad=[dict(nmodes=_u8(H, W, value=4)), dict(radius=-1)])


def _mog2fb_blink() -> Case:
    H, W = 5, 6
    return Case(_mod("_mog2fb").blink,
                dict(cand=_u8(H, W, value=1), fin=_u8(H, W), cand_prev=_u8(H, W), fin_prev=_u8(H, W),
                     v=_f32(H, W), v_incr=1.0, v_decr=0.1, v_max=10.0, n_threads=2))


def _mog2fb_clean_blink() -> Case:
    H, W = 5, 6
    return Case(_mod("_mog2fb").clean_blink,
                dict(cand=_u8(H, W, value=1), fin=_u8(H, W), tmp=_u8(H, W), tmp2=_u8(H, W),
                     cand_prev=_u8(H, W), fin_prev=_u8(H, W), v=_f32(H, W), median_radius=2,
                     closing_radius=1, v_incr=1.0, v_decr=0.1, v_max=10.0, n_threads=2),
                bad=[dict(median_radius=-1), dict(median_radius=8), dict(closing_radius=-1),
                     dict(closing_radius=8)])


def _mog2fb_hold() -> Case:
    H, W = 5, 6
    return Case(_mod("_mog2fb").hold,
                dict(fin=_u8(H, W, value=1), v=_f32(H, W), run=_u8(H, W), core=_u8(H, W), held=_u8(H, W),
                     v_on=2.0, max_run=30, n_threads=2),
                bad=[dict(max_run=-1)])


def _i32(*shape: int, value: int = 1) -> np.ndarray:
    return np.full(shape, value, np.int32)


def _mog2fb_frame_levels() -> Case:
    # odd sizes: one more row or column of the frame changes what half must be
    return Case(_mod("_mog2fb").frame_levels,
                dict(frame=_u8(5, 7, 3), channel=1, edges=_i32(5, 7), half=_i32(2, 3)),
                free={("frame", 2)}, bad=[dict(channel=3), dict(channel=-1)])


def _mog2fb_half_sum() -> Case:
    # odd sizes: one more row or column of src changes what dst must be
    return Case(_mod("_mog2fb").half_sum, dict(src=_i32(11, 13), dst=_i32(5, 6)))


def _mog2fb_edge_strength() -> Case:
    return Case(_mod("_mog2fb").edge_strength, dict(g=_i32(5, 6), out=_i32(5, 6)))


def _mog2fb_shift_search() -> Case:
    return Case(_mod("_mog2fb").shift_search,
                dict(cur=_i32(12, 14), ref=_i32(12, 14), cy=0, cx=0, rad=2, margin=3, cap=10, row_step=2),
                bad=[dict(margin=6), dict(margin=-1), dict(rad=-1), dict(cap=0), dict(row_step=0),
                     dict(cy=6), dict(cx=-6), dict(cap=2 ** 30)])


def _mog2fb_block_costs() -> Case:
    return Case(_mod("_mog2fb").block_costs,
                dict(cur=_i32(12, 14), ref=_i32(12, 14), a=1, b=-2, margin=3, cap=10, row_step=2,
                     row_offset=1, out=np.zeros((2, 2), np.int64)),
                free={("out", 0), ("out", 1)},
                bad=[dict(a=4), dict(b=-4), dict(margin=6), dict(cap=0), dict(row_step=0),
                     dict(row_offset=2), dict(row_offset=-1),
                     dict(out=np.zeros((4, 2), np.int64)), dict(out=np.zeros((2, 9), np.int64)),
                     dict(out=np.zeros((0, 2), np.int64))])


def _mog2fb_shift_copy() -> Case:
    # (dst over src is refused too: tests/test_shake.py, the harness copies every array)
    return Case(_mod("_mog2fb").shift_copy,
                dict(src=_u8(5, 6, 3), fill=_u8(5, 6, 3, value=9), dst=_u8(5, 6, 3), dy=1, dx=-2),
                optional={"fill"},
                bad=[dict(dy=5), dict(dy=-5), dict(dx=6), dict(dx=-6)])


def _knn_state(T: int = 2, H: int = 5, W: int = 6) -> tuple[dict[str, Any], np.ndarray]:
    """A KNN model after two frames (through the class), and the schedule of two more."""
    import gmmfast

    sub = gmmfast.BackgroundSubtractorKNN(n_threads=1)
    sub.apply_many(np.random.default_rng(6).integers(0, 255, (T, H, W, 3), dtype=np.uint8))
    st = {k: np.ascontiguousarray(sub.state_[k]) for k in ("samples", "pos", "slots")}
    return st, sub._schedule(T, -1.0, sub._params())


def _knn_apply() -> Case:
    T, H, W = 2, 5, 6
    st, schedule = _knn_state(T, H, W)
    n = st["samples"].shape[0] // 3
    return Case(_mod("_knn").apply,
                dict(frames=_u8(T, H, W, 3, value=40), known=_u8(T, H, W), **st, masks=_u8(T, H, W),
                     schedule=schedule, dist2_threshold=400.0, knn_samples=2, detect_shadows=True,
                     shadow_value=127, shadow_threshold=0.5, n_threads=2),
                optional={"known"}, free={("samples", 0)},
                bad=[dict(pos=np.full_like(st["pos"], n)), dict(frames=_u8(T, H, W, 5))])


def _knn_background() -> Case:
    st, _ = _knn_state()
    return Case(_mod("_knn").background, dict(samples=st["samples"], channels=3, n_threads=2),
                free={("samples", 0), ("samples", 1), ("samples", 2)}, strided={"samples"},
                bad=[dict(channels=1), dict(samples=st["samples"][:0])])


def _pixelgmm_fit(name: str) -> Callable[[], Case]:
    def case() -> Case:
        m = _mod("_pixelgmm")
        X = np.random.default_rng(5).integers(0, 255, (6, 40, 3), dtype=np.uint8)
        extra = (dict(n_components=2, max_iter=3, tol=1e-3, min_var=1.0, n_init_iter=2) if name == "em_fit"
                 else dict(n_clusters=2, n_iter=3))
        size = "n_components" if name == "em_fit" else "n_clusters"
        return Case(getattr(m, name), dict(X=X, scale=_f32(6), **extra, n_threads=2),
                    free={("X", 1), ("X", 2)},
                    bad=[{size: 0}, {size: 17}, dict(X=_u8(6, 40, 5)), dict(X=_u8(0, 40, 3), scale=_f32(0))])
    return case


def _pixelgmm_predict() -> Case:
    P, K, d = 40, 3, 3
    return Case(_mod("_pixelgmm").predict,
                dict(x=_u8(P, d, value=9), weights=_f32(P, K, value=1 / 3), means=_f32(P, K, d),
                     variances=_f32(P, K, d, value=4.0), scale=1.0, background_ratio=0.9, threshold=2.5,
                     n_threads=2),
                bad=[dict(weights=_f32(P, 17), means=_f32(P, 17, d), variances=_f32(P, 17, d))])


def _solver_build_grid() -> Case:
    H, W = 6, 7
    return Case(_mod("_maxflow").Solver().build_grid,
                dict(kind=0, w=_f32(2, H, W), wr=_f32(2, H, W), src=_f32(H, W), snk=_f32(H, W), greedy=True,
                     n_threads=2),
                optional={"wr"}, bad=[dict(kind=2), dict(kind=4), dict(kind=-1)])


def _solver_build_general() -> Case:
    n, ei, ej = 5, np.array([0, 1, 2, 3], np.int32), np.array([1, 2, 3, 4], np.int32)
    return Case(_mod("_maxflow").Solver().build_general,
                dict(kind=4, n=n, ei=ei, ej=ej, cap=_f32(4), rcap=_f32(4), src=_f32(n), snk=_f32(n)),
                bad=[dict(ei=ei + 2), dict(ej=ej - 2), dict(kind=5), dict(kind=0), dict(n=2**31, src=_f32(1),
                                                                                     snk=_f32(1))])


def _solver_change_terminals() -> Case:
    H, W = 6, 7
    solver = _mod("_maxflow").Solver()
    solver.build_grid(0, _f32(2, H, W), None, _f32(H, W), _f32(H, W, value=2.0))
    solver.run()
    idx = np.array([(i + 1) * (W + 1) + j + 1 for i, j in ((0, 0), (5, 6), (2, 3))], np.int32)
    return Case(solver.change_terminals, dict(idx=idx, delta=_f32(3)),
                bad=[dict(idx=idx * 0), dict(idx=idx + 7 * (W + 1)), dict(idx=idx + 1), dict(idx=-idx)])


CASES: dict[str, Callable[[], Case]] = {
    "_gmm.em_pass": _gmm_em_pass, "_gmm.e_step": _gmm_e_step, "_gmm.hard_stats": _gmm_hard_stats,
    "_gmm.m_step": _gmm_m_step, "_gmm.pack_params": _gmm_pack_params,
    **{f"_gmm.{f}": _gmm_elementwise(f) for f in ("exp_array", "exp2_neg_array", "log_array")},
    "_kmeans.column_variances": _kmeans_column_variances, "_kmeans.lloyd_pass": _kmeans_lloyd_pass,
    "_kmeans.candidate_potentials": _kmeans_candidate_potentials,
    "_grabcut.edge_weights": _grabcut_edge_weights, "_grabcut.contrast_beta": _grabcut_contrast_beta,
    "_grabcut.unaries": _grabcut_unaries,
    "_grabcut.component_stats": _grabcut_component_stats,
    "_grabcut.block_sums": _grabcut_block_sums, "_grabcut.block_edge_weights": _grabcut_block_edge_weights,
    "_imagekernels.build_features": _image_build_features, "_imagekernels.label_sums": _image_label_sums,
    "_imagekernels.paint": _image_paint, "_imagekernels.potts_icm": _image_potts_icm,
    "_imagekernels.potts_energy": _image_potts_energy,
    "_mog2.apply": _mog2_apply, "_mog2.background": _mog2_background,
    "_mog2.window_count_filter": _mog2_window_count_filter,
    "_mog2fb.suppress": _mog2fb_suppress, "_mog2fb.blink": _mog2fb_blink,
    "_mog2fb.clean_blink": _mog2fb_clean_blink, "_mog2fb.hold": _mog2fb_hold,
    "_mog2fb.frame_levels": _mog2fb_frame_levels, "_mog2fb.half_sum": _mog2fb_half_sum,
    "_mog2fb.edge_strength": _mog2fb_edge_strength, "_mog2fb.shift_search": _mog2fb_shift_search,
    "_mog2fb.block_costs": _mog2fb_block_costs, "_mog2fb.shift_copy": _mog2fb_shift_copy,
    "_knn.apply": _knn_apply, "_knn.background": _knn_background,
    "_pixelgmm.em_fit": _pixelgmm_fit("em_fit"), "_pixelgmm.kmeans_fit": _pixelgmm_fit("kmeans_fit"),
    "_pixelgmm.predict": _pixelgmm_predict,
    "_maxflow.Solver.build_grid": _solver_build_grid, "_maxflow.Solver.build_general": _solver_build_general,
    "_maxflow.Solver.change_terminals": _solver_change_terminals,
}


def _entry_points() -> list[str]:
    """Public callables of every kernel module the build lists (methods of its classes too)."""
    names = []
    for kernel in _dispatch.kernel_modules():
        module = _dispatch.load(kernel)
        for name, obj in vars(module).items():
            if name.startswith("_") or name in ("threads_used", "threads_reset") or not callable(obj):
                continue
            if getattr(obj, "__module__", module.__name__) != module.__name__:
                continue     # imported names (numpy)
            if inspect.isclass(obj):
                names += [f"{kernel}.{name}.{m}" for m in vars(obj)
                          if not m.startswith("_") and callable(getattr(obj, m))]
            else:
                names.append(f"{kernel}.{name}")
    return sorted(names)


def test_every_entry_point_has_a_case():
    found = set(_entry_points())
    assert found - set(CASES) - NO_ARRAYS == set(), "entry points with no case here"
    assert set(CASES) | NO_ARRAYS <= found, "cases for entry points that no longer exist"


def _swapped(a: np.ndarray) -> np.ndarray:
    return a.astype(a.dtype.newbyteorder())


def _strided(a: np.ndarray) -> np.ndarray:
    """Same shape and values, every other element of a twice-as-long last axis."""
    return np.repeat(a, 2, axis=-1)[..., ::2]


def _read_only(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


def _one_more(a: np.ndarray, axis: int) -> np.ndarray:
    return np.concatenate([a, a.take([0], axis=axis)], axis=axis)


def _wrong_versions(case: Case, name: str, a: np.ndarray) -> list[tuple[str, Any]]:
    """(label, replacement) pairs for array argument ``name`` that must be refused."""
    out = [("complex dtype", a.astype(np.complex128)), ("extra axis", a[None])]
    if name not in case.optional:
        out.append(("None", None))
    if a.dtype.itemsize > 1:
        out.append(("byte-swapped", _swapped(a)))
    if name not in case.strided and a.size > 1:
        out.append(("non-contiguous", _strided(a)))
    out += [(f"one more along axis {ax}", _one_more(a, ax))
            for ax in range(a.ndim) if (name, ax) not in case.free and a.shape[ax] > 0]
    return out


def _mutations(case: Case) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, value in case.kwargs.items():
        if isinstance(value, np.ndarray):
            out += [(f"{name}: {label}", {name: v}) for label, v in _wrong_versions(case, name, value)]
        elif name == "n_threads":
            out += [(f"n_threads={t}", {name: t}) for t in (0, -1)]
    out += [(f"override {sorted(b)}", b) for b in case.bad]
    return out


def _fresh_kwargs(case: Case) -> dict[str, Any]:
    return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in case.kwargs.items()}


@pytest.mark.parametrize("entry", sorted(CASES))
def test_valid_call_works(entry):
    case = CASES[entry]()
    case.fn(**_fresh_kwargs(case))


@pytest.mark.parametrize("entry", sorted(CASES))
def test_wrong_arrays_are_refused(entry):
    """Each broken argument raises ValueError or TypeError (and never crashes)."""
    missed = []
    for label, change in _mutations(CASES[entry]()):
        case = CASES[entry]()       # a fresh valid call: the previous one may have written
        try:
            case.fn(**{**_fresh_kwargs(case), **change})
        except (ValueError, TypeError):
            continue
        missed.append(label)
    assert missed == [], f"{entry} accepted: {missed}"


@pytest.mark.parametrize("entry", sorted(CASES))
def test_read_only_arrays(entry):
    """A read-only array is refused where the kernel writes, and left unchanged where it is read."""
    for name, value in CASES[entry]().kwargs.items():
        if not isinstance(value, np.ndarray):
            continue
        case = CASES[entry]()
        frozen = _read_only(case.kwargs[name])
        try:
            case.fn(**{**_fresh_kwargs(case), name: frozen})
        except ValueError as exc:
            assert "read-only" in str(exc), f"{entry}: {name}: {exc}"
            continue
        assert np.array_equal(frozen, value, equal_nan=True), f"{entry} wrote into read-only {name}"


def test_unbuilt_solver_refuses_queries():
    solver = _mod("_maxflow").Solver()
    for method in ("run", "unused_source", "trees", "residual_terminals", "residual_arcs"):
        with pytest.raises(RuntimeError, match="not built"):
            getattr(solver, method)()


def test_thread_count_is_checked_by_run():
    solver = _mod("_maxflow").Solver()
    solver.build_grid(0, _f32(2, 3, 4), None, _f32(3, 4), _f32(3, 4))
    with pytest.raises(ValueError, match="n_threads"):
        solver.run(n_threads=0)
