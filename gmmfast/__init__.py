"""gmmfast: fast Gaussian-mixture image work.

Gaussian mixtures fitted by EM with Cython/OpenMP kernels
(:class:`GaussianMixture`, scikit-learn compatible), and on top of them image
segmentation (:func:`segment`), GrabCut (:func:`grabcut`) and background
subtraction (:class:`BackgroundSubtractor`, :class:`PixelGMM`).

Every capability is one name at the top level; the public submodules are
``data``, ``io``, ``video``, ``maxflow``, ``compat``, ``plotting`` and
``exceptions``, and ``web`` (the web app; it needs the ``web`` extra, so
``from gmmfast import *`` leaves it out).  Names are imported on first use
(``import gmmfast`` only picks the kernel variant), so a script that segments
images does not pay for loading the video code, nor scikit-learn (which the
estimators' base class uses when it is installed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from ._config import config as config, show_config as show_config
from .exceptions import ConvergenceWarning as ConvergenceWarning, DegenerateDataWarning as DegenerateDataWarning
from .exceptions import InvalidParameterError as InvalidParameterError, NotFittedError as NotFittedError

# public name -> private module that defines it
_LAZY = {
    "GaussianMixture": "_mixture",
    "EMStatistics": "_statistics",
    "kmeans": "_kmeans",
    "kmeans_plusplus": "_kmeans",
    "KMeansResult": "_kmeans",
    "segment": "_segmentation",
    "Segmentation": "_segmentation",
    "segment_many": "_batch",
    "JobResult": "_batch",
    "grabcut": "_grabcut",
    "GrabCut": "_grabcut",
    "GrabCutResult": "_grabcut",
    "ColourModel": "_grabcut",
    "BackgroundSubtractor": "_background",
    "BackgroundSubtractorMOG2": "_background",
    "BackgroundSubtractorKNN": "_knn",
    "PixelGMM": "_batch_background",
    "PixelGMMPrediction": "_batch_background",
    "mean_background": "_batch_background",
    "median_background": "_batch_background",
    "kmeans_background": "_batch_background",
    "subtract": "_batch_background",
}
_SUBMODULES = ("data", "io", "video", "maxflow", "compat", "plotting", "exceptions")

__all__ = sorted([*_LAZY, *_SUBMODULES, "ConvergenceWarning", "DegenerateDataWarning",
                  "InvalidParameterError", "NotFittedError", "config", "show_config", "__version__"])


if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs ("X as X": exported)
    from . import compat as compat, data as data, io as io, maxflow as maxflow, plotting as plotting
    from . import video as video, web as web
    from ._background import BackgroundSubtractor as BackgroundSubtractor
    from ._background import BackgroundSubtractorMOG2 as BackgroundSubtractorMOG2
    from ._batch import JobResult as JobResult, segment_many as segment_many
    from ._batch_background import PixelGMM as PixelGMM, PixelGMMPrediction as PixelGMMPrediction
    from ._batch_background import kmeans_background as kmeans_background, mean_background as mean_background
    from ._batch_background import median_background as median_background, subtract as subtract
    from ._grabcut import ColourModel as ColourModel, GrabCut as GrabCut, GrabCutResult as GrabCutResult
    from ._grabcut import grabcut as grabcut
    from ._kmeans import KMeansResult as KMeansResult, kmeans as kmeans, kmeans_plusplus as kmeans_plusplus
    from ._knn import BackgroundSubtractorKNN as BackgroundSubtractorKNN
    from ._mixture import GaussianMixture as GaussianMixture
    from ._segmentation import Segmentation as Segmentation, segment as segment
    from ._statistics import EMStatistics as EMStatistics
else:  # at run time the names are imported on first use (a type checker reads the imports above,
    # and would take any misspelt name as Any from a module __getattr__ it could see)
    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        elif name in _SUBMODULES or name == "web":
            value = importlib.import_module(f".{name}", __name__)
        else:
            raise AttributeError(f"module 'gmmfast' has no attribute {name!r}")
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        # the public names (not the helpers this file imports: Any, importlib, annotations...)
        return sorted({*__all__, "web"} | {n for n in globals() if n.startswith("__")})
