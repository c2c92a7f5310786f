"""Online background subtraction with a non-parametric (KNN) model per pixel.

:class:`BackgroundSubtractorKNN` is the sample-based model of Zivkovic & van der
Heijden (Pattern Recognition Letters 2006, section 4) with k-nearest-neighbour
decisions and Prati-style shadow detection: the model OpenCV's
``createBackgroundSubtractorKNN`` implements, with its parameters (in snake_case)
and the same behaviour as far as its outputs show it.  The update draws random
frames at which each pixel stores a sample; with another random source the masks
can only agree with OpenCV's as well as OpenCV's agree with themselves under other
draws (see the class docstring).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ._aligned import aligned_empty, aligned_zeros
from ._background import _as_frames, _starts_model, _threads_for, _tuned_threads
from ._base import Estimator, exclusive
from ._dispatch import load
from ._finite import all_finite
from ._stream_threads import StreamThreadTuner
from ._validation import (MAX_CHANNELS, check_bool, check_frame, check_int, check_known_foreground,
                          check_learning_rate, check_n_threads, check_out_masks, check_random_state,
                          check_frame_shape, check_real, check_unchanged_since_start, warn_if_off_scale)

__all__ = ["BackgroundSubtractorKNN"]

_k = load("_knn")

_BATCH = 32                 # frames per kernel call in apply_many
_MAX_SAMPLES = 64           # n_samples limit: the kernel counts matches of 3N samples in a byte
_MAX_PERIOD = 65535         # slots are uint16; reached only for histories of ~300,000 frames
# The three sets split the learning rate's weights (1 - a)^age at these levels: the short
# set holds the ages of weight above 0.7, the mid set down to 0.4, the long set to 0.1.
_SPLITS = (0.7, 0.4, 0.1)
_M64 = (1 << 64) - 1


class _KNNParams(NamedTuple):
    """BackgroundSubtractorKNN's parameters, validated."""

    history: int
    dist2_threshold: float
    detect_shadows: bool
    knn_samples: int
    n_samples: int
    shadow_value: int
    shadow_threshold: float
    random_state: Any
    n_threads: int | None


def _periods(alpha: float, n_samples: int) -> tuple[int, int, int]:
    """Frames between two samples of the short, mid and long sets at learning rate ``alpha``.

    Each set spans the ages between two of the weight levels ``_SPLITS`` (L frames) and
    takes one of its ``n_samples`` samples every ``L // n_samples + 1`` frames.
    """
    if alpha >= 1.0:
        return (1, 1, 1)
    la = math.log(1.0 - alpha)
    short = int(math.log(_SPLITS[0]) / la) + 1
    mid = int(math.log(_SPLITS[1]) / la) - short + 1
    long_ = int(math.log(_SPLITS[2]) / la) - short - mid + 1
    return tuple(min(span // n_samples + 1, _MAX_PERIOD) for span in (short, mid, long_))


def _mix64(z: int) -> int:
    """splitmix64's finaliser (Steele, Lea & Flood 2014): a 64-bit value to a well-mixed one."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def period_key(seed: int, which: int, period: int) -> int:
    """The 32-bit random key of period number ``period`` of set ``which`` (0-2).

    A pixel numbered p (row-major) samples set ``which`` at frame
    ``(fmix32(p * 0x9E3779B1 + key) * P) >> 32`` of that period of P frames
    (``knn_fast.h``); tests rebuild the draws from this.
    """
    z = (seed * 0x9E3779B97F4A7C15 + (3 * period + which + 1) * 0xD1B54A32D192ED03) & _M64
    return _mix64(z) & 0xFFFFFFFF


def _draw_seed(random_state: Any) -> int:
    """A 63-bit seed for a new model, drawn from ``random_state`` (scikit-learn's meaning:
    None is NumPy's global random state, an int seeds a fresh one)."""
    return int(check_random_state(random_state).randint(0, 2**63 - 1, dtype=np.int64))


def _planes(n: int, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Zeroed (n, *shape) array whose n planes start on cache lines an odd number of
    lines apart.  A pixel's samples are the same position in up to 3N planes; planes an
    exact multiple of 4096 bytes apart (at 640x480, 1280x720, 1920x1080) share their
    cache sets, and the count and the update, which touch several planes at once, then
    evict their own lines."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape))
    lines = -(-size * dtype.itemsize // 64)
    lines += 1 - lines % 2
    buf = aligned_zeros((n, lines * 64 // dtype.itemsize), dtype)
    # the kernels check C strides within a plane; reshape leaves a length-1 axis (a 1-pixel-high
    # or -wide frame) with another stride, which addresses nothing, so it is set to the C one
    strides = [dtype.itemsize]
    for extent in reversed(shape[1:]):
        strides.insert(0, strides[0] * extent)
    return np.lib.stride_tricks.as_strided(buf[:, :size], (n,) + tuple(shape), (buf.strides[0], *strides))


class BackgroundSubtractorKNN(Estimator):
    """Non-parametric per-pixel background model with k-nearest-neighbour decisions
    (Zivkovic & van der Heijden 2006).

    Each pixel keeps ``3 * n_samples`` past values in three first-in first-out sets
    that cover the recent, middle and long past of the frame history.  A value is
    background when at least ``knn_samples`` confirmed samples lie within the squared
    distance ``dist2_threshold`` of it: the kNN estimate of the background density
    is then above the paper's threshold.  A sample is confirmed when, at the time it
    was stored, ``knn_samples`` samples already lay within that distance, so a value
    seen once is not background at once: a new object takes about 2 * knn_samples
    samples to blend in.  A foreground value that is a darker copy of at least
    ``knn_samples`` confirmed samples (ratio between ``shadow_threshold`` and 1,
    Prati et al. 2003) is a shadow.

    Each set takes one sample per period of frames, at a frame drawn at random for
    each pixel and period (so that neighbouring pixels do not all forget at once);
    the periods follow the learning rate ``a`` so that the short set spans the frames
    whose weight ``(1 - a)^age`` is above 0.7, the mid set down to 0.4 and the long
    set down to 0.1.  The draws come from ``random_state``: with the same seed the
    masks are the same for any thread count.

    Parameters have the meaning, defaults and units of OpenCV's
    ``cv2.createBackgroundSubtractorKNN`` (``history``, ``dist2Threshold``,
    ``detectShadows``, ``kNNSamples``, ``NSamples``, ``shadowValue``,
    ``shadowThreshold``).  OpenCV's own random draws cannot be reproduced, so masks
    agree where the model is settled and differ, pixel by pixel, where a scene change
    is being learnt: on CDnet highway 99.5 % of mask pixels are equal, as many as
    OpenCV's masks share with OpenCV run on the same clip shifted by one pixel.

    Parameters
    ----------
    history : int
        Frames of memory: the automatic learning rate of the n-th frame is
        ``1 / min(2 (n - 1), history)`` (1/2 for the first two frames).
    dist2_threshold : float
        Squared distance (summed over channels, in the frames' grey levels) within
        which a sample counts as a neighbour of the pixel's value.
    detect_shadows : bool
        Mark shadows with ``shadow_value`` instead of 255.
    knn_samples : int
        Confirmed neighbours a value needs to be background (1 to 3 * n_samples).
    n_samples : int
        Samples per set (1 to 64); the model holds 3 * n_samples per pixel.
        Fixed once the model has started: a change is refused until :meth:`reset`
        (or learning rate 1).
    shadow_value : int
        Mask value of shadow pixels (0 to 255).
    shadow_threshold : float
        Darkest brightness ratio (0 to 1) still called a shadow.
    random_state : None, int, numpy RandomState or Generator
        Source of the seed of the sampling frames, drawn when a model starts (first
        frame, :meth:`reset`, learning rate 1), with
        scikit-learn's meaning: an int gives the same masks run after run, None draws
        from NumPy's global random state.
    n_threads : int or None
        OpenMP threads.  None chooses between one thread and all usable cores by
        the frame rate the calling loop achieves (as BackgroundSubtractorMOG2 does).
        Masks do not depend on the thread count.

    Attributes
    ----------
    n_frames_ : int
        Frames learnt since the model started.
    n_threads_ : int
        Threads the last call used.
    frame_shape_ : tuple or None
        (H, W, C) of the model, None before the first frame.
    seed_ : int
        The seed the current model draws its sampling frames from (saved with the
        model, so a loaded model goes on with the same draws).

    Notes
    -----
    Where the results differ from OpenCV's (5.1, observed) besides the random draws:

    * float frames: OpenCV's KNN reads the bytes of a float frame as if they were
      uint8 values; here values are used as they are (as for uint8 frames).
    * ``learning_rate=0`` leaves the model and its sampling schedule as they are
      (except on the model's first frame, learnt at the automatic rate, as OpenCV does).
      OpenCV's KNN at rate 0 goes on replacing samples at every frame, so from the
      first frame at rate 0 it finds background by frame 4 where this model, having
      learnt one frame, finds none.
      In OpenCV such a call disturbs the schedule: learning frames each followed by
      a rate-0 frame forgot a settled background after 40 frames instead of ~450.
    * a fixed learning rate: from the start, this model learns a scene when OpenCV's does
      (a period keeps the length it began with, see ``_schedule``), and on CDnet at rate
      0.005 97.5 % / 83.6 % of mask pixels are equal (highway / traffic; at the automatic
      rate 99.5 % / 93.4 %).  When the rate changes mid-stream, OpenCV's new periods begin
      up to 9 frames apart from this model's (its rule there is not fully known).
    * ``background_image`` is each pixel's first confirmed sample; OpenCV's is also
      one of its samples, picked through its own draws (on CDnet highway the two are
      within 10 grey levels on 93 % of pixels).  Before any frame it raises
      :class:`~gmmfast.NotFittedError` (OpenCV's crashes the process).
    """

    _learns_in_place = True

    def __init__(self, history: int = 500, dist2_threshold: float = 400.0, detect_shadows: bool = True,
                 knn_samples: int = 2, n_samples: int = 7, shadow_value: int = 127,
                 shadow_threshold: float = 0.5, random_state: Any = 0,
                 n_threads: int | None = None) -> None:
        self.history = history
        self.dist2_threshold = dist2_threshold
        self.detect_shadows = detect_shadows
        self.knn_samples = knn_samples
        self.n_samples = n_samples
        self.shadow_value = shadow_value
        self.shadow_threshold = shadow_threshold
        self.random_state = random_state
        self.n_threads = n_threads

    # ----------------------------------------------------------------- parameters
    def _params(self) -> _KNNParams:
        """The parameters, validated (TypeError / ValueError naming the bad one); checked
        again only when one has changed since the last call (a per-frame cost otherwise)."""
        # (type, value): 1 == True and 2.0 == 2, but only the bool and the int are valid
        raw = tuple((type(v), v) for v in (getattr(self, name) for name in _KNNParams._fields))
        cached = self.__dict__.get("_checked")
        if cached is not None and cached[0] == raw:
            return cached[1]
        checked = self._validate()
        if cached is not None and cached[1].n_threads != checked.n_threads:
            self._tuners = {}
        self._checked = (raw, checked)
        return checked

    def _validate(self) -> _KNNParams:
        n_samples = check_int(self.n_samples, "n_samples", low=1, high=_MAX_SAMPLES)
        knn = check_int(self.knn_samples, "knn_samples", low=1)
        if knn > 3 * n_samples:
            raise ValueError(f"knn_samples ({knn}) must not exceed the model's 3 * n_samples = "
                             f"{3 * n_samples} samples, or no pixel could ever be background.")
        random_state = self.random_state
        if random_state is not None and not isinstance(random_state, (np.random.Generator,
                                                                      np.random.RandomState)):
            check_random_state(random_state)      # TypeError / ValueError for a bad value
        return _KNNParams(
            history=check_int(self.history, "history", low=1),
            dist2_threshold=check_real(self.dist2_threshold, "dist2_threshold", low=0, low_open=True),
            detect_shadows=check_bool(self.detect_shadows, "detect_shadows"),
            knn_samples=knn, n_samples=n_samples,
            shadow_value=check_int(self.shadow_value, "shadow_value", low=0, high=255),
            shadow_threshold=check_real(self.shadow_threshold, "shadow_threshold", low=0, high=1),
            random_state=random_state, n_threads=check_n_threads(self.n_threads))

    # ----------------------------------------------------------------- state
    @property
    def frame_shape_(self) -> tuple[int, int, int] | None:
        """(H, W, C) of the model, or None before the first frame."""
        state = self.__dict__.get("state_")
        if state is None:
            return None
        return state["pos"].shape[1:] + (int(state["channels"]),)

    @exclusive
    def reset(self) -> BackgroundSubtractorKNN:
        """Forget the model: the next frame starts a new one (of any size). Returns self."""
        for name in ("state_", "seed_"):
            self.__dict__.pop(name, None)
        self._tuners: dict[str, StreamThreadTuner] = {}
        self.n_frames_ = 0
        return self

    def _init_state(self, h: int, w: int, c: int, dtype: Any, p: _KNNParams) -> None:
        s = 3 * p.n_samples
        self.seed_ = _draw_seed(p.random_state)
        self.state_ = {
            # sample j of pixel (y, x): its channels, then its confirmation flag last
            "samples": _planes(s, (h, w, _k.record_size(c)), dtype),
            "pos": _planes(3, (h, w), np.uint8),       # oldest sample of each set
            "slots": _planes(3, (h, w), np.uint16),    # sampling frame in the period
            # per set: position in the current period, number of periods begun, and the
            # current period's length
            "counters": np.zeros(9, np.int64),
            "channels": np.array(c, np.int64),
        }
        self.n_frames_ = 0

    def _prepare(self, x: np.ndarray, lr: float, p: _KNNParams) -> np.ndarray:
        """Start a model for frame ``x`` (H, W, C) when there is none or ``lr`` restarts it;
        otherwise check that ``x`` and ``n_samples`` fit the model.  Returns ``x`` in the
        model's sample dtype."""
        h, w, c = x.shape
        state = self.__dict__.get("state_")
        if _starts_model(self, lr):
            warn_if_off_scale(x, "dist2_threshold and the shadow test")
            self._init_state(h, w, c, x.dtype, p)
            return x
        check_unchanged_since_start("n_samples", state["samples"].shape[0] // 3, p.n_samples, self.n_frames_)
        check_frame_shape((h, w, c), self.frame_shape_)
        return _to_model_dtype(x, state["samples"].dtype)

    def _schedule(self, n: int, lr: float, p: _KNNParams) -> np.ndarray:
        """Per frame of the next ``n``: learn, then per set (redraw, position, period, key),
        advancing the model's counters.

        When its position has reached the period's length a new period begins, and with
        it new sampling frames for every pixel.  At the automatic rate the length follows
        the rate frame by frame; at a fixed rate a period keeps the length it began with.
        That is how OpenCV's KNN behaves, observed: from a first frame at the automatic
        rate then a fixed one, its first long period begins at once (a static scene
        becomes background at frame 8 at rate 0.02, 14 at 0.01, 24 at 0.005), where
        re-evaluating the length at a fixed rate too made this model wait for the first
        frame's short period to stretch (10, 19, 34).
        """
        counters = [int(v) for v in self.state_["counters"]]
        rows = []
        for t in range(n):
            seen = self.n_frames_ + len(rows)        # the first frame is learnt whatever lr (OpenCV's rule)
            automatic = not (lr >= 0 and seen > 0)
            alpha = 1.0 / min(2 * max(seen, 1), p.history) if automatic else lr
            if alpha <= 0:
                rows.append([0] * 13)
                continue
            row = [1]
            for s, period in enumerate(_periods(alpha, p.n_samples)):
                if automatic:
                    counters[6 + s] = period
                if counters[s] >= counters[6 + s]:
                    counters[s], counters[6 + s] = 0, period
                redraw = counters[s] == 0
                if redraw:
                    counters[3 + s] += 1
                row += [redraw, counters[s], counters[6 + s], period_key(self.seed_, s, counters[3 + s])]
                counters[s] += 1
            rows.append(row)
        self.state_["counters"][:] = counters
        return np.array(rows, dtype=np.int64).reshape(n, 13)

    @exclusive
    def apply(self, frame: np.ndarray, learning_rate: float = -1,
              known_foreground: np.ndarray | None = None) -> np.ndarray:
        """Classify ``frame`` and learn it into the model.

        Parameters
        ----------
        frame : ndarray (H, W) or (H, W, C), uint8 or float
            Grey or colour frame (1-4 channels).  The first frame fixes the model's
            size, channels and sample type: uint8 frames keep uint8 samples, float frames
            float samples (used as they are: ``dist2_threshold`` assumes a 0-255 scale;
            they must be finite).  A uint8 model takes float frames only when their
            values are whole numbers in 0-255.  Call :meth:`reset` to start over.
        learning_rate : float
            In [0, 1]; negative (the default -1) means automatic (see ``history``).
            0 leaves the model unchanged; 1 restarts the model from this frame.  A
            model's first frame (after construction or :meth:`reset`) is learnt at the
            automatic rate whatever the rate, OpenCV's rule; but a KNN model needs a few
            learnt frames before it confirms any background (frame 4 on the sample clip),
            so with rate 0 from the start every pixel stays foreground.  (OpenCV's KNN
            does find background there: at rate 0 its sampling schedule, computed from
            log(1 - rate), goes on replacing samples every frame; see the Notes.)
        known_foreground : ndarray (H, W) of bool or int, optional
            Pixels known to be foreground: classified, but not learnt.

        Returns
        -------
        mask : ndarray (H, W) uint8
            0 background, ``shadow_value`` shadow, 255 foreground.
        """
        p = self._params()
        x = check_frame(frame)
        h, w, _ = x.shape
        lr = check_learning_rate(learning_rate)
        kf = check_known_foreground(known_foreground, (h, w))
        x = self._prepare(x, lr, p)
        mask = aligned_empty((1, h, w), np.uint8)   # rows split between threads own their lines
        self._run(x[None], None if kf is None else kf[None], mask, self._schedule(1, lr, p),
                  self._threads(h * w, "apply", p), p)
        return mask[0]

    @exclusive
    def apply_many(self, frames: Any, learning_rate: float = -1,
                   known_foreground: np.ndarray | None = None,
                   out: np.ndarray | None = None) -> np.ndarray:
        """Classify and learn a sequence of frames, in order: the same masks and model as
        :meth:`apply` on each frame in turn, with less memory traffic (each image row goes
        through all frames of a batch before the next row).

        Parameters
        ----------
        frames : ndarray (T, H, W) or (T, H, W, C), or a sequence of (H, W[, C]) frames
            As for :meth:`apply`.  A 3-D array is T grey frames.
        learning_rate : float
            As for :meth:`apply`, for every frame.
        known_foreground : ndarray (T, H, W) of bool or int, optional
            Per frame, pixels known to be foreground: classified, but not learnt.
        out : ndarray (T, H, W) uint8, C-contiguous, optional
            Where to write the masks.

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
        masks = out if out is not None else aligned_empty((t, h, w), np.uint8)
        if lr >= 1.0:
            # every frame restarts the model: nothing to gain from batching
            for i in range(t):
                masks[i] = self.apply(x[i], lr, None if kf is None else kf[i])
            return masks
        first = self._prepare(x[0], lr, p)
        nt = self._threads(h * w, "apply_many", p)
        for s in range(0, t, _BATCH):
            e = min(s + _BATCH, t)
            chunk = x[s:e] if isinstance(x, np.ndarray) else np.stack(x[s:e])
            chunk = _to_model_dtype(chunk, first.dtype)
            self._run(chunk, None if kf is None else kf[s:e], masks[s:e], self._schedule(e - s, lr, p), nt, p)
        return masks

    def _threads(self, n_pixels: int, caller: str, p: _KNNParams) -> int:
        """Threads for the next call (see :func:`_tuned_threads`)."""
        return _tuned_threads(self, p.n_threads, n_pixels, caller)

    def _run(self, x: np.ndarray, kf: np.ndarray | None, masks: np.ndarray, schedule: np.ndarray,
             n_threads: int, p: _KNNParams) -> None:
        st = self.state_
        self.n_threads_ = n_threads
        _k.apply(x, kf, st["samples"], st["pos"], st["slots"], masks, schedule,
                 p.dist2_threshold, p.knn_samples, p.detect_shadows, p.shadow_value,
                 p.shadow_threshold, n_threads)
        self.n_frames_ += int(np.count_nonzero(schedule[:, 0]))

    @exclusive
    def background_image(self) -> np.ndarray:
        """The background: per pixel its first confirmed sample (short-term set first).

        Returns (H, W) for grey models, (H, W, C) otherwise; uint8 (float models rounded
        and clipped to 0-255).  Raises :class:`~gmmfast.NotFittedError` before the first
        frame.
        """
        self._check_fitted("state_", "apply")
        p = self._params()
        st = self.state_
        img = _k.background(st["samples"], int(st["channels"]), _threads_for(p.n_threads, st["pos"][0].size))
        if img.dtype != np.uint8:
            img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        return img[:, :, 0] if img.shape[2] == 1 else img

    # ----------------------------------------------------------------- persistence
    def _restore_fitted_state(self, state: dict[str, Any]) -> None:
        """Check a loaded model state against the parameters and copy it into the padded
        layout (the seed comes with it, so the model goes on with the same draws)."""
        p = self._params()
        self.reset()
        model = state.pop("state_", None)
        self.__dict__.update(state)
        if model is not None:
            self.state_ = _checked_state(model, p.n_samples)
            if not isinstance(getattr(self, "seed_", None), int):
                raise ValueError("the model file holds a model state without its seed.")
        else:
            self.n_frames_ = 0
            self.__dict__.pop("seed_", None)


def _to_model_dtype(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Frames ``x`` in the model's sample dtype: uint8 frames for a float model are exact;
    float frames for a uint8 model must hold whole numbers in 0-255."""
    if x.dtype == dtype:
        return x
    if dtype == np.float32:
        return x.astype(np.float32)
    if float(x.min()) >= 0 and float(x.max()) <= 255 and np.array_equal(x, np.rint(x)):
        return x.astype(np.uint8)
    raise ValueError(
        "float frame for a model of uint8 samples (its first frame was uint8), with values "
        "that are not whole numbers in 0-255; pass uint8 frames, or call reset() to start a "
        "model of float samples.")


def _checked_state(state: Any, n_samples: int) -> dict:
    """A loaded KNN state, checked and copied into the padded layout."""
    try:
        samples, pos, slots = state["samples"], state["pos"], state["slots"]
        counters, channels = state["counters"], int(state["channels"])
        if not all(isinstance(a, np.ndarray) for a in (samples, pos, slots, counters)):
            raise TypeError
    except (KeyError, TypeError, ValueError):
        raise ValueError("the model file holds an incomplete model state.") from None
    s = 3 * n_samples
    ok = (1 <= channels <= MAX_CHANNELS and samples.ndim == 4 and samples.dtype in (np.uint8, np.float32)
          and samples.shape[0] == s and samples.shape[3] == _k.record_size(channels)
          and pos.dtype == np.uint8 and slots.dtype == np.uint16 and counters.dtype == np.int64
          and counters.shape in ((6,), (9,)) and pos.shape == (3,) + samples.shape[1:3]
          and slots.shape == pos.shape and int(pos.max(initial=0)) < n_samples
          and int(counters.min()) >= 0)
    if ok:
        flags = samples[..., -1]
        ok = bool(np.all((flags == 0) | (flags == 1))) and all_finite(samples)
    if not ok:
        raise ValueError("the model file holds an inconsistent model state.")
    # a file from before the periods' lengths were kept holds 6 counters: with length 0 each set begins
    # a new period at its next frame
    counters = np.concatenate([counters, np.zeros(9 - len(counters), np.int64)])
    out = {"samples": _planes(s, samples.shape[1:], samples.dtype), "pos": _planes(3, pos.shape[1:], np.uint8),
           "slots": _planes(3, pos.shape[1:], np.uint16), "counters": counters,
           "channels": np.array(channels, np.int64)}
    for key in ("samples", "pos", "slots"):
        out[key][...] = state[key]
    return out
