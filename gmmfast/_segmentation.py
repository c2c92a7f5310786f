"""Image segmentation by Gaussian mixtures.

:func:`segment` fits a :class:`gmmfast.GaussianMixture` to (a random
subsample of) the pixels of an image, labels every pixel with its most
probable component, optionally regularises the labels with a Potts term
between 8-neighbours, and returns a :class:`Segmentation` with the label map,
the model and the pictures derived from them (masks, the image painted with
the components' mean colours, a grey "binary" map, an overlay).

Components are numbered by increasing mean luminance, measured in the
features' space (L* for 'lab', luma for 'rgb', the grey level), so the same
input always gives the same labels.
"""

from __future__ import annotations

import functools
import numbers
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._auto_k import choose_n_components
from ._dispatch import load
from ._files import make_folder
from ._memory import check_fits_in_memory
from ._mixture import GaussianMixture, _distinct_rows_upto
from ._threads import effective_n_threads
from ._validation import (ImageLike, check_choice, check_image, check_int, check_n_threads,
                          check_random_state, check_real, user_stacklevel)
from .exceptions import DegenerateDataWarning, InvalidParameterError

__all__ = ["segment", "Segmentation", "adjusted_rand_index", "palette", "FEATURES", "DEFAULT_MAX_FIT_PIXELS"]

_ik = load("_imagekernels")

#: Accepted values of ``features``.
FEATURES = ("rgb", "lab", "gray", "rgbxy", "labxy")

#: Pixels the mixture is fitted on when ``max_fit_pixels`` is None.  A
#: random 200 000 pixels estimate a mixture of a few components in 3 to 5
#: dimensions to well within the pixels' own noise, so labelling a
#: 12-megapixel photo from them is indistinguishable from fitting on all.
DEFAULT_MAX_FIT_PIXELS = 200_000
#: The K that n_components='auto' tries when k_range is None.
DEFAULT_K_RANGE = (2, 8)
#: The names a segmentation's files take after ``STEM_`` (save, segment_many, the CLI), as a regular expression.
OUTPUT_SUFFIXES = r"segmented\.png|binary\.png|plot\.png|mask\d+\.png"

#: fitted pixels per component that n_components='auto' asks of a K (and the CLI of any K): with
#: fewer, every K up to the pixel count can look "distinct" (a component per pixel)
MIN_PIXELS_PER_COMPONENT = 20

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

@functools.lru_cache(maxsize=8)
def _lut(levels: int, kind: int) -> np.ndarray:
    if kind == _ik.LAB:
        return _ik.srgb_linear_lut(levels)
    return np.arange(levels, dtype=np.float64) * (255.0 / (levels - 1))


def _colour_pixels(img: np.ndarray) -> np.ndarray:
    """The image as a C-contiguous H x W x C array without alpha (C = 1 or 3)."""
    if img.ndim == 2:
        return np.ascontiguousarray(img[:, :, None])
    if img.shape[2] in (2, 4):  # grey + alpha, RGBA
        img = img[:, :, :img.shape[2] - 1]
    return np.ascontiguousarray(img)


def _check_float_scale(img: np.ndarray) -> np.ndarray:
    """A float image checked to hold values in [0, 1], the scale its colours are read on (Lab,
    the painted and saved images); excursions of up to 0.01 (a resampling's overshoot) are
    clipped.  A 0-255 float image used to give a white segmented image, and in Lab one
    component for almost everything."""
    if img.dtype.kind != "f":
        return img
    lo, hi = float(img.min()), float(img.max())
    if lo >= 0.0 and hi <= 1.0:
        return img
    if lo < -0.01 or hi > 1.01:
        hint = " (0-255 values: divide by 255)" if hi > 1.5 else ""
        raise ValueError(f"float image values must lie in [0, 1], got {lo:g}..{hi:g}{hint}; or pass uint8 / uint16.")
    return np.clip(img, 0.0, 1.0)


def transparent_share(img: np.ndarray) -> float:
    """Share of a checked image's pixels that its alpha channel makes (partly) transparent; 0 without one."""
    if img.ndim != 3 or img.shape[2] not in (2, 4):
        return 0.0
    opaque = 1.0 if img.dtype.kind == "f" else np.iinfo(img.dtype).max
    return float(np.count_nonzero(img[:, :, -1] < opaque)) / img[:, :, -1].size


def _warn_of_hidden_pixels(img: np.ndarray) -> None:
    """Warn when the alpha channel (which segmentation ignores) makes pixels transparent."""
    hidden = transparent_share(img)
    if hidden:
        warnings.warn(f"the image's alpha channel is ignored: {hidden:.1%} of its pixels are "
                      "(partly) transparent and are segmented by the colours stored under them; composite the "
                      "image onto a background or crop it first", UserWarning, stacklevel=3)


def _warn_if_pixel_rows(img: np.ndarray) -> None:
    """Warn when a 2-D array looks like rows of colour values (N x 3 or N x 4), not a grey image:
    a from-scratch EM user's ``pixels.reshape(-1, 3)`` was segmented as a grey image 3 pixels wide."""
    if img.ndim == 2 and img.shape[1] in (3, 4) and img.shape[0] > 4 * img.shape[1]:
        warnings.warn(f"a {img.shape[0]} x {img.shape[1]} array is segmented as a grey image {img.shape[1]} "
                      f"pixels wide; for rows of colour values fit gmmfast.GaussianMixture to them, or pass the "
                      f"image as (H, W, {img.shape[1]})", UserWarning, stacklevel=user_stacklevel())


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


@dataclass(frozen=True, eq=False)
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
    n_iter : int
        EM iterations of the chosen model's fit.
    criterion : dict or None
        When ``n_components='auto'``: ``{K: CandidateK}`` for each K fitted --
        the largest overlap of one of its components with the others, the
        smallest component's share of the pixels, its BIC and whether it
        counted as distinct (see :func:`gmmfast._auto_k.choose_n_components`;
        K is the largest distinct one); else None.
    timings : dict
        Seconds spent in ``features``, ``fit``, ``label`` and ``smooth``.
    fit_features : ndarray or None
        The feature rows the mixture was fitted on (kept when small, for plots).
    source : str or None
        The file name of the image when :func:`segment` was given a path; its
        stem is what :meth:`save` names the files by default.
    """

    labels: np.ndarray
    model: GaussianMixture
    image: np.ndarray = field(repr=False)
    features: str
    smoothing: float = 0.0
    n_iter: int = 0
    criterion: dict | None = None
    timings: dict = field(default_factory=dict)
    fit_features: np.ndarray | None = field(default=None, repr=False)
    n_threads: int | None = field(default=None, repr=False)
    source: str | None = field(default=None, repr=False)

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
        nt = effective_n_threads(self.n_threads)
        X = _features(_colour_pixels(self.image), self.features, nt)
        H, W = self.shape
        return self.model.predict_proba(X).reshape(H, W, self.n_components)

    def masks(self) -> list[np.ndarray]:
        """One boolean H x W mask per component, in label order."""
        return [self.labels == k for k in range(self.n_components)]

    @functools.cached_property
    def _mean_colours(self) -> np.ndarray:
        pix = _colour_pixels(self.image)
        C = pix.shape[2]
        sums = _ik.label_sums(pix.reshape(-1, C), self.labels.reshape(-1), self.n_components,
                              effective_n_threads(self.n_threads))
        counts = sums[:, 0:1]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(counts > 0, sums[:, 1:] / np.maximum(counts, 1), 0.0)
        if pix.dtype.kind in "ui":
            mean = np.round(mean)
        return mean.astype(pix.dtype)

    def mean_colours(self) -> np.ndarray:
        """Mean colour of the pixels of each component (K x C, the input's dtype; uint8 for bool).

        Computed from the input pixels (alpha excluded), whatever the
        features; a component without pixels gets zeros.
        """
        return self._mean_colours.copy()

    def segmented_image(self) -> np.ndarray:
        """The image with each pixel painted in its component's mean colour.

        Same shape as the input and the dtype it was read as (uint8 for
        bool and 8-bit integer images, uint16, float); an alpha channel is
        kept as it was.
        """
        pix = _colour_pixels(self.image)
        H, W, C = pix.shape
        out = np.empty((H * W, C), dtype=pix.dtype)
        _ik.paint(self.labels.reshape(-1), self._mean_colours, out, effective_n_threads(self.n_threads))
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
        """The "binary image" of one component.

        Parameters
        ----------
        component : int
            The component's label, 0 to ``n_components - 1``.

        Returns
        -------
        ndarray (H, W) uint8
            255 on the component, 0 elsewhere.

        Raises
        ------
        InvalidParameterError
            If ``component`` is not an integer label of this segmentation.
        """
        k = self._check_component(component)
        return (self.labels == k).astype(np.uint8) * np.uint8(255)

    def background_component(self) -> int:
        """The component judged to be the background: the one holding most of the image border.

        Photographs usually frame their subject, so the border is mostly
        background; ties go to the larger component.
        """
        lab = self.labels
        border = np.concatenate([lab[0], lab[-1], lab[1:-1, 0], lab[1:-1, -1]])
        on_border = np.bincount(border, minlength=self.n_components)
        return int(np.lexsort((self.counts(), on_border))[-1])

    def binary_map(self, background: int | None = None) -> np.ndarray:
        """Foreground vs background: 0 on the background component, 255 elsewhere.

        With K = 2 this is the mask of the other component; with more, every
        component but the background is foreground.

        Parameters
        ----------
        background : int or None, default None
            The label of the background component, 0 to ``n_components - 1``;
            None: :meth:`background_component`.

        Returns
        -------
        ndarray (H, W) uint8

        Raises
        ------
        InvalidParameterError
            If ``background`` is neither None nor an integer label.
        """
        k = self.background_component() if background is None else self._check_component(background, "background")
        return (self.labels != k).astype(np.uint8) * np.uint8(255)

    def label_map(self) -> np.ndarray:
        """A grey-level picture of the labels: component k drawn as round(255 k / (K - 1)) (uint8)."""
        K = self.n_components
        levels = np.round(np.arange(K) * (255.0 / max(K - 1, 1))).astype(np.uint8)
        return levels[self.labels]

    def overlay(self, alpha: float = 0.5, colours: np.ndarray | None = None) -> np.ndarray:
        """The image (as uint8 RGB) blended with a colour per component.

        Parameters
        ----------
        alpha : float, default 0.5
            Weight of the label colours, in [0, 1]: 0 gives the image, 1 the
            colour-coded labels.
        colours : array-like of shape (K, 3), optional
            One RGB colour per component, numbers (integer or float) from 0 to
            255, replacing the default :func:`palette`.

        Returns
        -------
        ndarray (H, W, 3) uint8
            Grey images are drawn as RGB; uint16 and float images are
            converted to uint8 first; an alpha channel is dropped.

        Raises
        ------
        ValueError
            If ``alpha`` is outside [0, 1] or ``colours`` has another shape
            or values outside 0..255.
        """
        alpha = check_real(alpha, "alpha", low=0.0, high=1.0)
        K = self.n_components
        pal = palette(K) if colours is None else np.asarray(colours)
        if pal.shape != (K, 3):
            raise ValueError(f"colours must have shape ({K}, 3), got {pal.shape}")
        if pal.dtype.kind not in "uif" or not np.isfinite(pal).all() or pal.min() < 0 or pal.max() > 255:
            raise ValueError("colours must be numbers from 0 to 255 (one RGB row per component).")
        base = _to_uint8(_colour_pixels(self.image))
        if base.shape[2] == 1:
            base = np.repeat(base, 3, axis=2)
        blend = (1.0 - alpha) * base + alpha * pal.astype(np.float64)[self.labels]
        return np.round(blend).astype(np.uint8)

    def output_files(self, stem: str = "image", background: int | None = None) -> dict[str, np.ndarray]:
        """The pictures :meth:`save` writes, by file name.

        Parameters
        ----------
        stem : str, default "image"
            Start of the file names: a file name without a folder.
        background : int or None, default None
            The background component of ``stem_binary.png``, as in
            :meth:`binary_map`.

        Returns
        -------
        dict of str to ndarray
            ``stem_segmented.png`` (:meth:`segmented_image`, as uint8, or
            uint16 for a 16-bit grey image; grey + alpha as RGBA),
            ``stem_mask0.png``... (:meth:`binary` of each component) and
            ``stem_binary.png`` (:meth:`binary_map`).

        Raises
        ------
        ValueError
            If ``stem`` is empty, ``.`` or ``..``, or holds a ``/``, ``\\``
            or NUL; or ``background`` is not a label
            (:class:`~gmmfast.InvalidParameterError`).
        """
        if not isinstance(stem, str) or not stem or stem in (".", "..") or set(stem) & set("/\\\0"):
            raise ValueError(f"stem must be a file name without a folder, got {stem!r}.")
        seg = self.segmented_image()
        if seg.ndim == 3 and seg.shape[2] == 1:
            seg = seg[:, :, 0]
        elif seg.ndim == 3 and seg.shape[2] == 2:        # grey + alpha, which PNG files here hold as RGBA
            seg = np.concatenate([np.repeat(seg[:, :, :1], 3, axis=2), seg[:, :, 1:]], axis=2)
        if seg.dtype != np.uint8 and not (seg.dtype == np.uint16 and seg.ndim == 2):
            seg = _to_uint8(seg)
        files = {f"{stem}_segmented.png": seg}
        for k in range(self.n_components):
            files[f"{stem}_mask{k}.png"] = self.binary(k)
        files[f"{stem}_binary.png"] = self.binary_map(background)
        return files

    def save(self, folder: str | os.PathLike, stem: str | None = None, background: int | None = None) -> list[Path]:
        """Write the files of :meth:`output_files` into ``folder`` (created if needed).

        The files replace an earlier save of the same ``stem`` there, and its
        masks numbered K or more (from a larger K) are removed, so the folder
        holds one segmentation per stem.  Each file is written under a
        temporary name and renamed, so an interrupted save leaves no
        half-written image.

        Parameters
        ----------
        folder : str or path
            The folder to write into; missing parent folders are created.
        stem : str or None, default None
            Names the files (``STEM_segmented.png`` ...); None: the stem of
            the file :func:`segment` read (``source``), else ``"image"``.
        background : int or None, default None
            The background component of ``STEM_binary.png``, as in
            :meth:`binary_map`.

        Returns
        -------
        list of Path
            The paths written, in the order of :meth:`output_files`.

        Raises
        ------
        NotADirectoryError
            If ``folder`` is an existing file.
        ValueError
            For a bad ``stem`` or ``background`` (see :meth:`output_files`),
            before anything is written.
        """
        from .io import write_image

        if stem is None:
            stem = (Path(self.source).stem if self.source else "") or "image"
        files = self.output_files(stem, background)      # bad arguments fail before the folder is made
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"{str(folder)!r} is a file, not a folder: save() writes several files.")
        make_folder(folder)
        written = [write_image(folder / name, img) for name, img in files.items()]
        stale = re.compile(re.escape(stem) + r"_mask(\d+)\.png")
        for entry in os.scandir(folder):
            found = stale.fullmatch(entry.name)
            if found and int(found.group(1)) >= self.n_components and entry.is_file():
                os.unlink(entry.path)
        return written

    @property
    def features_used(self) -> str:
        """The features as the image had them: a grey image has one intensity whatever
        ``features`` asked ('gray', the name ``features`` takes for it, or 'L*' for 'lab'; '+xy'
        with position)."""
        name = self.features
        if self.image.ndim == 2 or self.image.shape[2] in (1, 2) or name.startswith("gray"):
            name = ("L*" if name.startswith("lab") else "gray") + ("+xy" if name.endswith("xy") else "")
        return name

    def summary(self, seconds: float | None = None) -> str:
        """A one-line description: size, K, the features used, share of each component, and a time.

        Parameters
        ----------
        seconds : float or None, default None
            The time to show (>= 0); None: the segmentation's own time, the
            sum of ``timings``.

        Returns
        -------
        str
            For example ``"640x480, K=3, rgb, sizes 20%/35%/45%, 0.12 s"``
            (width x height; "(auto)" after K when it was chosen, the
            smoothing weight when there was one).
        """
        H, W = self.shape
        share = self.counts() / float(H * W)
        parts = "/".join(f"{100 * s:.0f}%" for s in share)
        auto = " (auto)" if self.criterion else ""
        total = sum(self.timings.values()) if seconds is None else check_real(seconds, "seconds", low=0.0)
        smooth = f", smoothing {self.smoothing:g}" if self.smoothing else ""
        return (f"{W}x{H}, K={self.n_components}{auto}, {self.features_used}{smooth}, sizes {parts}, "
                f"{total:.2f} s")

    def _check_component(self, component, name: str = "component") -> int:
        return check_int(component, name, low=0, high=self.n_components - 1)


# --------------------------------------------------------------------------- main entry


def segment(image: ImageLike, n_components: int | str = 3, *, features: str = "rgb",
            covariance_type: str = "full", smoothing: float = 0.0,
            max_fit_pixels: int | None = None, random_state: int | np.random.RandomState | np.random.Generator | None = 0,
            n_threads: int | None = None, k_range: tuple[int, int] | None = None,
            smoothing_method: str = "icm", **gmm_options: Any) -> Segmentation:
    """Segment an image into the components of a Gaussian mixture of its pixels.

    Parameters
    ----------
    image : ndarray, path or binary file object
        H x W grey, H x W x 3 RGB or H x W x 4 RGBA (alpha ignored), uint8,
        uint16 or float (values in [0, 1]; a 0-255 float image is refused).  Paths and file objects
        are read with Pillow.
    n_components : int or 'auto'
        Number of components K, or ``'auto'`` to pick K in ``k_range``: the
        largest K whose components are distinct colours -- each one's pixels
        belong to it without doubt (classification entropy between it and the
        other components below 0.1 nats per pixel of it) and none holds under
        3 % of the pixels -- found by fitting K = k_range[0], k_range[0] + 1,
        ... on the fitting subsample and stopping two K past the last distinct
        one.  The rule: :func:`gmmfast._auto_k.choose_n_components`; the per-K
        figures: ``Segmentation.criterion``.  The search fits with
        ``reg_covar`` at least 1/12, the variance of rounding to whole levels.
    features : {'rgb', 'lab', 'gray', 'rgbxy', 'labxy'}
        What the mixture models per pixel: RGB on a 0..255 scale, CIE
        L*a*b* (D65), grey luma, or one of the colour spaces with the pixel
        coordinates appended (scaled so that the longer image side spans a
        quarter of the colour range: 64 for RGB, 25 for Lab; see
        :data:`XY_SPAN`).  Grey images use their single intensity (L* for 'lab').
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
    random_state : None, int, RandomState or Generator, default 0
        Seed of the subsample and of the mixture's initialisation.  The
        default 0 makes the same image always give the same segmentation;
        None draws from NumPy's global state.
    n_threads : int or None
        Threads of the kernels (None: all cores).
    k_range : (int, int), optional
        Smallest and largest K considered when ``n_components='auto'``
        (inclusive; the search usually stops before the largest; default
        2..8); refused with a fixed K.  The smallest is the answer when no K
        in the range is distinct.
    smoothing_method : {'icm', 'expansion'}
        How the Potts energy is minimised.  'icm': iterated conditional modes
        in a parallel Cython kernel, started from the plain labels (fast: a
        fraction of the plain call's time on a 12-megapixel photo; reaches a
        labelling no single-pixel change improves).  'expansion':
        alpha-expansion moves solved exactly by min cut
        (:func:`gmmfast.maxflow.alpha_expansion`), started from the ICM
        result; within a factor 2 of the global minimum, never worse than ICM,
        but several times slower and about 500 bytes a pixel (6 GB for 12
        megapixels, against 0.4 GB for ICM) -- for images up to a few
        megapixels.  An image that would not fit in the memory available is
        refused with a MemoryError before any work.
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
    features, smoothing, k_lo, k_hi, max_fit_pixels, rng = check_options(
        n_components, features=features, covariance_type=covariance_type, smoothing=smoothing,
        max_fit_pixels=max_fit_pixels, random_state=random_state, n_threads=n_threads, k_range=k_range,
        smoothing_method=smoothing_method, **gmm_options)

    img = _check_float_scale(check_image(image))
    _warn_of_hidden_pixels(img)
    _warn_if_pixel_rows(img)
    pixels = _colour_pixels(img)
    H, W = pixels.shape[:2]
    if smoothing > 0 and smoothing_method == "expansion":
        _check_expansion_memory(H, W, k_hi)
    nt = effective_n_threads(n_threads)
    X = _features(pixels, features, nt)
    t_feat = time.perf_counter()

    X_fit = _fit_sample(X, max_fit_pixels, k_lo, rng)
    d_colour = X.shape[1] - (2 if features.endswith("xy") else 0)
    n_distinct = _distinct_rows_upto(X_fit[:, :d_colour], k_hi + 1)    # more than k_hi: enough
    few_colours = n_distinct <= k_hi
    k_lo, k_hi = _cap_by_distinct_colours(n_distinct, k_lo, k_hi)
    if isinstance(n_components, str):
        k_hi = _cap_by_sample_size(X_fit.shape[0], k_lo, k_hi)
    params = dict(covariance_type=covariance_type, random_state=int(rng.integers(2**31 - 1)),
                  n_threads=n_threads, **gmm_options)
    with warnings.catch_warnings():
        if few_colours:  # k-means may warn that it found fewer clusters than asked
            warnings.simplefilter("ignore", category=Warning)
        model, criterion = _fit_mixture(X_fit, k_lo, k_hi, isinstance(n_components, str), params)
    model = model._reordered(_luminance_order(model.means_, features, d_colour))
    t_fit = time.perf_counter()

    labels, t_label = _label_pixels(model, X, (H, W), smoothing, smoothing_method, nt)
    t_end = time.perf_counter()
    timings = {"features": t_feat - t0, "fit": t_fit - t_feat, "label": t_label - t_fit}
    if smoothing > 0 and model.n_components > 1:
        timings["smooth"] = t_end - t_label
    return Segmentation(labels.reshape(H, W), model, img, features, smoothing=smoothing, n_iter=model.n_iter_,
                        criterion=criterion, timings=timings,
                        fit_features=X_fit if X_fit.shape[0] <= 250_000 else None, n_threads=n_threads,
                        source=Path(image).name if isinstance(image, (str, os.PathLike)) else None)


#: Bytes per pixel that smoothing_method='expansion' holds at its peak: about 460 + 12 K measured
#: (1000 x 2000 photo: K = 3, 0.88 GB; K = 8, 0.99 GB; 12 megapixels, K = 12: 6.4 GB), the
#: 8-connected graph of each move and its per-move arrays; ICM needs about 32.
EXPANSION_BYTES_PER_PIXEL = 460
EXPANSION_BYTES_PER_PIXEL_AND_COMPONENT = 12


def _check_expansion_memory(H: int, W: int, K: int) -> None:
    """Refuse, before the fit, an expansion that would not fit in the memory available (it ran
    for minutes and then failed, or the system ended the process)."""
    need = (EXPANSION_BYTES_PER_PIXEL + EXPANSION_BYTES_PER_PIXEL_AND_COMPONENT * K) * H * W
    check_fits_in_memory(need, f"smoothing_method='expansion' for a {W}x{H} image",
                         f"use smoothing_method='icm' (about {32 * H * W / 1e9:.1f} GB), or a smaller image")


def check_options(n_components: int | str = 3, *, features: str = "rgb", covariance_type: str = "full",
                  smoothing: float = 0.0, max_fit_pixels: int | None = None, random_state: Any = 0,
                  n_threads: int | None = None, k_range: tuple[int, int] | None = None, smoothing_method: str = "icm",
                  **gmm_options: Any) -> tuple:
    """:func:`segment`'s options checked, without an image: raises what segment would
    (``segment_many`` calls it before starting any job).  Returns the features name,
    smoothing, the K range to try, max_fit_pixels and the random generator."""
    features = check_choice(features.lower() if isinstance(features, str) else features, "features", FEATURES)
    check_choice(covariance_type, "covariance_type", ("full", "tied", "diag", "spherical"))
    smoothing = check_real(smoothing, "smoothing", low=0.0)
    check_choice(smoothing_method, "smoothing_method", ("icm", "expansion"))
    k_lo, k_hi = _k_candidates(n_components, k_range)
    max_fit_pixels = DEFAULT_MAX_FIT_PIXELS if max_fit_pixels is None else check_int(
        max_fit_pixels, "max_fit_pixels", low=1)
    check_n_threads(n_threads)
    _check_gmm_options(gmm_options)
    return features, smoothing, k_lo, k_hi, max_fit_pixels, _generator(random_state)


def _k_candidates(n_components, k_range) -> tuple[int, int]:
    """(smallest, largest) K to try: ``n_components`` twice, or ``k_range`` for 'auto'."""
    if not isinstance(n_components, str):
        if isinstance(n_components, bool) or not isinstance(n_components, numbers.Integral):
            raise InvalidParameterError(f"n_components must be a positive integer or 'auto', got {n_components!r}.")
        k = check_int(n_components, "n_components", low=1)
        if k_range is not None:
            raise InvalidParameterError(f"k_range applies to n_components='auto' only (got n_components={k}, "
                             f"k_range={k_range!r}).")
        return k, k
    if n_components.lower() != "auto":
        raise InvalidParameterError(f"n_components must be a positive integer or 'auto', got {n_components!r}.")
    if k_range is None:
        k_range = DEFAULT_K_RANGE
    if not isinstance(k_range, (tuple, list)) or len(k_range) != 2:
        raise InvalidParameterError(f"k_range must be a pair (smallest K, largest K), got {k_range!r}.")
    k_lo, k_hi = (check_int(k, "k_range values", low=1) for k in k_range)
    if k_lo > k_hi:
        raise InvalidParameterError(f"k_range must be (smallest, largest), got {k_range!r}.")
    return k_lo, k_hi


def _check_gmm_options(gmm_options: dict) -> None:
    valid = set(GaussianMixture().get_params()) - {"n_components", "covariance_type", "random_state", "n_threads"}
    unknown = sorted(set(gmm_options) - valid)
    if unknown:
        own = ("features", "covariance_type", "smoothing", "smoothing_method", "max_fit_pixels", "random_state",
               "n_threads", "k_range")
        raise InvalidParameterError(f"unknown option(s) {', '.join(unknown)}; segment takes {', '.join(own)} and the mixture's "
                        f"{', '.join(sorted(valid))}")


def _generator(random_state) -> np.random.Generator:
    """A NumPy Generator for ``random_state``, with scikit-learn's meaning of None, int and RandomState."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    state = check_random_state(random_state)  # validates
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(state.randint(2**32, dtype=np.uint64))
    return np.random.default_rng(int(random_state))


def _fit_sample(X: np.ndarray, max_fit_pixels: int, k_lo: int, rng: np.random.Generator) -> np.ndarray:
    """The rows the mixture is fitted on: a sorted random subsample of at most ``max_fit_pixels``.

    An image with fewer pixels than ``k_lo`` is degenerate data like one with fewer colours (the caller
    lowers K and warns); a subsample smaller than K of a larger image is the caller's setting, refused.
    """
    N = X.shape[0]
    X_fit = X[np.sort(rng.choice(N, size=int(max_fit_pixels), replace=False))] if N > max_fit_pixels else X
    if X_fit.shape[0] < k_lo < N:
        raise ValueError(f"max_fit_pixels={max_fit_pixels} is fewer than the {k_lo} components to fit; "
                         "raise max_fit_pixels or lower n_components")
    if X_fit.shape[0] == 1:  # a one-pixel image: the mixture estimator needs two samples
        X_fit = np.repeat(X_fit, 2, axis=0)
    return X_fit


def _cap_by_distinct_colours(n_distinct: int, k_lo: int, k_hi: int) -> tuple[int, int]:
    """Lower the candidate K to the number of distinct colours, warning once."""
    if n_distinct < k_lo:
        warnings.warn(
            f"the image has only {n_distinct} distinct colour(s) in the fitted pixels, fewer than "
            f"{k_lo} components; using n_components={n_distinct}", DegenerateDataWarning, stacklevel=3)
        k_lo = n_distinct
    return k_lo, max(k_lo, min(k_hi, n_distinct))


def most_components(n_pixels: int) -> int:
    """The most components ``n_pixels`` pixels support: MIN_PIXELS_PER_COMPONENT each (at least 1)."""
    return max(1, n_pixels // MIN_PIXELS_PER_COMPONENT)


def _cap_by_sample_size(n_fit: int, k_lo: int, k_hi: int) -> int:
    """The largest K 'auto' tries: what ``n_fit`` fitted pixels support, warning when that cuts k_range."""
    most = max(k_lo, most_components(n_fit))
    if k_hi > most:
        warnings.warn(
            f"n_components='auto' tries K up to {most}, not {k_hi}: {n_fit} fitted pixels support "
            f"{MIN_PIXELS_PER_COMPONENT} per component (a larger image or max_fit_pixels supports more)",
            DegenerateDataWarning, stacklevel=3)
    return min(k_hi, most)


def _fit_mixture(X_fit: np.ndarray, k_lo: int, k_hi: int, auto: bool, params: dict):
    """The fitted mixture, and the per-K criterion table when K is chosen automatically."""
    if not auto:
        return GaussianMixture(n_components=k_lo, **params).fit(X_fit), None
    chosen = choose_n_components(X_fit, (k_lo, k_hi), params, gmm_class=GaussianMixture)
    return chosen.model, chosen.table


def _luminance_order(means: np.ndarray, features: str, d_colour: int) -> np.ndarray:
    """Component order by mean luminance (ties by the other mean coordinates), so labels are deterministic."""
    means = np.asarray(means, dtype=np.float64)
    key = _luminance_key(means, features, d_colour)
    return np.lexsort(tuple(means[:, j] for j in range(means.shape[1] - 1, -1, -1)) + (np.round(key, 9),))


def _label_pixels(model: GaussianMixture, X: np.ndarray, shape: tuple[int, int], smoothing: float,
                  smoothing_method: str, nt: int) -> tuple[np.ndarray, float]:
    """Label of every pixel (flat), and the time the unsmoothed labelling ended."""
    H, W = shape
    K = model.n_components
    ldtype = np.uint8 if K <= 256 else np.uint16
    if not (smoothing > 0 and K > 1):
        labels = model._labels(X).astype(ldtype)
        return labels, time.perf_counter()
    resp = model.predict_proba(X)
    t_label = time.perf_counter()
    labels = np.empty(H * W, dtype=ldtype)
    # resp becomes the unary costs -log((1 - eps) p + eps / K) in place.  ICM
    # synchronises its threads four times per sweep: below ~1/2 megapixel per
    # thread that costs more than the sweep itself, so small images use fewer threads.
    nt_icm = max(1, min(nt, (H * W) // 500_000))
    _ik.potts_icm(resp, labels, H, W, float(smoothing), OUTLIER_PROBABILITY, MAX_SMOOTHING_SWEEPS, nt_icm)
    if smoothing_method == "expansion":
        from .maxflow import alpha_expansion

        # edge planes in the order (0, 1), (1, 0), (1, 1), (1, -1): diagonals weigh 1/sqrt(2)
        lam = float(smoothing)
        w = np.broadcast_to(np.array([lam, lam, lam / np.sqrt(2), lam / np.sqrt(2)])[:, None, None], (4, H, W))
        labels = alpha_expansion(resp.reshape(H, W, K), w, labels_init=labels.reshape(H, W),
                                 connectivity=8).astype(ldtype).ravel()
    return labels, t_label


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
