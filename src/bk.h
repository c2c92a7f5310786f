/* Max-flow / min-cut kernels for gmmfast.maxflow (see bk_impl.h for the algorithm).
 *
 * One bk_graph holds a solver for one of six kinds: 2-D grid with 4 or 8
 * neighbours, or a general CSR graph, each with float or double residuals.
 * Grids are stored with a one-pixel zero border (one padding column shared by
 * both sides, one padding row above and below), so a node's neighbours are
 * p + off[d] without bounds tests.
 */
#ifndef GMMFAST_BK_H
#define GMMFAST_BK_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "template.h"
#include "team.h"
#if defined(__linux__)
#  include <sys/mman.h>
#endif

enum { BK_FREE = 0, BK_S = 1, BK_T = 2 };
enum { BK_G4F = 0, BK_G4D = 1, BK_G8F = 2, BK_G8D = 3, BK_GENF = 4, BK_GEND = 5 };

/* Solver state of one region: active FIFO, orphan ring, clock, node range. */
typedef struct {
    int32_t q_first, q_last;   /* active FIFO */
    int32_t *orph;             /* orphan ring */
    int64_t orph_cap, orph_h, orph_t;
    int32_t time;
    int64_t lo, hi;            /* nodes [lo, hi) initialised by this state */
    int64_t n_aug, n_orphans;  /* statistics */
} bk_state;

typedef struct {
    int kind;
    int64_t n;                 /* nodes, padding included */
    int64_t n_arcs;            /* residual entries */
    int32_t H, W, Wp;          /* grid shape and padded row length */
    int64_t off[8];            /* grid neighbour offsets per direction */
    void *nodes;               /* bk_node_<sfx> array (64-byte aligned) */
    void *rc;                  /* residual capacities (float or double, 64-byte aligned) */
    int32_t *nxt;              /* active FIFO link per node, double grids only (see bk_impl.h) */
    void *nodes_mem, *rc_mem, *nxt_mem;  /* the blocks to release (bk_zfree) */
    size_t nodes_len, rc_len, nxt_len;   /* their sizes; 0: from calloc */
    int64_t *first;            /* CSR: n + 1 row starts */
    int32_t *head, *sis;       /* CSR: arc head and reverse arc */
    bk_state st0;              /* whole-graph state */
    int fresh;                 /* arrays still zero from calloc */
} bk_graph;

static inline int bk_is_double(int kind) { return kind & 1; }
static inline int bk_is_grid(int kind) { return kind < BK_GENF; }
static inline int bk_dirs(int kind) { return kind < BK_G8F ? 4 : (kind < BK_GENF ? 8 : 0); }

/* Zeroed block of `size` bytes, 64-byte aligned.  Large blocks are mapped
 * directly, aligned to 2 MiB and marked for transparent huge pages: the
 * solver walks them in no particular order, and with 4 KiB pages a 1024 x 1024
 * grid costs tens of thousands of page faults and many TLB misses.  *mem and
 * *len receive what bk_zfree needs (len 0: the block came from calloc). */
#define BK_HUGE ((size_t)2 << 20)
static void *bk_zalloc(size_t size, void **mem, size_t *len)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (size >= BK_HUGE) {
        size_t maplen = size + BK_HUGE;
        char *m = (char *)mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != (char *)MAP_FAILED) {
            char *a = (char *)(((uintptr_t)m + BK_HUGE - 1) & ~(uintptr_t)(BK_HUGE - 1));
            madvise(a, size, MADV_HUGEPAGE);
            *mem = m; *len = maplen;
            return a;
        }
    }
#endif
    char *m = (char *)calloc(size + 64, 1);
    *mem = m; *len = 0;
    return m ? (void *)(((uintptr_t)m + 63) & ~(uintptr_t)63) : NULL;
}

static void bk_zfree(void *mem, size_t len)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (len) { munmap(mem, len); return; }
#endif
    (void)len;
    free(mem);
}

static void bk_free(bk_graph *g)
{
    bk_zfree(g->nodes_mem, g->nodes_len); bk_zfree(g->rc_mem, g->rc_len); bk_zfree(g->nxt_mem, g->nxt_len);
    g->nxt = NULL; g->nxt_mem = NULL; g->nxt_len = 0;
    free(g->first); free(g->head); free(g->sis); free(g->st0.orph);
    g->nodes = g->rc = g->nodes_mem = g->rc_mem = NULL; g->nodes_len = g->rc_len = 0; g->first = NULL; g->head = g->sis = g->st0.orph = NULL;
}

/* Allocate node, residual and orphan arrays (zeroed).  0 on success.  Defined after the
   node types (bk_impl.h), whose sizes it needs; bk_impl.h's CSR builder calls it. */
static int bk_alloc(bk_graph *g, int kind, int64_t n, int64_t n_arcs);

/* ---- grids ------------------------------------------------------------ */

static int bk_grid_alloc(bk_graph *g, int kind, int32_t H, int32_t W)
{
    int D = bk_dirs(kind);
    int32_t Wp = W + 1;
    int64_t n = (int64_t)(H + 2) * Wp + 1;
    memset(g, 0, sizeof(*g));
    if (bk_alloc(g, kind, n, n * D)) return -1;
    g->H = H; g->W = W; g->Wp = Wp;
    /* forward directions as the public API orders them, then their negations */
    static const int order4[4][2] = {{0, 1}, {1, 0}, {0, -1}, {-1, 0}};
    static const int order8[8][2] = {{0, 1}, {1, 0}, {1, 1}, {1, -1}, {0, -1}, {-1, 0}, {-1, -1}, {-1, 1}};
    for (int d = 0; d < D; d++) {
        int y = D == 4 ? order4[d][0] : order8[d][0];
        int x = D == 4 ? order4[d][1] : order8[d][1];
        g->off[d] = (int64_t)y * Wp + x;
    }
    return 0;
}

static inline int64_t bk_grid_index(const bk_graph *g, int64_t i, int64_t j)
{
    return (i + 1) * g->Wp + j + 1;
}

/* The solver for each graph kind and capacity type: bk_impl.h, included once per pair
   (bk_cap.h includes it for the three kinds of one capacity type). */
#define BK_DOUBLE 0
#include "bk_cap.h"
#define BK_DOUBLE 1
#include "bk_cap.h"

static size_t bk_node_size(int kind)
{
    switch (kind) {
    case BK_G4F: return sizeof(bk_node_g4f);
    case BK_G4D: return sizeof(bk_node_g4d);
    case BK_G8F: return sizeof(bk_node_g8f);
    case BK_G8D: return sizeof(bk_node_g8d);
    case BK_GENF: return sizeof(bk_node_gnf);
    default: return sizeof(bk_node_gnd);
    }
}

static int bk_alloc(bk_graph *g, int kind, int64_t n, int64_t n_arcs)
{
    size_t cs = bk_is_double(kind) ? sizeof(double) : sizeof(float);
    g->kind = kind; g->n = n; g->n_arcs = n_arcs;
    /* the 64-byte alignment puts a node's arc block in as few cache lines
     * as possible (one line for 8 double arcs) */
    g->nodes = bk_zalloc((size_t)n * bk_node_size(kind), &g->nodes_mem, &g->nodes_len);
    g->rc = bk_zalloc((size_t)(n_arcs > 0 ? n_arcs : 1) * cs, &g->rc_mem, &g->rc_len);
    if (kind == BK_G4D || kind == BK_G8D)
        g->nxt = (int32_t *)bk_zalloc((size_t)n * sizeof(int32_t), &g->nxt_mem, &g->nxt_len);
    bk_state *st = &g->st0;
    memset(st, 0, sizeof(*st));
    st->orph_cap = 2 * n + 1;
    st->orph = (int32_t *)malloc((size_t)st->orph_cap * sizeof(int32_t));
    st->q_first = st->q_last = -1;
    st->lo = 0; st->hi = n;
    if (!g->nodes || !g->rc || (!g->nxt && (kind == BK_G4D || kind == BK_G8D)) || !st->orph) {
        bk_free(g);
        return -1;
    }
    g->fresh = 1;
    return 0;
}

/* ---- dispatch on the graph kind ------------------------------------------ */

/* w, wr, src, snk: float for *F kinds, double for *D kinds */
static void bk_grid_fill(bk_graph *g, const void *w, const void *wr, const void *src, const void *snk,
                         int n_threads)
{
    int nt = n_threads > 1 ? n_threads : 1;
    switch (g->kind) {
    case BK_G4F: bk_grid_fill_g4f(g, w, wr, src, snk, nt); break;
    case BK_G4D: bk_grid_fill_g4d(g, w, wr, src, snk, nt); break;
    case BK_G8F: bk_grid_fill_g8f(g, w, wr, src, snk, nt); break;
    case BK_G8D: bk_grid_fill_g8d(g, w, wr, src, snk, nt); break;
    }
}

/* src, snk: float for BK_GENF, double for BK_GEND */
static void bk_set_tr(bk_graph *g, const void *src, const void *snk)
{
    if (g->kind == BK_GENF) bk_set_tr_gnf(g, src, snk);
    else bk_set_tr_gnd(g, src, snk);
}

static void bk_greedy_st(bk_graph *g, bk_state *st) { switch (g->kind) {
    case BK_G4F: bk_greedy_g4f(g, st); break; case BK_G4D: bk_greedy_g4d(g, st); break;
    case BK_G8F: bk_greedy_g8f(g, st); break; case BK_G8D: bk_greedy_g8d(g, st); break;
    case BK_GENF: bk_greedy_gnf(g, st); break; default: bk_greedy_gnd(g, st); } }
static void bk_greedy(bk_graph *g) { bk_greedy_st(g, &g->st0); }

static void bk_init_trees_st(bk_graph *g, bk_state *st) { switch (g->kind) {
    case BK_G4F: bk_init_trees_g4f(g, st); break; case BK_G4D: bk_init_trees_g4d(g, st); break;
    case BK_G8F: bk_init_trees_g8f(g, st); break; case BK_G8D: bk_init_trees_g8d(g, st); break;
    case BK_GENF: bk_init_trees_gnf(g, st); break; default: bk_init_trees_gnd(g, st); } }
static void bk_init_trees(bk_graph *g) { bk_init_trees_st(g, &g->st0); }

static void bk_run_st(bk_graph *g, bk_state *st) { switch (g->kind) {
    case BK_G4F: bk_run_g4f(g, st); break; case BK_G4D: bk_run_g4d(g, st); break;
    case BK_G8F: bk_run_g8f(g, st); break; case BK_G8D: bk_run_g8d(g, st); break;
    case BK_GENF: bk_run_gnf(g, st); break; default: bk_run_gnd(g, st); } }
static void bk_run(bk_graph *g) { bk_run_st(g, &g->st0); }

/* delta is float for *F kinds, double for *D kinds */
static void bk_change_tr(bk_graph *g, int64_t m, const int32_t *idx, const void *delta) { switch (g->kind) {
    case BK_G4F: bk_change_tr_g4f(g, &g->st0, m, idx, delta); break; case BK_G4D: bk_change_tr_g4d(g, &g->st0, m, idx, delta); break;
    case BK_G8F: bk_change_tr_g8f(g, &g->st0, m, idx, delta); break; case BK_G8D: bk_change_tr_g8d(g, &g->st0, m, idx, delta); break;
    case BK_GENF: bk_change_tr_gnf(g, &g->st0, m, idx, delta); break; default: bk_change_tr_gnd(g, &g->st0, m, idx, delta); } }

static void bk_read(const bk_graph *g, uint8_t *tree, double *tr) { switch (g->kind) {
    case BK_G4F: bk_read_g4f(g, tree, tr); break; case BK_G4D: bk_read_g4d(g, tree, tr); break;
    case BK_G8F: bk_read_g8f(g, tree, tr); break; case BK_G8D: bk_read_g8d(g, tree, tr); break;
    case BK_GENF: bk_read_gnf(g, tree, tr); break; default: bk_read_gnd(g, tree, tr); } }

static void bk_activate_range(bk_graph *g, bk_state *st, int64_t lo, int64_t hi) { switch (g->kind) {
    case BK_G4F: bk_activate_range_g4f(g, st, lo, hi); break; case BK_G4D: bk_activate_range_g4d(g, st, lo, hi); break;
    case BK_G8F: bk_activate_range_g8f(g, st, lo, hi); break; case BK_G8D: bk_activate_range_g8d(g, st, lo, hi); break;
    case BK_GENF: bk_activate_range_gnf(g, st, lo, hi); break; default: bk_activate_range_gnd(g, st, lo, hi); } }

/* Put back the arcs across boundary b (between bands b-1 and b) set aside
 * by bk_grid_solve_bands and wake the tree nodes of the two rows next to
 * it in state st. */
static void bk_grid_restore(bk_graph *g, const char *saved, int64_t per_b, const int64_t *row0,
                            int b, bk_state *st)
{
    const int D = bk_dirs(g->kind), K = D / 2;
    const int64_t W = g->W;
    const int dsz = bk_is_double(g->kind) ? 8 : 4;
    char *rc = (char *)g->rc;
    int64_t i = row0[b] - 1;
    const char *sv = saved + (b - 1) * per_b * dsz;
    for (int64_t j = 0; j < W; j++) {
        int64_t p = bk_grid_index(g, i, j);
        for (int d = 1; d < K; d++) {
            int64_t q = p + g->off[d];
            memcpy(rc + (p * D + d) * dsz, sv, dsz); sv += dsz;
            memcpy(rc + (q * D + (d ^ K)) * dsz, sv, dsz); sv += dsz;
        }
    }
    bk_activate_range(g, st, bk_grid_index(g, i, 0), bk_grid_index(g, i + 1, W - 1) + 1);
}

/* First solve of a freshly filled grid split into R bands of rows solved in
 * parallel on n_threads threads.  The arcs between bands are set aside (zero
 * residual both ways), every band runs greedy + BK on its own state, then the
 * arcs are put back, the nodes next to them are woken and BK resumes: the
 * bands' flows and trees are valid in the larger graph, so nothing is redone.
 * Neighbouring regions are merged pairwise, the merges of one level in
 * parallel (bands 0+1, 2+3, ... then pairs of those), and the last merge
 * runs on the whole graph.  With more bands than threads, a band that holds
 * most of the work (an object in one half of the image) no longer sets the
 * wall time alone.  Returns 0, or -1 when out of memory (nothing changed
 * then). */
static int bk_grid_solve_bands(bk_graph *g, int R, int n_threads, int greedy)
{
    const int D = bk_dirs(g->kind), K = D / 2;
    const int64_t H = g->H, W = g->W, Wp = g->Wp;
    const int dsz = bk_is_double(g->kind) ? 8 : 4;
    char *rc = (char *)g->rc;
    if (R < 2 || H < 2 * R) return -1;
    if (n_threads < 1) n_threads = 1;
    bk_state *sts = (bk_state *)calloc((size_t)R, sizeof(bk_state));
    int64_t *row0 = (int64_t *)malloc((size_t)(R + 1) * sizeof(int64_t));
    /* saved cut arcs: per boundary, per pixel of the row above, K - 1 forward
     * directions with dy = 1 (d = 1..K-1), forward and reverse */
    int64_t per_b = W * (K - 1) * 2;
    char *saved = (char *)malloc((size_t)((R - 1) * per_b + 1) * (size_t)dsz);
    int ok = sts && row0 && saved;
    for (int k = 0; ok && k <= R; k++) row0[k] = H * k / R;
    for (int k = 0; ok && k < R; k++) {
        int64_t lo = k == 0 ? 0 : (row0[k] + 1) * Wp;
        int64_t hi = k == R - 1 ? g->n : (row0[k + 1] + 1) * Wp;
        sts[k].lo = lo; sts[k].hi = hi;
        sts[k].orph_cap = 2 * (hi - lo) + 1;
        sts[k].orph = (int32_t *)malloc((size_t)sts[k].orph_cap * sizeof(int32_t));
        if (!sts[k].orph) ok = 0;
    }
    if (!ok) {
        if (sts) for (int k = 0; k < R; k++) free(sts[k].orph);
        free(sts); free(row0); free(saved);
        return -1;
    }
    /* cut */
    for (int b = 1; b < R; b++) {
        int64_t i = row0[b] - 1;            /* pixel row above the boundary */
        char *sv = saved + (b - 1) * per_b * dsz;
        for (int64_t j = 0; j < W; j++) {
            int64_t p = bk_grid_index(g, i, j);
            for (int d = 1; d < K; d++) {
                int64_t q = p + g->off[d];
                char *fw = rc + (p * D + d) * dsz, *bw = rc + (q * D + (d ^ K)) * dsz;
                memcpy(sv, fw, dsz); sv += dsz; memset(fw, 0, dsz);
                memcpy(sv, bw, dsz); sv += dsz; memset(bw, 0, dsz);
            }
        }
    }
    #pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
    for (int k = 0; k < R; k++) {
        gmmfast_team_mark();
        sts[k].q_first = sts[k].q_last = -1;
        if (greedy) bk_greedy_st(g, &sts[k]);
        bk_init_trees_st(g, &sts[k]);
        bk_run_st(g, &sts[k]);
    }
    /* merge neighbouring regions pairwise, the pairs of one level in
     * parallel, until two are left; the last merge runs on the whole graph */
    int nreg = R;
    int *rb = (int *)malloc((size_t)(R + 1) * sizeof(int));   /* region r = bands rb[r]..rb[r+1]-1 */
    if (rb) for (int r = 0; r <= R; r++) rb[r] = r;
    while (rb && nreg > 2) {
        int np = nreg / 2, ok2 = 1;
        bk_state *ms = (bk_state *)calloc((size_t)np, sizeof(bk_state));
        for (int m = 0; ms && m < np; m++) {
            ms[m].lo = sts[2 * m].lo; ms[m].hi = sts[2 * m + 1].hi;
            ms[m].orph_cap = 2 * (ms[m].hi - ms[m].lo) + 1;
            ms[m].orph = (int32_t *)malloc((size_t)ms[m].orph_cap * sizeof(int32_t));
            if (!ms[m].orph) ok2 = 0;
        }
        if (!ms || !ok2) {     /* out of memory: the final merge does it all */
            if (ms) for (int m = 0; m < np; m++) free(ms[m].orph);
            free(ms);
            break;
        }
        #pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
        for (int m = 0; m < np; m++) {
            gmmfast_team_mark();
            bk_state *A = &sts[2 * m], *B = &sts[2 * m + 1], *M = &ms[m];
            M->q_first = M->q_last = -1;
            M->time = A->time > B->time ? A->time : B->time;
            bk_grid_restore(g, saved, per_b, row0, rb[2 * m + 1], M);
            bk_run_st(g, M);
            M->n_aug += A->n_aug + B->n_aug;
            M->n_orphans += A->n_orphans + B->n_orphans;
        }
        for (int m = 0; m < np; m++) {
            free(sts[2 * m].orph); free(sts[2 * m + 1].orph);
            sts[m] = ms[m];
            rb[m] = rb[2 * m];
        }
        if (nreg & 1) { sts[np] = sts[nreg - 1]; rb[np] = rb[nreg - 1]; }
        nreg = np + (nreg & 1);
        rb[nreg] = R;
        free(ms);
    }
    bk_state *st = &g->st0;
    st->q_first = st->q_last = -1;
    st->orph_h = st->orph_t = 0;
    st->time = 0;
    st->n_aug = st->n_orphans = 0;
    for (int k = 0; k < nreg; k++) {
        if (sts[k].time > st->time) st->time = sts[k].time;
        st->n_aug += sts[k].n_aug;
        st->n_orphans += sts[k].n_orphans;
    }
    for (int r = 1; r < nreg; r++) bk_grid_restore(g, saved, per_b, row0, rb ? rb[r] : r, st);
    for (int k = 0; k < nreg; k++) free(sts[k].orph);
    free(sts); free(row0); free(saved); free(rb);
    bk_run(g);
    return 0;
}

static double bk_sum_pos_tr(const bk_graph *g) { switch (g->kind) {
    case BK_G4F: return bk_sum_pos_tr_g4f(g); case BK_G4D: return bk_sum_pos_tr_g4d(g);
    case BK_G8F: return bk_sum_pos_tr_g8f(g); case BK_G8D: return bk_sum_pos_tr_g8d(g);
    case BK_GENF: return bk_sum_pos_tr_gnf(g); default: return bk_sum_pos_tr_gnd(g); } }

#endif
