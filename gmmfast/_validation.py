"""Input and parameter checks shared by every public entry point.

Each check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right
kind, unusable value) with a message that names the parameter and says what
to pass instead, and returns the value in the form the caller computes with.
Estimators call these when they are first used (``fit``, ``apply``), never in
``__init__``.
"""

from __future__ import annotations

import numbers
import os
import sys
from typing import IO, Any, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike

from ._finite import all_finite
from .exceptions import InvalidParameterError

__all__ = [
    "ImageLike",
    "RandomStateLike",
    "SamplesLike",
    "check_bool",
    "check_choice",
    "check_connectivity",
    "check_feature_names",
    "check_frame",
    "check_frames",
    "check_image",
    "check_int",
    "check_lazy_samples",
    "check_n_threads",
    "check_numeric_array",
    "check_random_state",
    "check_real",
    "check_samples",
]

ImageLike = Union[np.ndarray, str, os.PathLike[str], IO[bytes]]
#: Samples an estimator fits: an array of shape (n_samples, n_features) or anything np.asarray takes
#: (a Dask array too), or the path of an .npy file (opened as a memmap).
SamplesLike = Union[ArrayLike, str, os.PathLike[str]]
#: scikit-learn's random_state: None (NumPy's global state), a seed, a RandomState or a Generator.
RandomStateLike = Union[int, np.random.RandomState, np.random.Generator, None]

#: Channels a frame or image may have (grey, grey + alpha, RGB, RGBA).
MAX_CHANNELS = 4


# --------------------------------------------------------------------------- scalars


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in [low, high] (either bound may be None)."""
    if not _is_int(value):
        raise InvalidParameterError(f"{name} must be an integer, got {value!r}.")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise InvalidParameterError(f"{name} must be {_range_text(low, high, False)}, got {value}.")
    return value


def check_real(value: Any, name: str, *, low: float | None = None, high: float | None = None,
               low_open: bool = False) -> float:
    """``value`` as a finite float in [low, high] (``(low, high]`` with ``low_open``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}.")
    value = float(value)
    if not np.isfinite(value):
        raise InvalidParameterError(f"{name} must be finite, got {value!r}.")
    if (low is not None and (value <= low if low_open else value < low)) or (high is not None and value > high):
        raise InvalidParameterError(f"{name} must be {_range_text(low, high, low_open)}, got {value!r}.")
    return value


def _range_text(low, high, low_open: bool) -> str:
    if low is not None and high is not None and not low_open:
        return f"between {low} and {high}"
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"<= {high}")
    return " and ".join(parts)


def check_bool(value: Any, name: str) -> bool:
    """``value`` as a bool; only True and False (Python's or NumPy's) are accepted."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise InvalidParameterError(f"{name} must be one of {listed}; got {value!r}.")
    return value


#: Most threads a call may ask for: OpenMP starts every one asked for, and GNU OpenMP ends the
#: process when it cannot (32,768 here) or a kernel crashes on the way (100,000).
MAX_THREADS = 4096


def check_n_threads(n_threads: Any) -> int | None:
    """Validate a user's ``n_threads``: None (all usable cores), -1 (the same) or an int in
    1..MAX_THREADS.

    Returns it unchanged; :func:`gmmfast._threads.effective_n_threads` resolves
    it when a kernel runs.
    """
    if n_threads is None:
        return None
    if not _is_int(n_threads):
        raise InvalidParameterError(f"n_threads must be None or a positive integer, got {n_threads!r}.")
    if (n_threads < 1 and n_threads != -1) or n_threads > MAX_THREADS:
        raise InvalidParameterError(f"n_threads must be None, -1 or an integer from 1 to {MAX_THREADS}, got {n_threads}.")
    return int(n_threads)


def check_real_array(value: Any, name: str) -> np.ndarray:
    """A parameter array (``means_init`` ...) as float64 real numbers (NumPy would drop a complex
    part with only a warning, and read numeric strings)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise InvalidParameterError(f"{name} must hold real numbers, got dtype {arr.dtype}.")
    return arr.astype(np.float64)


def check_connectivity(connectivity: Any) -> int:
    """A grid's neighbourhood: 4 or 8 (a float 4.0 or 8.0 too), as an int."""
    if isinstance(connectivity, (bool, np.bool_)) or connectivity not in (4, 8):
        raise InvalidParameterError(f"connectivity must be 4 or 8, got {connectivity!r}.")
    return int(connectivity)


def check_seed(seed: Any, name: str = "random_state") -> int | np.random.Generator | None:
    """A seed for ``numpy.random.default_rng``: None (fresh entropy), an int >= 0, a Generator
    (used as it is), or a RandomState (which draws the seed, so it advances as it would when used)."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.RandomState):
        return int(seed.randint(0, 2**63 - 1, dtype=np.int64))
    return int(check_int(seed, name, low=0))


def check_random_state(seed: RandomStateLike) -> np.random.RandomState:
    """Turn ``random_state`` into a ``numpy.random.RandomState`` (scikit-learn's meaning).

    None gives NumPy's global RandomState, an integer a new seeded one, a
    RandomState is used as is, and a ``numpy.random.Generator`` drives a
    RandomState through its bit generator, so both seeding styles work.
    """
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if _is_int(seed):
        if not 0 <= int(seed) < 2**32:
            raise InvalidParameterError(f"random_state must be in [0, 2**32), got {seed}.")
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.RandomState(seed.bit_generator)
    raise InvalidParameterError(
        f"random_state must be None, an integer, a numpy RandomState or Generator; got {seed!r}.")


# --------------------------------------------------------------------------- kernel arrays


def kernel_array(a: Any, dtype: Any = None) -> np.ndarray:
    """``a`` as a C-contiguous, aligned array (a copy only when needed) for a kernel.

    The kernels read elements through typed pointers: an unaligned float array
    (``np.frombuffer`` at an odd offset, a block dask.distributed deserialised
    from a message, a memmap at an odd offset) would be undefined behaviour
    there, though NumPy and ``ascontiguousarray`` accept it.
    """
    return np.require(a, dtype=dtype, requirements=("C_CONTIGUOUS", "ALIGNED"))


# --------------------------------------------------------------------------- sample matrices


def check_samples(X: Any, *, name: str = "X", min_samples: int = 1) -> np.ndarray:
    """A 2-D finite C-contiguous float32 or float64 array (other numbers become float64)."""
    if type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(
            f"Sparse data was passed for {name}, but dense data is required. Use '.toarray()' to "
            "convert to a dense numpy array.")
    if hasattr(X, "__array__") or isinstance(X, (list, tuple)):
        X = unmasked(X, name, "rows")
        try:
            arr = np.asarray(X)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} could not be converted to a numeric array: {exc}") from exc
    else:
        raise TypeError(
            f"{name} must be an array-like of shape (n_samples, n_features), got {type(X).__name__}.")
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} is complex; Gaussian mixtures need real numbers.")
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name} must contain numbers, got dtype {arr.dtype}: {exc}") from exc
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    _check_samples_shape(arr.shape, name, min_samples)
    if not all_finite(arr):
        raise ValueError(f"{name} contains NaN or infinity; remove or impute those values first.")
    return kernel_array(arr)


def check_lazy_samples(shape: tuple, dtype: Any, *, name: str = "X", min_samples: int = 1) -> np.dtype:
    """Check samples that are read chunk by chunk (a memmap, a Dask array) without reading them.

    The same shape rules and messages as :func:`check_samples`; returns the
    dtype each chunk is computed in (float32 and float64 as they are, other
    real numbers as float64).  Finiteness is checked per chunk by the caller.
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} is complex; Gaussian mixtures need real numbers.")
    if dtype.kind not in "biuf":
        raise TypeError(f"{name} must contain real numbers, got dtype {dtype}.")
    _check_samples_shape(tuple(shape), name, min_samples)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _check_samples_shape(shape: tuple, name: str, min_samples: int) -> None:
    if len(shape) == 1:
        raise ValueError(
            f"Expected a 2-D {name} (n_samples, n_features), got a 1-D array of length {shape[0]}. "
            "Reshape your data with X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one sample.")
    if len(shape) != 2:
        raise ValueError(
            f"Expected a 2-D {name} (n_samples, n_features), got a {len(shape)}-D array of shape {shape}.")
    if shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={shape}) while a minimum of 1 is required: "
            f"{name} needs at least one column.")
    if shape[0] < min_samples:
        raise ValueError(
            f"Found array with {shape[0]} sample(s) (shape={shape}) while a minimum of "
            f"{min_samples} is required: {name} has {shape[0]} sample(s).")


def check_feature_names(estimator: Any, X: Any, *, reset: bool) -> None:
    """Record (``reset``) or compare the column names of a DataFrame-like ``X``.

    scikit-learn's convention: fitting on a table with string column names sets
    ``feature_names_in_``; later calls must pass the same names in the same
    order (ValueError), and mixing named and unnamed input warns.
    """
    names = _column_names(X)
    if reset:
        if names is None:
            estimator.__dict__.pop("feature_names_in_", None)
        else:
            estimator.feature_names_in_ = names
        return
    fitted = getattr(estimator, "feature_names_in_", None)
    cls = type(estimator).__name__
    if fitted is None and names is None:
        return
    import warnings

    if names is not None and fitted is None:
        warnings.warn(f"X has feature names, but {cls} was fitted without feature names", UserWarning,
                      stacklevel=3)
    elif names is None:
        warnings.warn(f"X does not have valid feature names, but {cls} was fitted with feature names",
                      UserWarning, stacklevel=3)
    elif len(names) != len(fitted) or np.any(names != fitted):
        raise ValueError(
            "The feature names should match those that were passed during fit.\n"
            f"Fitted with: {list(fitted)}\nGiven: {list(names)}")


def _column_names(X: Any) -> np.ndarray | None:
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "shape") or len(getattr(X, "shape", ())) != 2:
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(names) == 0:
        return None
    are_str = [isinstance(n, str) for n in names]
    if all(are_str):
        return names
    if any(are_str):
        raise TypeError(
            "Feature names are only supported if all input features have string names, but your "
            "input has mixed types; convert them all to str, e.g. X.columns = X.columns.astype(str).")
    return None


# --------------------------------------------------------------------------- images and frames


def check_image(image: Any, *, name: str = "image") -> np.ndarray:
    """An image as an H x W or H x W x C array (C = 1..4) of uint8, uint16 or float.

    Paths and binary file objects are read (``gmmfast.io.read_image``).  Bool
    images become 0/255 uint8, other integer images with values in 0..65535
    uint8 or uint16, float16 float32; float values are kept (read as [0, 1]
    by the callers that need a scale) and must be finite.
    """
    if isinstance(image, (str, os.PathLike)) or hasattr(image, "read"):
        from .io import read_image

        image = read_image(image)
    if not isinstance(image, np.ndarray):
        if isinstance(image, (list, tuple)):
            image = np.asarray(image)
        else:
            raise TypeError(f"{name} must be a NumPy array, a path or a file object, got {type(image).__name__}.")
    arr = unmasked(image, name, None)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers (uint8, uint16 or float), got dtype {arr.dtype}.")
    _check_image_shape(arr, name)
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * np.uint8(255)
    if arr.dtype.byteorder not in "=|":      # (byte order decides nothing below: '>u2' is uint16)
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype.kind in "iu" and arr.dtype not in (np.uint8, np.uint16):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 65535:
            raise ValueError(
                f"integer {name} values must lie in 0..65535, got {lo}..{hi}; "
                "rescale to uint8, uint16 or float in [0, 1].")
        return arr.astype(np.uint8 if hi <= 255 else np.uint16)
    if arr.dtype.kind == "f":
        if arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        if not all_finite(arr):
            raise ValueError(f"{name} contains NaN or infinite values; replace them (e.g. np.nan_to_num) first.")
    return arr


def _check_image_shape(arr: np.ndarray, name: str) -> None:
    if arr.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be H x W (grey), H x W x 3 (RGB) or H x W x 4 (RGBA); got {arr.ndim} "
            f"dimensions, shape {arr.shape}.")
    if arr.ndim == 3 and not 1 <= arr.shape[2] <= MAX_CHANNELS:
        raise ValueError(
            f"{name} must have 1 to {MAX_CHANNELS} channels (grey, grey+alpha, RGB, RGBA) in its last axis; "
            f"got shape {arr.shape}.")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}).")


def unmasked(a: Any, name: str, parts: str | None = "frames") -> Any:
    """``a`` itself, or a masked array's data when nothing is masked: masks are read nowhere, and
    NumPy's functions honour them in some places (mean) and not in others (median, a kernel).  The
    refusal suggests leaving out the ``parts`` (frames, rows) that have masked values, if any."""
    if isinstance(a, np.ma.MaskedArray):
        if np.ma.is_masked(a):
            leave_out = f" or leave out the {parts} that have them" if parts else ""
            raise ValueError(f"{name} is a masked array with masked values, and masks are not read here; fill "
                             f"them (np.ma.filled(a, value)){leave_out}.")
        return a.data
    return a


def check_frame(frame: Any, name: str = "frame") -> np.ndarray:
    """A video frame as a C-contiguous (H, W, C) uint8 or float32 array (C = 1..4)."""
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array (H, W) or (H, W, C), got {type(frame).__name__}.")
    frame = unmasked(frame, name)
    if frame.ndim == 2:
        frame = frame[:, :, None]
    elif frame.ndim != 3:
        raise ValueError(f"{name} must have shape (H, W) or (H, W, C), got shape {frame.shape}.")
    if not 1 <= frame.shape[2] <= MAX_CHANNELS:
        raise ValueError(
            f"{name} must have 1 to {MAX_CHANNELS} channels (last axis), got {frame.shape[2]} "
            f"(shape {frame.shape}); pass (H, W) grey or (H, W, 3) colour frames.")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {frame.shape}).")
    if frame.dtype == np.uint8:
        return np.ascontiguousarray(frame)
    if frame.dtype.kind == "f":
        out = kernel_array(frame, np.float32)
        if not all_finite(out):
            raise ValueError(f"{name} contains NaN or infinite values; clean or mask them first.")
        return out
    if frame.dtype.kind == "u" and frame.dtype.itemsize == 2:      # (either byte order)
        how = "frame / 257 (a float array) puts 16-bit values on the 0-255 scale the thresholds assume"
    else:
        how = ("frame.astype(np.float32) keeps the values as they are; the thresholds assume the 0-255 "
               "scale of uint8 video")
    raise TypeError(f"{name} must be uint8 or floating point, got dtype {frame.dtype}; convert it: {how}.")


def check_frame_shape(shape: tuple[int, int, int], built_for: tuple[int, int, int]) -> None:
    """Raise unless a frame of ``shape`` (H, W, C) fits a background model built for ``built_for``."""
    if tuple(shape) != tuple(built_for):
        raise ValueError(f"frame has shape {tuple(shape)} (H, W, C) but the model was built for {tuple(built_for)}; "
                         "call reset() to start a model for the new size.")


def check_unchanged_since_start(name: str, started: Any, now: Any, n_frames: int) -> None:
    """Raise unless parameter ``name`` of a streaming model still has the value it had when the model
    started: its state is laid out for that value, and dropping what it learnt is the caller's
    decision (``reset()``), not a side effect of ``set_params``."""
    if now != started:
        raise ValueError(
            f"{name} changed from {started!r} to {now!r} after the model learnt {n_frames} frame(s); call "
            "reset() to start a model with it (what the model has learnt is dropped), or set it back.")


def check_unchanged_since_fit(name: str, fitted: Any, now: Any, refit: str = "fit it again") -> None:
    """Raise unless parameter ``name`` of a fitted model still has the value it was fitted with: the
    fitted arrays are laid out for that value (a ``set_params`` after the fit was otherwise ignored,
    or failed deep inside)."""
    if now != fitted:
        raise ValueError(f"{name} is {now!r}, but the model was fitted with {fitted!r}: {refit}, "
                         f"or set {name} back.")


def user_stacklevel() -> int:
    """``stacklevel`` for warnings.warn that names the first caller outside gmmfast.

    The same warning is raised from different depths (fit, fit_predict, the
    initialisation; apply through the per-object lock), so a fixed stacklevel
    would point inside the package.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def warn_if_off_scale(frame: np.ndarray, thresholds: str) -> None:
    """Warn when a float frame that starts a background model is not on the 0-255
    scale its ``thresholds`` (named in the message) assume: [0, 1] values make
    almost everything background, values past 255 almost everything foreground."""
    import warnings

    if frame.dtype != np.float32:
        return
    top = float(frame.max())
    if 0.0 < top <= 1.0:
        warnings.warn(
            f"float frame with values in [0, 1]: {thresholds} assume the 0-255 scale of uint8 video, "
            "so almost everything will look like background; pass frame * 255.",
            UserWarning, stacklevel=user_stacklevel())
    elif top > 255.0:
        warnings.warn(
            f"float frame with values up to {top:g}: {thresholds} assume the 0-255 scale of uint8 video, "
            "so almost everything will look like foreground; scale the frames onto 0-255 "
            "(16-bit video: frame / 257).", UserWarning, stacklevel=user_stacklevel())


def check_frames(frames: Any, *, name: str = "frames") -> np.ndarray:
    """A stack of frames as a (T, H, W) or (T, H, W, C) array, from an array or a sequence of frames.

    Frames are not converted (callers pick their compute type); they must hold
    numbers, be finite, and share one shape.
    """
    frames = unmasked(frames, name)
    if isinstance(frames, np.ndarray):
        arr = frames
    else:
        if isinstance(frames, (str, bytes, os.PathLike)):
            raise TypeError(
                f"{name} must be an array or a sequence of frames; to read a video file use "
                "gmmfast.video.read_video(path) first.")
        try:
            items = list(frames)
        except TypeError:
            raise TypeError(f"{name} must be an array or a sequence of frames, got {type(frames).__name__}.") from None
        if not items:
            raise ValueError(f"no {name}: the sequence is empty (no frames).")
        shapes = {np.shape(f) for f in items}
        if len(shapes) > 1:
            raise ValueError(f"all {name} must have the same shape; got shapes {sorted(shapes)}.")
        arr = np.stack([np.asarray(unmasked(f, name)) for f in items])
    if arr.ndim not in (3, 4):
        raise ValueError(
            f"{name} must be a stack of frames, T x H x W (grey) or T x H x W x C (colour); "
            f"got an array of shape {arr.shape}.")
    if arr.shape[0] == 0:
        raise ValueError(f"no {name}: the stack has 0 frames.")
    if arr.shape[1] == 0 or arr.shape[2] == 0:
        raise ValueError(f"{name} are empty (shape {arr.shape}).")
    if arr.ndim == 4 and not 1 <= arr.shape[3] <= MAX_CHANNELS:
        raise ValueError(
            f"{name} have {arr.shape[3]} channels; 1 to {MAX_CHANNELS} are supported (a T x H x W x C stack).")
    warn_if_one_colour_frame(arr, name)
    check_numeric_array(arr, name)
    return arr


def warn_if_one_colour_frame(arr: np.ndarray, name: str) -> None:
    """Warn when a (T, H, W) stack of grey frames looks like one (H, W, 3 or 4) colour frame
    (at least 16 x 16): frames 3 or 4 pixels wide are far likelier to be a frame given where
    a stack belongs."""
    if arr.ndim == 3 and arr.shape[2] in (3, 4) and min(arr.shape[:2]) >= 16:
        import warnings

        warnings.warn(
            f"{name} of shape {arr.shape} are read as {arr.shape[0]} grey frames {arr.shape[2]} pixels wide; if "
            f"this is one colour frame, pass a stack of frames (T, H, W, {arr.shape[2]}), e.g. frame[None].",
            UserWarning, stacklevel=user_stacklevel())


def check_numeric_array(arr: np.ndarray, name: str) -> None:
    """Raise unless ``arr`` holds finite real numbers (bool and complex are refused)."""
    if arr.dtype == np.bool_ or arr.dtype.kind not in "uif":
        raise TypeError(
            f"{name} must hold numbers (uint8 is best; other integer and float types are "
            f"converted to float32), got dtype {arr.dtype}.")
    if arr.dtype.kind == "f" and not all_finite(arr):
        raise ValueError(f"{name} contain NaN or infinite values; replace them first.")


def check_learning_rate(learning_rate: Any) -> float:
    """An online model's learning rate: in [0, 1], or negative for the automatic schedule."""
    lr = check_real(learning_rate, "learning_rate")
    if lr > 1.0:
        raise ValueError(f"learning_rate must be in [0, 1], or negative for automatic, got {lr}.")
    return lr


def check_known_foreground(known_foreground: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """A mask of pixels known to be foreground, of ``shape``, as C-contiguous 0/1 uint8 (or None)."""
    if known_foreground is None:
        return None
    kf = np.asarray(known_foreground)
    if kf.shape != tuple(shape):
        raise ValueError(f"known_foreground must have shape {tuple(shape)}, got {kf.shape}.")
    if kf.dtype == np.bool_:
        return np.ascontiguousarray(kf).view(np.uint8)
    if kf.dtype.kind in "ui":
        return np.ascontiguousarray(kf != 0).view(np.uint8)
    raise TypeError(f"known_foreground must be a boolean or integer mask, got dtype {kf.dtype}.")


def check_out(out: Any, shape: tuple[int, ...], dtype: Any, *, reads: Any = (), layout: str = "",
              reads_name: str = "the input") -> None:
    """``out`` of a call that writes its result into a given array: None, or a writeable C-contiguous
    array of ``shape`` and ``dtype`` that shares no memory with what the call reads (``reads``: arrays,
    lists of arrays, or None; ``reads_name`` names them in the error, ``layout`` the axes of ``shape``)."""
    if out is None:
        return
    dtype = np.dtype(dtype)
    if not isinstance(out, np.ndarray) or out.dtype != dtype:
        raise TypeError(f"out must be a {dtype} NumPy array, got {getattr(out, 'dtype', type(out).__name__)}.")
    if out.shape != tuple(shape) or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out must be a writeable C-contiguous array of shape {layout}{tuple(shape)}, "
                         f"got shape {out.shape}.")
    # the result is written while the input is still being read: written values would be read as input
    arrays = [a for r in reads if r is not None for a in (r if isinstance(r, list) else [r])]
    if any(np.may_share_memory(out, a) for a in arrays):
        raise ValueError(f"out shares memory with {reads_name}; give it a buffer of its own.")


def check_out_masks(out: Any, shape: tuple[int, ...], dtype: Any = np.uint8, reads: Any = ()) -> None:
    """``out`` of a batch of frames' masks (:func:`check_out`): (T, H, W), sharing no memory with the
    frames or known_foreground (``reads``)."""
    check_out(out, shape, dtype, reads=reads, layout="(T, H, W) = ",
              reads_name="the frames or known_foreground")
