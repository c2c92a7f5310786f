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
        cdef int32_t H = <int32_t>src.shape[0], W = <int32_t>src.shape[1]
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
        cdef int64_t m = ei.shape[0]
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
        cdef int64_t m = idx.shape[0]
        cdef const int32_t *pi = <const int32_t*>_ptr(idx)
        cdef const void *pd = _ptr(delta)
        if not self.allocated or self.pending:
            raise RuntimeError("solver not built or not run")
        with nogil:
            bk_change_tr(&self.g, m, pi, pd)

    def unused_source(self):
        """Sum over nodes of the residual source capacity, max(tr, 0)."""
        cdef double s
        with nogil:
            s = bk_sum_pos_tr(&self.g)
        return s

    def trees(self):
        """uint8 array (internal numbering): 0 free, 1 source tree, 2 sink tree."""
        cdef cnp.ndarray out = np.empty(self.g.n, dtype=np.uint8)
        with nogil:
            bk_read(&self.g, <uint8_t*>cnp.PyArray_DATA(out), NULL)
        return out

    def residual_terminals(self):
        """float64 array (internal numbering) of tr = residual source - sink capacity."""
        cdef cnp.ndarray out = np.empty(self.g.n, dtype=np.float64)
        with nogil:
            bk_read(&self.g, NULL, <double*>cnp.PyArray_DATA(out))
        return out

    def residual_arcs(self):
        """Copy of the residual arc capacities (internal layout; for tests and debugging)."""
        cdef Py_ssize_t m = self.g.n_arcs
        if self.g.kind & 1:
            return np.asarray(<double[:m]>(<double*>self.g.rc)).copy()
        return np.asarray(<float[:m]>(<float*>self.g.rc)).astype(np.float64)
