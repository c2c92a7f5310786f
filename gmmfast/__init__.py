"""gmmfast: fast Gaussian-mixture image work.

Gaussian mixtures fitted by EM with Cython/OpenMP kernels
(:class:`GaussianMixture`, scikit-learn compatible), and on top of them image
segmentation, background subtraction and GrabCut.
"""

__version__ = "0.1.0"

from ._config import config, show_config
from ._kmeans import KMeansResult, kmeans, kmeans_plusplus
from .exceptions import ConvergenceWarning, DegenerateDataWarning, NotFittedError
from .mixture import GaussianMixture
from .segmentation import Segmentation, segment
from . import data, maxflow
from .background import BackgroundSubtractor, BackgroundSubtractorMOG2
from .batch_background import PixelGMM, kmeans_background, mean_background, median_background, subtract
from .grabcut import GrabCut, GrabCutResult  # the function is gmmfast.grabcut.grabcut

__all__ = [
    "GaussianMixture",
    "segment",
    "Segmentation",
    "kmeans",
    "kmeans_plusplus",
    "KMeansResult",
    "ConvergenceWarning",
    "DegenerateDataWarning",
    "NotFittedError",
    "show_config",
    "config",
    "data",
    "maxflow",
    "BackgroundSubtractor",
    "BackgroundSubtractorMOG2",
    "PixelGMM",
    "mean_background",
    "median_background",
    "subtract",
    "kmeans_background",
    "GrabCut",
    "GrabCutResult",
]
