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

import operator
import os
from typing import Any, NamedTuple

import numpy as np

from ._aligned import aligned_copy, aligned_empty, aligned_zeros
from ._base import Estimator, exclusive, param_names
from ._dispatch import load
from ._finite import all_finite
from ._shake import ShakeAligner, shifted
from ._stream_threads import StreamThreadTuner
from ._threads import effective_n_threads
from ._validation import (MAX_CHANNELS, check_bool, check_choice, check_frame, check_int,
                          check_known_foreground, check_learning_rate, check_n_threads, check_out_masks,
                          check_frame_shape, check_real, check_unchanged_since_start, warn_if_off_scale,
                          unmasked, warn_if_one_colour_frame)

__all__ = ["BackgroundSubtractorMOG2", "BackgroundSubtractor", "clean_mask"]

_k = load("_mog2")
_fbk = load("_mog2fb")



_BATCH = 32   # frames per kernel call in apply_many (1080p per frame: 16 -> 5.44 ms, 32 -> 5.36 ms)
_PIXELS_PER_THREAD = 1 << 16   # smaller jobs are not worth waking another OpenMP thread


def _threads_for(n_threads: int | None, n_pixels: int) -> int:
    """Threads for a kernel call over ``n_pixels``: the user's choice, capped by the work."""
    return max(1, min(effective_n_threads(n_threads), n_pixels // _PIXELS_PER_THREAD))


def _tuned_threads(model: Any, n_threads: int | None, n_pixels: int, caller: str) -> int:
    """Threads for an online model's next call: ``n_threads``, or with None the count the
    stream tuner of ``caller`` (kept on ``model``, one per method) picks by the calling
    loop's pace."""
    nt = _threads_for(n_threads, n_pixels)
    if n_threads is None and nt > 1:
        tuners = model.__dict__.setdefault("_tuners", {})
        current = tuners.get(caller)
        if current is None or current.max_threads != nt:
            current = tuners[caller] = StreamThreadTuner(nt)
        nt = current.next_threads()
    return nt


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


def _as_frames(frames: Any) -> np.ndarray | list[np.ndarray]:
    """Validate a stack of frames: a C-contiguous (T, H, W, C) uint8 or float32 array, or
    for a sequence a list of (H, W, C) frames of one shape and dtype (not stacked here:
    the caller stacks a batch at a time)."""
    if isinstance(frames, np.ndarray):
        frames = unmasked(frames, "frames")
        if frames.ndim == 3:
            warn_if_one_colour_frame(frames, "frames")
            frames = frames[..., None]
        elif frames.ndim != 4:
            raise ValueError(
                f"frames must be an array (T, H, W) or (T, H, W, C) or a sequence of frames, "
                f"got shape {frames.shape}; for a single frame use apply().")
        if frames.shape[0] == 0:
            raise ValueError("frames is empty (no frames).")
        first = check_frame(frames[0], "frames[0]")
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
    checked = [check_frame(f, f"frames[{i}]") for i, f in enumerate(seq)]
    for i, f in enumerate(checked):
        if f.shape != checked[0].shape:
            raise ValueError(f"frames[{i}] has shape (H, W, C) = {f.shape} but frames[0] {checked[0].shape}; "
                             f"all frames must have the same size and channel count.")
    if any(f.dtype != checked[0].dtype for f in checked):
        checked = [f.astype(np.float32) for f in checked]
    return checked


class _MOG2Params(NamedTuple):
    """BackgroundSubtractorMOG2's parameters, validated."""

    history: int
    var_threshold: float
    detect_shadows: bool
    n_components: int
    background_ratio: float
    var_threshold_gen: float
    var_init: float
    var_min: float
    var_max: float
    complexity_reduction: float
    shadow_value: int
    shadow_threshold: float
    n_threads: int | None


_get_mog2_params = operator.attrgetter(*_MOG2Params._fields)


class BackgroundSubtractorMOG2(Estimator):
    """Adaptive per-pixel Gaussian mixture background model (Zivkovic 2004, 2006).

    Each pixel holds up to ``n_components`` Gaussian modes (one isotropic variance
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
    n_components : int
        Maximum number of modes per pixel (1 to 255; OpenCV's ``nmixtures``, called
        ``n_mixtures`` here before 2026-12-07, a name files saved then still load with).  Fixed once
        the model has started: a change is refused until :meth:`reset` (or learning rate 1).
    background_ratio : float
        Share of the weight that the background modes make up (0 to 1].
    var_threshold_gen : float
        Squared Mahalanobis distance below which a sample updates an existing
        mode rather than creating a new one.
    var_init, var_min, var_max : float
        Variance of a new mode and the bounds variances are clamped to.
    complexity_reduction : float
        Weight of the Dirichlet prior that prunes unsupported modes (``cT``; 0 to 1:
        from 1 on, every mode loses weight at every frame, matched or not).
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

    _learns_in_place = True
    _renamed = {"n_mixtures": "n_components"}

    def __init__(self, history: int = 500, var_threshold: float = 16.0, detect_shadows: bool = True,
                 n_components: int = 5, background_ratio: float = 0.9, var_threshold_gen: float = 9.0,
                 var_init: float = 15.0, var_min: float = 4.0, var_max: float = 75.0,
                 complexity_reduction: float = 0.05, shadow_value: int = 127,
                 shadow_threshold: float = 0.5, n_threads: int | None = None) -> None:
        self.history = history
        self.var_threshold = var_threshold
        self.detect_shadows = detect_shadows
        self.n_components = n_components
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
    def _params(self) -> _MOG2Params:
        """The parameters, validated; re-checked only when one has changed since the last call."""
        # values and their types: 1 == True and 2.0 == 2, but only the bool and the int are
        # valid (attrgetter and map instead of a generator: ~3x less time, called every frame)
        values = _get_mog2_params(self)
        raw = (values, tuple(map(type, values)))
        cached = self.__dict__.get("_checked")
        if cached is not None and cached[0] == raw:
            return cached[1]
        checked = _MOG2Params(
            history=check_int(self.history, "history", low=1),
            var_threshold=check_real(self.var_threshold, "var_threshold", low=0, low_open=True),
            detect_shadows=check_bool(self.detect_shadows, "detect_shadows"),
            n_components=check_int(self.n_components, "n_components", low=1, high=255),
            background_ratio=check_real(self.background_ratio, "background_ratio", low=0, high=1, low_open=True),
            var_threshold_gen=check_real(self.var_threshold_gen, "var_threshold_gen", low=0, low_open=True),
            var_init=check_real(self.var_init, "var_init", low=0, low_open=True),
            var_min=check_real(self.var_min, "var_min", low=0, low_open=True),
            var_max=check_real(self.var_max, "var_max", low=0, low_open=True),
            complexity_reduction=check_real(self.complexity_reduction, "complexity_reduction", low=0, high=1),
            shadow_value=check_int(self.shadow_value, "shadow_value", low=0, high=255),
            shadow_threshold=check_real(self.shadow_threshold, "shadow_threshold", low=0, high=1),
            n_threads=check_n_threads(self.n_threads))
        if checked.var_min > checked.var_max:
            raise ValueError(f"var_min ({checked.var_min}) must not exceed var_max ({checked.var_max}).")
        if cached is not None and cached[1].n_threads != checked.n_threads:
            self._tuners = {}
        self._checked = (raw, checked)
        return checked

    # ----------------------------------------------------------------- state
    @property
    def frame_shape_(self) -> tuple[int, int, int] | None:
        """(H, W, C) of the model, or None before the first frame."""
        state = self.__dict__.get("state_")
        if state is None:
            return None
        _, f, h, w = state["state"].shape
        return (h, w, f - 2)

    @exclusive
    def reset(self) -> BackgroundSubtractorMOG2:
        """Forget the model: the next frame starts a new one (of any size). Returns self."""
        self.__dict__.pop("state_", None)
        self._tuners = {}
        self.n_frames_ = 0
        return self

    def _init_state(self, h: int, w: int, c: int, n_components: int) -> None:
        # planes per mode rank and field: state[m, 0] weights, state[m, 1] variances,
        # state[m, 2 + c] channel means, each (H, W)
        self.state_ = {
            "state": _padded_state(n_components, 2 + c, h, w),
            "nmodes": aligned_zeros((h, w), np.uint8),
        }
        self.n_frames_ = 0

    @exclusive
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
            ``1 / min(2 * frames seen, history)``.  0 leaves the model unchanged;
            1 restarts the model from this frame.  A model's first frame (after
            construction or :meth:`reset`) is learnt at the automatic rate
            whatever the rate, as OpenCV does: with nothing learnt every pixel
            would stay foreground.
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
        p = self._params()
        x = check_frame(frame)
        h, w, _ = x.shape
        lr = check_learning_rate(learning_rate)
        kf = check_known_foreground(known_foreground, (h, w))
        self._prepare(x, lr, p)
        alpha = self._alphas(1, lr, p)
        mask = aligned_empty((1, h, w), np.uint8)   # rows split between threads own their lines
        self._run(x[None], None if kf is None else kf[None], mask, alpha, self._threads(h * w, "apply", p), p)
        return mask[0]

    @exclusive
    def _apply_checked(self, x: np.ndarray, lr: float, mask: np.ndarray, alpha: np.ndarray,
                       known: np.ndarray | None = None) -> np.ndarray:
        """:meth:`apply` for a caller that has checked the frame (``x``, as ``check_frame``
        returns it), the learning rate and ``known`` (None or (H, W) uint8, C-contiguous:
        ``known_foreground``) and owns the buffers: ``mask`` (1, H, W) uint8, overwritten and
        returned as (H, W), and ``alpha`` (1,) float64.  The same steps and bits as
        ``apply``, with fewer NumPy calls (each ~10 us, several times that with the caches
        cold from the previous frame's kernels)."""
        p = self._params()
        h, w, _ = x.shape
        self._prepare(x, lr, p)
        if lr >= 0 and self.n_frames_ > 0:
            a = lr
        else:   # _alphas: 1 / min(2 * frames seen, history), the same float64 division
            a = 1.0 / min(2 * (self.n_frames_ + 1), p.history)
        alpha[0] = a
        nt = 1 if p.n_threads == 1 else self._threads(h * w, "apply", p)
        self._run(x[None], None if known is None else known[None], mask, alpha, nt, p,
                  n_learnt=int(a > 0))
        return mask[0]

    @exclusive
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
        p = self._params()
        x = _as_frames(frames)
        t = len(x)
        h, w, _ = x[0].shape
        lr = check_learning_rate(learning_rate)
        kf = check_known_foreground(known_foreground, (t, h, w))
        check_out_masks(out, (t, h, w), reads=(x, kf))
        if lr >= 1.0:
            # every frame restarts the model: nothing to gain from batching
            masks = out if out is not None else np.empty((t, h, w), np.uint8)
            for i in range(t):
                masks[i] = self.apply(x[i], lr, None if kf is None else kf[i])
            return masks
        self._prepare(x[0], lr, p)
        alphas = self._alphas(t, lr, p)
        masks = out if out is not None else aligned_empty((t, h, w), np.uint8)
        nt = self._threads(h * w, "apply_many", p)
        # kernel calls of at most _BATCH frames: as fast per frame as longer ones, and a
        # list of frames is copied into a stack only a batch at a time
        for s in range(0, t, _BATCH):
            e = min(s + _BATCH, t)
            chunk = x[s:e] if isinstance(x, np.ndarray) else np.stack(x[s:e])
            self._run(chunk, None if kf is None else kf[s:e], masks[s:e], alphas[s:e], nt, p)
        return masks

    def _prepare(self, x: np.ndarray, lr: float, p: _MOG2Params) -> None:
        """Start a model for frame ``x`` (H, W, C) when there is none or ``lr`` restarts it;
        otherwise check that ``x`` and ``n_components`` fit the model."""
        h, w, c = x.shape
        state = self.__dict__.get("state_")
        scale = "the variance parameters (var_threshold, var_init, var_min, var_max)"
        if _starts_model(self, lr):
            # learning rate 1 forgets everything: the model restarts from this frame
            warn_if_off_scale(x, scale)
            self._init_state(h, w, c, p.n_components)
        else:
            check_unchanged_since_start("n_components", state["state"].shape[0], p.n_components, self.n_frames_)
            check_frame_shape((h, w, c), self.frame_shape_)
            if x.dtype != self.__dict__.get("_frames_dtype", x.dtype):
                warn_if_off_scale(x, scale)     # (uint8 frames, then frame / 255.0: all foreground)
        self._frames_dtype = x.dtype

    def _threads(self, n_pixels: int, caller: str, p: _MOG2Params) -> int:
        """Threads for the next call (see :func:`_tuned_threads`)."""
        return _tuned_threads(self, p.n_threads, n_pixels, caller)

    def _alphas(self, n: int, lr: float, p: _MOG2Params) -> np.ndarray:
        """Learning rates of the next ``n`` frames: ``lr``, or automatic when it is negative
        and for the model's first frame whatever it is (OpenCV's rule: a model that learnt
        nothing would mark every pixel foreground for ever)."""
        seen = self.n_frames_ + 1 + np.arange(n)
        auto = 1.0 / np.minimum(2 * seen, p.history)
        return auto if lr < 0 else np.where(seen == 1, auto, lr)

    def _run(self, x: np.ndarray, kf: np.ndarray | None, masks: np.ndarray, alphas: np.ndarray,
             n_threads: int, p: _MOG2Params, n_learnt: int | None = None) -> None:
        """The kernel over the frames ``x``; ``n_learnt``, when the caller knows it, is the
        number of positive ``alphas`` (saves a NumPy call per frame)."""
        st = self.state_
        self.n_threads_ = n_threads
        _k.apply(x, kf, st["state"], st["nmodes"], masks, alphas,
                 p.var_threshold, p.var_threshold_gen, p.background_ratio,
                 p.var_init, p.var_min, p.var_max, p.complexity_reduction,
                 p.detect_shadows, p.shadow_value, p.shadow_threshold, n_threads)
        self.n_frames_ += int(np.count_nonzero(alphas > 0)) if n_learnt is None else n_learnt

    @exclusive
    def background_image(self) -> np.ndarray:
        """The background: weighted mean of each pixel's background modes.

        Returns (H, W) for grey models, (H, W, C) otherwise; uint8, rounded.
        Raises :class:`~gmmfast.NotFittedError` before the first frame.
        """
        self._check_fitted("state_", "apply")
        out = np.clip(np.rint(self._background()), 0, 255).astype(np.uint8)
        return out[:, :, 0] if out.shape[2] == 1 else out

    def _background(self) -> np.ndarray:
        """The background before rounding: (H, W, C) float32 (the model must have state)."""
        p = self._params()
        st = self.state_
        return _k.background(st["state"], st["nmodes"], p.background_ratio,
                             _threads_for(p.n_threads, st["nmodes"].size))

    # ----------------------------------------------------------------- persistence
    def _restore_fitted_state(self, state: dict[str, Any]) -> None:
        """Check a loaded model state against the parameters and copy it into the padded layout."""
        p = self._params()
        self.reset()
        model = state.pop("state_", None)
        self.__dict__.update(state)
        if model is not None:
            self.state_ = _checked_state(model, p.n_components)
        else:
            self.n_frames_ = 0


def _checked_state(state: dict, k: int) -> dict:
    """A loaded MOG2 state, checked and copied into the padded layout."""
    st, nm = state.get("state"), state.get("nmodes")
    if not isinstance(st, np.ndarray) or not isinstance(nm, np.ndarray):
        raise ValueError("the model file holds an inconsistent model state.")
    ok = (st.dtype == np.float32 and nm.dtype == np.uint8 and st.ndim == 4 and nm.ndim == 2
          and st.shape[0] == k and 3 <= st.shape[1] <= 2 + MAX_CHANNELS
          and nm.shape == st.shape[2:] and int(nm.max(initial=0)) <= k)
    if not ok:
        raise ValueError("the model file holds an inconsistent model state.")
    padded = _padded_state(*st.shape)
    padded[...] = st
    return {"state": padded, "nmodes": aligned_copy(nm)}


def _odd_size(name: str, value: Any) -> int:
    value = check_int(value, name, low=0)
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


_METHODS = ("adaptive", "mog2", "knn")
_FUSED_MAX_RADIUS = 7    # _mog2fb.clean_blink's byte counts: windows up to 15x15
_MODEL_ONLY = ("mog2", "knn")   # the model's mask, then the clean-up (no feedback)


def _starts_model(model: Any, learning_rate: Any) -> bool:
    """Whether an online model's next frame starts it (no model yet, or learning rate 1, which
    forgets everything): MOG2's and KNN's ``_prepare`` then build a new state, and the recommended
    pipeline calls the frame all background, having nothing to compare it with (MOG2's own mask of
    it, OpenCV's, is foreground or shadow by its values: a black first frame came out all
    foreground, any other all shadow)."""
    return model.__dict__.get("state_") is None or (isinstance(learning_rate, numbers.Real) and learning_rate >= 1)


class BackgroundSubtractor(Estimator):
    """Recommended background subtraction: a tuned MOG2 model, per-pixel feedback and
    mask clean-up.

    ``method="adaptive"`` (the default) runs, per frame:

    0. **camera-shake compensation**: the frame is shifted by the whole-pixel translation,
       up to ``max_shift`` pixels (a tenth of the shorter side by default), that best
       aligns its edges with the model's background image, and the mask is shifted back
       (pixels the shift uncovers are background), so a shaking camera's frames reach the
       model in one position (CDnet cameraJitter traffic: F 0.75 without, 0.82 with; a
       static camera is never shifted, see ``gmmfast/_shake.py`` for the search and the
       rule that keeps it still);
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
       scenes never blink, so there the pipeline is the plain tuned mixture;
    5. **holding moving objects out of a mature model**: once the model has learnt 150
       frames, it does not learn the pixels of the previous frame's cleaned mask (grown by
       one pixel) that are not blinking and have been foreground for at most
       ``hold_frames`` frames in a row.  Every car that crosses a busy lane otherwise
       teaches the lane's modes its colour, and over a long run the common car colours
       become background (CDnet highway played for 1,200 frames: F 0.96 without, 0.98
       with).  Blinking pixels (a shaking camera's false detections) are still learnt, so
       they fade as before, and an object that stops, or the ghost of one that leaves, is
       absorbed ``hold_frames`` frames later than without the hold (0 turns it off).

    The mask of a frame that starts the model (the first, or one learnt at rate 1) is
    empty, whatever the method: nothing has been learnt to compare it with.

    Once the model has learnt 150 frames, a mode counts as background only while the
    heavier modes make up less than 80 % of the pixel's weight (OpenCV's MOG2 uses 90 %
    throughout).  With 90 %, the colours of passing cars that keep recurring at a busy
    lane's pixels end up as background modes of their own over a long run, and recall
    falls (CDnet highway played for 1,200 frames: F 0.92 against 0.96 with the switch);
    a young model keeps 90 % because a shaking camera's other positions have not yet
    built up weight, and the displacement search of step 2 keeps 90 % throughout.
    ``model_.background_ratio`` shows the value in use.

    ``method="mog2"`` is steps 1 and 3 only (the recommended pipeline of earlier
    versions).  ``method="knn"`` is step 3 on the mask of the non-parametric
    :class:`~gmmfast.BackgroundSubtractorKNN` (OpenCV's KNN defaults, with this class's
    ``history``, ``detect_shadows`` and ``shadow_threshold``; its sampling frames are
    drawn from a fixed seed, so the masks are the same run after run).

    Parameters
    ----------
    method : {'adaptive', 'mog2', 'knn'}
        Pipeline, see above.
    history, var_threshold, var_min : see :class:`BackgroundSubtractorMOG2`
        (``knn`` reads ``history`` of these, and ``detect_shadows``, ``shadow_threshold``, ``n_threads``)
    n_components : int
        Most Gaussian modes per pixel (OpenCV's ``nmixtures``; fixed once the model
        has started: a change is refused until :meth:`reset`).
    detect_shadows : bool
        Detect shadows and leave them out of the mask (else they are foreground):
        MOG2's and KNN's switch, whose shadow value the mask counts as background
        (named ``exclude_shadows`` before 2026-12-07; files saved then still load).
    shadow_threshold : float
        Darkest brightness ratio still called a shadow.
    radius : int
        ``adaptive``: neighbourhood (pixels each way) searched for a displaced
        background value; 0 turns the suppression off.
    blink_threshold : float
        ``adaptive``: blinking score above which a pixel's neighbourhood is searched (and
        up to which a foreground pixel is held out of the model, step 5).
    hold_frames : int
        ``adaptive``: frames at the start of a pixel's foreground run during which a mature
        model does not learn it (step 5), 0 to 255; 0 learns every pixel, as MOG2 does.
    max_shift : int or None
        ``adaptive``: largest camera shake compensated in step 0, in pixels each way, 0 to
        255 (larger values are capped at an eighth of the frame's shorter side; frames whose
        shorter side is under 32 pixels are not compensated); None: a tenth of the shorter
        side (24 pixels at 320x240); 0 turns the compensation off.
    median_size, closing_size : int
        Clean-up windows (odd, 0 for none).
    output : {'bool', 'uint8'}
        Mask type of :meth:`apply`: bool, or uint8 with 0 / 255.
    n_threads : int or None
        OpenMP threads; None lets the model choose by frame rate (see
        :class:`BackgroundSubtractorMOG2`).

    Attributes
    ----------
    model_ : BackgroundSubtractorMOG2 or BackgroundSubtractorKNN
        The underlying model (after the first frame).
    n_frames_ : int
        Frames learnt (0 before the first), as the models count them.
    frame_shape_ : tuple or None
        Shape of the frames learnt, None before the first.
    blink_ : ndarray (H, W) float32
        ``adaptive``: the blinking score of each pixel (after the first frame).
    """

    # blinking score steps (St-Charles et al. 2015 use +1 / -0.1) and its ceiling, which
    # bounds how long a pixel that stopped blinking keeps its neighbourhood search
    _V_INCR, _V_DECR, _V_MAX = 1.0, 0.1, 20.0
    # MOG2 background ratio of a young and of a mature model, and the learnt frames after
    # which the model is mature.  By frame n a mode created in the first frame and never
    # seen again weighs prod(1 - 1/2k) ~ 1 / sqrt(pi n) under MOG2's 1 / 2n schedule,
    # under 0.05 by frame 150: from there weights measure how often a colour recurs, and a
    # colour that is seen in under a fifth of the frames (a lane's passing cars) should not
    # be background.  Chosen on CDnet highway played back and forth for 1,200 frames and
    # confirmed on traffic played likewise (see bench/RESULTS.md).
    _TB_YOUNG, _TB_MATURE, _MATURE_FRAMES = 0.9, 0.8, 150
    _learns_in_place = True
    _renamed = {"exclude_shadows": "detect_shadows"}

    def __init__(self, method: str = "adaptive", history: int = 500, var_threshold: float = 16.0,
                 var_min: float = 16.0, n_components: int = 5, detect_shadows: bool = True,
                 shadow_threshold: float = 0.7, radius: int = 2, blink_threshold: float = 2.0,
                 median_size: int = 5, closing_size: int = 3, output: str = "bool",
                 n_threads: int | None = None, hold_frames: int = 30, max_shift: int | None = None) -> None:
        self.method = method
        self.history = history
        self.var_threshold = var_threshold
        self.var_min = var_min
        self.n_components = n_components
        self.detect_shadows = detect_shadows
        self.shadow_threshold = shadow_threshold
        self.radius = radius
        self.blink_threshold = blink_threshold
        self.hold_frames = hold_frames
        self.max_shift = max_shift
        self.median_size = median_size
        self.closing_size = closing_size
        self.output = output
        self.n_threads = n_threads

    def _build(self) -> Any:
        check_choice(self.method, "method", _METHODS)
        check_choice(self.output, "output", ("bool", "uint8"))
        check_bool(self.detect_shadows, "detect_shadows")
        _odd_size("median_size", self.median_size)
        _odd_size("closing_size", self.closing_size)
        check_int(self.radius, "radius", low=0, high=16)
        check_real(self.blink_threshold, "blink_threshold", low=0)
        check_int(self.hold_frames, "hold_frames", low=0, high=255)
        check_int(self.n_components, "n_components", low=1, high=255)
        if self.max_shift is not None:
            check_int(self.max_shift, "max_shift", low=0, high=255)
        if self.method == "knn":
            # imported here: _knn imports this module
            from ._knn import BackgroundSubtractorKNN
            return BackgroundSubtractorKNN(history=self.history, detect_shadows=bool(self.detect_shadows),
                                           shadow_threshold=self.shadow_threshold, n_threads=self.n_threads)
        var_min = check_real(self.var_min, "var_min", low=0, low_open=True)
        return BackgroundSubtractorMOG2(
            history=self.history, var_threshold=self.var_threshold,
            detect_shadows=bool(self.detect_shadows), n_components=self.n_components,
            var_init=max(15.0, var_min), var_min=var_min, var_max=max(75.0, 5.0 * var_min),
            shadow_threshold=self.shadow_threshold, n_threads=self.n_threads)

    @property
    def n_frames_(self) -> int:
        """Frames learnt since the start or the last :meth:`reset` (the model's ``n_frames_``)."""
        model = self.__dict__.get("model_")
        return 0 if model is None else int(model.__dict__.get("n_frames_", 0))

    @property
    def frame_shape_(self) -> tuple[int, ...] | None:
        """Shape of the frames the model learns, None before the first (the model's ``frame_shape_``)."""
        model = self.__dict__.get("model_")
        return None if model is None else model.frame_shape_

    @exclusive
    def reset(self) -> BackgroundSubtractor:
        """Forget the model; the next frame starts a new one. Returns self.

        Changed parameters take effect at the next frame without it, except
        ``method`` and ``n_components``, which need a new model."""
        for name in ("model_", "_built_from", "blink_", "feedback_", "_shake"):
            self.__dict__.pop(name, None)
        return self

    @exclusive
    def apply(self, frame: np.ndarray, learning_rate: float = -1,
              known_foreground: np.ndarray | None = None) -> np.ndarray:
        """Foreground mask of ``frame`` (and learn it).

        Parameters
        ----------
        frame : ndarray (H, W) or (H, W, C), uint8 or float
            See :meth:`BackgroundSubtractorMOG2.apply`.
        learning_rate : float
            Negative for automatic, else in [0, 1].
        known_foreground : ndarray (H, W) of bool or int, optional
            Pixels known to be foreground (from a detector, say): classified as
            usual, but not learnt into the model, so an object that is known to
            be there is not absorbed into the background however long it
            stays.  Given in the frame's own position: ``'adaptive'`` moves it
            with the frame when it compensates camera shake.

        Returns
        -------
        ndarray (H, W): bool, or uint8 0/255 with ``output='uint8'``.
        """
        model = self._model()
        if self.method in _MODEL_ONLY:
            starts = _starts_model(model, learning_rate)
            raw = model.apply(frame, learning_rate=learning_rate, known_foreground=known_foreground)
            return self._output(self._clean((raw == 255) & (not starts)))
        x = check_frame(frame)
        kf = check_known_foreground(known_foreground, x.shape[:2])
        self._set_maturity(model)
        # the default automatic rate without check_real's isinstance(numbers.Real) and
        # np.isfinite (~15 us a frame with the caches cold); anything else is checked
        lr = -1.0 if learning_rate.__class__ is int and learning_rate == -1 else check_learning_rate(learning_rate)
        return self._output(self._adaptive_frame(model, x, lr, kf))

    @exclusive
    def apply_many(self, frames: Any, learning_rate: float = -1,
                   known_foreground: np.ndarray | None = None,
                   out: np.ndarray | None = None) -> np.ndarray:
        """Foreground masks of a stack of frames, learnt in order: the same as :meth:`apply`
        on each frame (``method='mog2'`` and ``'knn'`` batch the model update, see
        :meth:`BackgroundSubtractorMOG2.apply_many`; the feedback of ``'adaptive'`` needs
        each frame's result before the next).

        Parameters
        ----------
        frames : ndarray (T, H, W) or (T, H, W, C), or a sequence of frames
        learning_rate : float
            Negative for automatic, else in [0, 1].
        known_foreground : ndarray (T, H, W) of bool or int, optional
            Per frame, pixels known to be foreground: classified, but not learnt
            (see :meth:`apply`).
        out : ndarray (T, H, W), C-contiguous, optional
            Where to write the masks: bool, or uint8 with ``output='uint8'``.

        Returns
        -------
        ndarray (T, H, W): bool, or uint8 0/255 with ``output='uint8'`` (``out`` if given).
        """
        model = self._model()
        dtype = np.uint8 if self.output == "uint8" else np.bool_
        stack = frames
        if out is not None or self.method not in _MODEL_ONLY:     # (the model validates its own frames)
            stack = _as_frames(frames)      # (a generator is read once, here)
            check_out_masks(out, (len(stack),) + stack[0].shape[:2], dtype,      # before any frame is learnt
                            reads=(stack, known_foreground if isinstance(known_foreground, np.ndarray) else None))
        if self.method in _MODEL_ONLY:
            starts = _starts_model(model, learning_rate)
            raw = model.apply_many(stack, learning_rate=learning_rate, known_foreground=known_foreground)
            res = out if out is not None else np.empty(raw.shape, dtype)
            for i in range(raw.shape[0]):
                keep = not starts or i > 0 and learning_rate < 1
                self._output_into(res[i], self._clean(raw[i] == 255) if keep else np.zeros(raw.shape[1:], bool))
            return res
        t, (h, w) = len(stack), stack[0].shape[:2]
        res = out if out is not None else np.empty((t, h, w), dtype)
        lr = check_learning_rate(learning_rate)
        kf = check_known_foreground(known_foreground, (t, h, w))
        for i in range(t):
            self._set_maturity(model)
            self._output_into(res[i], self._adaptive_frame(model, check_frame(stack[i]), lr,
                                                           None if kf is None else kf[i]))
        return res

    def _model(self) -> Any:
        """The model (MOG2 or KNN), built from the parameters on first use.  Parameters changed
        since (``set_params`` or assignment) are all checked before the next frame is learnt, and
        the model's are handed to it; a change its state cannot take (``method``, ``n_components``)
        is refused until :meth:`reset`."""
        params = {name: getattr(self, name) for name in param_names(type(self))}
        model = self.__dict__.get("model_")
        old = self.__dict__.get("_built_from")
        if model is None or model.__dict__.get("state_") is None:
            # no model, or one that has learnt nothing (its first frame was refused): built afresh
            self.model_, self._built_from = self._build(), params
        elif params != old:      # changed since, or a loaded model (whose load may have overridden some)
            new = self._build()
            if type(new) is not type(model):
                started = old["method"] if isinstance(old, dict) else (
                    "knn" if type(model).__name__ == "BackgroundSubtractorKNN" else "mog2")
                check_unchanged_since_start("method", started, self.method, model.n_frames_)
            if isinstance(model, BackgroundSubtractorMOG2):
                check_unchanged_since_start("n_components", model.state_["state"].shape[0], self.n_components,
                                            model.n_frames_)
            model.set_params(**new.get_params())
            self._built_from = params
        return self.model_

    def _set_maturity(self, model: BackgroundSubtractorMOG2) -> None:
        """The background ratio for the model's age (see the class docstring)."""
        mature = getattr(model, "n_frames_", 0) >= self._MATURE_FRAMES
        model.background_ratio = self._TB_MATURE if mature else self._TB_YOUNG

    def _adaptive_frame(self, model: BackgroundSubtractorMOG2, x: np.ndarray, lr: float,
                        known: np.ndarray | None = None) -> np.ndarray:
        """Steps 0-5 on one checked frame (``known``: the checked known_foreground, 0/1 uint8,
        or None): the cleaned mask (bool), in the frame's position."""
        shift = (0, 0)
        if model.frame_shape_ is not None and lr < 1.0:
            # refused here, before the shake search compares the frame with the old background
            check_frame_shape(x.shape, model.frame_shape_)
        if self.max_shift != 0:
            shake = self.__dict__.get("_shake")
            if shake is None or shake.shape != x.shape[:2]:
                shake = self._shake = ShakeAligner(self.max_shift, x.shape[:2])
            x, shift = shake.align(model, x)
            if known is not None and shift != (0, 0):
                known = shifted(known, shift[0], shift[1], None)     # onto the model, as the frame
        return ShakeAligner.restore(self._adaptive_step(x, self._model_apply(model, x, lr, known)), shift)

    def _model_apply(self, model: BackgroundSubtractorMOG2, x: np.ndarray, lr: float,
                     known: np.ndarray | None) -> np.ndarray:
        """The MOG2 mask of ``x`` (checked), learnt except at ``known`` (0/1 uint8, or None) and at
        the held pixels: ``model.apply`` into buffers kept here (the raw mask is read by the
        suppression only, before the next frame)."""
        h, w, _ = x.shape
        bufs = self.__dict__.get("_raw_buffers")
        if bufs is None or bufs[0].shape[1:] != (h, w):
            bufs = self._raw_buffers = (aligned_empty((1, h, w), np.uint8), np.empty(1))
        # step 5: the pixels the previous frame marked to hold, once the model is mature
        fb = self.__dict__.get("feedback_")
        held = None
        if self.hold_frames and fb is not None and getattr(model, "n_frames_", 0) >= self._MATURE_FRAMES:
            held = fb.get("held")     # (a frame of another size is refused by the model first)
        if held is not None:
            known = held if known is None else np.bitwise_or(held, known)
        starts = _starts_model(model, lr)
        raw = model._apply_checked(x, lr, bufs[0], bufs[1], known)
        if starts:
            raw[:] = 0
        return raw

    def _adaptive_step(self, x: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Suppression, clean-up and blinking feedback of one frame (``x`` as the model saw
        it, ``raw`` its MOG2 mask); returns the cleaned mask (bool)."""
        h, w = raw.shape
        fb = self.__dict__.get("feedback_")
        if fb is None or fb["cand"].shape != (h, w):
            fb = {name: np.zeros((h, w), np.uint8) for name in ("cand", "cand_prev", "fin_prev", "run", "held")}
            self.feedback_ = fb
            self.blink_ = np.zeros((h, w), np.float32)
        nt = self._mask_threads()
        # the parameters model.apply has just checked (re-checking them took ~15 us a frame)
        st, p = self.model_.state_, self.model_._checked[1]
        _fbk.suppress(x, st["state"], st["nmodes"], raw, self.blink_, fb["cand"], int(self.radius),
                      p.var_threshold, self._TB_YOUNG,
                      float(self.blink_threshold), nt)
        # the clean-up windows, re-checked only when they changed (as _MOG2Params), and the
        # clean-up's scratch: private attributes, not in feedback_ (which save() stores)
        key = (self.median_size.__class__, self.median_size, self.closing_size.__class__, self.closing_size)
        radii = self.__dict__.get("_clean_radii")
        if radii is None or radii[0] != key:
            radii = self._clean_radii = (key, _odd_size("median_size", self.median_size) // 2,
                                         _odd_size("closing_size", self.closing_size) // 2)
        rm, rc = radii[1], radii[2]
        if rm > _FUSED_MAX_RADIUS or rc > _FUSED_MAX_RADIUS:
            fin = self._clean(fb["cand"])
            _fbk.blink(fb["cand"], fin.view(np.uint8), fb["cand_prev"], fb["fin_prev"], self.blink_,
                       self._V_INCR, self._V_DECR, self._V_MAX, nt)
            self._hold_step(fb, fin.view(np.uint8), nt)
            return fin
        # the clean-up and the blinking update in one kernel call (the same passes as
        # clean_mask, byte counts, no intermediate arrays allocated): a new array for the
        # mask, which the caller keeps
        tmp = self._scratch(h, w)
        fin = np.empty((h, w), np.uint8)
        _fbk.clean_blink(fb["cand"], fin, tmp[0], tmp[1], fb["cand_prev"], fb["fin_prev"],
                         self.blink_, rm, rc, self._V_INCR, self._V_DECR, self._V_MAX, nt)
        self._hold_step(fb, fin, nt)
        return fin.view(np.bool_)

    def _hold_step(self, fb: dict, fin: np.ndarray, nt: int) -> None:
        """Step 5: update the foreground runs from the cleaned mask ``fin`` (0/1) and mark
        the pixels the model is not to learn from the next frame (used once it is mature)."""
        if not self.hold_frames:
            return
        h, w = fin.shape
        if "run" not in fb:       # a model saved before step 5 existed
            fb["run"], fb["held"] = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
        _fbk.hold(fin, self.blink_, fb["run"], self._scratch(h, w)[2], fb["held"],
                  float(self.blink_threshold), int(self.hold_frames), nt)

    def _scratch(self, h: int, w: int) -> np.ndarray:
        """Three (h, w) uint8 planes the clean-up and the hold overwrite each frame (a private
        attribute: not in feedback_, which save() stores)."""
        tmp = self.__dict__.get("_clean_scratch")
        if tmp is None or tmp.shape != (3, h, w):
            tmp = self._clean_scratch = np.empty((3, h, w), np.uint8)
        return tmp

    def _mask_threads(self) -> int:
        # the mask passes use the threads the model chose for its last call (see n_threads)
        if self.n_threads is None:
            return max(1, self.model_.n_threads_)
        return effective_n_threads(self.n_threads)      # -1: all usable cores, as everywhere

    def _clean(self, fg: np.ndarray) -> np.ndarray:
        """One foreground mask (bool or 0/1), median filtered and closed (bool)."""
        return clean_mask(fg, self.median_size, self.closing_size, self._mask_threads())

    def _output(self, mask: np.ndarray) -> np.ndarray:
        return mask.view(np.uint8) * np.uint8(255) if self.output == "uint8" else mask

    def _output_into(self, dest: np.ndarray, mask: np.ndarray) -> None:
        """``_output(mask)`` written into ``dest`` (a frame of apply_many's result)."""
        if self.output == "uint8":
            np.multiply(mask.view(np.uint8), np.uint8(255), out=dest)
        else:
            dest[...] = mask

    @exclusive
    def background_image(self) -> np.ndarray:
        """The current background image (uint8, the frames' channels)."""
        self._check_fitted("model_", "apply")
        return self.model_.background_image()
