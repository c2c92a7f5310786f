/* Boykov-Kolmogorov max-flow, one instantiation per (graph kind, capacity type).
 *
 * This file is included six times by bk.h (through bk_cap.h; see template.h for why the
 * code is specialised this way), with two macros defined:
 *   BK_DIRS     4 or 8: implicit 2-D grid with that many arcs per node; 0: CSR graph
 *   BK_DOUBLE   0: float capacities, 1: double
 * from which it derives
 *   BK_SFX      suffix of every function and type (g4f, g4d, g8f, g8d, gnf, gnd)
 *   CAP         capacity type (float or double)
 *   BK_GRID     1: grid, 0: CSR graph
 *   PAR_T       type of a node's parent-arc code
 *   BK_SEP_NEXT 1: active FIFO links in the array g->nxt, 0: in the node record
 * and #undefs them and BK_DIRS at its end (bk_cap.h #undefs BK_DOUBLE).
 *
 * Algorithm: Y. Boykov and V. Kolmogorov, "An experimental comparison of
 * min-cut/max-flow algorithms for energy minimization in vision", PAMI 2004:
 * two search trees (S grown from the source, T from the sink) that are kept
 * between augmentations, FIFO active queue, orphan adoption with the
 * timestamp/distance heuristic of section 3.3 of that paper.  Incremental
 * re-solving after terminal-capacity changes follows Kohli and Torr, "Dynamic
 * graph cuts", PAMI 2007: the residual graph and both trees are kept, only the
 * nodes whose terminal capacity changed are re-rooted or orphaned.
 *
 * Arc naming.  Grid: the arc (p, d) leaves node p in direction d (0..DIRS-1),
 * residual rc[p*DIRS+d], head p+off[d], reverse arc (head, d ^ DIRS/2).
 * General graph: arc a is global, from CSR rows first[p]..first[p+1]-1,
 * residual rc[a], head head[a], reverse arc sis[a].  A node's parent is the
 * arc from the node to its parent (direction or global index).
 */

#if BK_DOUBLE
#  define CAP double
#  define BK_CAP_LETTER d
#else
#  define CAP float
#  define BK_CAP_LETTER f
#endif
#if BK_DIRS == 4
#  define BK_KIND_NAME g4
#elif BK_DIRS == 8
#  define BK_KIND_NAME g8
#else
#  define BK_KIND_NAME gn
#endif
#define BK_GRID (BK_DIRS > 0)
#if BK_DIRS > 0
#  define PAR_T uint8_t
#else
#  define PAR_T int32_t
#endif
/* double-capacity grids keep the FIFO links apart (see NEXT below) */
#define BK_SEP_NEXT (BK_GRID && BK_DOUBLE)
#define BK_PASTE_(a, b) a##b
#define BK_PASTE(a, b) BK_PASTE_(a, b)
#define BK_SFX BK_PASTE(BK_KIND_NAME, BK_CAP_LETTER)
#define FN(name) GMMFAST_NAME(name, BK_SFX)
#define NODE FN(bk_node)

/* The active FIFO link of a node (-1 not queued, self = last) is NEXT(p).
 * With BK_SEP_NEXT (double-capacity grids) it lives in its own array
 * g->nxt: the tree walks never read it, and without it the record is 16
 * bytes instead of 24 (about 5 % less time; with float capacities the
 * record is 16 bytes either way and the separate array costs 3 %). */
typedef struct {
    CAP tr;          /* >0: residual source->node, <0: residual node->sink */
#if !BK_SEP_NEXT
    int32_t next;    /* active FIFO link */
#endif
    int32_t ts;      /* time the distance was last verified */
    uint16_t dist;   /* distance to the terminal (heuristic, saturates) */
    PAR_T parent;    /* arc to the parent, or PAR_TERM / PAR_ORPH / PAR_NONE */
    uint8_t tree;    /* BK_FREE, BK_S, BK_T */
} NODE;

#if BK_GRID
#  define PAR_TERM ((PAR_T)100)
#  define PAR_ORPH ((PAR_T)101)
#  define PAR_NONE ((PAR_T)102)
#  define ARC_BEGIN(p) 0
#  define ARC_END(p) BK_DIRS
#  define RC(p, a) rc[(int64_t)(p) * BK_DIRS + (a)]
#  define HEAD(p, a) ((int32_t)((p) + off[a]))
#  define SIS(a) ((a) ^ (BK_DIRS / 2))
#  define RCS(q, a) rc[(int64_t)(q) * BK_DIRS + SIS(a)]   /* reverse of arc a, whose head is q */
#  define IS_CHILD(p, a, q) (nd[q].parent == SIS(a))
#  define LOCALS const int64_t *off = g->off; (void)off;
#else
#  define PAR_TERM ((PAR_T)-1)
#  define PAR_ORPH ((PAR_T)-2)
#  define PAR_NONE ((PAR_T)-3)
#  define ARC_BEGIN(p) first[p]
#  define ARC_END(p) first[(p) + 1]
#  define RC(p, a) rc[a]
#  define HEAD(p, a) head[a]
#  define SIS(a) sis[a]
#  define RCS(q, a) rc[sis[a]]
#  define IS_CHILD(p, a, q) (nd[q].parent >= 0 && head[nd[q].parent] == (p))
#  define LOCALS const int64_t *first = g->first; const int32_t *head = g->head; const int32_t *sis = g->sis; (void)first; (void)head; (void)sis;
#endif

/* the node records, FIFO links and residuals of g, and the arc accessors' locals */
#define GRAPH_LOCALS NODE *nd = (NODE *)g->nodes; int32_t *nx = g->nxt; CAP *rc = (CAP *)g->rc; (void)nx; (void)rc; LOCALS
#define ARC_T int64_t
#if BK_SEP_NEXT
#  define NEXT(p) nx[p]
#else
#  define NEXT(p) nd[p].next
#endif
#ifndef DCLIP
#  define DCLIP(d) ((uint16_t)((d) < 65535 ? (d) : 65535))
#  define DINC(d) ((uint16_t)((d) < 65535 ? (d) + 1 : 65535))
#endif

static inline void FN(bk_activate)(bk_state *st, NODE *nd, int32_t *nx, int32_t p)
{
    (void)nd; (void)nx;
    if (NEXT(p) >= 0) return;
    NEXT(p) = p;
    if (st->q_last >= 0) NEXT(st->q_last) = p;
    else st->q_first = p;
    st->q_last = p;
}

static inline int32_t FN(bk_pop)(bk_state *st, NODE *nd, int32_t *nx)
{
    (void)nd; (void)nx;
    int32_t p = st->q_first;
    if (p < 0) return -1;
    int32_t n1 = NEXT(p);
    if (n1 == p) { st->q_first = st->q_last = -1; }
    else st->q_first = n1;
    NEXT(p) = -1;
    return p;
}

static inline void FN(bk_orphan)(bk_state *st, NODE *nd, int32_t p)
{
    nd[p].parent = PAR_ORPH;
    st->orph[st->orph_t] = p;
    st->orph_t = (st->orph_t + 1 == st->orph_cap) ? 0 : st->orph_t + 1;
}

/* Put every node in its initial tree: roots where tr != 0, all active. */
static void FN(bk_init_trees)(bk_graph *g, bk_state *st)
{
    NODE *nd = (NODE *)g->nodes;
    int32_t *nx = g->nxt;
    (void)nx;
    st->q_first = st->q_last = -1;
    st->orph_h = st->orph_t = 0;
    st->time = 0;
    CAP *rc = (CAP *)g->rc;
    LOCALS
    int32_t last = -1;
    for (int64_t p = st->lo; p < st->hi; p++) {
        nd[p].ts = 0;
        nd[p].dist = 1;
        NEXT(p) = -1;
        if (nd[p].tr != 0) {
            nd[p].tree = nd[p].tr > 0 ? BK_S : BK_T;
            nd[p].parent = PAR_TERM;
        } else {
            nd[p].tree = BK_FREE;
            nd[p].parent = PAR_NONE;
        }
    }
    /* Only roots on a frontier need to be active: a root whose residual
     * arcs all stay inside its own tree has nothing to grow into, and it is
     * woken up by the adoption step if a neighbour ever leaves the tree. */
    for (int32_t p = (int32_t)st->lo; p < st->hi; p++) {
        uint8_t X = nd[p].tree;
        if (X == BK_FREE) continue;
        int frontier = 0;
        for (ARC_T a = ARC_BEGIN(p); a < ARC_END(p); a++) {
            int32_t q = HEAD(p, a);
            if (X == BK_S ? !(RC(p, a) > 0) : !(RCS(q, a) > 0)) continue;
            if (nd[q].tree != X) { frontier = 1; break; }
        }
        if (!frontier) continue;
        NEXT(p) = p;        /* append to the active FIFO (index order) */
        if (last >= 0) NEXT(last) = p;
        else st->q_first = p;
        last = p;
    }
    st->q_last = last;
}

/* Push flow straight along source->p->q->sink wherever both ends have
 * terminal capacity: one cheap pass that removes most of the work on
 * vision graphs before the trees are built. */
static void FN(bk_greedy)(bk_graph *g, bk_state *st)
{
    GRAPH_LOCALS
    for (int32_t p = (int32_t)st->lo; p < st->hi; p++) {
        CAP tp = nd[p].tr;
        if (tp <= 0) continue;
        for (ARC_T a = ARC_BEGIN(p); a < ARC_END(p); a++) {
            CAP c = RC(p, a);
            if (c <= 0) continue;
            int32_t q = HEAD(p, a);
            CAP tq = nd[q].tr;
            if (tq >= 0) continue;
            CAP f = c < tp ? c : tp;
            if (-tq < f) f = -tq;
            RC(p, a) = c - f;
            RCS(q, a) += f;
            nd[q].tr = tq + f;
            tp -= f;
            if (tp <= 0) break;
        }
        /* then two-arc paths source -> p -> q -> r -> sink */
        for (ARC_T a = ARC_BEGIN(p); a < ARC_END(p) && tp > 0; a++) {
            CAP c = RC(p, a);
            if (c <= 0) continue;
            int32_t q = HEAD(p, a);
            for (ARC_T b = ARC_BEGIN(q); b < ARC_END(q); b++) {
                CAP c2 = RC(q, b);
                if (c2 <= 0) continue;
                int32_t r = HEAD(q, b);
                CAP tq = nd[r].tr;
                if (tq >= 0 || r == p) continue;
                CAP f = c < tp ? c : tp;
                if (c2 < f) f = c2;
                if (-tq < f) f = -tq;
                RC(p, a) = c - f;
                RCS(q, a) += f;
                RC(q, b) = c2 - f;
                RCS(r, b) += f;
                nd[r].tr = tq + f;
                tp -= f;
                c -= f;
                if (tp <= 0 || c <= 0) break;
            }
        }
        nd[p].tr = tp;
    }
}

/* p leaves tree X: the neighbours in X that could grow into it are woken, and its
   children become orphans.  A child, or a node to wake, has a residual to or from p (a
   child's arc to its parent keeps one, or it would be an orphan already). */
GMMFAST_INLINE void FN(bk_leave_tree)(bk_graph *g, bk_state *st, int32_t p, uint8_t X)
{
    GRAPH_LOCALS
    for (ARC_T a = ARC_BEGIN(p); a < ARC_END(p); a++) {
        int32_t q = HEAD(p, a);
        if (!(RC(p, a) > 0) && !(RCS(q, a) > 0)) continue;
        if (nd[q].tree != X) continue;
        if (X == BK_S ? (RCS(q, a) > 0) : (RC(p, a) > 0)) FN(bk_activate)(st, nd, nx, q);
        if (IS_CHILD(p, a, q)) FN(bk_orphan)(st, nd, q);
    }
}

/* Adopt or free every queued orphan. */
static void FN(bk_adopt)(bk_graph *g, bk_state *st)
{
    GRAPH_LOCALS
    const int32_t TIME = st->time;
    while (st->orph_h != st->orph_t) {
        int32_t p = st->orph[st->orph_h];
        st->orph_h = (st->orph_h + 1 == st->orph_cap) ? 0 : st->orph_h + 1;
        if (nd[p].parent != PAR_ORPH) continue;   /* re-rooted since it was queued */
        st->n_orphans++;
        uint8_t X = nd[p].tree;
        ARC_T best = 0;
        int found = 0;
        int32_t dmin = INT32_MAX;
        for (ARC_T a = ARC_BEGIN(p); a < ARC_END(p); a++) {
            int32_t q = HEAD(p, a);
            /* residual first: arcs cut between parallel regions have none,
             * so a region never reads another region's nodes */
            if (X == BK_S ? !(RCS(q, a) > 0) : !(RC(p, a) > 0)) continue;
            if (nd[q].tree != X) continue;
            /* walk to the root of q */
            int32_t j = q, d = 0;
            for (;;) {
                if (nd[j].ts == TIME) { d += nd[j].dist; break; }
                PAR_T pa = nd[j].parent;
                d++;
                if (pa == PAR_TERM) { nd[j].ts = TIME; nd[j].dist = 1; break; }
                if (pa == PAR_ORPH) { d = INT32_MAX; break; }
                j = HEAD(j, pa);
            }
            if (d == INT32_MAX) continue;
            if (d < dmin) { dmin = d; best = a; found = 1; }
            for (j = q; nd[j].ts != TIME; j = HEAD(j, nd[j].parent)) {
                nd[j].ts = TIME;
                nd[j].dist = DCLIP(d); d--;
            }
            if (dmin == 1) break;   /* a root: no parent can be closer */
        }
        if (found) {
            nd[p].parent = (PAR_T)best;
            nd[p].ts = TIME;
            nd[p].dist = DCLIP(dmin + 1);
            continue;
        }
        /* no parent: p leaves its tree */
        nd[p].tree = BK_FREE;
        nd[p].parent = PAR_NONE;
        FN(bk_leave_tree)(g, st, p, X);
    }
}

/* min(b, the residuals along the path from x to its tree's terminal): the arcs toward
   the sink when sink_side (x in T), toward x from the source otherwise (x in S). */
GMMFAST_INLINE CAP FN(bk_bottleneck)(const bk_graph *g, int32_t x, CAP b, const int sink_side)
{
    const NODE *nd = (const NODE *)g->nodes;
    const CAP *rc = (const CAP *)g->rc;
    LOCALS
    for (;;) {
        PAR_T pa = nd[x].parent;
        if (pa == PAR_TERM) {
            CAP t = sink_side ? -nd[x].tr : nd[x].tr;
            return t < b ? t : b;
        }
        int32_t y = HEAD(x, pa);
        CAP c = sink_side ? RC(x, pa) : RCS(y, pa);
        if (c < b) b = c;
        x = y;
    }
}

/* Push b along the path from x to its tree's terminal (sides as in bk_bottleneck); a
   node whose arc to its parent, or to its terminal, is left without residual becomes
   an orphan. */
GMMFAST_INLINE void FN(bk_push_path)(bk_graph *g, bk_state *st, int32_t x, CAP b,
                                     const int sink_side)
{
    GRAPH_LOCALS
    for (;;) {
        PAR_T pa = nd[x].parent;
        if (pa == PAR_TERM) {
            if (sink_side) nd[x].tr += b;
            else nd[x].tr -= b;
            if (sink_side ? !(nd[x].tr < 0) : !(nd[x].tr > 0)) { nd[x].tr = 0; FN(bk_orphan)(st, nd, x); }
            return;
        }
        int32_t y = HEAD(x, pa);
        CAP *toward = sink_side ? &RC(x, pa) : &RCS(y, pa);  /* the flow's direction */
        CAP *back = sink_side ? &RCS(y, pa) : &RC(x, pa);
        *back += b;
        CAP c = *toward - b;
        *toward = c;
        if (!(c > 0)) { *toward = 0; FN(bk_orphan)(st, nd, x); }
        x = y;
    }
}

/* Augment along source -> ... -> ps -(a)-> qt -> ... -> sink. */
static void FN(bk_augment)(bk_graph *g, bk_state *st, int32_t ps, ARC_T a, int32_t qt)
{
    CAP *rc = (CAP *)g->rc;
    LOCALS
    CAP b = FN(bk_bottleneck)(g, qt, FN(bk_bottleneck)(g, ps, RC(ps, a), 0), 1);
    RC(ps, a) -= b;
    RCS(qt, a) += b;
    FN(bk_push_path)(g, st, ps, b, 0);
    FN(bk_push_path)(g, st, qt, b, 1);
    st->n_aug++;
}

/* q's parent becomes p, through the arc `parent` (from q to p), at one more than p's
   distance, verified when p's was. */
GMMFAST_INLINE void FN(bk_set_parent)(NODE *nd, int32_t q, PAR_T parent, int32_t p)
{
    nd[q].parent = parent;
    nd[q].ts = nd[p].ts;
    nd[q].dist = DINC(nd[p].dist);
}

/* Grow the trees from the active nodes until no augmenting path is left. */
static void FN(bk_run)(bk_graph *g, bk_state *st)
{
    GRAPH_LOCALS
    int32_t p = -1;
    FN(bk_adopt)(g, st);
    for (;;) {
        if (p < 0 || nd[p].tree == BK_FREE) {
            p = FN(bk_pop)(st, nd, nx);
            if (p < 0) break;
            if (nd[p].tree == BK_FREE) { p = -1; continue; }
        }
        int32_t ps = -1, qt = -1;
        ARC_T pa = 0;
        if (nd[p].tree == BK_S) {
            for (ARC_T a = ARC_BEGIN(p); a < ARC_END(p); a++) {
                if (!(RC(p, a) > 0)) continue;
                int32_t q = HEAD(p, a);
                uint8_t tq = nd[q].tree;
                if (tq == BK_FREE) {
                    nd[q].tree = BK_S;
                    FN(bk_set_parent)(nd, q, (PAR_T)SIS(a), p);
                    FN(bk_activate)(st, nd, nx, q);
                } else if (tq == BK_T) {
                    ps = p; qt = q; pa = a;
                    break;
                } else if (nd[q].ts <= nd[p].ts && nd[q].dist > nd[p].dist) {
                    FN(bk_set_parent)(nd, q, (PAR_T)SIS(a), p);
                }
            }
        } else {
            /* the residual q -> p lives in q's arc block: look at q's tree
             * first, most neighbours are in T already and need no residual */
            for (ARC_T a = ARC_BEGIN(p); a < ARC_END(p); a++) {
                int32_t q = HEAD(p, a);
                if (!(RC(p, a) > 0) && !(RCS(q, a) > 0)) continue;  /* no arc (or cut) */
                uint8_t tq = nd[q].tree;
                if (tq == BK_T) {
                    if (!(nd[q].ts <= nd[p].ts && nd[q].dist > nd[p].dist)) continue;
                    if (!(RCS(q, a) > 0)) continue;
                    FN(bk_set_parent)(nd, q, (PAR_T)SIS(a), p);
                    continue;
                }
                if (!(RCS(q, a) > 0)) continue;
                if (tq == BK_FREE) {
                    nd[q].tree = BK_T;
                    FN(bk_set_parent)(nd, q, (PAR_T)SIS(a), p);
                    FN(bk_activate)(st, nd, nx, q);
                } else {
                    ps = q; qt = p; pa = SIS(a);
                    break;
                }
            }
        }
        if (ps < 0) { p = -1; continue; }   /* p is passive now */
        st->time++;
        FN(bk_augment)(g, st, ps, pa, qt);
        FN(bk_adopt)(g, st);
        /* keep p as the current node: it may have more paths */
    }
}

/* Terminal capacities changed by delta[p] (already applied to nothing yet):
 * update tr, re-root / orphan the affected nodes, keep everything else. */
static void FN(bk_change_tr)(bk_graph *g, bk_state *st, int64_t m, const int32_t *idx, const CAP *delta)
{
    GRAPH_LOCALS
    st->time++;
    for (int64_t k = 0; k < m; k++) {
        int32_t p = idx[k];
        CAP t = nd[p].tr + delta[k];
        nd[p].tr = t;
        uint8_t want = t > 0 ? BK_S : (t < 0 ? BK_T : BK_FREE);
        uint8_t X = nd[p].tree;
        if (want == BK_FREE) {
            if (nd[p].parent == PAR_TERM) FN(bk_orphan)(st, nd, p);
            continue;
        }
        if (X != want && X != BK_FREE) {
            /* p leaves its tree as a freed orphan would: its children lose
             * their parent and the neighbours that could grow into it are
             * woken up (otherwise a node freed later next to a passive node
             * of the old tree would be missed) */
            FN(bk_leave_tree)(g, st, p, X);
        }
        /* if p sits in the orphan ring, re-rooting it here is enough:
         * the adoption step skips nodes that are no longer orphans */
        nd[p].tree = want;
        nd[p].parent = PAR_TERM;
        nd[p].ts = st->time;
        nd[p].dist = 1;
        FN(bk_activate)(st, nd, nx, p);
    }
}

/* Wake every tree node in [lo, hi) (after arcs next to them were restored). */
static void FN(bk_activate_range)(bk_graph *g, bk_state *st, int64_t lo, int64_t hi)
{
    NODE *nd = (NODE *)g->nodes;
    int32_t *nx = g->nxt;
    (void)nx;
    for (int64_t p = lo; p < hi; p++)
        if (nd[p].tree != BK_FREE) FN(bk_activate)(st, nd, nx, (int32_t)p);
}

/* tree (0 free, 1 S, 2 T) and tr of every node, padding included (either may be NULL) */
static void FN(bk_read)(const bk_graph *g, uint8_t *tree, double *tr)
{
    const NODE *nd = (const NODE *)g->nodes;
    for (int64_t p = 0; p < g->n; p++) {
        if (tree) tree[p] = nd[p].tree;
        if (tr) tr[p] = (double)nd[p].tr;
    }
}

/* sum over nodes of max(tr, 0): the source capacity left unused */
static double FN(bk_sum_pos_tr)(const bk_graph *g)
{
    const NODE *nd = (const NODE *)g->nodes;
    double s = 0;
    for (int64_t p = 0; p < g->n; p++)
        if (nd[p].tr > 0) s += (double)nd[p].tr;
    return s;
}

#if BK_GRID
/* Fill residuals from forward weights w (K x H x W, K = BK_DIRS / 2) and optional reverse
 * weights wr (NULL: symmetric), and tr = source - sink.  Arcs whose neighbour is outside
 * the image get 0. */
static void FN(bk_grid_fill)(bk_graph *g, const CAP *w, const CAP *wr, const CAP *src,
                             const CAP *snk, int nt)
{
    const int D = BK_DIRS, K = D / 2;
    const int64_t H = g->H, W = g->W, HW = H * W;
    static const int fy[4] = {0, 1, 1, 1}, fx[4] = {1, 0, 1, -1};
    CAP *rc = (CAP *)g->rc;
    NODE *nd = (NODE *)g->nodes;
    if (!g->fresh) {
        memset(rc, 0, (size_t)g->n_arcs * sizeof(CAP));
        memset(nd, 0, (size_t)g->n * sizeof(*nd));
    }
    g->fresh = 0;
    /* rows write disjoint entries (a row's own arcs, and the reverse arcs of the row
     * below that point up), so they fill in parallel */
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
    for (int64_t i = 0; i < H; i++) {
        gmmfast_team_mark();
        for (int64_t j = 0; j < W; j++) {
            int64_t p = bk_grid_index(g, i, j), s = i * W + j;
            CAP *r = rc + p * D;
            nd[p].tr = src[s] - snk[s];
            for (int k = 0; k < K; k++) {
                int64_t i2 = i + fy[k], j2 = j + fx[k];
                if (i2 < H && j2 >= 0 && j2 < W) {
                    int64_t q = p + g->off[k];
                    CAP c = w[k * HW + s];
                    r[k] = c;
                    rc[q * D + k + K] = wr ? wr[k * HW + s] : c;
                }
            }
        }
    }
}
#else
/* Build CSR arcs from m edges (ei -> ej with cap, ej -> ei with rcap).  0 on success. */
static int FN(bk_csr_build)(bk_graph *g, int64_t n, int64_t m, const int32_t *ei,
                            const int32_t *ej, const CAP *cap, const CAP *rcap)
{
    memset(g, 0, sizeof(*g));
    if (bk_alloc(g, BK_DOUBLE ? BK_GEND : BK_GENF, n, 2 * m)) return -1;
    g->first = (int64_t *)calloc((size_t)n + 1, sizeof(int64_t));
    g->head = (int32_t *)malloc((size_t)(2 * m + 1) * sizeof(int32_t));
    g->sis = (int32_t *)malloc((size_t)(2 * m + 1) * sizeof(int32_t));
    if (!g->first || !g->head || !g->sis) { bk_free(g); return -1; }
    int64_t *first = g->first;
    for (int64_t e = 0; e < m; e++) { first[ei[e] + 1]++; first[ej[e] + 1]++; }
    for (int64_t p = 0; p < n; p++) first[p + 1] += first[p];
    int64_t *pos = (int64_t *)malloc((size_t)(n + 1) * sizeof(int64_t));
    if (!pos) { bk_free(g); return -1; }
    memcpy(pos, first, (size_t)(n + 1) * sizeof(int64_t));
    CAP *rc = (CAP *)g->rc;
    for (int64_t e = 0; e < m; e++) {
        int64_t a = pos[ei[e]]++, b = pos[ej[e]]++;
        g->head[a] = ej[e]; g->head[b] = ei[e];
        g->sis[a] = (int32_t)b; g->sis[b] = (int32_t)a;
        rc[a] = cap[e]; rc[b] = rcap[e];
    }
    free(pos);
    return 0;
}

/* tr = source - sink for every node */
static void FN(bk_set_tr)(bk_graph *g, const CAP *src, const CAP *snk)
{
    NODE *nd = (NODE *)g->nodes;
    for (int64_t p = 0; p < g->n; p++) nd[p].tr = src[p] - snk[p];
}
#endif


#undef NODE
#undef PAR_TERM
#undef PAR_ORPH
#undef PAR_NONE
#undef ARC_BEGIN
#undef ARC_END
#undef RC
#undef HEAD
#undef SIS
#undef RCS
#undef IS_CHILD
#undef LOCALS
#undef GRAPH_LOCALS
#undef ARC_T
#undef NEXT
#undef FN
#undef BK_SFX
#undef BK_PASTE
#undef BK_PASTE_
#undef BK_SEP_NEXT
#undef PAR_T
#undef BK_GRID
#undef BK_KIND_NAME
#undef BK_CAP_LETTER
#undef CAP
#undef BK_DIRS
