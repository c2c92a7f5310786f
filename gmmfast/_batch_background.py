"""Batch background estimation: learn a background from a stack of frames, then subtract it.

These are the methods of the projects gmmfast replaces, done fast:

- :class:`PixelGMM` fits an independent Gaussian mixture to every pixel's values
  over the training frames (EM, in a Cython kernel parallel over pixels) and
  tests new frames against the mixture's background components.
- :func:`mean_background` and :func:`median_background`: the per-pixel mean or
  median of the training frames.
- :func:`kmeans_background`: the k-means variant.  Every pixel's training values
  are clustered into ``n_clusters`` clusters (Lloyd's algorithm, per pixel);
  the background is the centre of the largest cluster, so values seen only
  while something passed (a car, a person) form small clusters and are
  ignored.
- :func:`subtract`: a foreground mask from a frame and a background image, by
  thresholding the distance between them.

Frames are NumPy arrays: one frame is H x W (grey) or H x W x C (C = 1..4
channels, e.g. RGB); a stack of frames adds a leading axis (T x H x W or
T x H x W x C).  uint8 frames are read by the kernels directly; other
integer and float frames are converted to float32.  Backgrounds are returned
as float32 arrays on the frames' own scale (use ``np.clip(np.rint(b), 0,
255).astype(np.uint8)`` to save one as an 8-bit image).

For an online model that keeps learning as frames arrive, see
:class:`gmmfast.BackgroundSubtractor`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Literal, Union, overload

import numpy as np

from ._base import Estimator, exclusive
from ._threads import effective_n_threads
from ._validation import (check_bool, check_frames, check_int, check_n_threads, check_numeric_array,
                          check_real, kernel_array, user_stacklevel)

__all__ = [
    "PixelGMM",
    "PixelGMMPrediction",
    "mean_background",
    "median_background",
    "kmeans_background",
    "subtract",
]

FramesLike = Union[np.ndarray, Iterable[np.ndarray]]

_MAX_COMPONENTS = 16
#: Most iterations the kernels' (C int) counters take.
_MAX_ITER = 2**31 - 1

_kernel = None


def _k():
    global _kernel
    if _kernel is None:
        from ._dispatch import load

        _kernel = load("_pixelgmm")
    return _kernel


# ----------------------------------------------------------------------------- input checks


def _kernel_input(arr: np.ndarray) -> np.ndarray:
    """(T, P, d) C-contiguous uint8 or float32 view/copy of a (T, H, W[, C]) stack."""
    T, H, W = arr.shape[:3]
    d = arr.shape[3] if arr.ndim == 4 else 1
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float32, copy=False)
    return kernel_array(arr).reshape(T, H * W, d)


#: Largest pixel magnitude the batch backgrounds take: they compute or answer in float32, where
#: larger values (or, for PixelGMM, their squares summed over many frames) overflow to infinity
#: (no image format holds such values).
MAX_PIXEL_MAGNITUDE = 1e15


def _check_magnitude(arr: np.ndarray, name: str) -> None:
    if arr.dtype == np.uint8 or arr.size == 0:
        return
    peak = float(np.max(np.abs(arr)))
    if peak > MAX_PIXEL_MAGNITUDE:
        raise ValueError(f"{name} hold values up to {peak:.3g}, past what float32 computations of them "
                         "hold: rescale the frames (to 0..255 or 0..1).")


def _default_var_min(arr: np.ndarray) -> float:
    """Variance floor: (2 grey levels)^2 on the frames' scale."""
    if arr.dtype.kind in "ui":
        top = 255.0 if arr.dtype == np.uint8 else float(min(np.iinfo(arr.dtype).max, max(255, int(arr.max()))))
        return 4.0 * (top / 255.0) ** 2
    peak = float(np.max(np.abs(arr)))
    scale = 1.0 if peak <= 1.0 else 255.0 if peak <= 255.0 else peak
    return 4.0 * (scale / 255.0) ** 2


def _luminance_sample(arr: np.ndarray, step: int) -> np.ndarray:
    """Channel sum of every ``step``-th pixel of each frame of a stack, float32 (T, h, w)."""
    sub = arr[:, ::step, ::step].astype(np.float32)
    return sub.sum(axis=3) if sub.ndim == 4 else sub


def _sample_step(h: int, w: int) -> int:
    """Pixel step giving about 10,000 samples per frame for the brightness estimate."""
    return max(1, int(round(np.sqrt(h * w / 10000.0))))


def _gains(lum: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-frame brightness gain: median over pixels of frame / reference (robust to moving objects)."""
    floor = max(float(np.median(ref)) * 0.1, 1e-6)
    keep = ref > floor
    if not np.any(keep):
        return np.ones(lum.shape[0], dtype=np.float32)
    ratio = lum[:, keep] / ref[keep]
    g = np.median(ratio, axis=1)
    return np.where(np.isfinite(g) & (g > 1e-3), g, 1.0).astype(np.float32)


def _threads_for(n_threads, work: int, grain: int = 1 << 16) -> int:
    """Threads for a kernel call of ``work`` pixel-steps: no more than one per ``grain``
    (starting threads costs more than it saves on small frames)."""
    return max(1, min(effective_n_threads(n_threads), work // grain))


# ----------------------------------------------------------------------------- PixelGMM


@dataclass(frozen=True, eq=False)
class PixelGMMPrediction:
    """What :meth:`PixelGMM.predict` returns (unpacks and indexes as ``labels, mask``)."""

    labels: np.ndarray
    """Most probable component of each pixel (int8; 0 is the heaviest component)."""
    mask: np.ndarray
    """Foreground mask (bool, True = foreground)."""

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.labels, self.mask))

    def __getitem__(self, index: int) -> np.ndarray:
        return (self.labels, self.mask)[index]


class PixelGMM(Estimator):
    """An independent Gaussian mixture per pixel, fitted by EM over a stack of frames.

    Each pixel's values over the training frames are modelled by
    ``n_components`` Gaussians with one variance per channel (diagonal
    covariance).  The fit starts from a per-pixel k-means (centres spread
    between the pixel's darkest and brightest value) and runs EM until the
    mean log-likelihood per frame changes by less than ``tol`` or
    ``max_iter`` iterations.  Variances never go below ``var_min``, so flat
    or saturated pixels give finite, usable models.

    A new value is background when it is within ``threshold`` Mahalanobis
    units (sqrt of sum over channels of (x - mean)^2 / variance) of a
    background component.  The background components of a pixel are its
    heaviest component, plus the next heaviest ones while the weights of the
    heavier ones add up to less than ``background_ratio`` (the rule of
    Stauffer & Grimson, 1999).  With ``background_ratio=0`` only the heaviest
    component is background; the default 0.7 also keeps a second mode that
    the background shows often (a flickering light, a waving branch, or the
    two halves EM may split plain sensor noise into), while an object seen in
    less than 30% of the training frames stays foreground.

    Parameters
    ----------
    n_components : int, default 2
        Gaussians per pixel (1 to 16).
    threshold : float, default 5.0
        Mahalanobis distance beyond which a value is foreground.
    background_ratio : float in [0, 1], default 0.7
        See above.
    max_iter : int, default 20
        Most EM iterations.
    tol : float, default 1e-3
        Convergence threshold on the change of a pixel's mean log-likelihood
        per frame.  ``0`` runs exactly ``max_iter`` iterations.
    var_min : float or None, default None
        Variance floor, in squared units of the frames (as MOG2's ``var_min``;
        named ``min_var`` before 2026-12-07, a name files saved then still load with).  None means (2 grey
        levels)^2 on the frames' scale: 4.0 for uint8 frames (and float frames
        on a 0..255 scale), (2/255)^2 for float frames in [0, 1].
    n_init_iter : int, default 3
        k-means iterations of the initialisation.
    normalize_brightness : bool, default True
        Undo global brightness changes (a camera's automatic exposure, a
        cloud): each frame is divided by its gain, the median over pixels of
        its brightness relative to the training frames' per-pixel median
        brightness, before fitting and before testing.  Moving objects cover
        a minority of the pixels, so they do not bias the gain.
    n_threads : int or None, default None
        Threads for the kernels; None uses every usable core.

    Attributes
    ----------
    weights_ : ndarray (H, W, K) float32
        Component weights, sorted per pixel from heaviest to lightest.
    means_ : ndarray (H, W, K) or (H, W, K, C) float32
        Component means (grey or colour frames).
    variances_ : ndarray, same shape as ``means_``
        Per-channel component variances.
    lower_bound_ : ndarray (H, W) float32
        Mean log-likelihood per frame of each pixel's training values at the last E-step.
    n_iter_ : int
        Most EM iterations any pixel needed.
    converged_ : bool
        Whether every pixel met ``tol`` within ``max_iter`` iterations.
    var_min_ : float
        The variance floor used.
    gains_ : ndarray (T,) float32
        Brightness gain of each training frame (all 1 without normalisation).
    brightness_reference_ : ndarray or None
        Per-pixel median brightness of the training frames on a grid of every
        ``brightness_step_``-th pixel (None without normalisation): the
        reference new frames' gains are measured against.
    brightness_step_ : int or None
    frame_shape_ : tuple
        (H, W) or (H, W, C) of the training frames.
    n_frames_ : int
        Number of training frames.

    Examples
    --------
    >>> from gmmfast import PixelGMM
    >>> from gmmfast.data import sample_clip
    >>> frames, masks = sample_clip()
    >>> model = PixelGMM(n_components=3).fit(frames[:48])
    >>> labels, fg = model.predict(frames[60])
    >>> background = model.background_image()
    """

    _renamed = {"min_var": "var_min", "min_var_": "var_min_"}

    def __init__(
        self,
        n_components: int = 2,
        *,
        threshold: float = 5.0,
        background_ratio: float = 0.7,
        max_iter: int = 20,
        tol: float = 1e-3,
        var_min: float | None = None,
        n_init_iter: int = 3,
        normalize_brightness: bool = True,
        n_threads: int | None = None,
    ) -> None:
        self.n_components = n_components
        self.threshold = threshold
        self.background_ratio = background_ratio
        self.max_iter = max_iter
        self.tol = tol
        self.var_min = var_min
        self.n_init_iter = n_init_iter
        self.normalize_brightness = normalize_brightness
        self.n_threads = n_threads

    # -- parameters -----------------------------------------------------------
    def _check_params(self) -> None:
        check_int(self.n_components, "n_components", low=1, high=_MAX_COMPONENTS)
        check_real(self.threshold, "threshold", low=0.0, low_open=True)
        check_real(self.background_ratio, "background_ratio", low=0.0, high=1.0)
        check_int(self.max_iter, "max_iter", low=1, high=_MAX_ITER)
        check_real(self.tol, "tol", low=0.0)
        if self.var_min is not None:
            check_real(self.var_min, "var_min", low=0.0, low_open=True)
        check_int(self.n_init_iter, "n_init_iter", low=0, high=_MAX_ITER)
        check_bool(self.normalize_brightness, "normalize_brightness")
        check_n_threads(self.n_threads)

    # -- fitting --------------------------------------------------------------
    @exclusive
    def fit(self, frames: FramesLike) -> PixelGMM:
        """Fit one mixture per pixel to the training frames.

        Parameters
        ----------
        frames : array (T, H, W) or (T, H, W, C), or a sequence of frames
            Training frames, at least ``n_components`` of them.

        Returns
        -------
        self
        """
        self._check_params()
        arr = check_frames(frames, name="training frames")
        _check_magnitude(arr, "training frames")
        K = int(self.n_components)
        if arr.shape[0] < K:
            raise ValueError(
                f"PixelGMM(n_components={K}) needs at least {K} training frames, got {arr.shape[0]}."
            )
        var_min = float(self.var_min) if self.var_min is not None else _default_var_min(arr)
        X = _kernel_input(arr)
        n_threads = _threads_for(self.n_threads, X.shape[0] * X.shape[1] * K * int(self.max_iter))
        H, W = arr.shape[1:3]
        if self.normalize_brightness:
            self.brightness_step_ = _sample_step(H, W)
            lum = _luminance_sample(arr, self.brightness_step_)
            self.brightness_reference_ = np.median(lum, axis=0).astype(np.float32)
            gains = _gains(lum, self.brightness_reference_)
        else:
            self.brightness_step_, self.brightness_reference_ = None, None
            gains = np.ones(arr.shape[0], dtype=np.float32)
        w, mu, var, ll, n_iter = _k().em_fit(
            X, (1.0 / gains).astype(np.float32), K, int(self.max_iter), float(self.tol), var_min,
            int(self.n_init_iter), n_threads
        )
        self.gains_ = gains
        self.frame_shape_ = tuple(arr.shape[1:])
        self.n_frames_ = int(arr.shape[0])
        self.var_min_ = var_min
        mshape = (H, W, K) if arr.ndim == 3 else (H, W, K, arr.shape[3])
        self.weights_ = w.reshape(H, W, K)
        self.means_ = mu.reshape(mshape)
        self.variances_ = var.reshape(mshape)
        self.lower_bound_ = ll.reshape(H, W)
        converged = n_iter > 0
        self.converged_ = bool(np.all(converged))
        self.n_iter_ = int(n_iter.max()) if self.converged_ else int(self.max_iter)
        return self

    def _restore_fitted_state(self, state: dict[str, Any]) -> None:
        """Check a model file's per-pixel arrays before taking them: an edited file loaded and then
        failed at predict with NumPy's "cannot reshape" or Cython's dtype mismatch."""
        if "weights_" in state:
            w, mu, var = (np.asarray(state.get(k)) for k in ("weights_", "means_", "variances_"))
            shape = tuple(state.get("frame_shape_", ()))
            ok = (w.dtype == np.float32 and w.ndim == 3 and len(shape) in (2, 3) and w.shape[:2] == shape[:2]
                  and mu.dtype == np.float32 and var.dtype == np.float32 and mu.shape == var.shape
                  and mu.shape == w.shape + shape[2:] and all(np.isfinite(a).all() for a in (w, mu, var))
                  and (var > 0).all())
            if not ok:
                raise ValueError("the model file's PixelGMM arrays do not make a model (weights_ (H, W, K), "
                                 "means_ and variances_ (H, W, K[, C]) float32, finite, positive variances, "
                                 "frame_shape_ (H, W[, C])).")
        super()._restore_fitted_state(state)

    # -- prediction -----------------------------------------------------------
    def _frames_for_predict(self, frame) -> tuple[np.ndarray, bool]:
        arr = np.asarray(frame)
        fshape = self.frame_shape_
        single = arr.ndim == len(fshape)
        if not single and arr.ndim != len(fshape) + 1:
            raise ValueError(
                f"expected a frame of shape {fshape} (or a stack N x {' x '.join(map(str, fshape))}), "
                f"got an array of shape {arr.shape}."
            )
        shape = arr.shape if single else arr.shape[1:]
        if shape != fshape:
            raise ValueError(
                f"the frame has shape {shape} but the model was fitted on frames of shape {fshape}; "
                "use frames of the training size (or fit a new model)."
            )
        check_numeric_array(arr, "frames")
        stack = arr[None] if single else arr
        if stack.shape[0] == 0:
            raise ValueError("no frames: the stack has 0 frames.")
        return stack, single

    def _scales(self, stack: np.ndarray) -> list[float]:
        """1 / brightness gain of each frame of a stack (all 1 without normalisation)."""
        if self.brightness_reference_ is None:
            return [1.0] * stack.shape[0]
        g = _gains(_luminance_sample(stack, self.brightness_step_), self.brightness_reference_)
        return [float(1.0 / v) for v in g]

    @exclusive
    def predict(self, frame: np.ndarray) -> PixelGMMPrediction:
        """Component labels and foreground mask of a frame (or a stack of frames).

        Parameters
        ----------
        frame : array (H, W[, C]) or (N, H, W[, C])
            Frames of the training size and channel count.

        Returns
        -------
        PixelGMMPrediction(labels, mask)
            ``labels``: int8 (H, W) (or (N, H, W)), the most probable component
            of each pixel, 0 being the heaviest; ``mask``: bool, True where the
            value is not within ``threshold`` Mahalanobis units of any background
            component (see the class docstring).
        """
        labels, mask, _, single = self._predict_kernel(frame)
        if single:
            return PixelGMMPrediction(labels[0], mask[0])
        return PixelGMMPrediction(labels, mask)

    def _predict_kernel(self, frame) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """Labels, masks and background distances of a frame or stack, each (N, H, W)."""
        self._check_fitted("weights_")
        self._check_params()
        stack, single = self._frames_for_predict(frame)
        X = _kernel_input(stack)
        P, K = self.weights_.shape[0] * self.weights_.shape[1], self.weights_.shape[2]
        w, mu, var = (np.ascontiguousarray(a).reshape(P, K, -1) for a in (self.weights_, self.means_, self.variances_))
        w = w[:, :, 0]
        n_threads = _threads_for(self.n_threads, w.size)
        H, W = self.frame_shape_[:2]
        labels = np.empty((X.shape[0], H, W), dtype=np.int8)
        mask = np.empty((X.shape[0], H, W), dtype=bool)
        dist = np.empty((X.shape[0], H, W), dtype=np.float32)
        scales = self._scales(stack)
        for i in range(X.shape[0]):
            lab, m, dist[i] = (a.reshape(H, W) for a in _k().predict(
                X[i], w, mu, var, scales[i], float(self.background_ratio), float(self.threshold), n_threads))
            labels[i] = lab
            mask[i] = m.view(bool)
        return labels, mask, dist, single

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Foreground mask of a frame or stack of frames (bool); ``predict(frame).mask``.

        Named as the online subtractors' ``apply`` so that either can classify a clip, but it
        only classifies: a PixelGMM learns from :meth:`fit` alone, and a frame given here
        leaves the model unchanged (the online models learn every frame they classify).

        Parameters
        ----------
        frame : array (H, W[, C]) or (N, H, W[, C])
            A frame or a stack of N frames of the training size and channel
            count, holding finite numbers.

        Returns
        -------
        ndarray of bool, (H, W) or (N, H, W)
            True where the value is foreground.
        """
        return self.predict(frame).mask

    @exclusive
    def mahalanobis(self, frame: np.ndarray) -> np.ndarray:
        """Smallest Mahalanobis distance of each pixel to a background component.

        The distance :meth:`predict` compares with ``threshold`` (a pixel is
        foreground where it is larger), measured after the brightness
        normalisation when ``normalize_brightness`` is on.

        Parameters
        ----------
        frame : array (H, W[, C]) or (N, H, W[, C])
            A frame or a stack of N frames of the training size and channel
            count, holding finite numbers.

        Returns
        -------
        ndarray of float32, (H, W) or (N, H, W)
            Distances in Mahalanobis units (not squared).

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        ValueError
            If the frames have another size or channel count than the
            training frames, or hold NaN or infinity.
        """
        _, _, dist, single = self._predict_kernel(frame)
        return dist[0] if single else dist

    @exclusive
    def background_image(self) -> np.ndarray:
        """The mean of each pixel's heaviest component: float32 (H, W) or (H, W, C).

        With ``normalize_brightness`` the model, and so this image, is on the
        brightness of the training frames' per-pixel median.
        """
        self._check_fitted("weights_")
        return np.ascontiguousarray(self.means_[:, :, 0])


# ----------------------------------------------------------------------------- simple backgrounds


def mean_background(frames: FramesLike) -> np.ndarray:
    """Per-pixel mean of a stack of frames.

    Parameters
    ----------
    frames : array (T, H, W) or (T, H, W, C), or a sequence of frames
        T >= 1 frames of one shape (C = 1 to 4), holding finite real numbers
        (not bool) of magnitude at most 1e15.

    Returns
    -------
    ndarray (H, W) or (H, W, C) float32
        Accumulated in float64, on the frames' own scale.

    Raises
    ------
    ValueError
        If the frames are not a stack of equal-shaped frames, are empty, or
        hold NaN, infinity or values past 1e15.
    TypeError
        If the frames do not hold numbers, or are a path.
    """
    arr = check_frames(frames)
    _check_magnitude(arr, "frames")
    return np.mean(arr, axis=0, dtype=np.float64).astype(np.float32)


def median_background(frames: FramesLike) -> np.ndarray:
    """Per-pixel median of a stack of frames.

    Robust to objects that cover a pixel in fewer than half of the frames.

    Parameters
    ----------
    frames : array (T, H, W) or (T, H, W, C), or a sequence of frames
        As for :func:`mean_background`.

    Returns
    -------
    ndarray (H, W) or (H, W, C) float32
        On the frames' own scale (with an even T, the mean of the two middle
        values).

    Raises
    ------
    ValueError, TypeError
        As :func:`mean_background`.
    """
    arr = check_frames(frames)
    _check_magnitude(arr, "frames")
    return np.median(arr, axis=0).astype(np.float32)


@overload
def kmeans_background(frames: FramesLike, n_clusters: int = ..., *, max_iter: int = ..., n_threads: int | None = ...,
                      return_clusters: Literal[False] = ...) -> np.ndarray: ...
@overload
def kmeans_background(frames: FramesLike, n_clusters: int = ..., *, max_iter: int = ..., n_threads: int | None = ...,
                      return_clusters: Literal[True]) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
@overload
def kmeans_background(frames: FramesLike, n_clusters: int = ..., *, max_iter: int = ..., n_threads: int | None = ...,
                      return_clusters: bool) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def kmeans_background(
    frames: FramesLike,
    n_clusters: int = 3,
    *,
    max_iter: int = 10,
    n_threads: int | None = None,
    return_clusters: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Background as the centre of each pixel's largest k-means cluster.

    Every pixel's training values (grey levels or colours) are clustered into
    ``n_clusters`` clusters by Lloyd's algorithm, independently per pixel,
    starting from centres spread between the pixel's darkest and brightest
    value.  The background value is the centre of the cluster with the most
    members: an object that passes over a pixel in a minority of the frames
    gets a cluster of its own and does not bias the background, unlike the
    mean.

    Parameters
    ----------
    frames : array (T, H, W) or (T, H, W, C), or a sequence of frames
    n_clusters : int, default 3
        Clusters per pixel (1 to 16; 1 gives the mean).
    max_iter : int, default 10
        Lloyd iterations.
    n_threads : int or None
        Threads; None uses every usable core.
    return_clusters : bool, default False
        Also return the centres (H, W, K[, C]) and cluster sizes (H, W, K),
        both sorted per pixel from largest to smallest cluster.

    Returns
    -------
    background : float32 (H, W) or (H, W, C)
        (and ``centres, sizes`` when ``return_clusters``)
    """
    arr = check_frames(frames)
    _check_magnitude(arr, "frames")
    K = check_int(n_clusters, "n_clusters", low=1, high=_MAX_COMPONENTS)
    n_iter = check_int(max_iter, "max_iter", low=0, high=_MAX_ITER)
    return_clusters = check_bool(return_clusters, "return_clusters")
    X = _kernel_input(arr)
    ones = np.ones(X.shape[0], dtype=np.float32)
    centres, counts = _k().kmeans_fit(X, ones, K, n_iter, _threads_for(n_threads, X.shape[0] * X.shape[1] * K * (n_iter + 1)))
    H, W = arr.shape[1:3]
    cshape = (H, W, K) if arr.ndim == 3 else (H, W, K, arr.shape[3])
    centres = centres.reshape(cshape)
    background = np.ascontiguousarray(centres[:, :, 0])
    if return_clusters:
        return background, centres, counts.reshape(H, W, K).astype(np.int64)
    return background


def _warn_if_scales_differ(frame: np.ndarray, background: np.ndarray, threshold: float) -> None:
    """Warn when the frame and the background cannot be compared as given: one in [0, 1] and
    the other on 0-255 (or 16-bit), or both in [0, 1] with a threshold no distance reaches."""
    top_f, top_b = float(frame.max(initial=0)), float(background.max(initial=0))
    unit_f, unit_b = frame.dtype.kind == "f" and top_f <= 1.0, background.dtype.kind == "f" and top_b <= 1.0
    # 'wide' (12 or 16 bits) only past twice the 8-bit range: a background estimated from 8-bit frames
    # overshoots 255 a little where brightness is normalised (PixelGMM's reached 263), never twice
    wide_f, wide_b = frame.dtype.itemsize > 1 and top_f > 510, background.dtype.itemsize > 1 and top_b > 510
    if (unit_f and top_b > 2.0) or (unit_b and top_f > 2.0) or wide_f != wide_b:
        problem = (f"the frame (values up to {top_f:g}, {frame.dtype}) and the background (up to {top_b:g}, "
                   f"{background.dtype}) look like different scales; bring both onto one (e.g. 0-255)")
    elif unit_f and unit_b and threshold >= np.sqrt(frame.shape[-1] if background.ndim == 3 else 1):
        problem = (f"threshold {threshold:g} on values in [0, 1]: no pixel can be that far from the "
                   "background; scale the threshold (e.g. 30 / 255) or the frames")
    else:
        return
    warnings.warn(problem + ".", UserWarning, stacklevel=user_stacklevel())


def subtract(frame: np.ndarray, background: np.ndarray, threshold: float = 30.0) -> np.ndarray:
    """Foreground mask: pixels farther than ``threshold`` from the background.

    The distance is the absolute difference for grey frames and the Euclidean
    distance over channels for colour frames, on the frames' own scale (grey
    levels for uint8).

    Parameters
    ----------
    frame : array (H, W[, C]) or a stack (N, H, W[, C])
    background : array (H, W[, C])
        For example from :func:`median_background`.
    threshold : float, default 30
        Distance above which a pixel is foreground.

    Returns
    -------
    mask : bool array (H, W) or (N, H, W)
    """
    thr = check_real(threshold, "threshold", low=0.0)
    bg = np.asarray(background)
    fr = np.asarray(frame)
    check_numeric_array(bg, "the background")
    check_numeric_array(fr, "frames")
    if bg.ndim not in (2, 3) or bg.size == 0:
        raise ValueError(f"background must be an H x W or H x W x C image, got shape {bg.shape}.")
    if fr.shape != bg.shape and not (fr.ndim == bg.ndim + 1 and fr.shape[1:] == bg.shape):
        raise ValueError(
            f"frame of shape {fr.shape} does not match the background of shape {bg.shape} "
            "(give one frame of the background's shape, or a stack of them)."
        )
    _warn_if_scales_differ(fr, bg, thr)
    diff = fr.astype(np.float32) - bg.astype(np.float32)
    if bg.ndim == 3:
        dist2 = np.einsum("...c,...c->...", diff, diff)
        mask = dist2 > np.float32(thr) * np.float32(thr)
    else:
        mask = np.abs(diff) > np.float32(thr)
    return mask
