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
from . import data
from . import maxflow  # noqa: E402,F401

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
]
