"""Figures of segmentation results (needs matplotlib: ``pip install 'gmmfast[plot]'``).

Only the object-oriented matplotlib API is used (no pyplot state, no GUI
backend), so figures can be made from scripts, servers and tests alike.
"""

from __future__ import annotations

import os
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from ._files import atomic_write
from ._validation import check_int

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ._mixture import GaussianMixture
    from ._segmentation import Segmentation

__all__ = ["plot_segmentation", "component_variances"]


def _matplotlib_figure():
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install 'gmmfast[plot]'") from exc
    return Figure


def component_variances(model: GaussianMixture, dim: int = 0) -> np.ndarray:
    """Variance of every component of a fitted mixture along feature ``dim``.

    Parameters
    ----------
    model : GaussianMixture
        A fitted :class:`gmmfast.GaussianMixture`, of any ``covariance_type``
        ('tied' gives the shared variance for every component, 'spherical'
        each component's single variance whatever ``dim``).
    dim : int, default 0
        The feature, 0 to ``n_features - 1``.

    Returns
    -------
    ndarray of shape (n_components,), float64
        A new array (changing it leaves the model as it is).

    Raises
    ------
    TypeError
        If ``model`` is not a gmmfast GaussianMixture.
    NotFittedError
        If it is not fitted.
    InvalidParameterError
        If ``dim`` is not an integer in range.
    ValueError
        If ``covariance_type`` was changed since the fit (``set_params``).
    """
    from ._mixture import GaussianMixture

    if not isinstance(model, GaussianMixture):
        raise TypeError(f"model must be a fitted gmmfast.GaussianMixture, got {type(model).__name__}.")
    model._check_fitted("means_")
    model._check_fitted_covariance_type()       # a covariance_type set since the fit is refused
    dim = check_int(dim, "dim", low=0, high=model._n_features() - 1)
    cov = np.asarray(model.covariances_, dtype=np.float64)
    K = len(model.weights_)
    ct = model.covariance_type
    # copies: a float64 model's covariances_ would otherwise be written through the result
    if ct == "full":
        return cov[:, dim, dim].copy()
    if ct == "tied":
        return np.full(K, cov[dim, dim])
    if ct == "diag":
        return cov[:, dim].copy()
    return cov.copy()


def _grey_panel(ax, seg) -> None:
    """Histogram of the first feature with the fitted Gaussians drawn over it."""
    X = seg.fit_features
    if X is None:  # large image: a fixed subsample of the pixels is enough for a histogram
        from ._segmentation import _colour_pixels, _features

        pix = _colour_pixels(seg.image)
        step = max(1, int(np.sqrt(pix.shape[0] * pix.shape[1] / 250_000)))
        X = _features(np.ascontiguousarray(pix[::step, ::step]), seg.features, 1)
    x = X[:, 0].astype(np.float64)
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        hi = lo + 1.0
    if np.all(x == np.round(x)) and hi - lo <= 512:  # integer levels: one bin per level
        edges = np.arange(lo - 0.5, hi + 1.0, 1.0)
    else:
        edges = np.linspace(lo, hi, 129)
    ax.hist(x, bins=edges, density=True, color="0.75", label="pixels")
    grid = np.linspace(lo, hi, 600)
    means = np.asarray(seg.model.means_, dtype=np.float64)[:, 0]
    var = component_variances(seg.model, 0)
    w = np.asarray(seg.model.weights_, dtype=np.float64)
    from ._segmentation import palette

    cols = palette(len(w)) / 255.0
    total = np.zeros_like(grid)
    for k in range(len(w)):
        pdf = w[k] * np.exp(-0.5 * (grid - means[k]) ** 2 / var[k]) / np.sqrt(2 * np.pi * var[k])
        total += pdf
        ax.plot(grid, pdf, color=cols[k], lw=1.5, label=f"component {k}: mean {means[k]:.1f}, w {w[k]:.2f}")
    ax.plot(grid, total, color="k", lw=1, ls="--", label="mixture")
    unit = "L*" if seg.features.startswith("lab") else "intensity"
    ax.set_xlabel(unit)
    ax.set_ylabel("density")
    ax.set_title("Intensity histogram and fitted Gaussians")
    ax.legend(fontsize="small")


def _labels_panel(ax, seg, grey: bool) -> None:
    """The labels in the colours the other panel uses for the same components: for grey images
    the palette of the fitted curves over the image, for colour images each component's mean colour."""
    if grey:
        ax.imshow(seg.overlay(0.45), interpolation="nearest")
        ax.set_title(f"Labels (K = {seg.n_components}, {seg.features_used})")
    else:
        from ._segmentation import _to_uint8

        painted = _to_uint8(seg.segmented_image())
        if painted.ndim == 3 and painted.shape[2] == 4:
            painted = painted[..., :3]
        ax.imshow(painted, interpolation="nearest")
        ax.set_title(f"Components in their mean colours (K = {seg.n_components}, {seg.features_used})")
    ax.set_axis_off()


def _colour_panel(ax, seg) -> None:
    """The components' mean colours as bars whose lengths are the mixture weights."""
    w = np.asarray(seg.model.weights_, dtype=np.float64)
    colours = seg.mean_colours().astype(np.float64)
    if seg.image.dtype == np.uint8:
        colours /= 255.0
    elif seg.image.dtype == np.uint16:
        colours /= 65535.0
    colours = np.clip(colours, 0.0, 1.0)
    if colours.shape[1] == 1:
        colours = np.repeat(colours, 3, axis=1)
    ks = np.arange(len(w))
    ax.barh(ks, w, color=colours, edgecolor="k")
    for k in ks:
        ax.text(w[k], k, f" {w[k]:.2f}", va="center", fontsize="small")
    ax.set_yticks(ks, [f"component {k}" for k in ks])
    ax.invert_yaxis()
    ax.set_xlim(0, min(1.0, w.max() * 1.3 + 0.05))
    ax.set_xlabel("weight")
    ax.set_title("Component colours and weights")


def _criterion_panel(ax, seg) -> None:
    """The automatic choice of K: each candidate's largest component overlap against the threshold."""
    from ._auto_k import MAX_OVERLAP

    ks = sorted(seg.criterion)
    rows = [seg.criterion[k] for k in ks]
    ax.plot(ks, [r.overlap for r in rows], "o-", color="C0", label="largest overlap of a component with the rest")
    slivers = [r for r in rows if not r.distinct and r.overlap < MAX_OVERLAP]
    if slivers:
        ax.plot([r.n_components for r in slivers], [r.overlap for r in slivers], "x", color="C1", ms=9,
                label="a component under the minimum share")
    ax.axhline(MAX_OVERLAP, color="0.5", ls="--", lw=1, label=f"distinct below {MAX_OVERLAP:g}")
    best = seg.n_components
    ax.plot([best], [seg.criterion[best].overlap], "o", color="C3", ms=10, label=f"chosen K = {best}")
    ax.set_xlabel("number of components K")
    ax.set_ylabel("overlap (nats per pixel of the component)")
    ax.set_xticks(ks)
    ax.set_title("Automatic K: the largest K with distinct components")
    ax.legend(fontsize="small")


def plot_segmentation(seg: Segmentation, path: str | os.PathLike[str] | None = None, *,
                      title: str | None = None) -> Figure:
    """A figure describing a :class:`~gmmfast.Segmentation`.

    Shows the labels and: for grey images, or colour ones segmented on their
    grey level (``features='gray'``), the intensity histogram with the fitted
    Gaussians drawn over it (the labels drawn over the image in the curves'
    colours); for colour images the components' mean colours with
    their weights (the labels painted in the same mean colours), and, when K
    was chosen automatically, each candidate K's largest component overlap
    against the threshold that decided.

    Parameters
    ----------
    seg : Segmentation
    path : path, optional
        Where to save the figure (format from the extension, e.g. ``.png``).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ._segmentation import Segmentation

    if not isinstance(seg, Segmentation):
        raise TypeError(f"plot_segmentation takes a Segmentation (from gmmfast.segment), got {type(seg).__name__}.")
    Figure = _matplotlib_figure()
    # one intensity per pixel (a grey image, or features='gray'): the EM notebook's histogram
    grey = seg.features_used.startswith(("gray", "L*"))
    panels = ["overlay", "grey" if grey else "colours"]
    if seg.criterion:
        panels.append("criterion")
    fig = Figure(figsize=(5.0 * len(panels), 4.2), layout="constrained")
    axes = fig.subplots(1, len(panels))
    for ax, kind in zip(np.atleast_1d(axes), panels):
        if kind == "overlay":
            _labels_panel(ax, seg, grey)
        elif kind == "grey":
            _grey_panel(ax, seg)
        elif kind == "colours":
            _colour_panel(ax, seg)
        else:
            _criterion_panel(ax, seg)
    if title:
        fig.suptitle(title)
    if path is not None:  # written under a temporary name and renamed (no partial figure)
        path = Path(path)
        fmt = path.suffix[1:].lower() or "png"
        with atomic_write(path) as fh:
            fig.savefig(fh, format=fmt, dpi=100)
    return fig
