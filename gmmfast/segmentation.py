"""Image segmentation by Gaussian mixtures.

:func:`segment` fits a :class:`gmmfast.GaussianMixture` to (a random
subsample of) the pixels of an image, labels every pixel with its most
probable component, optionally regularises the labels with a Potts term
between 8-neighbours, and returns a :class:`Segmentation` with the label map,
the model and the pictures derived from them (masks, the image painted with
the components' mean colours, a grey "binary" map, an overlay).

Components are numbered by increasing mean luminance, so the same input
always gives the same labels.
"""

from __future__ import annotations

import numbers
import os
import time
import warnings
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Union

import numpy as np

from ._dispatch import load
from ._finite import all_finite
from ._threads import effective_n_threads

__all__ = ["segment", "Segmentation", "adjusted_rand_index", "palette", "FEATURES", "DEFAULT_MAX_FIT_PIXELS"]

_ik = load("_imagekernels")
_gmmk = load("_gmm")

#: Accepted values of ``features``.
FEATURES = ("rgb", "lab", "gray", "rgbxy", "labxy")

#: Pixels the mixture is fitted on when ``max_fit_pixels`` is None.  A
#: random 200 000 pixels estimate a mixture of a few components in 3 to 5
#: dimensions to well within the pixels' own noise, so labelling a
#: 12-megapixel photo from them is indistinguishable from fitting on all.
DEFAULT_MAX_FIT_PIXELS = 200_000

#: Probability that a pixel is an outlier of the mixture, used by the Potts
#: smoothing: a pixel's unary cost is -log((1 - eps) p(k | x) + eps / K).
OUTLIER_PROBABILITY = 0.01

#: With the 'xy' features, the longer image side spans this fraction of the
#: colour range (255 for RGB, 100 for L*): position then favours compact
#: regions while colour still decides between well-separated ones.
XY_SPAN = 0.25

#: Upper bound on ICM sweeps of the Potts smoothing (it stops earlier when
#: no label changes).
MAX_SMOOTHING_SWEEPS = 50

_FEATURE_KIND = {"rgb": _ik.RGB, "lab": _ik.LAB, "gray": _ik.GRAY}
_COLOUR_RANGE = {"rgb": 255.0, "lab": 100.0, "gray": 255.0}

ImageLike = Union[np.ndarray, str, "os.PathLike[str]", IO[bytes]]


def _gaussian_mixture_class():
    """The mixture estimator segmentation fits (the project's own)."""
    from .mixture import GaussianMixture

    return GaussianMixture


# --------------------------------------------------------------------------- input


def _load_image(image: ImageLike) -> np.ndarray:
    """Validate ``image`` and return it as an H x W or H x W x C array."""
    if isinstance(image, (str, os.PathLike)) or hasattr(image, "read"):
        from .io import read_image

        image = read_image(image)
    if not isinstance(image, np.ndarray):
        try:
            image = np.asarray(image)
        except Exception as exc:  # pragma: no cover - exotic objects
            raise TypeError(f"image must be a NumPy array, a path or a file object, got {type(image).__name__}") from exc
    arr = image
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(
            f"image must hold numbers (uint8, uint16 or float), got dtype {arr.dtype}"
        )
    if arr.ndim not in (2, 3):
        raise ValueError(
            f"image must be H x W (grey), H x W x 3 (RGB) or H x W x 4 (RGBA); got {arr.ndim} "
            f"dimensions, shape {arr.shape}"
        )
    if arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4):
        raise ValueError(
            f"image must have 1, 3 or 4 channels (grey, RGB, RGBA) in its last axis; got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image is empty (shape {arr.shape})")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * np.uint8(255)
    elif arr.dtype.kind in "iu" and arr.dtype not in (np.uint8, np.uint16):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 65535:
            raise ValueError(
                f"integer image values must lie in 0..65535, got {lo}..{hi}; "
                "rescale to uint8, uint16 or float in [0, 1]"
            )
        arr = arr.astype(np.uint8 if hi <= 255 else np.uint16)
    elif arr.dtype.kind == "f":
        if arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        if not all_finite(arr):
            raise ValueError("image contains NaN or infinite values; replace them (e.g. np.nan_to_num) first")
    return arr


@lru_cache(maxsize=8)
def _lut(levels: int, kind: int) -> np.ndarray:
    if kind == _ik.LAB:
        return _ik.srgb_linear_lut(levels)
    return np.arange(levels, dtype=np.float64) * (255.0 / (levels - 1))


def _colour_pixels(img: np.ndarray) -> np.ndarray:
    """The image as a C-contiguous H x W x C array without alpha (C = 1 or 3)."""
    if img.ndim == 2:
        img = img[:, :, None]
    elif img.shape[2] == 2:  # grey + alpha
        img = img[:, :, :1]
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    return np.ascontiguousarray(img)


def _features(pixels: np.ndarray, features: str, n_threads: int) -> np.ndarray:
    """Feature rows (H*W x d, float32) of an H x W x C colour array."""
    H, W, C = pixels.shape
    base = features[:-2] if features.endswith("xy") else features
    xy = features.endswith("xy")
    kind = _FEATURE_KIND[base]
    d_colour = 1 if (kind == _ik.GRAY or C == 1) else 3
    d = d_colour + (2 if xy else 0)
    if pixels.dtype == np.uint8:
        lut = _lut(256, kind)
    elif pixels.dtype == np.uint16:
        lut = _lut(65536, kind)
    else:
        lut = np.zeros(1)
    xy_scale = XY_SPAN * _COLOUR_RANGE[base] / max(H - 1, W - 1, 1)
    out = np.empty((H * W, d), dtype=np.float32)
    _ik.build_features(pixels, kind, xy, lut, xy_scale, out, n_threads)
    return out


def _luminance_key(means: np.ndarray, features: str, d_colour: int) -> np.ndarray:
    """Mean luminance of each component from its mean feature vector."""
    if features.startswith("rgb") and d_colour == 3:
        return means[:, 0] * 0.299 + means[:, 1] * 0.587 + means[:, 2] * 0.114
    return means[:, 0]  # L*, grey level or luma


def _distinct_rows(X: np.ndarray, limit: int) -> int:
    """Number of distinct rows of X, counted up to ``limit + 1``."""
    remaining = X
    found = 0
    while remaining.shape[0] and found <= limit:
        found += 1
        remaining = remaining[np.any(remaining != remaining[0], axis=1)]
    return found


# --------------------------------------------------------------------------- model helpers


def _n_parameters(K: int, d: int, covariance_type: str) -> int:
    if covariance_type == "full":
        cov = K * d * (d + 1) // 2
    elif covariance_type == "diag":
        cov = K * d
    elif covariance_type == "tied":
        cov = d * (d + 1) // 2
    else:
        cov = K
    return int(cov + K * d + K - 1)


def _bic(model, X: np.ndarray) -> float:
    n, d = X.shape
    K = len(model.weights_)
    return float(-2.0 * model.score(X) * n + _n_parameters(K, d, model.covariance_type) * np.log(n))


def _reorder(model, perm: np.ndarray) -> None:
    """Renumber the components of a fitted model: new k is old perm[k]."""
    tied = model.covariance_type == "tied"
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        if tied and name not in ("weights_", "means_"):
            continue
        value = getattr(model, name, None)
        if isinstance(value, np.ndarray) and value.shape[:1] == perm.shape:
            setattr(model, name, np.ascontiguousarray(value[perm]))


def _kernel_params(model, d: int, dtype=np.float32):
    """Means, flattened precision factors, log-constants and kind for the E-step kernel."""
    K = len(model.weights_)
    ctype = model.covariance_type
    pc = np.asarray(model.precisions_cholesky_, dtype=np.float64)
    if ctype == "full":
        log_det = np.log(np.diagonal(pc, axis1=1, axis2=2)).sum(axis=1)
        prec, kind = pc.reshape(-1), _gmmk.FULL
    elif ctype == "tied":
        log_det = np.full(K, np.log(np.diag(pc)).sum())
        prec, kind = np.tile(pc.reshape(-1), K), _gmmk.TIED
    elif ctype == "diag":
        log_det = np.log(pc).sum(axis=1)
        prec, kind = pc.reshape(-1), _gmmk.DIAG
    else:  # spherical
        log_det = d * np.log(pc)
        prec, kind = pc, _gmmk.SPHERICAL
    with np.errstate(divide="ignore"):
        log_w = np.log(np.asarray(model.weights_, dtype=np.float64))
    log_const = log_w + log_det - 0.5 * d * np.log(2.0 * np.pi)
    means = np.ascontiguousarray(model.means_, dtype=dtype)
    return means, np.ascontiguousarray(prec, dtype=dtype), np.ascontiguousarray(log_const, dtype=dtype), kind


def _posteriors(model, X: np.ndarray, n_threads: int) -> np.ndarray:
    means, prec, log_const, kind = _kernel_params(model, X.shape[1], X.dtype)
    resp = np.empty((X.shape[0], len(log_const)), dtype=X.dtype)
    _gmmk.e_step(X, means, prec, log_const, kind, n_threads, resp=resp)
    return resp


def _hard_labels(model, X: np.ndarray, n_threads: int) -> np.ndarray:
    means, prec, log_const, kind = _kernel_params(model, X.shape[1], X.dtype)
    labels = np.empty(X.shape[0], dtype=np.intp)
    _gmmk.e_step(X, means, prec, log_const, kind, n_threads, labels=labels)
    return labels


def _label_dtype(K: int):
    return np.uint8 if K <= 256 else np.uint16


# --------------------------------------------------------------------------- result


_PALETTE = np.array(
    [
        [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
        [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
    ],
    dtype=np.uint8,
)


def palette(n: int) -> np.ndarray:
    """``n`` distinguishable RGB colours (uint8, n x 3) used for overlays."""
    if n <= len(_PALETTE):
        return _PALETTE[:n].copy()
    hues = (np.arange(n) * 0.618033988749895) % 1.0
    h6 = hues * 6.0
    i = np.floor(h6).astype(int) % 6
    f = h6 - np.floor(h6)
    v, s = 0.9, 0.75
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack(
        [np.select([i == j for j in range(6)], c) for c in (
            [v, q, p, p, t, v], [t, v, v, q, p, p], [p, p, t, v, v, q])],
        axis=1,
    )
    out = np.round(table * 255).astype(np.uint8)
    out[: len(_PALETTE)] = _PALETTE
    return out


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)
    return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


class Segmentation:
    """The result of :func:`segment`.

    Attributes
    ----------
    labels : ndarray, H x W, uint8 (uint16 beyond 256 components)
        Component of every pixel, numbered by increasing mean luminance.
    model : GaussianMixture
        The fitted mixture (its components in the same order as ``labels``).
    image : ndarray
        The input image as validated (H x W or H x W x C, original dtype).
    features : str
        The features the mixture was fitted on.
    smoothing : float
        The Potts weight used (0 = plain maximum-posterior labels).
    bic : dict or None
        ``{K: BIC}`` of the candidate models when ``n_components='auto'``.
    timings : dict
        Seconds spent in ``features``, ``fit``, ``label`` and ``smooth``.
    """

    def __init__(self, labels: np.ndarray, model: Any, image: np.ndarray, features: str,
                 smoothing: float = 0.0, bic: dict | None = None, timings: dict | None = None,
                 fit_features: np.ndarray | None = None, n_threads: int | None = None):
        self.labels = labels
        self.model = model
        self.image = image
        self.features = features
        self.smoothing = float(smoothing)
        self.bic = bic
        self.timings = dict(timings or {})
        self.fit_features = fit_features
        self._n_threads = n_threads
        self._colours: np.ndarray | None = None

    # -- basic facts
    @property
    def n_components(self) -> int:
        """Number of mixture components (possible labels)."""
        return int(len(self.model.weights_))

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the image."""
        return self.labels.shape  # type: ignore[return-value]

    def counts(self) -> np.ndarray:
        """Number of pixels with each label (length K)."""
        return np.bincount(self.labels.ravel(), minlength=self.n_components)[: self.n_components]

    def __repr__(self) -> str:
        H, W = self.shape
        return (f"Segmentation({H}x{W}, n_components={self.n_components}, features={self.features!r}, "
                f"smoothing={self.smoothing})")

    # -- derived arrays
    def probabilities(self) -> np.ndarray:
        """Posterior probability of each component at each pixel (H x W x K, float32).

        These are the mixture's posteriors, before any smoothing.
        """
        nt = effective_n_threads(self._n_threads)
        X = _features(_colour_pixels(self.image), self.features, nt)
        H, W = self.shape
        return _posteriors(self.model, X, nt).reshape(H, W, self.n_components)

    def masks(self) -> list[np.ndarray]:
        """One boolean H x W mask per component, in label order."""
        return [self.labels == k for k in range(self.n_components)]

    def mean_colours(self) -> np.ndarray:
        """Mean colour of the pixels of each component (K x C, the input's dtype).

        Computed from the input pixels (alpha excluded), whatever the
        features; a component without pixels gets zeros.
        """
        if self._colours is None:
            pix = _colour_pixels(self.image)
            C = pix.shape[2]
            sums = _ik.label_sums(pix.reshape(-1, C), self.labels.reshape(-1), self.n_components,
                                  effective_n_threads(self._n_threads))
            counts = sums[:, 0:1]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(counts > 0, sums[:, 1:] / np.maximum(counts, 1), 0.0)
            if pix.dtype.kind in "ui":
                mean = np.round(mean)
            self._colours = mean.astype(pix.dtype)
        return self._colours.copy()

    def segmented_image(self) -> np.ndarray:
        """The image with each pixel painted in its component's mean colour.

        Same shape and dtype as the input (an alpha channel is kept as it was).
        """
        pix = _colour_pixels(self.image)
        H, W, C = pix.shape
        out = np.empty((H * W, C), dtype=pix.dtype)
        _ik.paint(self.labels.reshape(-1), self.mean_colours(), out, effective_n_threads(self._n_threads))
        out = out.reshape(H, W, C)
        img = self.image
        if img.ndim == 2:
            return out[:, :, 0]
        if img.shape[2] in (2, 4):  # keep alpha
            full = img.copy()
            full[:, :, : img.shape[2] - 1] = out if img.shape[2] == 4 else out[:, :, :1]
            return full
        return out

    def binary(self, component: int) -> np.ndarray:
        """The "binary image" of one component: uint8 H x W, 255 on it, 0 elsewhere."""
        k = self._check_component(component)
        return (self.labels == k).astype(np.uint8) * np.uint8(255)

    def binary_map(self) -> np.ndarray:
        """A greyscale map of the labels: component k drawn as round(255 k / (K - 1)) (uint8)."""
        K = self.n_components
        levels = np.round(np.arange(K) * (255.0 / max(K - 1, 1))).astype(np.uint8)
        return levels[self.labels]

    def overlay(self, alpha: float = 0.5, colours: np.ndarray | None = None) -> np.ndarray:
        """The image (as uint8 RGB) blended with a colour per component.

        ``alpha`` in [0, 1] is the weight of the label colours (0 gives the
        image, 1 the colour-coded labels).  ``colours`` (K x 3 uint8)
        overrides the default palette.
        """
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
        K = self.n_components
        pal = palette(K) if colours is None else np.asarray(colours)
        if pal.shape != (K, 3):
            raise ValueError(f"colours must have shape ({K}, 3), got {pal.shape}")
        base = _to_uint8(_colour_pixels(self.image))
        if base.shape[2] == 1:
            base = np.repeat(base, 3, axis=2)
        blend = (1.0 - alpha) * base + alpha * pal.astype(np.float64)[self.labels]
        return np.round(blend).astype(np.uint8)

    def save(self, folder: str | os.PathLike, stem: str = "image") -> list[Path]:
        """Write ``stem_segmented.png``, ``stem_mask0.png``... and ``stem_binary.png`` into ``folder``.

        The folder is created if needed.  Returns the paths written.
        """
        from .io import write_image

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        seg = self.segmented_image()
        if seg.dtype != np.uint8 and not (seg.dtype == np.uint16 and seg.ndim == 2):
            seg = _to_uint8(seg)
        paths = [write_image(folder / f"{stem}_segmented.png", seg)]
        for k in range(self.n_components):
            paths.append(write_image(folder / f"{stem}_mask{k}.png", self.binary(k)))
        paths.append(write_image(folder / f"{stem}_binary.png", self.binary_map()))
        return paths

    def summary(self) -> str:
        """A one-line description: size, K, features, share of each component, time."""
        H, W = self.shape
        share = self.counts() / float(H * W)
        parts = "/".join(f"{100 * s:.0f}%" for s in share)
        auto = " (auto)" if self.bic else ""
        total = sum(self.timings.values())
        smooth = f", smoothing {self.smoothing:g}" if self.smoothing else ""
        return f"{W}x{H}, K={self.n_components}{auto}, {self.features}{smooth}, sizes {parts}, {total:.2f} s"

    def _check_component(self, component) -> int:
        if isinstance(component, bool) or not isinstance(component, numbers.Integral):
            raise TypeError(f"component must be an integer label, got {component!r}")
        if not 0 <= component < self.n_components:
            raise ValueError(f"component must be in 0..{self.n_components - 1}, got {component}")
        return int(component)


# --------------------------------------------------------------------------- main entry


def _check_k(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer or 'auto', got {value!r}")
    return int(value)


def segment(image: ImageLike, n_components: int | str = 3, *, features: str = "rgb",
            covariance_type: str = "full", smoothing: float = 0.0,
            max_fit_pixels: int | None = None, random_state: int | np.random.Generator | None = None,
            n_threads: int | None = None, k_range: tuple[int, int] = (2, 8),
            smoothing_method: str = "icm", **gmm_options) -> Segmentation:
    """Segment an image into the components of a Gaussian mixture of its pixels.

    Parameters
    ----------
    image : ndarray, path or binary file object
        H x W grey, H x W x 3 RGB or H x W x 4 RGBA (alpha ignored), uint8,
        uint16 or float (taken as values in [0, 1]).  Paths and file objects
        are read with Pillow.
    n_components : int or 'auto'
        Number of components K, or ``'auto'`` to pick K in ``k_range`` by
        the Bayesian information criterion on the fitting subsample.
    features : {'rgb', 'lab', 'gray', 'rgbxy', 'labxy'}
        What the mixture models per pixel: RGB on a 0..255 scale, CIE
        L*a*b* (D65), grey luma, or one of the colour spaces with the pixel
        coordinates appended (scaled so that the longer image side spans a
        quarter of the colour range: 64 for RGB, 25 for Lab; see
        :data:`XY_SPAN`).  Grey images use their
        single intensity (L* for 'lab').
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Passed to the mixture.
    smoothing : float >= 0
        Weight of a Potts term between 8-neighbours (1 per horizontal or
        vertical pair with different labels, 1/sqrt(2) per diagonal pair),
        added to the unary cost -log((1 - 0.01) p(k | x) + 0.01 / K); the
        energy is minimised by ``smoothing_method``.  0 gives the plain
        maximum-posterior labels; around 1 removes isolated speckle; larger
        values give blockier regions.
    max_fit_pixels : int or None
        Fit on a random subsample of at most this many pixels (None:
        :data:`DEFAULT_MAX_FIT_PIXELS`), then label every pixel.
    random_state : int, Generator or None
        Seed of the subsample and of the mixture's initialisation.  None uses
        a fixed seed, so the same image always gives the same segmentation.
    n_threads : int or None
        Threads of the kernels (None: all cores).
    k_range : (int, int)
        Smallest and largest K tried when ``n_components='auto'`` (inclusive).
    smoothing_method : {'icm', 'expansion'}
        How the Potts energy is minimised.  'icm': iterated conditional modes
        in a parallel Cython kernel, started from the plain labels (fast: a
        fraction of the plain call's time on a 12-megapixel photo; reaches a
        labelling no single-pixel change improves).  'expansion':
        alpha-expansion moves solved exactly by min cut
        (:func:`gmmfast.maxflow.alpha_expansion`), started from the ICM
        result; within a factor 2 of the global minimum, never worse than ICM,
        but several times slower -- for images up to a few megapixels.
    **gmm_options
        Further parameters of :class:`gmmfast.GaussianMixture` (``max_iter``,
        ``tol``, ``n_init``, ``init_params``, ``reg_covar``...).

    Returns
    -------
    Segmentation

    Raises
    ------
    ValueError, TypeError
        For an unusable image (wrong shape, NaN, empty) or parameter.
    FileNotFoundError
        If a path does not exist.
    """
    t0 = time.perf_counter()
    if not isinstance(features, str) or features.lower() not in FEATURES:
        raise ValueError(f"features must be one of {', '.join(repr(f) for f in FEATURES)}; got {features!r}")
    features = features.lower()
    if covariance_type not in ("full", "tied", "diag", "spherical"):
        raise ValueError(
            f"covariance_type must be 'full', 'tied', 'diag' or 'spherical', got {covariance_type!r}"
        )
    if isinstance(smoothing, bool) or not isinstance(smoothing, numbers.Real) or not np.isfinite(smoothing) \
            or smoothing < 0:
        raise ValueError(f"smoothing must be a finite number >= 0, got {smoothing!r}")
    if smoothing_method not in ("icm", "expansion"):
        raise ValueError(f"smoothing_method must be 'icm' or 'expansion', got {smoothing_method!r}")
    auto = isinstance(n_components, str)
    if auto:
        if n_components != "auto":
            raise ValueError(f"n_components must be a positive integer or 'auto', got {n_components!r}")
        if (not isinstance(k_range, (tuple, list)) or len(k_range) != 2):
            raise ValueError(f"k_range must be a pair (smallest K, largest K), got {k_range!r}")
        k_lo, k_hi = (_check_k(k, "k_range values") for k in k_range)
        if k_lo > k_hi:
            raise ValueError(f"k_range must be (smallest, largest), got {k_range!r}")
    else:
        k_lo = k_hi = _check_k(n_components, "n_components")
    if max_fit_pixels is None:
        max_fit_pixels = DEFAULT_MAX_FIT_PIXELS
    elif isinstance(max_fit_pixels, bool) or not isinstance(max_fit_pixels, numbers.Integral) or max_fit_pixels < 1:
        raise ValueError(f"max_fit_pixels must be a positive integer or None, got {max_fit_pixels!r}")
    nt = effective_n_threads(n_threads)
    GMM = _gaussian_mixture_class()
    valid = set(GMM().get_params())
    for forbidden in ("n_components", "covariance_type", "random_state", "n_threads"):
        valid.discard(forbidden)
    unknown = sorted(set(gmm_options) - valid)
    if unknown:
        raise TypeError(
            f"unknown mixture option(s) {', '.join(unknown)}; valid ones: {', '.join(sorted(valid))}"
        )

    img = _load_image(image)
    pixels = _colour_pixels(img)
    H, W = pixels.shape[:2]
    N = H * W

    X = _features(pixels, features, nt)
    d_colour = X.shape[1] - (2 if features.endswith("xy") else 0)
    t_feat = time.perf_counter()

    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(
        0 if random_state is None else random_state)
    if N > max_fit_pixels:
        idx = np.sort(rng.choice(N, size=int(max_fit_pixels), replace=False))
        X_fit = X[idx]
    else:
        X_fit = X
    n_fit = X_fit.shape[0]
    if n_fit < k_lo:
        raise ValueError(
            f"cannot fit {k_lo} components to {n_fit} pixel(s); use a larger image or a smaller n_components"
        )
    if n_fit == 1:  # a one-pixel image: the mixture estimator needs two samples
        X_fit = np.repeat(X_fit, 2, axis=0)
    n_distinct = _distinct_rows(X_fit[:, :d_colour], k_hi)
    if n_distinct < k_lo:
        warnings.warn(
            f"the image has only {n_distinct} distinct colour(s) in the fitted pixels, fewer than "
            f"{k_lo} components; using n_components={n_distinct}",
            UserWarning, stacklevel=2,
        )
        k_lo = n_distinct
    k_hi = max(k_lo, min(k_hi, n_distinct))

    seed = int(rng.integers(2**31 - 1))
    params = dict(covariance_type=covariance_type, random_state=seed, **gmm_options)
    if "n_threads" in GMM().get_params():
        params["n_threads"] = n_threads
    bic = None
    with warnings.catch_warnings():
        if n_distinct <= k_hi:
            # few colours: k-means may warn that it found fewer clusters than asked
            warnings.simplefilter("ignore", category=Warning)
        if auto:
            bic, best, best_bic = {}, None, np.inf
            for k in range(k_lo, k_hi + 1):
                m = GMM(n_components=k, **params).fit(X_fit)
                bic[k] = _bic(m, X_fit)
                if bic[k] < best_bic:
                    best, best_bic = m, bic[k]
            model = best
        else:
            model = GMM(n_components=k_lo, **params).fit(X_fit)
    K = len(model.weights_)
    means = np.asarray(model.means_, dtype=np.float64)
    key = _luminance_key(means, features, d_colour)
    perm = np.lexsort(tuple(means[:, j] for j in range(means.shape[1] - 1, -1, -1)) + (np.round(key, 9),))
    _reorder(model, perm)
    t_fit = time.perf_counter()

    ldtype = _label_dtype(K)
    t_smooth = t_label = None
    if smoothing > 0 and K > 1:
        resp = _posteriors(model, X, nt)
        del X
        t_label = time.perf_counter()
        labels = np.empty(N, dtype=ldtype)
        # resp becomes the unary costs -log((1 - eps) p + eps / K) in place
        # ICM synchronises its threads four times per sweep: below ~1/2 megapixel per
        # thread that costs more than the sweep itself, so small images use fewer threads
        nt_icm = max(1, min(nt, N // 500_000))
        _ik.potts_icm(resp, labels, H, W, float(smoothing), OUTLIER_PROBABILITY, MAX_SMOOTHING_SWEEPS, nt_icm)
        if smoothing_method == "expansion":
            from .maxflow import alpha_expansion

            lam = float(smoothing)
            # edge planes in the order (0, 1), (1, 0), (1, 1), (1, -1): diagonals weigh 1/sqrt(2)
            w = np.broadcast_to(np.array([lam, lam, lam / np.sqrt(2), lam / np.sqrt(2)])[:, None, None],
                                (4, H, W))
            labels = alpha_expansion(resp.reshape(H, W, K), w, labels_init=labels.reshape(H, W),
                                     connectivity=8).astype(ldtype).ravel()
        del resp
        t_smooth = time.perf_counter()
    else:
        labels = _hard_labels(model, X, nt).astype(ldtype)
        t_label = time.perf_counter()
    timings = {"features": t_feat - t0, "fit": t_fit - t_feat, "label": t_label - t_fit}
    if t_smooth is not None:
        timings["smooth"] = t_smooth - t_label
    return Segmentation(labels.reshape(H, W), model, img, features, smoothing=float(smoothing), bic=bic,
                        timings=timings, fit_features=X_fit if X_fit.shape[0] <= 250_000 else None,
                        n_threads=n_threads)


def adjusted_rand_index(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """Adjusted Rand index between two label maps of the same shape (1.0 = same partition).

    Label values need not correspond; only which pixels share a label
    matters.  Used to score segmentations against ground truth.
    """
    a = np.asarray(labels_true).ravel()
    b = np.asarray(labels_pred).ravel()
    if a.shape != b.shape:
        raise ValueError(f"label maps differ in size: {np.shape(labels_true)} vs {np.shape(labels_pred)}")
    if a.size == 0:
        raise ValueError("label maps are empty")
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    nb = int(bi.max()) + 1
    table = np.bincount(ai.astype(np.int64) * nb + bi, minlength=(int(ai.max()) + 1) * nb).astype(np.float64)

    def pairs(x):
        return float(np.sum(x * (x - 1) / 2.0))

    n = float(a.size)
    index = pairs(table)
    rows = pairs(table.reshape(-1, nb).sum(axis=1))
    cols = pairs(table.reshape(-1, nb).sum(axis=0))
    expected = rows * cols / (n * (n - 1) / 2.0) if n > 1 else 0.0
    maximum = (rows + cols) / 2.0
    if maximum == expected:
        return 1.0
    return float((index - expected) / (maximum - expected))
