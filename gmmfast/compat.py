"""Drop-in replacements for OpenCV calls.

``grabCut`` has the call signature and in-place behaviour of ``cv2.grabCut``
(BGR images as OpenCV takes them, 1 x 65 float64 colour models in OpenCV's
layout), so code written for OpenCV runs unchanged::

    from gmmfast.compat import grabCut, GC_INIT_WITH_RECT
    grabCut(img, mask, rect, bgdModel, fgdModel, 5, GC_INIT_WITH_RECT)

The cut is :func:`gmmfast.grabcut`'s with its defaults (the same mask for
the same box): it works on the box's window (``margin=0.1``), so the
background model learns the object's surroundings, not the whole picture,
and the colour models written back are learnt there.  Pixels outside the
window are definite background in every mode, as they are for OpenCV after a
box.  On the 30 images of the MSR GrabCut benchmark this gives mean IoU 0.851
against ``cv2.grabCut``'s 0.821 (``bench/RESULTS.md``, GrabCut).

Where OpenCV aborts (a box covering the whole image or nothing, a mask
without a background or foreground sample, a singular colour covariance, a
mask or model it could not write in place) this raises a ``ValueError`` or
``TypeError`` that says what to change, or (for the covariance) simply works.

``createBackgroundSubtractorMOG2`` and ``createBackgroundSubtractorKNN``
return objects with OpenCV's ``apply(image, fgmask=None, learningRate=-1)``,
``getBackgroundImage()``, ``clear()`` and ``getX`` / ``setX`` accessors, over
:class:`gmmfast.BackgroundSubtractorMOG2` and
:class:`gmmfast.BackgroundSubtractorKNN` (their ``model``)::

    from gmmfast.compat import createBackgroundSubtractorMOG2
    mog = createBackgroundSubtractorMOG2(detectShadows=False)
    mask = mog.apply(frame, learningRate=0.01)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ._compat_background import createBackgroundSubtractorKNN, createBackgroundSubtractorMOG2
from ._grabcut import ColourModel, GrabCut, _check_mask, _rect_mask
from ._validation import check_int

__all__ = [
    "GC_BGD", "GC_FGD", "GC_PR_BGD", "GC_PR_FGD",
    "GC_INIT_WITH_RECT", "GC_INIT_WITH_MASK", "GC_EVAL", "GC_EVAL_FREEZE_MODEL",
    "grabCut", "createBackgroundSubtractorMOG2", "createBackgroundSubtractorKNN",
]

GC_BGD = 0
GC_FGD = 1
GC_PR_BGD = 2
GC_PR_FGD = 3

GC_INIT_WITH_RECT = 0
GC_INIT_WITH_MASK = 1
GC_EVAL = 2
GC_EVAL_FREEZE_MODEL = 3

_N_COMPONENTS = 5
_MODEL_SIZE = 13 * _N_COMPONENTS


def _writable_model(model) -> bool:
    return (isinstance(model, np.ndarray) and model.dtype == np.float64 and model.size == _MODEL_SIZE
            and model.flags.writeable and model.flags.c_contiguous)


def _check_in_place(mask, bgdModel, fgdModel, mode: int, shape: tuple[int, int]) -> None:
    """Refuse, as OpenCV does, arrays the call could not update in place: a caller who reads
    ``mask`` after the call (as OpenCV's examples do) would otherwise read its own input back.
    In GC_INIT_WITH_RECT the mask is an output only: one of another dtype is replaced (a new
    array returned), as OpenCV does."""
    if mask is not None and not isinstance(mask, np.ndarray):
        raise TypeError(f"mask must be a NumPy array (or None with GC_INIT_WITH_RECT), got {type(mask).__name__}: "
                        "grabCut writes its result into it, as cv2.grabCut does.")
    if isinstance(mask, np.ndarray) and mask.size:
        if not mask.flags.writeable:
            raise ValueError("mask is read-only: grabCut writes its result into it, as cv2.grabCut does; "
                             "pass a writable array (mask.copy()).")
        if mode != GC_INIT_WITH_RECT and mask.shape != shape:
            raise ValueError(f"mask must have the image's size, {shape[0]} x {shape[1]}, got shape {mask.shape}.")
        if mode != GC_INIT_WITH_RECT and mask.dtype != np.uint8:
            raise TypeError(f"mask must be a uint8 array (OpenCV's CV_8UC1): grabCut reads it and writes its "
                            f"result into it; got {mask.dtype} (mask.astype(np.uint8)).")
    for model, name in ((bgdModel, "bgdModel"), (fgdModel, "fgdModel")):
        if isinstance(model, np.ndarray) and model.size and not model.flags.writeable:
            raise ValueError(f"{name} is read-only: grabCut writes the learnt model into it, as cv2.grabCut does; "
                             f"pass a writable array ({name}.copy()).")


def _store_model(target, model: ColourModel) -> np.ndarray:
    """Write ``model`` into ``target`` in place when it can hold it, else return a new 1 x 65 array."""
    values = model.to_opencv()
    if _writable_model(target):
        target.reshape(-1)[:] = values.ravel()
        return target
    return values


def _check_model_argument(model, name: str) -> None:
    """As OpenCV: an empty (or None) model is created; any other must be 1 x 65 float64."""
    if model is None:
        return
    if not isinstance(model, np.ndarray):    # (cv2.grabCut refuses a list: "not a numpy array")
        raise TypeError(f"{name} must be a NumPy array (np.zeros((1, {_MODEL_SIZE})) to start), got "
                        f"{type(model).__name__}: grabCut writes the learnt model into it.")
    a = model
    if a.size == 0:
        return
    if a.dtype != np.float64 or a.shape not in ((1, _MODEL_SIZE), (_MODEL_SIZE,)):
        raise ValueError(f"{name} must be a 1 x {_MODEL_SIZE} float64 array (np.zeros((1, {_MODEL_SIZE})) to "
                         f"start), or empty, got {a.dtype} of shape {a.shape}.")


def _blank(model) -> bool:
    """An absent, empty or all-zero model: nothing has been learnt into it."""
    return model is None or (isinstance(model, np.ndarray) and (model.size == 0 or not model.any()))


def _read_model(model, name: str) -> ColourModel:
    a = np.asarray(model)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a float64 array of {_MODEL_SIZE} numbers, got dtype {a.dtype}.")
    if a.size != _MODEL_SIZE:
        raise ValueError(f"{name} must hold {_MODEL_SIZE} numbers (1 x {_MODEL_SIZE}), got shape {a.shape}.")
    return ColourModel.from_opencv(a)


def _opencv_clipped(rect, shape: tuple[int, int]):
    """The box OpenCV uses for ``rect``: a negative x (y) moves to 0 and the width (height)
    is then cut at the image's edge -- it is not shortened by the part left of the image, as
    gmmfast.grabcut's clipping does (x, y = -10, -10 with width 150: OpenCV's box spans
    0..150, grabcut's 0..140)."""
    if isinstance(rect, (tuple, list, np.ndarray)) and len(rect) == 4 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in rect):
        x, y, w, h = (int(v) for v in rect)
        x, y = max(0, x), max(0, y)
        return x, y, min(w, shape[1] - x), min(h, shape[0] - y)
    return rect                   # anything else: grabcut's own checks say what is wrong


def grabCut(img: np.ndarray, mask: np.ndarray | None, rect: Sequence[int] | None, bgdModel: np.ndarray | None,
            fgdModel: np.ndarray | None, iterCount: int,
            mode: int = GC_EVAL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GrabCut with ``cv2.grabCut``'s signature and in-place behaviour.

    Parameters
    ----------
    img : (H, W, 3) uint8 image in OpenCV's BGR order
    mask : (H, W) uint8 with GC_BGD/GC_FGD/GC_PR_BGD/GC_PR_FGD; written in place
        (in GC_INIT_WITH_RECT mode it is an output only)
    rect : (x, y, width, height), used by GC_INIT_WITH_RECT only
    bgdModel, fgdModel : 1 x 65 float64 colour models; written in place by every
        mode except GC_EVAL_FREEZE_MODEL (read in the EVAL modes)
    iterCount : number of iterations
    mode : GC_INIT_WITH_RECT (0), GC_INIT_WITH_MASK (1), GC_EVAL (2) or
        GC_EVAL_FREEZE_MODEL (3); default GC_EVAL as in OpenCV

    Returns
    -------
    (mask, bgdModel, fgdModel), the same objects that were passed in when
    they could be updated in place, as OpenCV returns them.
    """
    if isinstance(mode, bool) or not isinstance(mode, (int, np.integer)) or mode not in (0, 1, 2, 3):
        raise ValueError(f"mode must be GC_INIT_WITH_RECT (0), GC_INIT_WITH_MASK (1), GC_EVAL (2) "
                         f"or GC_EVAL_FREEZE_MODEL (3), got {mode!r}.")
    iterCount = check_int(iterCount, "iterCount")
    img_arr = np.asarray(img)
    if img_arr.dtype != np.uint8 or img_arr.ndim != 3 or img_arr.shape[2] != 3:
        raise ValueError(f"img must be an 8-bit 3-channel image (H, W, 3) uint8, got "
                         f"{img_arr.dtype} {img_arr.shape}.")
    # the default GrabCut's window (margin 0.1 around the pixels that are not definite background):
    # the labels outside it are BGD in every mode, so only what the colour models learn changes
    gc = GrabCut(n_components=_N_COMPONENTS)._window_for(img_arr)
    shape = img_arr.shape[:2]

    _check_model_argument(bgdModel, "bgdModel")
    _check_model_argument(fgdModel, "fgdModel")
    _check_in_place(mask, bgdModel, fgdModel, mode, shape)
    if mode == GC_INIT_WITH_RECT:
        if rect is None:
            raise ValueError("GC_INIT_WITH_RECT needs rect=(x, y, width, height).")
        gc.start(_rect_mask(_opencv_clipped(rect, shape), shape))
    elif mode == GC_INIT_WITH_MASK:
        gc.start(_check_mask(mask, shape))
    else:
        m = _check_mask(mask, shape)
        if not (m & 1).any() or (m & 1).all():
            raise ValueError("the mask needs both a (probable) background and a (probable) foreground pixel.")
        blank = [name for model, name in ((bgdModel, "bgdModel"), (fgdModel, "fgdModel")) if _blank(model)]
        if blank and mode == GC_EVAL:
            # nothing learnt yet: OpenCV's first iteration learns both models from the mask (its result
            # is within IoU 0.98 of GC_INIT_WITH_MASK's on llama), and so do these
            gc.start(m)
        elif blank:
            raise ValueError(f"GC_EVAL_FREEZE_MODEL labels the image with the colour models of an earlier call, "
                             f"and {blank[0]} is empty (or all zeros): run GC_INIT_WITH_RECT, GC_INIT_WITH_MASK "
                             "or GC_EVAL first.")
        else:
            gc.start(m, (_read_model(bgdModel, "bgdModel"), _read_model(fgdModel, "fgdModel")))
        if iterCount <= 0:
            return mask, bgdModel, fgdModel

    if mode == GC_EVAL_FREEZE_MODEL:
        gc.evaluate()
    elif iterCount > 0:
        gc.iterate(iterCount)

    out = gc.mask
    if (isinstance(mask, np.ndarray) and mask.dtype == np.uint8 and mask.shape == shape
            and mask.flags.writeable):
        mask[...] = out
        out = mask
    if mode != GC_EVAL_FREEZE_MODEL:
        bgdModel = _store_model(bgdModel, gc.background_model_)
        fgdModel = _store_model(fgdModel, gc.foreground_model_)
    return out, bgdModel, fgdModel
