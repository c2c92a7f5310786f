"""gmmfast: fast Gaussian-mixture image work."""
__version__ = "0.1.0"
from .background import BackgroundSubtractor, BackgroundSubtractorMOG2  # noqa: E402
from .batch_background import PixelGMM, kmeans_background, mean_background, median_background, subtract  # noqa: E402
