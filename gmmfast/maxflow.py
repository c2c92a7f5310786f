"""Max-flow / min-cut for image grids and general graphs, and Potts alpha-expansion.

The solver is Boykov-Kolmogorov (PAMI 2004) written for gmmfast: two search
trees grown from the terminals and kept between augmentations, a FIFO queue of
active nodes, orphan adoption with the timestamp/distance heuristic, and a
greedy first pass that pushes flow straight along source -> p -> q -> sink.

* :class:`GridGraph` stores a 2-D 4- or 8-connected grid implicitly: a node's
  arcs are found from its index, so the graph costs one residual per arc (4
  bytes in float32) plus about 20 bytes per node, and is built in one pass.
* :class:`Graph` is a general graph stored as compressed rows (CSR).

Re-solving.  After :meth:`~GridGraph.maxflow`, changing only the terminal
weights (``set_terminal_weights`` / ``add_tedges``) keeps the residual graph
and both search trees (Kohli and Torr's dynamic graph cuts): the nodes whose
net terminal capacity changed are re-rooted or orphaned, and the next
``maxflow()`` resumes from there.  Changing neighbour weights or edges rebuilds
the graph (in place, without reallocating, for grids of the same shape).

Residuals are float32 when every capacity given is float32, float64 otherwise
(integers are handled exactly up to 2**53).  Pass ``dtype=`` to force one.
float32 halves the memory traffic but rounds every residual to 24 bits: flows
much smaller than the largest terminal capacity (below about 1e-7 of it) can
be lost, so use float64 when capacities span many orders of magnitude.  The
flow value is summed in float64 from the residuals.
"""

from __future__ import annotations

import numbers
from typing import Any, Literal, Optional, Tuple, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ._dispatch import load
from ._finite import all_finite
from ._threads import effective_n_threads
from ._validation import check_bool, check_connectivity, check_int, check_n_threads, kernel_array

__all__ = ["GridGraph", "Graph", "alpha_expansion", "potts_energy"]

_k = load("_maxflow")


_FWD4 = ((0, 1), (1, 0))
_FWD8 = ((0, 1), (1, 0), (1, 1), (1, -1))


# --------------------------------------------------------------------------- validation

def _resolve_dtype(dtype) -> Optional[np.dtype]:
    if dtype is None:
        return None
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be None, float32 or float64, got {dt}.")
    return dt


def _capacity_array(x, name: str) -> np.ndarray:
    """Array of non-negative finite real capacities (dtype kept if float32/64)."""
    a = np.asarray(x)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}.")
    if np.issubdtype(a.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got complex dtype {a.dtype}.")
    if a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer):
        if a.size and np.issubdtype(a.dtype, np.signedinteger) and a.min() < 0:
            raise ValueError(f"{name} must be non-negative; found {a.min()}.")
        if a.size and np.issubdtype(a.dtype, np.integer) and np.abs(a).max() > 2**53:
            raise ValueError(f"{name} has integers above 2**53, which cannot be represented exactly.")
        return a
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    if a.size:
        if not all_finite(a):
            raise ValueError(f"{name} contains NaN or infinite values; capacities must be finite.")
        if a.min() < 0:
            raise ValueError(f"{name} must be non-negative; found {a.min()}.")
    return a


def _pick_dtype(forced: Optional[np.dtype], *arrays: np.ndarray) -> np.dtype:
    if forced is not None:
        return forced
    if all(a.dtype == np.float32 for a in arrays):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _as(a: np.ndarray, dt: np.dtype) -> np.ndarray:
    out = kernel_array(a, dt)
    if dt == np.float32 and a.dtype != np.float32 and out.size and not all_finite(out):
        raise ValueError("capacities overflow float32; use dtype=np.float64.")
    return out


def _flow_value(src: np.ndarray, solver, layout=lambda nodes: nodes) -> float:
    """The flow out of the source: the sum of the source capacities less what is left of them.

    That difference of two sums overflows when the capacities add up past the largest float64
    (two hard seeds of 1e308: inf - inf, NaN) though the flow does not; then it is summed node by
    node instead, each node's flow src - residual (an extra pass, only then).  A flow that is
    itself past 1.8e308 is refused.  ``layout`` puts an array over the solver's nodes in ``src``'s
    layout."""
    with np.errstate(over="ignore", invalid="ignore"):
        flow = float(src.sum(dtype=np.float64) - solver.unused_source())
        if not np.isfinite(flow):
            residual = np.maximum(layout(solver.residual_terminals()), 0)     # (tr < 0 is the sink's)
            flow = float(np.sum(src.astype(np.float64) - residual))
    if not np.isfinite(flow):
        raise ValueError("the flow exceeds the largest float64 (about 1.8e308); rescale the capacities (divide "
                         "them all by one factor: the cut is the same).")
    return flow


class _NotPicklable:
    """A graph holds its solver's native state (search trees, residual capacities), which has no
    pickled form: say so (Cython's own refusal spoke of a "non-trivial __cinit__")."""

    def __reduce__(self):
        raise TypeError(f"{type(self).__name__} objects cannot be pickled (they hold the solver's native state); "
                        "pickle the capacities instead and build a new graph from them.")


# --------------------------------------------------------------------------- grid

class GridGraph(_NotPicklable):
    """Max-flow on a 2-D grid whose nodes are the pixels of an H x W image.

    Parameters
    ----------
    shape : (H, W)
        Image shape.
    connectivity : 4 or 8
        4: right and down neighbours (offsets (0, 1), (1, 0)); 8: also
        (1, 1) and (1, -1).  Every edge is stored once per direction.
    dtype : None, float32 or float64
        Residual capacity type.  None: float32 when all weights given are
        float32, float64 otherwise.
    n_threads : None or int
        Threads for the first solve after a build (None or -1: all usable cores,
        resolved at each build and solve; kept as given in ``n_threads``).
        With several threads the grid is cut into bands of rows (two per
        thread) that are solved in parallel, then merged pairwise; the solve
        finishes on the whole grid, so the flow value does not depend on the
        thread count.

    Examples
    --------
    >>> g = GridGraph((2, 2))
    >>> g.set_neighbor_weights(np.ones((2, 2)))
    >>> g.set_terminal_weights(np.array([[3., 0], [0, 0]]), np.array([[0., 0], [0, 3]]))
    >>> g.maxflow()
    2.0
    """

    def __init__(self, shape: Tuple[int, int], connectivity: int = 4, dtype: DTypeLike = None,
                 n_threads: Optional[int] = None) -> None:
        if not isinstance(shape, (tuple, list)) or len(shape) != 2:
            raise ValueError(f"shape must be a pair (H, W), got {shape!r}.")
        for s in shape:
            if isinstance(s, bool) or not isinstance(s, numbers.Integral):
                raise TypeError(f"shape entries must be integers, got {shape!r}.")
        H, W = int(shape[0]), int(shape[1])
        if H < 1 or W < 1:
            raise ValueError(f"shape must be positive, got {shape!r}.")
        if (H + 2) * (W + 1) + 1 >= 2**31 // 8:
            raise ValueError(f"grid {shape!r} is too large: at most about 2**28 pixels (268 million; the "
                             "solver's 32-bit indices hold 8 arcs per pixel); cut the image into tiles.")
        self.shape = (H, W)
        self.connectivity = check_connectivity(connectivity)
        check_n_threads(n_threads)
        self.n_threads = n_threads      # resolved at each build and solve, as the estimators resolve theirs
        self._dtype = _resolve_dtype(dtype)
        self._w = None          # (K, H, W) forward capacities
        self._wr = None         # reverse capacities or None (symmetric)
        self._src = np.zeros((H, W))
        self._snk = np.zeros((H, W))
        self._solver = _k.Solver()
        self._built_dtype = None
        self._state = "dirty"   # dirty -> solved -> (terminals changed) -> solved
        self._flow = None

    @property
    def n_directions(self) -> int:
        """Number of forward directions D (2 for 4-connectivity, 4 for 8)."""
        return self.connectivity // 2

    def _neighbor_array(self, w, name: str) -> np.ndarray:
        H, W = self.shape
        D = self.n_directions
        a = _capacity_array(w, name)
        if a.ndim == 0:
            a = np.broadcast_to(a, (D, H, W))
        elif a.shape == (H, W):
            a = np.broadcast_to(a, (D, H, W))
        elif a.shape != (D, H, W):
            raise ValueError(
                f"{name} must have shape {(H, W)} (same weight in every direction) or "
                f"{(D, H, W)} (one plane per direction {_FWD4 if D == 2 else _FWD8}), got {a.shape}."
            )
        return a

    def set_neighbor_weights(self, w: ArrayLike, reverse: Optional[ArrayLike] = None) -> None:
        """Set the capacities of the neighbour edges.

        The graph keeps these arrays, not copies, and reads them when it is
        built: at the next :meth:`maxflow` and at ``maxflow(reuse=False)``.
        To change neighbour weights, call this method again.

        Parameters
        ----------
        w : scalar, (H, W) or (D, H, W) array-like
            Non-negative finite capacities (bool and integers too, exact up
            to 2**53).  ``w[d, i, j]`` is the capacity of the edge between
            pixel (i, j) and pixel (i + dy, j + dx) for the d-th forward
            offset ((0, 1), (1, 0) and for 8-connectivity also (1, 1),
            (1, -1)); entries whose neighbour is outside the image are
            ignored.  An H x W array (or a scalar) gives the same weight in
            every direction.  Without ``reverse`` the capacity is the same in
            both directions; with it, ``w`` is the capacity from (i, j) to its
            neighbour.
        reverse : scalar, (H, W) or (D, H, W) array-like, optional
            The capacity from the neighbour back to (i, j), laid out as ``w``.

        Raises
        ------
        TypeError
            If a capacity array does not hold real numbers.
        ValueError
            If it has another shape, or holds negative, NaN or infinite values
            (or integers above 2**53).
        """
        # kept by reference (a copy would double a large graph's memory while it
        # lives): the solver reads them when it builds (see the docstring)
        self._w = self._neighbor_array(w, "neighbor weights")
        self._wr = None if reverse is None else self._neighbor_array(reverse, "reverse neighbor weights")
        self._state = "dirty"

    def set_terminal_weights(self, source: ArrayLike, sink: ArrayLike) -> None:
        """Set the source and sink capacities of every pixel.

        After :meth:`maxflow`, changing only these keeps the residual graph and
        the search trees, and the next :meth:`maxflow` resumes from them.  The
        graph keeps copies of these (the re-solve compares the new values with
        them): arrays changed in place afterwards must be passed again.

        Parameters
        ----------
        source : scalar or (H, W) array-like
            Capacity from the source to each pixel; non-negative and finite.
        sink : scalar or (H, W) array-like
            Capacity from each pixel to the sink; non-negative and finite.

        Raises
        ------
        TypeError
            If a capacity array does not hold real numbers.
        ValueError
            If it has another shape, or holds NaN or infinite values, or
            negative ones (the message says how to shift them: a pixel's cut
            depends only on the difference of its two weights).
        """
        H, W = self.shape
        try:
            s = _capacity_array(source, "source weights")
            t = _capacity_array(sink, "sink weights")
        except ValueError as exc:
            if "non-negative" not in str(exc):
                raise
            # (PyMaxflow's add_tedges takes negative values and shifts them so)
            raise ValueError(f"{exc} A pixel's cut depends only on the difference of its two weights: subtract "
                             "np.minimum(source, sink) from both (the flow is then lower by its sum).") from None
        for a, name in ((s, "source weights"), (t, "sink weights")):
            if a.ndim != 0 and a.shape != (H, W):
                raise ValueError(f"{name} must have shape {(H, W)}, got {a.shape}.")
        # own copies: the re-solve below compares against the previous values,
        # which a caller's array changed in place would no longer hold
        s = np.array(np.broadcast_to(s, (H, W)))
        t = np.array(np.broadcast_to(t, (H, W)))
        if self._state == "solved" or self._state == "changed":
            dt = self._built_dtype
            if _pick_dtype(self._dtype, self._w, s, t) == dt:
                self._incremental(_as(s, dt), _as(t, dt))
                return
        self._src, self._snk = s, t
        self._state = "dirty"

    def _incremental(self, s: np.ndarray, t: np.ndarray) -> None:
        dt = self._built_dtype
        delta = (s - t) - (self._src - self._snk)
        changed = np.flatnonzero(delta.ravel())
        self._src, self._snk = s, t
        self._state = "changed"      # the flow value changes even when s - t does not
        if changed.size:
            H, W = self.shape
            i, j = np.divmod(changed, W)
            idx = ((i + 1) * (W + 1) + j + 1).astype(np.int32)
            self._solver.change_terminals(idx, np.ascontiguousarray(delta.ravel()[changed], dtype=dt))

    def _build(self) -> None:
        H, W = self.shape
        if self._w is None:
            self._w = np.broadcast_to(np.zeros((), np.float32), (self.n_directions, H, W))
        dt = _pick_dtype(self._dtype, self._w, self._src, self._snk)
        kind = (0 if self.connectivity == 4 else 2) + (1 if dt == np.float64 else 0)
        w = _as(self._w, dt)
        wr = None if self._wr is None else _as(self._wr, dt)
        self._src = _as(self._src, dt)
        self._snk = _as(self._snk, dt)
        self._solver.build_grid(kind, w, wr, self._src, self._snk, n_threads=effective_n_threads(self.n_threads))
        self._built_dtype = dt

    def maxflow(self, reuse: bool = True) -> float:
        """Compute the maximum flow (= minimum cut capacity) and return its value.

        Parameters
        ----------
        reuse : bool, default True
            Resume from the last solve when only terminal weights changed
            since (and return the stored value when nothing changed); False
            rebuilds the graph from the weights and solves it afresh.

        Returns
        -------
        float
            The flow value, summed in float64.

        Notes
        -----
        In float32 (the default when every capacity given is float32) the
        value is that of the capacities rounded to 24 bits: beside hard-seed
        capacities of 1e9, terms below about 100 round away, and the value can
        be far off (10 % low on a 200 x 200 grid of unit-scale unaries, where
        PyMaxflow, always float64, is exact) while the cut stays minimum for
        the rounded capacities.  Build the graph with ``dtype=np.float64``
        when the value is used as an energy.  In float64 too, the value is
        the source capacities less what is left of them: hard seeds far above
        the flow (1e300) leave it only their precision (a flow of 2 reads as
        0).  A seed need be no larger than the sum of the other capacities.
        """
        reuse = check_bool(reuse, "reuse")
        if self._state == "dirty" or not reuse:
            self._build()
        if self._state != "solved" or not reuse:
            nt = effective_n_threads(self.n_threads)
            # two bands per thread (merged pairwise) balance images whose
            # work sits in one part; bands of fewer than 64 rows do not pay
            H = self.shape[0]
            bands = 0 if nt < 2 else (2 * nt if H >= 128 * nt else (nt if H >= 64 * nt else 0))
            self._solver.run(nt, bands)
            self._flow = _flow_value(self._src, self._solver, self._pixels)
            self._state = "solved"
        return self._flow

    def _pixels(self, nodes: np.ndarray) -> np.ndarray:
        """An array over the solver's nodes as H x W (the internal grid is padded)."""
        H, W = self.shape
        return nodes[:-1].reshape(H + 2, W + 1)[1:H + 1, 1:]

    def segments(self) -> np.ndarray:
        """Bool H x W array: True where the pixel is on the sink side of the minimum cut.

        The sink side is the set of pixels from which the sink can still be
        reached in the residual graph (the smallest sink set over all minimum
        cuts), which is what PyMaxflow's ``get_grid_segments`` returns.
        """
        if self._state != "solved":
            raise ValueError("segments() needs a solved graph: call maxflow() first "
                             "(and again after changing weights).")
        return self._pixels(self._solver.trees()) == 2

    @property
    def stats(self) -> dict:
        """Augmentations and orphans processed by the solver since the last build."""
        return dict(self._solver.stats)


# --------------------------------------------------------------------------- general graphs

def _per_item_capacities(n: int, item: str, **capacities) -> list[np.ndarray]:
    """Capacity arrays, each a scalar or one entry per ``item`` (n of them)."""
    out = []
    for name, value in capacities.items():
        a = _capacity_array(value, name)
        if a.ndim > 1 or (a.ndim == 1 and a.size != n):
            raise ValueError(f"{name} must be a scalar or have one entry per {item} ({n}), got shape {a.shape}.")
        out.append(a)
    return out


def _index_array(x, n: int, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.size == 0 and a.dtype == np.float64:     # [] (NumPy's dtype for an empty list): no edges
        a = a.astype(np.intp)
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array of node indices, got dtype {a.dtype}.")
    a = a.ravel()
    if a.size and (a.min() < 0 or a.max() >= n):
        raise ValueError(f"{name} has node indices outside [0, {n}); found "
                         f"{a.min() if a.min() < 0 else a.max()}.")
    return a.astype(np.int32)


class Graph(_NotPicklable):
    """Max-flow on a general directed graph with ``n_nodes`` nodes.

    Edges and terminal capacities are added in vectorised calls; repeated
    calls accumulate.  Parameters: ``n_nodes`` (int >= 1), ``dtype``
    (None, float32 or float64, as for :class:`GridGraph`).
    """

    def __init__(self, n_nodes: int, dtype: DTypeLike = None) -> None:
        if isinstance(n_nodes, bool) or not isinstance(n_nodes, numbers.Integral):
            raise TypeError(f"n_nodes must be an integer, got {n_nodes!r}.")
        if n_nodes < 1 or n_nodes >= 2**31 // 2:
            raise ValueError(f"n_nodes must be from 1 to 2**30 - 1, got {n_nodes}.")
        self.n_nodes = int(n_nodes)
        self._dtype = _resolve_dtype(dtype)
        self._edges = []        # (i, j, cap, rev) chunks
        self._src = np.zeros(self.n_nodes)
        self._snk = np.zeros(self.n_nodes)
        self._all_f32 = True
        self._solver = _k.Solver()
        self._built_dtype = None
        self._state = "dirty"
        self._flow = None

    def add_edges(self, i: ArrayLike, j: ArrayLike, cap: ArrayLike, rev_cap: ArrayLike = 0) -> None:
        """Add edges i[k] -> j[k] with capacity cap[k] and j[k] -> i[k] with rev_cap[k].

        Edges accumulate over calls; self-loops are ignored (they never carry
        flow).  The graph is rebuilt at the next :meth:`maxflow`.

        Parameters
        ----------
        i, j : array-like of int
            Node indices in [0, n_nodes), flattened; the same number of each
            (a scalar index does not broadcast).
        cap : scalar or array-like, one entry per edge
            Capacity i[k] -> j[k]; non-negative and finite.  A scalar applies
            to every edge.
        rev_cap : scalar or array-like, one entry per edge, default 0
            Capacity j[k] -> i[k], likewise.

        Raises
        ------
        TypeError
            If the indices are not integers (bool included) or a capacity is
            not a real number.
        ValueError
            If an index is out of range, ``i`` and ``j`` differ in length, a
            capacity array has another length, or a capacity is negative, NaN
            or infinite.
        """
        i = _index_array(i, self.n_nodes, "i")
        j = _index_array(j, self.n_nodes, "j")
        if i.shape != j.shape:
            raise ValueError(f"i and j must have the same length, got {i.size} and {j.size}.")
        c, r = _per_item_capacities(i.size, "edge", cap=cap, rev_cap=rev_cap)
        self._all_f32 &= c.dtype == np.float32 and r.dtype == np.float32
        c = np.broadcast_to(c, i.shape).astype(np.float64 if c.dtype != np.float32 else np.float32)
        r = np.broadcast_to(r, i.shape).astype(np.float64 if r.dtype != np.float32 else np.float32)
        keep = i != j
        self._edges.append((i[keep], j[keep], c[keep], r[keep]))
        self._state = "dirty"

    def add_tedges(self, i: ArrayLike, source: ArrayLike, sink: ArrayLike) -> None:
        """Add terminal capacities: source -> i[k] of source[k], i[k] -> sink of sink[k].

        The capacities are added to those given before (repeated indices, and
        repeated calls, accumulate).  After :meth:`maxflow`, this keeps the
        residual graph and the search trees (incremental re-solve).

        Parameters
        ----------
        i : array-like of int
            Node indices in [0, n_nodes), flattened.
        source, sink : scalar or array-like, one entry per index
            Capacities to add; non-negative and finite.  A scalar applies to
            every index.

        Raises
        ------
        TypeError, ValueError
            As :meth:`add_edges`, for the indices and capacities.
        """
        i = _index_array(i, self.n_nodes, "i")
        s, t = _per_item_capacities(i.size, "index", source=source, sink=sink)
        self._all_f32 &= s.dtype == np.float32 and t.dtype == np.float32
        s = np.broadcast_to(s, i.shape).astype(np.float64)
        t = np.broadcast_to(t, i.shape).astype(np.float64)
        ds = np.bincount(i, weights=s, minlength=self.n_nodes)
        dtk = np.bincount(i, weights=t, minlength=self.n_nodes)
        new_src = self._src + ds
        new_snk = self._snk + dtk
        if self._state in ("solved", "changed") and self._dtype is None and not self._all_f32 \
                and self._built_dtype == np.float32:
            self._state = "dirty"    # float64 values arrived: rebuild in float64
        if self._state in ("solved", "changed"):
            dt = self._built_dtype
            delta = (_as(new_src, dt) - _as(new_snk, dt)) - (_as(self._src, dt) - _as(self._snk, dt))
            changed = np.flatnonzero(delta)
            self._state = "changed"  # the flow value changes even when s - t does not
            if changed.size:
                self._solver.change_terminals(changed.astype(np.int32),
                                              np.ascontiguousarray(delta[changed], dtype=dt))
        self._src, self._snk = new_src, new_snk

    def _build(self) -> None:
        dt = self._dtype or (np.dtype(np.float32) if self._all_f32 else np.dtype(np.float64))
        if self._edges:
            ei = np.concatenate([e[0] for e in self._edges])
            ej = np.concatenate([e[1] for e in self._edges])
            c = _as(np.concatenate([e[2] for e in self._edges]), dt)
            r = _as(np.concatenate([e[3] for e in self._edges]), dt)
        else:
            ei = ej = np.zeros(0, np.int32)
            c = r = np.zeros(0, dt)
        if 2 * ei.size >= 2**31:
            raise ValueError("too many edges (arc indices are 32-bit).")
        kind = 4 + (1 if dt == np.float64 else 0)
        self._solver.build_general(kind, self.n_nodes, np.ascontiguousarray(ei),
                                   np.ascontiguousarray(ej), c, r,
                                   _as(self._src, dt), _as(self._snk, dt))
        self._built_dtype = dt

    def maxflow(self, reuse: bool = True) -> float:
        """Compute the maximum flow and return its value (see :meth:`GridGraph.maxflow`).

        Parameters
        ----------
        reuse : bool, default True
            Resume from the last solve when only terminal capacities were
            added since (and return the stored value when nothing changed);
            False rebuilds the graph from all edges and capacities and solves
            it afresh.

        Returns
        -------
        float
            The flow value, summed in float64.
        """
        reuse = check_bool(reuse, "reuse")
        if self._state == "dirty" or not reuse:
            self._build()
        if self._state != "solved" or not reuse:
            self._solver.run()
            src = _as(self._src, self._built_dtype)
            self._flow = _flow_value(src, self._solver)
            self._state = "solved"
        return self._flow

    def segments(self) -> np.ndarray:
        """Bool array, one per node: True where the node is on the sink side of the minimum cut."""
        if self._state != "solved":
            raise ValueError("segments() needs a solved graph: call maxflow() first "
                             "(and again after adding edges or terminal weights).")
        return self._solver.trees() == 2


# --------------------------------------------------------------------------- alpha-expansion

def _grid_slices(dy: int, dx: int, H: int, W: int):
    """Slices (p, q) of the pixels p whose neighbour q = p + (dy, dx) is inside."""
    ps = (slice(0, H - dy), slice(max(0, -dx), W - max(0, dx)))
    qs = (slice(dy, H), slice(max(0, dx), W + min(0, dx)))
    return ps, qs


def _check_unary(unary: Any) -> np.ndarray:
    """An (H, W, L) array of finite real costs, as float64."""
    u = np.asarray(unary)
    if u.dtype == object or not np.issubdtype(u.dtype, np.number) or np.issubdtype(u.dtype, np.complexfloating):
        raise TypeError(f"unary must be a real numeric array, got dtype {u.dtype}.")
    if u.ndim != 3 or 0 in u.shape:
        raise ValueError(f"unary must have shape (H, W, L) with all sizes >= 1, got {u.shape}.")
    u = u.astype(np.float64)
    if not all_finite(u):
        raise ValueError("unary contains NaN or infinite values.")
    return u


def _potts_planes(potts_weight, H: int, W: int, connectivity: int) -> np.ndarray:
    D = connectivity // 2
    w = _capacity_array(potts_weight, "potts_weight").astype(np.float64)
    if w.ndim == 0 or w.shape == (H, W):
        w = np.broadcast_to(w, (D, H, W))
    elif w.shape != (D, H, W):
        raise ValueError(f"potts_weight must be a scalar, an {(H, W)} array or a {(D, H, W)} array "
                         f"(one plane per forward offset), got shape {w.shape}.")
    out = np.zeros((D, H, W))
    offs = _FWD4 if D == 2 else _FWD8
    for d, (dy, dx) in enumerate(offs):      # entries whose neighbour is outside are ignored
        ps, _ = _grid_slices(dy, dx, H, W)
        out[d][ps] = w[d][ps]
    return out


def potts_energy(unary: np.ndarray, labels: np.ndarray, potts_weight: ArrayLike = 1.0,
                 connectivity: int = 4) -> float:
    """Energy sum_p unary[p, labels[p]] + sum_{edges (p, q)} w_pq [labels[p] != labels[q]].

    Same conventions as :func:`alpha_expansion`.

    Parameters
    ----------
    unary : (H, W, L) array
        Cost of each label at each pixel; finite reals.
    labels : (H, W) integer array
        The labelling, values in [0, L).
    potts_weight : scalar, (H, W) or (D, H, W) array, non-negative, default 1.0
        Cost of a label change across each neighbour edge, laid out as in
        :meth:`GridGraph.set_neighbor_weights` (entries whose neighbour is
        outside the image are ignored).
    connectivity : {4, 8}, default 4
        4: right and down neighbours; 8: also the two diagonals (D = 4).

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If ``unary`` or ``potts_weight`` does not hold real numbers, or
        ``labels`` is not an integer array (bool included).
    ValueError
        If a shape is wrong, ``labels`` has a value outside [0, L), a value
        is NaN or infinite, a weight is negative, or ``connectivity`` is not
        4 or 8.
    """
    unary = _check_unary(unary)
    H, W, L = unary.shape
    labels = np.asarray(labels)
    if labels.shape != (H, W):
        raise ValueError(f"labels must have shape {(H, W)}, got {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer):       # (bool is not) as alpha_expansion's labels_init
        raise TypeError(f"labels must be an integer array, got dtype {labels.dtype}.")
    if labels.size and (labels.min() < 0 or labels.max() >= L):
        raise ValueError(f"labels must lie in [0, {L}).")
    w = _potts_planes(potts_weight, H, W, check_connectivity(connectivity))
    return _energy(unary, labels, w)


def _energy(unary: np.ndarray, labels: np.ndarray, w: np.ndarray) -> float:
    H, W, _ = unary.shape
    with np.errstate(over="ignore"):     # an overflow is refused below
        e = np.take_along_axis(unary, labels[..., None].astype(np.intp), axis=2).sum()
        offs = _FWD4 if w.shape[0] == 2 else _FWD8
        for d, (dy, dx) in enumerate(offs):
            ps, qs = _grid_slices(dy, dx, H, W)
            e += w[d][ps][labels[ps] != labels[qs]].sum()
    if not np.isfinite(e):
        raise ValueError("the energy exceeds the largest float64 (about 1.8e308); rescale the unary costs and "
                         "potts_weight (divide both by one factor: the labelling is the same).")
    return float(e)


@overload
def alpha_expansion(unary: np.ndarray, potts_weight: ArrayLike, *, labels_init: np.ndarray | None = ...,
                    max_iter: int = ..., connectivity: int = ...,
                    return_energy: Literal[False] = ...) -> np.ndarray: ...
@overload
def alpha_expansion(unary: np.ndarray, potts_weight: ArrayLike, *, labels_init: np.ndarray | None = ...,
                    max_iter: int = ..., connectivity: int = ...,
                    return_energy: Literal[True]) -> tuple[np.ndarray, float]: ...
@overload
def alpha_expansion(unary: np.ndarray, potts_weight: ArrayLike, *, labels_init: np.ndarray | None = ...,
                    max_iter: int = ..., connectivity: int = ...,
                    return_energy: bool) -> np.ndarray | tuple[np.ndarray, float]: ...
def alpha_expansion(unary: np.ndarray, potts_weight: ArrayLike, *, labels_init: np.ndarray | None = None,
                    max_iter: int = 5, connectivity: int = 4,
                    return_energy: bool = False) -> np.ndarray | tuple[np.ndarray, float]:
    """Multi-label Potts smoothing on a grid by alpha-expansion (Boykov, Veksler, Zabih 2001).

    Minimises ``E(l) = sum_p unary[p, l_p] + sum_{(p, q)} w_pq [l_p != l_q]`` over
    label images ``l``.  Each expansion move (every pixel keeps its label or
    switches to label alpha) is solved exactly with a :class:`GridGraph` min
    cut; a move is kept only if it lowers the energy, so the energy never
    increases.  The result is within a factor 2 of the global minimum and no
    single-pixel change can lower its energy; with two labels it is optimal.

    Parameters
    ----------
    unary : (H, W, L) array
        Cost of each label at each pixel (lower is better); finite reals.
    potts_weight : scalar, (H, W) or (D, H, W) array, non-negative
        Cost of a label change across each neighbour edge, laid out as in
        :meth:`GridGraph.set_neighbor_weights`.
    labels_init : (H, W) integer array, optional
        Starting labelling; default the per-pixel argmin of ``unary``.
    max_iter : int
        Maximum number of cycles over all labels (stops early when a cycle
        changes nothing).
    connectivity : 4 or 8
    return_energy : bool
        Also return the final energy.

    Returns
    -------
    labels : (H, W) array of the smallest unsigned integer dtype holding L - 1
    energy : float, only with ``return_energy=True``
    """
    u = _check_unary(unary)
    connectivity = check_connectivity(connectivity)
    max_iter = check_int(max_iter, "max_iter", low=0)
    H, W, L = u.shape
    return_energy = check_bool(return_energy, "return_energy")      # ('no' would be taken for True)
    w = _potts_planes(potts_weight, H, W, connectivity)
    if labels_init is None:
        labels = np.argmin(u, axis=2)
    else:
        labels = np.asarray(labels_init)
        if labels.shape != (H, W):
            raise ValueError(f"labels_init must have shape {(H, W)}, got {labels.shape}.")
        if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"labels_init must be an integer array, got dtype {labels.dtype}.")
        if labels.min() < 0 or labels.max() >= L:
            raise ValueError(f"labels_init must lie in [0, {L}).")
    labels = labels.astype(np.intp)
    energy = _energy(u, labels, w)
    offs = _FWD4 if connectivity == 4 else _FWD8
    g = GridGraph((H, W), connectivity, dtype=np.float64)
    for _ in range(max_iter if L > 1 else 0):
        improved = False
        for alpha in range(L):
            take = _expansion_move(g, u, labels, w, alpha, offs)
            if not take.any():
                continue
            new = np.where(take, alpha, labels)
            e_new = _energy(u, new, w)
            if e_new < energy:
                labels, energy, improved = new, e_new, True
        if not improved:
            break
    out_dtype = np.min_scalar_type(max(L - 1, 0))
    out = labels.astype(out_dtype)
    return (out, energy) if return_energy else out


def _expansion_move(g: GridGraph, u: np.ndarray, labels: np.ndarray, w: np.ndarray, alpha: int,
                    offs) -> np.ndarray:
    """The optimal alpha-expansion move: True where a pixel should take ``alpha``."""
    H, W, _ = u.shape
    rows, cols = np.indices((H, W))
    src = u[:, :, alpha].copy()             # paid when p switches to alpha (sink side)
    snk = u[rows, cols, labels]             # paid when p keeps its label (source side)
    fwd = np.zeros((len(offs), H, W))
    for d, (dy, dx) in enumerate(offs):
        ps, qs = _grid_slices(dy, dx, H, W)
        wd = w[d][ps]
        lp, lq = labels[ps], labels[qs]
        A = wd * (lp != lq)
        B = wd * (lp != alpha)
        C = wd * (lq != alpha)
        # E = A + (C - A) x_p - C x_q + (B + C - A) (1 - x_p) x_q, x = 1: takes alpha
        cma = C - A
        src[ps] += np.maximum(cma, 0)
        snk[ps] += np.maximum(-cma, 0)
        snk[qs] += C
        fwd[d][ps] = B + C - A
    m = np.minimum(src, snk)
    g.set_neighbor_weights(np.maximum(fwd, 0), reverse=np.zeros_like(fwd))
    g.set_terminal_weights(src - m, snk - m)
    g.maxflow()
    return g.segments()
