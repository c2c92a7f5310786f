"""OpenCV's background-subtractor objects over gmmfast's models (``gmmfast.compat``).

``cv2.createBackgroundSubtractorMOG2`` and ``...KNN`` return objects whose
``apply(image, fgmask=None, learningRate=-1)`` takes the output mask second
and the rate third, with ``getX`` / ``setX`` accessors for the parameters.
gmmfast's own classes take the rate second (``apply(frame, learning_rate)``)
and plain attributes, so a port that kept ``apply(frame, 0.01)`` -- whose 0.01
OpenCV takes as the output array and ignores -- would change its masks
without a word.  These wrappers keep OpenCV's calls; the masks are the
wrapped model's (``BackgroundSubtractorMOG2``, ``BackgroundSubtractorKNN``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ._background import BackgroundSubtractorMOG2
from ._knn import BackgroundSubtractorKNN

#: OpenCV's accessor names (without get/set) -> the gmmfast parameter
_MOG2_PARAMS = {"History": "history", "VarThreshold": "var_threshold", "DetectShadows": "detect_shadows",
                "NMixtures": "n_components", "BackgroundRatio": "background_ratio",
                "VarThresholdGen": "var_threshold_gen", "VarInit": "var_init", "VarMin": "var_min",
                "VarMax": "var_max", "ComplexityReductionThreshold": "complexity_reduction",
                "ShadowValue": "shadow_value", "ShadowThreshold": "shadow_threshold"}
_KNN_PARAMS = {"History": "history", "Dist2Threshold": "dist2_threshold", "DetectShadows": "detect_shadows",
               "kNNSamples": "knn_samples", "NSamples": "n_samples", "ShadowValue": "shadow_value",
               "ShadowThreshold": "shadow_threshold"}


class _OpenCVSubtractor:
    """The calls of OpenCV's BackgroundSubtractor over a gmmfast model (``model``)."""

    _params: dict[str, str] = {}

    def __init__(self, model: Any) -> None:
        self.model = model

    def apply(self, image: np.ndarray, fgmask: np.ndarray | None = None, learningRate: float = -1) -> np.ndarray:
        """The foreground mask of ``image`` (255 foreground, the shadow value, 0), learnt at
        ``learningRate`` (negative: automatic); written into ``fgmask`` too when it is a uint8
        array of the image's height and width, as OpenCV writes its output array."""
        if fgmask is not None and not isinstance(fgmask, np.ndarray):
            raise TypeError(f"fgmask is OpenCV's output array (a uint8 array or None), got {type(fgmask).__name__}: "
                            "give the learning rate as learningRate=, the third argument.")
        mask = self.model.apply(image, learningRate)
        if fgmask is not None and fgmask.shape == mask.shape and fgmask.dtype == np.uint8 \
                and fgmask.flags.writeable:
            fgmask[...] = mask
            return fgmask
        return mask

    def getBackgroundImage(self, backgroundImage: np.ndarray | None = None) -> np.ndarray:
        """The background image (uint8, the frames' channels)."""
        image = self.model.background_image()
        if backgroundImage is not None and isinstance(backgroundImage, np.ndarray) \
                and backgroundImage.shape == image.shape and backgroundImage.dtype == image.dtype:
            backgroundImage[...] = image
            return backgroundImage
        return image

    def clear(self) -> None:
        """Forget the model (OpenCV's ``Algorithm.clear``)."""
        self.model.reset()

    if TYPE_CHECKING:    # the getX / setX accessors are made below, per class
        def __getattr__(self, name: str) -> Any: ...

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # getX / setX for every parameter, as OpenCV names them
        super().__init_subclass__(**kwargs)
        for cv_name, name in cls._params.items():
            setattr(cls, "get" + cv_name, _getter(cv_name, name))
            setattr(cls, "set" + cv_name, _setter(cv_name, name))


def _getter(cv_name: str, name: str) -> Callable[[Any], Any]:
    # one argument exactly (a lambda with a name= default took a second one: getHistory('shadow_value')
    # read another parameter, setHistory(200, 'var_threshold') set one)
    def get(self: Any) -> Any:
        return getattr(self.model, name)
    get.__name__ = get.__qualname__ = "get" + cv_name
    get.__doc__ = f"OpenCV's ``get{cv_name}()``: the model's ``{name}``."
    return get


def _setter(cv_name: str, name: str) -> Callable[[Any, Any], None]:
    def set_(self: Any, value: Any) -> None:
        setattr(self.model, name, value)
    set_.__name__ = set_.__qualname__ = "set" + cv_name
    set_.__doc__ = (f"OpenCV's ``set{cv_name}(value)``: sets the model's ``{name}`` (checked when the model "
                    "next learns a frame, as set_params).")
    return set_


class BackgroundSubtractorMOG2Compat(_OpenCVSubtractor):
    """What :func:`createBackgroundSubtractorMOG2` returns: OpenCV's calls over
    :class:`gmmfast.BackgroundSubtractorMOG2` (its ``model``)."""

    _params = _MOG2_PARAMS


class BackgroundSubtractorKNNCompat(_OpenCVSubtractor):
    """What :func:`createBackgroundSubtractorKNN` returns: OpenCV's calls over
    :class:`gmmfast.BackgroundSubtractorKNN` (its ``model``)."""

    _params = _KNN_PARAMS


def createBackgroundSubtractorMOG2(history: int = 500, varThreshold: float = 16, detectShadows: bool = True,
                                   ) -> BackgroundSubtractorMOG2Compat:
    """``cv2.createBackgroundSubtractorMOG2`` (same arguments and defaults).

    The arguments are checked at the first ``apply``, not here.

    Parameters
    ----------
    history : int, default 500
        Frames of memory (>= 1): the model's ``history``.
    varThreshold : float, default 16
        Squared Mahalanobis distance (> 0) below which a pixel matches a
        background mode: the model's ``var_threshold``.
    detectShadows : bool, default True
        Mark shadows with the shadow value (127) instead of 255: the model's
        ``detect_shadows``.

    Returns
    -------
    BackgroundSubtractorMOG2Compat
        OpenCV's calls over a :class:`gmmfast.BackgroundSubtractorMOG2` (its
        ``model``), whose other parameters keep their defaults.
    """
    return BackgroundSubtractorMOG2Compat(BackgroundSubtractorMOG2(
        history=history, var_threshold=varThreshold, detect_shadows=detectShadows))


def createBackgroundSubtractorKNN(history: int = 500, dist2Threshold: float = 400.0, detectShadows: bool = True,
                                  ) -> BackgroundSubtractorKNNCompat:
    """``cv2.createBackgroundSubtractorKNN`` (same arguments and defaults).

    The arguments are checked at the first ``apply``, not here.

    Parameters
    ----------
    history : int, default 500
        Frames of memory (>= 1): the model's ``history``.
    dist2Threshold : float, default 400.0
        Squared distance (> 0, summed over channels) within which a sample
        counts as a neighbour: the model's ``dist2_threshold``.
    detectShadows : bool, default True
        Mark shadows with the shadow value (127) instead of 255: the model's
        ``detect_shadows``.

    Returns
    -------
    BackgroundSubtractorKNNCompat
        OpenCV's calls over a :class:`gmmfast.BackgroundSubtractorKNN` (its
        ``model``), whose other parameters keep their defaults.
    """
    return BackgroundSubtractorKNNCompat(BackgroundSubtractorKNN(
        history=history, dist2_threshold=dist2Threshold, detect_shadows=detectShadows))
