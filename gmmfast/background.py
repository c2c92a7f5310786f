"""Online background subtraction with per-pixel Gaussian mixtures.

:class:`BackgroundSubtractorMOG2` is Zivkovic's adaptive mixture (2004, 2006)
with Prati-style shadow detection, the model OpenCV's
``createBackgroundSubtractorMOG2`` implements, with the same parameters and
(to within float rounding) the same masks, but a state laid out per mode rank
so that a frame costs less memory traffic.  :class:`BackgroundSubtractor` is the
recommended pipeline on top of it: a variance floor suited to compressed video,
shadows excluded, and a median + closing clean-up of the mask.
"""

from __future__ import annotations

import numbers
import os
import warnings
from typing import Any

import numpy as np

from ._aligned import aligned_copy, aligned_empty, aligned_zeros
from ._dispatch import load
from ._finite import all_finite
from ._stream_threads import StreamThreadTuner
from ._threads import effective_n_threads

__all__ = ["BackgroundSubtractorMOG2", "BackgroundSubtractor", "clean_mask"]

_k = load("_mog2")
_fbk = load("_mog2fb")

_MAX_CHANNELS = 4
_STATE_VERSION = 1


_BATCH = 32   # frames per kernel call in apply_many (1080p per frame: 16 -> 5.44 ms, 32 -> 5.36 ms)
_PIXELS_PER_THREAD = 1 << 16   # smaller jobs are not worth waking another OpenMP thread


def _threads_for(n_threads: int | None, n_pixels: int) -> int:
    """Threads for a kernel call over ``n_pixels``: the user's choice, capped by the work."""
    return max(1, min(effective_n_threads(n_threads), n_pixels // _PIXELS_PER_THREAD))


def _padded_state(k: int, fields: int, h: int, w: int) -> np.ndarray:
    """Zeroed MOG2 state: a (k, fields, h, w) float32 view, 64-byte aligned, whose modes
    start an odd number of cache lines past a multiple of 4096 bytes from each other.

    The general update of a pixel touches the same position in up to k * fields planes.
    Planes exactly h * w floats apart share their cache sets whenever h * w * 4 is a
    multiple of 4096 (640x480, 1280x720, 1920x1080), and more planes than the cache has
    ways then evict each other at every pixel: 3-4x slower on frames where most pixels take
    that path. The planes of one mode stay h * w floats apart (the vectorised common case,
    which reads mode 0 and one plane of mode 1, ran 10-15 % slower with every plane shifted);
    shifting each mode by a further odd number of lines puts the modes in different sets.
    """
    plane = h * w
    mode = -(-fields * plane // 16) * 16    # whole 64-byte lines
    if (mode // 16) % 2 == 0:
        mode += 16                          # an odd number of lines apart
    buf = aligned_zeros((k, mode), np.float32)
    return buf[:, :fields * plane].reshape(k, fields, h, w)


def _check_number(name: str, value: Any, lo: float | None = None, hi: float | None = None,
                  lo_open: bool = False, integer: bool = False) -> float | int:
    """Validate a scalar parameter and return it as float (or int)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a {'integer' if integer else 'number'}, got {value!r}.")
    if integer:
        if not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer, got {value!r}.")
        value = int(value)
    else:
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}.")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {value!r}.")
    if hi is not None and value > hi:
        raise ValueError(f"{name} must be <= {hi}, got {value!r}.")
    return value


def _as_frame(frame: Any, name: str = "frame") -> np.ndarray:
    """Validate a video frame and return it as a C-contiguous (H, W, C) uint8 or float32 array."""
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array (H, W) or (H, W, C), got {type(frame).__name__}.")
    if frame.ndim == 2:
        frame = frame[:, :, None]
    elif frame.ndim != 3:
        raise ValueError(f"{name} must have shape (H, W) or (H, W, C), got shape {frame.shape}.")
    if not 1 <= frame.shape[2] <= _MAX_CHANNELS:
        raise ValueError(
            f"{name} must have 1 to {_MAX_CHANNELS} channels (last axis), got {frame.shape[2]} "
            f"(shape {frame.shape}); pass (H, W) grey or (H, W, 3) colour frames.")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {frame.shape}).")
    if frame.dtype == np.uint8:
        return np.ascontiguousarray(frame)
    if frame.dtype.kind == "f":
        out = np.ascontiguousarray(frame, dtype=np.float32)
        if not all_finite(out):
            raise ValueError(f"{name} contains NaN or infinite values; clean or mask them first.")
        return out
    raise TypeError(
        f"{name} must be uint8 or floating point, got dtype {frame.dtype}; convert it, e.g. "
        f"frame.astype(np.float32) (values are used as they are, on the 0-255 scale the "
        f"variance parameters assume).")


def _as_frames(frames: Any) -> np.ndarray | list[np.ndarray]:
    """Validate a stack of frames: a C-contiguous (T, H, W, C) uint8 or float32 array, or
    for a sequence a list of (H, W, C) frames of one shape and dtype (not stacked here:
    the caller stacks a batch at a time)."""
    if isinstance(frames, np.ndarray):
        if frames.ndim == 3:
            frames = frames[..., None]
        elif frames.ndim != 4:
            raise ValueError(
                f"frames must be an array (T, H, W) or (T, H, W, C) or a sequence of frames, "
                f"got shape {frames.shape}; for a single frame use apply().")
        if frames.shape[0] == 0:
            raise ValueError("frames is empty (no frames).")
        first = _as_frame(frames[0], "frames[0]")
        if frames.dtype == np.uint8:
            return np.ascontiguousarray(frames)
        out = np.ascontiguousarray(frames, dtype=first.dtype)
        if out.dtype.kind == "f" and not all_finite(out):
            raise ValueError("frames contain NaN or infinite values; clean or mask them first.")
        return out
    try:
        seq = list(frames)
    except TypeError:
        raise TypeError(f"frames must be an array or a sequence of frames, got {type(frames).__name__}.") from None
    if not seq:
        raise ValueError("frames is empty (no frames).")
    checked = [_as_frame(f, f"frames[{i}]") for i, f in enumerate(seq)]
    for i, f in enumerate(checked):
        if f.shape != checked[0].shape:
            raise ValueError(f"frames[{i}] has shape (H, W, C) = {f.shape} but frames[0] {checked[0].shape}; "
                             f"all frames must have the same size and channel count.")
    if any(f.dtype != checked[0].dtype for f in checked):
        checked = [f.astype(np.float32) for f in checked]
    return checked


class BackgroundSubtractorMOG2:
    """Adaptive per-pixel Gaussian mixture background model (Zivkovic 2004, 2006).

    Each pixel holds up to ``n_mixtures`` Gaussian modes (one isotropic variance
    each) sorted by weight.  Every frame updates the mode that explains the
    pixel, adds a mode when none does, and drops modes whose weight the
    complexity-reduction prior drives to zero.  A pixel is background when it
    lies within ``var_threshold`` (squared Mahalanobis distance) of one of the
    heaviest modes that together make up ``background_ratio`` of the weight; a
    foreground pixel that is a darker copy of a background mode (ratio between
    ``shadow_threshold`` and 1, Prati et al. 2003) is a shadow.

    Parameters have the meaning, defaults and units of OpenCV's
    ``cv2.createBackgroundSubtractorMOG2`` (variances in squared grey levels of
    the frames as given), and with the same parameters the masks agree with
    OpenCV's on more than 99 % of pixels.

    Parameters
    ----------
    history : int
        Frames of memory: the automatic learning rate is ``1 / min(2 n, history)``
        after ``n`` frames.
    var_threshold : float
        Squared Mahalanobis distance below which a pixel matches a background mode.
    detect_shadows : bool
        Mark shadows with ``shadow_value`` instead of 255.
    n_mixtures : int
        Maximum number of modes per pixel (1 to 255).  Changing it clears the model.
    background_ratio : float
        Share of the weight that the background modes make up (0 to 1].
    var_threshold_gen : float
        Squared Mahalanobis distance below which a sample updates an existing
        mode rather than creating a new one.
    var_init, var_min, var_max : float
        Variance of a new mode and the bounds variances are clamped to.
    complexity_reduction : float
        Weight of the Dirichlet prior that prunes unsupported modes (``cT``).
    shadow_value : int
        Mask value of shadow pixels (0 to 255).
    shadow_threshold : float
        Darkest brightness ratio (0 to 1) still called a shadow (``tau``).
    n_threads : int or None
        OpenMP threads.  None chooses between one thread and all usable cores
        by the frame rate the calling loop achieves, re-checked every few
        hundred frames: on a small machine a video decoder running beside a
        multi-threaded ``apply`` makes the whole loop slower than one thread
        would (``apply_many`` is timed call by call the same way, so keep
        its batches the same size).  Masks do not depend on the thread count.

    Attributes
    ----------
    n_frames_ : int
        Frames learnt since the last reset.
    n_threads_ : int
        Threads the last ``apply`` used.
    frame_shape_ : tuple or None
        (H, W, C) of the model, None before the first frame.
    """

    _PARAMS = ("history", "var_threshold", "detect_shadows", "n_mixtures", "background_ratio",
               "var_threshold_gen", "var_init", "var_min", "var_max", "complexity_reduction",
               "shadow_value", "shadow_threshold", "n_threads")

    def __init__(self, history: int = 500, var_threshold: float = 16.0, detect_shadows: bool = True,
                 n_mixtures: int = 5, background_ratio: float = 0.9, var_threshold_gen: float = 9.0,
                 var_init: float = 15.0, var_min: float = 4.0, var_max: float = 75.0,
                 complexity_reduction: float = 0.05, shadow_value: int = 127,
                 shadow_threshold: float = 0.5, n_threads: int | None = None) -> None:
        self._state: dict[str, np.ndarray] | None = None
        self._tuner: StreamThreadTuner | None = None         # for apply
        self._batch_tuner: StreamThreadTuner | None = None   # for apply_many (periods per call)
        self.n_frames_ = 0
        self.n_threads_ = 0
        self.history = history
        self.var_threshold = var_threshold
        self.detect_shadows = detect_shadows
        self.n_mixtures = n_mixtures
        self.background_ratio = background_ratio
        self.var_threshold_gen = var_threshold_gen
        self.var_init = var_init
        self.var_min = var_min
        self.var_max = var_max
        self.complexity_reduction = complexity_reduction
        self.shadow_value = shadow_value
        self.shadow_threshold = shadow_threshold
        self.n_threads = n_threads

    # ----------------------------------------------------------------- parameters
    @property
    def history(self) -> int:
        """Frames of memory of the automatic learning rate (>= 1)."""
        return self._history

    @history.setter
    def history(self, value: int) -> None:
        self._history = _check_number("history", value, lo=1, integer=True)

    @property
    def var_threshold(self) -> float:
        """Squared Mahalanobis distance of a background match (> 0)."""
        return self._var_threshold

    @var_threshold.setter
    def var_threshold(self, value: float) -> None:
        self._var_threshold = _check_number("var_threshold", value, lo=0, lo_open=True)

    @property
    def detect_shadows(self) -> bool:
        """Whether shadows are marked with ``shadow_value``."""
        return self._detect_shadows

    @detect_shadows.setter
    def detect_shadows(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"detect_shadows must be True or False, got {value!r}.")
        self._detect_shadows = bool(value)

    @property
    def n_mixtures(self) -> int:
        """Maximum modes per pixel (1 to 255); setting a new value clears the model."""
        return self._n_mixtures

    @n_mixtures.setter
    def n_mixtures(self, value: int) -> None:
        value = _check_number("n_mixtures", value, lo=1, hi=255, integer=True)
        if getattr(self, "_n_mixtures", value) != value:
            self.reset()
        self._n_mixtures = value

    @property
    def background_ratio(self) -> float:
        """Share of the weight the background modes make up, in (0, 1]."""
        return self._background_ratio

    @background_ratio.setter
    def background_ratio(self, value: float) -> None:
        self._background_ratio = _check_number("background_ratio", value, lo=0, hi=1, lo_open=True)

    @property
    def var_threshold_gen(self) -> float:
        """Squared Mahalanobis distance under which a sample updates a mode (> 0)."""
        return self._var_threshold_gen

    @var_threshold_gen.setter
    def var_threshold_gen(self, value: float) -> None:
        self._var_threshold_gen = _check_number("var_threshold_gen", value, lo=0, lo_open=True)

    @property
    def var_init(self) -> float:
        """Variance of a new mode (> 0)."""
        return self._var_init

    @var_init.setter
    def var_init(self, value: float) -> None:
        self._var_init = _check_number("var_init", value, lo=0, lo_open=True)

    @property
    def var_min(self) -> float:
        """Lower bound of mode variances (> 0, <= var_max)."""
        return self._var_min

    @var_min.setter
    def var_min(self, value: float) -> None:
        value = _check_number("var_min", value, lo=0, lo_open=True)
        if hasattr(self, "_var_max") and value > self._var_max:
            raise ValueError(f"var_min ({value}) must not exceed var_max ({self._var_max}).")
        self._var_min = value

    @property
    def var_max(self) -> float:
        """Upper bound of mode variances (>= var_min)."""
        return self._var_max

    @var_max.setter
    def var_max(self, value: float) -> None:
        value = _check_number("var_max", value, lo=0, lo_open=True)
        if hasattr(self, "_var_min") and value < self._var_min:
            raise ValueError(f"var_max ({value}) must not be below var_min ({self._var_min}).")
        self._var_max = value

    @property
    def complexity_reduction(self) -> float:
        """Weight ``cT`` of the prior that prunes unsupported modes (>= 0)."""
        return self._complexity_reduction

    @complexity_reduction.setter
    def complexity_reduction(self, value: float) -> None:
        self._complexity_reduction = _check_number("complexity_reduction", value, lo=0)

    @property
    def shadow_value(self) -> int:
        """Mask value of shadow pixels (0 to 255)."""
        return self._shadow_value

    @shadow_value.setter
    def shadow_value(self, value: int) -> None:
        self._shadow_value = _check_number("shadow_value", value, lo=0, hi=255, integer=True)

    @property
    def shadow_threshold(self) -> float:
        """Darkest brightness ratio still called a shadow, in [0, 1]."""
        return self._shadow_threshold

    @shadow_threshold.setter
    def shadow_threshold(self, value: float) -> None:
        self._shadow_threshold = _check_number("shadow_threshold", value, lo=0, hi=1)

    @property
    def n_threads(self) -> int | None:
        """OpenMP threads of the kernel; None uses all usable cores."""
        return self._n_threads

    @n_threads.setter
    def n_threads(self, value: int | None) -> None:
        effective_n_threads(value)  # validates
        self._n_threads = value
        self._tuner = None
        self._batch_tuner = None

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters as a dict (scikit-learn convention)."""
        return {name: getattr(self, name) for name in self._PARAMS}

    def set_params(self, **params: Any) -> "BackgroundSubtractorMOG2":
        """Set constructor parameters by name; returns self."""
        for name in params:
            if name not in self._PARAMS:
                raise ValueError(f"unknown parameter {name!r}; valid ones: {', '.join(self._PARAMS)}.")
        if "var_min" in params and "var_max" in params:
            lo = _check_number("var_min", params.pop("var_min"), lo=0, lo_open=True)
            hi = _check_number("var_max", params.pop("var_max"), lo=0, lo_open=True)
            if lo > hi:
                raise ValueError(f"var_min ({lo}) must not exceed var_max ({hi}).")
            self._var_min, self._var_max = lo, hi
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._PARAMS)
        return f"{type(self).__name__}({args})"

    # ----------------------------------------------------------------- state
    @property
    def frame_shape_(self) -> tuple[int, int, int] | None:
        """(H, W, C) of the model, or None before the first frame."""
        if self._state is None:
            return None
        _, f, h, w = self._state["state"].shape
        return (h, w, f - 2)

    def reset(self) -> "BackgroundSubtractorMOG2":
        """Forget the model: the next frame starts a new one (of any size). Returns self."""
        self._state = None
        self._tuner = None
        self._batch_tuner = None
        self.n_frames_ = 0
        return self

    def _init_state(self, h: int, w: int, c: int) -> None:
        # planes per mode rank and field: state[m, 0] weights, state[m, 1] variances,
        # state[m, 2 + c] channel means, each (H, W)
        self._state = {
            "state": _padded_state(self._n_mixtures, 2 + c, h, w),
            "nmodes": aligned_zeros((h, w), np.uint8),
        }
        self.n_frames_ = 0

    def _check_learning_rate(self, learning_rate: Any) -> float:
        lr = _check_number("learning_rate", learning_rate)
        if lr > 1.0:
            raise ValueError(f"learning_rate must be in [0, 1], or negative for automatic, got {lr}.")
        return lr

    def _known(self, known_foreground: Any, h: int, w: int) -> np.ndarray | None:
        if known_foreground is None:
            return None
        kf = np.asarray(known_foreground)
        if kf.shape != (h, w):
            raise ValueError(f"known_foreground must have the frame's shape ({h}, {w}), got {kf.shape}.")
        if kf.dtype == np.bool_:
            return np.ascontiguousarray(kf.view(np.uint8))
        if kf.dtype.kind in "ui":
            return np.ascontiguousarray(kf != 0, dtype=np.uint8)
        raise TypeError(f"known_foreground must be a boolean or integer mask, got dtype {kf.dtype}.")

    def apply(self, frame: np.ndarray, learning_rate: float = -1,
              known_foreground: np.ndarray | None = None) -> np.ndarray:
        """Classify ``frame`` and learn it into the model.

        Parameters
        ----------
        frame : ndarray (H, W) or (H, W, C), uint8 or float
            Grey or colour frame (1-4 channels).  Float frames are used as they
            are (the variance parameters assume a 0-255 scale) and must be finite.
            All frames must have the model's size and channel count; call
            :meth:`reset` to start over with another size.
        learning_rate : float
            In [0, 1]; negative (the default -1) means automatic,
            ``1 / min(2 * frames seen, history)``.  0 leaves the model unchanged,
            on the first frame too; 1 restarts the model from this frame.
        known_foreground : ndarray (H, W) of bool or int, optional
            Pixels known to be foreground: classified, but not learnt.

        Returns
        -------
        mask : ndarray (H, W) uint8
            0 background, ``shadow_value`` shadow, 255 foreground.

        See Also
        --------
        apply_many : the same for a batch of frames, with less memory traffic
            (1.3-1.6x faster per frame at 1080p).
        """
        x = _as_frame(frame)
        h, w, _ = x.shape
        lr = self._check_learning_rate(learning_rate)
        kf = self._known(known_foreground, h, w)
        self._prepare(x, lr)
        alpha = self._alphas(1, lr)
        mask = aligned_empty((1, h, w), np.uint8)   # rows split between threads own their lines
        self._run(x[None], None if kf is None else kf[None], mask, alpha, self._threads(h * w, "_tuner"))
        return mask[0]

    def apply_many(self, frames: Any, learning_rate: float = -1,
                   known_foreground: np.ndarray | None = None,
                   out: np.ndarray | None = None) -> np.ndarray:
        """Classify and learn a sequence of frames, in order: the same masks and model as
        calling :meth:`apply` on each frame in turn, with less memory traffic.

        The kernel takes each image row through all the frames before the next row, so the
        model state (some 50-100 bytes per pixel) is read and written once per call instead
        of once per frame; at 1080p that traffic is most of a frame's cost.  Give it batches
        of a few to a few dozen frames (8-16 gain most of it); the masks of the whole batch
        are returned at once.

        Parameters
        ----------
        frames : ndarray (T, H, W) or (T, H, W, C), or a sequence of (H, W[, C]) frames
            uint8 or float, as for :meth:`apply`.  A 3-D array is T grey frames.
        learning_rate : float
            As for :meth:`apply`, for every frame (automatic: each frame's own
            ``1 / min(2 * frames seen, history)``).  1 restarts the model at every
            frame, so each mask is that of a fresh model.
        known_foreground : ndarray (T, H, W) of bool or int, optional
            Per frame, pixels known to be foreground: classified, but not learnt.
        out : ndarray (T, H, W) uint8, C-contiguous, optional
            Where to write the masks.  Reusing one buffer from batch to batch saves the
            page faults of a fresh array (NumPy maps arrays above 32 MB fresh from the
            system each time: ~7 % of a 20-frame 1080p call).

        Returns
        -------
        masks : ndarray (T, H, W) uint8
            0 background, ``shadow_value`` shadow, 255 foreground (``out`` if given).
        """
        x = _as_frames(frames)
        t = len(x)
        h, w, _ = x[0].shape
        lr = self._check_learning_rate(learning_rate)
        kf = None
        if known_foreground is not None:
            kf = np.asarray(known_foreground)
            if kf.shape != (t, h, w):
                raise ValueError(f"known_foreground must have shape (T, H, W) = {(t, h, w)}, got {kf.shape}.")
            kf = self._known(kf.reshape(t * h, w), t * h, w).reshape(t, h, w)
        if out is not None:
            if not isinstance(out, np.ndarray) or out.dtype != np.uint8:
                raise TypeError(f"out must be a uint8 NumPy array, got "
                                f"{getattr(out, 'dtype', type(out).__name__)}.")
            if out.shape != (t, h, w) or not out.flags.c_contiguous or not out.flags.writeable:
                raise ValueError(f"out must be a writeable C-contiguous array of shape (T, H, W) = "
                                 f"{(t, h, w)}, got shape {out.shape}.")
        if lr >= 1.0:
            # every frame restarts the model: nothing to gain from batching
            masks = out if out is not None else np.empty((t, h, w), np.uint8)
            for i in range(t):
                masks[i] = self.apply(x[i], lr, None if kf is None else kf[i])
            return masks
        self._prepare(x[0], lr)
        alphas = self._alphas(t, lr)
        masks = out if out is not None else aligned_empty((t, h, w), np.uint8)
        nt = self._threads(h * w, "_batch_tuner")
        # kernel calls of at most _BATCH frames: as fast per frame as longer ones, and a
        # list of frames is copied into a stack only a batch at a time
        for s in range(0, t, _BATCH):
            e = min(s + _BATCH, t)
            chunk = x[s:e] if isinstance(x, np.ndarray) else np.stack(x[s:e])
            self._run(chunk, None if kf is None else kf[s:e], masks[s:e], alphas[s:e], nt)
        return masks

    def _prepare(self, x: np.ndarray, lr: float) -> None:
        """Start a model for frame ``x`` (H, W, C) when there is none or ``lr`` restarts it;
        otherwise check that ``x`` fits the model."""
        h, w, c = x.shape
        if self._state is None or lr >= 1.0:
            # learning rate 1 forgets everything: the model restarts from this frame
            if x.dtype == np.float32 and float(x.max()) <= 1.0 and float(x.max()) > 0.0:
                warnings.warn(
                    "float frame with values in [0, 1]: the variance parameters assume the 0-255 "
                    "scale of uint8 video, so almost everything will look like background; "
                    "pass frame * 255 (or scale var_threshold, var_init, var_min, var_max).",
                    UserWarning, stacklevel=3)
            self._init_state(h, w, c)
        elif self.frame_shape_ != (h, w, c):
            raise ValueError(
                f"frame has shape {(h, w, c)} (H, W, C) but the model was built for "
                f"{self.frame_shape_}; call reset() to start a model for the new size.")

    def _threads(self, n_pixels: int, tuner: str) -> int:
        """Threads for the next call: the user's count, or with n_threads=None the one the
        stream tuner ``tuner`` (an attribute name) picks by the calling loop's pace."""
        nt = _threads_for(self._n_threads, n_pixels)
        if self._n_threads is None and nt > 1:
            current = getattr(self, tuner)
            if current is None or current.max_threads != nt:
                current = StreamThreadTuner(nt)
                setattr(self, tuner, current)
            nt = current.next_threads()
        return nt

    def _alphas(self, n: int, lr: float) -> np.ndarray:
        """Learning rates of the next ``n`` frames."""
        if lr >= 0:
            return np.full(n, lr)
        seen = self.n_frames_ + 1 + np.arange(n)
        return 1.0 / np.minimum(2 * seen, self._history)

    def _run(self, x: np.ndarray, kf: np.ndarray | None, masks: np.ndarray, alphas: np.ndarray,
             n_threads: int) -> None:
        st = self._state
        self.n_threads_ = n_threads
        _k.apply(x, kf, st["state"], st["nmodes"], masks, alphas,
                 self._var_threshold, self._var_threshold_gen, self._background_ratio,
                 self._var_init, self._var_min, self._var_max, self._complexity_reduction,
                 self._detect_shadows, self._shadow_value, self._shadow_threshold, n_threads)
        self.n_frames_ += int(np.count_nonzero(alphas > 0))

    def background_image(self) -> np.ndarray:
        """The background: weighted mean of each pixel's background modes.

        Returns (H, W) for grey models, (H, W, C) otherwise; uint8, rounded.
        Raises RuntimeError before the first frame.
        """
        if self._state is None:
            raise RuntimeError("the model is empty: apply() at least one frame first.")
        st = self._state
        img = _k.background(st["state"], st["nmodes"], self._background_ratio,
                            _threads_for(self._n_threads, st["nmodes"].size))
        out = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        return out[:, :, 0] if out.shape[2] == 1 else out

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write parameters and the whole model state to ``path`` (NumPy .npz)."""
        arrays: dict[str, Any] = {
            "format": np.array(["gmmfast.BackgroundSubtractorMOG2"]),
            "version": np.array(_STATE_VERSION),
            "n_frames": np.array(self.n_frames_, dtype=np.int64),
        }
        for name in self._PARAMS:
            if name == "n_threads":
                continue
            arrays["param_" + name] = np.array(getattr(self, name))
        if self._state is not None:
            for key, arr in self._state.items():
                arrays["state_" + key] = arr
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    def load(self, path: str | os.PathLike) -> "BackgroundSubtractorMOG2":
        """Restore parameters and state written by :meth:`save` (n_threads is kept). Returns self."""
        with np.load(path, allow_pickle=False) as data:
            if "format" not in data or str(data["format"][0]) != "gmmfast.BackgroundSubtractorMOG2":
                raise ValueError(f"{os.fspath(path)!r} is not a saved gmmfast.BackgroundSubtractorMOG2.")
            if int(data["version"]) != _STATE_VERSION:
                raise ValueError(f"{os.fspath(path)!r} has state version {int(data['version'])}, "
                                 f"this gmmfast reads version {_STATE_VERSION}.")
            params = {}
            for name in self._PARAMS:
                if name == "n_threads":
                    continue
                v = data["param_" + name].item()
                params[name] = v
            state = None
            if "state_state" in data:
                state = {"state": data["state_state"], "nmodes": aligned_copy(data["state_nmodes"])}
            n_frames = int(data["n_frames"])
        # validate everything before touching self
        probe = type(self)(**params)
        if state is not None:
            k = probe.n_mixtures
            st, nm = state["state"], state["nmodes"]
            ok = (st.dtype == np.float32 and nm.dtype == np.uint8 and st.ndim == 4 and nm.ndim == 2
                  and st.shape[0] == k and 3 <= st.shape[1] <= 2 + _MAX_CHANNELS
                  and nm.shape == st.shape[2:] and int(nm.max(initial=0)) <= k)
            if not ok:
                raise ValueError(f"{os.fspath(path)!r} holds an inconsistent model state.")
            padded = _padded_state(*st.shape)
            padded[...] = st
            state["state"] = padded
        self._history = probe._history
        self._var_threshold = probe._var_threshold
        self._detect_shadows = probe._detect_shadows
        self._n_mixtures = probe._n_mixtures
        self._background_ratio = probe._background_ratio
        self._var_threshold_gen = probe._var_threshold_gen
        self._var_init = probe._var_init
        self._var_min = probe._var_min
        self._var_max = probe._var_max
        self._complexity_reduction = probe._complexity_reduction
        self._shadow_value = probe._shadow_value
        self._shadow_threshold = probe._shadow_threshold
        self._state = state
        self.n_frames_ = n_frames if state is not None else 0
        return self


def _odd_size(name: str, value: Any) -> int:
    value = _check_number(name, value, lo=0, integer=True)
    if value > 1 and value % 2 == 0:
        raise ValueError(f"{name} must be odd (3, 5, 7, ...) or 0 for none, got {value}.")
    return value


def clean_mask(mask: np.ndarray, median_size: int = 5, closing_size: int = 3,
               n_threads: int | None = None) -> np.ndarray:
    """Median filter then morphological closing of a binary mask (edges replicated).

    Parameters
    ----------
    mask : ndarray (H, W)
        Non-zero pixels are foreground.
    median_size : int
        Side of the square median window (odd; 0 or 1 for none).
    closing_size : int
        Side of the square structuring element of the closing (odd; 0 or 1 for none).
    n_threads : int or None
        OpenMP threads; None uses all usable cores.

    Returns
    -------
    ndarray (H, W) bool
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {m.shape}.")
    if m.dtype.kind not in "biuf":
        raise TypeError(f"mask must be boolean or numeric, got dtype {m.dtype}.")
    median_size = _odd_size("median_size", median_size)
    closing_size = _odd_size("closing_size", closing_size)
    nt = _threads_for(n_threads, m.size)
    if m.dtype == np.bool_ or m.dtype == np.uint8:
        m = np.ascontiguousarray(m).view(np.uint8)
    else:
        m = np.ascontiguousarray(m != 0, dtype=np.uint8)
    if median_size <= 1 and closing_size <= 1:
        return m != 0
    if median_size > 1:
        r = median_size // 2
        m = _k.window_count_filter(m, r, median_size * median_size // 2 + 1, nt)
    if closing_size > 1:
        r = closing_size // 2
        m = _k.window_count_filter(m, r, 1, nt)
        m = _k.window_count_filter(m, r, closing_size * closing_size, nt)
    return m.view(np.bool_)  # the kernel writes 0/1


_METHODS = ("adaptive", "mog2")


class BackgroundSubtractor:
    """Recommended background subtraction: a tuned MOG2 model, per-pixel feedback and
    mask clean-up.

    ``method="adaptive"`` (the default) runs, per frame:

    1. the online mixture (:class:`BackgroundSubtractorMOG2`) with defaults chosen for
       real, compressed footage: ``var_min=16`` (a mode's variance never drops below 4^2
       grey levels, the noise floor of compressed video; with OpenCV's 4 a long-stable
       pixel ends up flagging compression noise as motion), shadows detected with a ratio
       window ``shadow_threshold=0.7`` and left out of the mask (only soft shadows and
       lighting dips are removed; dark objects stay foreground), and the MOG2 learning
       schedule (1/2 falling as 1/(2n) to 1/history, usable after a few frames);
    2. **displacement suppression where the scene is unstable**: a foreground pixel that
       has been *blinking* (score above ``blink_threshold``) is dropped when a background
       mode of a pixel within ``radius`` explains it (Elgammal, Harwood & Davis, ECCV
       2000): camera jitter and swaying branches move background values by a few pixels,
       where a neighbour's model finds them;
    3. a 5x5 median and 3x3 closing of the mask;
    4. **blinking feedback**: a pixel's score rises by 1 each frame its label flips while
       the cleaned mask calls it background (the per-pixel blinking detection of
       St-Charles, Bilodeau & Bergevin, TIP 2015), and falls by 0.1 otherwise.  Static
       scenes never blink, so there the pipeline is the plain tuned mixture.

    ``method="mog2"`` is steps 1 and 3 only (the recommended pipeline of earlier
    versions).

    Parameters
    ----------
    method : {'adaptive', 'mog2'}
        Pipeline, see above.
    history, var_threshold, var_min, n_mixtures : see :class:`BackgroundSubtractorMOG2`
    exclude_shadows : bool
        Detect shadows and leave them out of the mask (else they are foreground).
    shadow_threshold : float
        Darkest brightness ratio still called a shadow.
    radius : int
        ``adaptive``: neighbourhood (pixels each way) searched for a displaced
        background value; 0 turns the suppression off.
    blink_threshold : float
        ``adaptive``: blinking score above which a pixel's neighbourhood is searched.
    median_size, closing_size : int
        Clean-up windows (odd, 0 for none).
    output : {'bool', 'uint8'}
        Mask type of :meth:`apply`: bool, or uint8 with 0 / 255.
    n_threads : int or None
        OpenMP threads; None lets the model choose by frame rate (see
        :class:`BackgroundSubtractorMOG2`).

    Attributes
    ----------
    model_ : BackgroundSubtractorMOG2
        The underlying mixture model (after the first frame).
    blink_ : ndarray (H, W) float32
        ``adaptive``: the blinking score of each pixel (after the first frame).
    """

    _PARAMS = ("method", "history", "var_threshold", "var_min", "n_mixtures", "exclude_shadows",
               "shadow_threshold", "radius", "blink_threshold", "median_size", "closing_size",
               "output", "n_threads")

    # blinking score steps (St-Charles et al. 2015 use +1 / -0.1) and its ceiling, which
    # bounds how long a pixel that stopped blinking keeps its neighbourhood search
    _V_INCR, _V_DECR, _V_MAX = 1.0, 0.1, 20.0

    def __init__(self, method: str = "adaptive", history: int = 500, var_threshold: float = 16.0,
                 var_min: float = 16.0, n_mixtures: int = 5, exclude_shadows: bool = True,
                 shadow_threshold: float = 0.7, radius: int = 2, blink_threshold: float = 2.0,
                 median_size: int = 5, closing_size: int = 3, output: str = "bool",
                 n_threads: int | None = None) -> None:
        self.method = method
        self.history = history
        self.var_threshold = var_threshold
        self.var_min = var_min
        self.n_mixtures = n_mixtures
        self.exclude_shadows = exclude_shadows
        self.shadow_threshold = shadow_threshold
        self.radius = radius
        self.blink_threshold = blink_threshold
        self.median_size = median_size
        self.closing_size = closing_size
        self.output = output
        self.n_threads = n_threads

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters as a dict (scikit-learn convention)."""
        return {name: getattr(self, name) for name in self._PARAMS}

    def set_params(self, **params: Any) -> "BackgroundSubtractor":
        """Set constructor parameters by name (takes effect after :meth:`reset`); returns self."""
        for name, value in params.items():
            if name not in self._PARAMS:
                raise ValueError(f"unknown parameter {name!r}; valid ones: {', '.join(self._PARAMS)}.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._PARAMS)
        return f"{type(self).__name__}({args})"

    def _build(self) -> BackgroundSubtractorMOG2:
        if not isinstance(self.method, str) or self.method not in _METHODS:
            raise ValueError(f"method must be one of {', '.join(map(repr, _METHODS))}, got {self.method!r}.")
        if self.output not in ("bool", "uint8"):
            raise ValueError(f"output must be 'bool' or 'uint8', got {self.output!r}.")
        if not isinstance(self.exclude_shadows, (bool, np.bool_)):
            raise TypeError(f"exclude_shadows must be True or False, got {self.exclude_shadows!r}.")
        _odd_size("median_size", self.median_size)
        _odd_size("closing_size", self.closing_size)
        _check_number("radius", self.radius, lo=0, hi=16, integer=True)
        _check_number("blink_threshold", self.blink_threshold, lo=0)
        var_min = _check_number("var_min", self.var_min, lo=0, lo_open=True)
        return BackgroundSubtractorMOG2(
            history=self.history, var_threshold=self.var_threshold,
            detect_shadows=bool(self.exclude_shadows), n_mixtures=self.n_mixtures,
            var_init=max(15.0, var_min), var_min=var_min, var_max=max(75.0, 5.0 * var_min),
            shadow_threshold=self.shadow_threshold, n_threads=self.n_threads)

    def reset(self) -> "BackgroundSubtractor":
        """Forget the model (and pick up changed parameters). Returns self."""
        for name in ("model_", "blink_", "_fb"):
            self.__dict__.pop(name, None)
        return self

    def apply(self, frame: np.ndarray, learning_rate: float = -1) -> np.ndarray:
        """Foreground mask of ``frame`` (and learn it).

        Parameters
        ----------
        frame : ndarray (H, W) or (H, W, C), uint8 or float
            See :meth:`BackgroundSubtractorMOG2.apply`.
        learning_rate : float
            Negative for automatic, else in [0, 1].

        Returns
        -------
        ndarray (H, W): bool, or uint8 0/255 with ``output='uint8'``.
        """
        model = self._model()
        if self.method == "mog2":
            raw = model.apply(frame, learning_rate=learning_rate)
            return self._output(self._clean(raw == 255))
        x = _as_frame(frame)
        raw = model.apply(x, learning_rate=learning_rate)
        return self._output(self._adaptive_step(x, raw))

    def apply_many(self, frames: Any, learning_rate: float = -1) -> np.ndarray:
        """Foreground masks of a stack of frames, learnt in order: the same as :meth:`apply`
        on each frame (``method='mog2'`` batches the model update, see
        :meth:`BackgroundSubtractorMOG2.apply_many`; the feedback of ``'adaptive'`` needs
        each frame's result before the next).

        Parameters
        ----------
        frames : ndarray (T, H, W) or (T, H, W, C), or a sequence of frames
        learning_rate : float
            Negative for automatic, else in [0, 1].

        Returns
        -------
        ndarray (T, H, W): bool, or uint8 0/255 with ``output='uint8'``.
        """
        model = self._model()
        if self.method == "mog2":
            raw = model.apply_many(frames, learning_rate=learning_rate)
            out = np.empty(raw.shape, dtype=bool)
            for i in range(raw.shape[0]):
                out[i] = self._clean(raw[i] == 255)
            return self._output(out)
        stack = _as_frames(frames)
        model._check_learning_rate(learning_rate)
        first = stack[0]
        out = np.empty((len(stack),) + first.shape[:2], dtype=bool)
        for i in range(len(stack)):
            x = stack[i]
            out[i] = self._adaptive_step(x, model.apply(x, learning_rate=learning_rate))
        return self._output(out)

    def _model(self) -> BackgroundSubtractorMOG2:
        """The mixture model, built from the parameters on first use."""
        if not hasattr(self, "model_"):
            self.model_ = self._build()
        return self.model_

    def _adaptive_step(self, x: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Suppression, clean-up and blinking feedback of one frame (``x`` as the model saw
        it, ``raw`` its MOG2 mask); returns the cleaned mask (bool)."""
        h, w = raw.shape
        fb = self.__dict__.get("_fb")
        if fb is None or fb["cand"].shape != (h, w):
            fb = {"cand": np.zeros((h, w), np.uint8), "cand_prev": np.zeros((h, w), np.uint8),
                  "fin_prev": np.zeros((h, w), np.uint8)}
            self._fb = fb
            self.blink_ = np.zeros((h, w), np.float32)
        nt = self._mask_threads()
        st = self.model_._state
        _fbk.suppress(x, st["state"], st["nmodes"], raw, self.blink_, fb["cand"], int(self.radius),
                      self.model_.var_threshold, self.model_.background_ratio,
                      float(self.blink_threshold), nt)
        fin = self._clean(fb["cand"])
        _fbk.blink(fb["cand"], fin.view(np.uint8), fb["cand_prev"], fb["fin_prev"], self.blink_,
                   self._V_INCR, self._V_DECR, self._V_MAX, nt)
        return fin

    def _mask_threads(self) -> int:
        # the mask passes use the threads the model chose for its last call (see n_threads)
        return self.n_threads if self.n_threads is not None else max(1, self.model_.n_threads_)

    def _clean(self, fg: np.ndarray) -> np.ndarray:
        """One foreground mask (bool or 0/1), median filtered and closed (bool)."""
        return clean_mask(fg, self.median_size, self.closing_size, self._mask_threads())

    def _output(self, mask: np.ndarray) -> np.ndarray:
        return mask.view(np.uint8) * np.uint8(255) if self.output == "uint8" else mask

    def background_image(self) -> np.ndarray:
        """The current background image (uint8, the frames' channels)."""
        if not hasattr(self, "model_"):
            raise RuntimeError("the model is empty: apply() at least one frame first.")
        return self.model_.background_image()
