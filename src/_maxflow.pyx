# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Max-flow kernel: Boykov-Kolmogorov on implicit grids and CSR graphs.

The arithmetic lives in bk.h / bk_impl.h (C, no Python objects); this module
owns one ``bk_graph`` per solver object, fills it from NumPy arrays that the
Python layer has already validated and converted, and runs the solver with
the GIL released.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t
from _team cimport _team_count, _team_mark, _team_reset
from _checks cimport check_array, check_index32, check_threads, check_values

import numpy as np
cimport numpy as cnp

cnp.import_array()

include "_team.pxi"

cdef extern from "bk.h" nogil:
    ctypedef struct bk_state:
        int64_t n_aug, n_orphans
    ctypedef struct bk_graph:
        int kind
        int64_t n
        int64_t n_arcs
        int32_t H, W, Wp
        void *nodes
        void *rc
        bk_state st0
    int BK_G4F, BK_G4D, BK_G8F, BK_G8D, BK_GENF, BK_GEND
    void bk_free(bk_graph *g)
    int bk_grid_alloc(bk_graph *g, int kind, int32_t H, int32_t W)
    int bk_grid_solve_bands(bk_graph *g, int R, int n_threads, int greedy)
    void bk_grid_fill(bk_graph *g, const void *w, const void *wr, const void *src, const void *snk,
                      int n_threads)
    int bk_csr_build_gnf(bk_graph *g, int64_t n, int64_t m, const int32_t *ei,
                         const int32_t *ej, const float *cap, const float *rcap)
    int bk_csr_build_gnd(bk_graph *g, int64_t n, int64_t m, const int32_t *ei,
                         const int32_t *ej, const double *cap, const double *rcap)
    void bk_set_tr(bk_graph *g, const void *src, const void *snk)
    void bk_greedy(bk_graph *g)
    void bk_init_trees(bk_graph *g)
    void bk_run(bk_graph *g)
    void bk_change_tr(bk_graph *g, int64_t m, const int32_t *idx, const void *delta)
    void bk_read(const bk_graph *g, uint8_t *tree, double *tr)
    double bk_sum_pos_tr(const bk_graph *g)

KIND_GRID4_F32 = 0
KIND_GRID4_F64 = 1
KIND_GRID8_F32 = 2
KIND_GRID8_F64 = 3
KIND_GENERAL_F32 = 4
KIND_GENERAL_F64 = 5


cdef const void* _ptr(cnp.ndarray a):
    return <const void*>cnp.PyArray_DATA(a)


cdef object _cap_dtype(int kind):
    # odd kinds hold float64 capacities, even ones float32 (bk.h)
    return np.dtype(np.float64) if kind & 1 else np.dtype(np.float32)


cdef class Solver:
    """One max-flow problem held in C memory (see bk.h)."""

    cdef bk_graph g
    cdef bint allocated
    cdef bint pending       # filled, trees not built yet
    cdef bint greedy

    def __cinit__(self):
        self.allocated = False
        self.pending = False

    def __dealloc__(self):
        if self.allocated:
            bk_free(&self.g)

    cdef int _check_built(self) except -1:
        if not self.allocated:
            raise RuntimeError("solver not built")
        return 0

    cdef void _release(self):
        if self.allocated:
            bk_free(&self.g)
            self.allocated = False

    @property
    def kind(self):
        return self.g.kind if self.allocated else -1

    @property
    def n_nodes(self):
        return self.g.n if self.allocated else 0

    @property
    def stats(self):
        """Augmentations and orphans processed since the last build."""
        return {"augmentations": self.g.st0.n_aug, "orphans": self.g.st0.n_orphans}

    def build_grid(self, int kind, cnp.ndarray w, object wr, cnp.ndarray src,
                   cnp.ndarray snk, bint greedy=True, int n_threads=1):
        """Build a grid solver from C-contiguous arrays of the kind's dtype.

        w and wr: (D/2, H, W) forward / reverse arc capacities (wr None: w);
        src, snk: (H, W) terminal capacities; the rows are filled on
        n_threads threads.
        """
        if kind not in (KIND_GRID4_F32, KIND_GRID4_F64, KIND_GRID8_F32, KIND_GRID8_F64):
            raise ValueError(f"build_grid: unknown grid kind {kind}")
        check_threads(n_threads)
        if not isinstance(src, np.ndarray) or src.ndim != 2:
            raise ValueError("build_grid: src must be a 2-d array")
        # nodes are numbered (i + 1) * (W + 1) + j + 1 in int32 (bk.h)
        check_index32("the grid's node count", (src.shape[0] + 2) * (src.shape[1] + 1) + 1)
        cdef int32_t H = <int32_t>src.shape[0], W = <int32_t>src.shape[1]
        dt = _cap_dtype(kind)
        planes = (2 if kind < KIND_GRID8_F32 else 4, H, W)
        for name, a in (("w", w), ("src", src), ("snk", snk)) + ((("wr", wr),) if wr is not None else ()):
            check_array(a, name, dt, planes if name in ("w", "wr") else (H, W))
        cdef const void *pw = _ptr(w)
        cdef const void *pwr = NULL
        cdef const void *ps = _ptr(src)
        cdef const void *pt = _ptr(snk)
        cdef bint reuse = self.allocated and self.g.kind == kind and self.g.H == H and self.g.W == W
        cdef int rc = 0
        if wr is not None:
            pwr = _ptr(<cnp.ndarray>wr)
        with nogil:
            if not reuse:
                if self.allocated:
                    bk_free(&self.g)
                rc = bk_grid_alloc(&self.g, kind, H, W)
            if rc == 0:
                bk_grid_fill(&self.g, pw, pwr, ps, pt, n_threads)
        if rc != 0:
            self.allocated = False
            raise MemoryError("not enough memory for the max-flow grid")
        self.allocated = True
        self.pending = True
        self.greedy = greedy

    def build_general(self, int kind, int64_t n, cnp.ndarray ei, cnp.ndarray ej,
                      cnp.ndarray cap, cnp.ndarray rcap, cnp.ndarray src, cnp.ndarray snk,
                      bint greedy=True):
        """Build a CSR solver: edges ei[k] -> ej[k] (int32) with cap / rcap."""
        if kind != KIND_GENERAL_F32 and kind != KIND_GENERAL_F64:
            raise ValueError(f"build_general: unknown graph kind {kind}")
        check_index32("n (nodes)", n)
        if not isinstance(ei, np.ndarray) or ei.ndim != 1:
            raise ValueError("build_general: ei must be a 1-d array")
        # two arcs per edge, numbered in int32
        check_index32("the arc count", 2 * ei.shape[0])
        cdef int64_t m = ei.shape[0]
        dt = _cap_dtype(kind)
        for name, a, a_dt, shape in (("ei", ei, np.dtype(np.int32), (m,)), ("ej", ej, np.dtype(np.int32), (m,)),
                                     ("cap", cap, dt, (m,)), ("rcap", rcap, dt, (m,)),
                                     ("src", src, dt, (n,)), ("snk", snk, dt, (n,))):
            check_array(a, name, a_dt, shape)
        check_values("ei", ei, 0, n - 1)
        check_values("ej", ej, 0, n - 1)
        cdef const int32_t *pi = <const int32_t*>_ptr(ei)
        cdef const int32_t *pj = <const int32_t*>_ptr(ej)
        cdef const void *pc = _ptr(cap)
        cdef const void *pr = _ptr(rcap)
        cdef const void *ps = _ptr(src)
        cdef const void *pt = _ptr(snk)
        cdef int rc
        self._release()
        with nogil:
            if kind == BK_GENF:
                rc = bk_csr_build_gnf(&self.g, n, m, pi, pj, <const float*>pc, <const float*>pr)
            else:
                rc = bk_csr_build_gnd(&self.g, n, m, pi, pj, <const double*>pc, <const double*>pr)
            if rc == 0:
                bk_set_tr(&self.g, ps, pt)
        if rc != 0:
            raise MemoryError("not enough memory for the max-flow graph")
        self.allocated = True
        self.pending = True
        self.greedy = greedy

    def run(self, int n_threads=1, int n_bands=0):
        """Run (or resume) Boykov-Kolmogorov until no augmenting path is left.

        The first run after a build of a grid with n_bands >= 2 solves that
        many bands of rows on n_threads threads, then finishes on the whole
        grid (see bk_grid_solve_bands); otherwise one BK on the whole graph.
        """
        cdef int rc = -1
        cdef bint first = self.pending
        cdef bint greedy = self.greedy
        if not self.allocated:
            raise RuntimeError("solver not built")
        check_threads(n_threads)
        with nogil:
            if first and self.g.kind < BK_GENF and n_bands >= 2:
                rc = bk_grid_solve_bands(&self.g, n_bands, n_threads, greedy)
            if rc != 0:
                if first:
                    self.g.st0.n_aug = 0
                    self.g.st0.n_orphans = 0
                    if greedy:
                        bk_greedy(&self.g)
                    bk_init_trees(&self.g)
                bk_run(&self.g)
        self.pending = False

    def change_terminals(self, cnp.ndarray idx, cnp.ndarray delta):
        """Add delta[k] to the net terminal capacity (source - sink) of node idx[k]
        (internal node numbering, int32); the trees and the flow are kept."""
        if not self.allocated or self.pending:
            raise RuntimeError("solver not built or not run")
        if not isinstance(idx, np.ndarray) or idx.ndim != 1:
            raise ValueError("change_terminals: idx must be a 1-d array")
        cdef int64_t m = idx.shape[0]
        check_array(idx, "idx", np.dtype(np.int32), (m,))
        check_array(delta, "delta", _cap_dtype(self.g.kind), (m,))
        if self.g.kind < BK_GENF:
            # grid nodes are numbered (i + 1) * (W + 1) + j + 1; the others are padding,
            # whose neighbour offsets would leave the arrays
            check_values("idx // (W + 1)", idx // self.g.Wp, 1, self.g.H)
            check_values("idx % (W + 1)", idx % self.g.Wp, 1, self.g.W)
        else:
            check_values("idx", idx, 0, self.g.n - 1)
        cdef const int32_t *pi = <const int32_t*>_ptr(idx)
        cdef const void *pd = _ptr(delta)
        with nogil:
            bk_change_tr(&self.g, m, pi, pd)

    def unused_source(self):
        """Sum over nodes of the residual source capacity, max(tr, 0)."""
        self._check_built()
        cdef double s
        with nogil:
            s = bk_sum_pos_tr(&self.g)
        return s

    def trees(self):
        """uint8 array (internal numbering): 0 free, 1 source tree, 2 sink tree."""
        self._check_built()
        cdef cnp.ndarray out = np.empty(self.g.n, dtype=np.uint8)
        with nogil:
            bk_read(&self.g, <uint8_t*>cnp.PyArray_DATA(out), NULL)
        return out

    def residual_terminals(self):
        """float64 array (internal numbering) of tr = residual source - sink capacity."""
        self._check_built()
        cdef cnp.ndarray out = np.empty(self.g.n, dtype=np.float64)
        with nogil:
            bk_read(&self.g, NULL, <double*>cnp.PyArray_DATA(out))
        return out

    def residual_arcs(self):
        """Copy of the residual arc capacities (internal layout; for tests and debugging)."""
        self._check_built()
        cdef Py_ssize_t m = self.g.n_arcs
        if self.g.kind & 1:
            return np.asarray(<double[:m]>(<double*>self.g.rc)).copy()
        return np.asarray(<float[:m]>(<float*>self.g.rc)).astype(np.float64)
