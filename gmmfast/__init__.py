"""gmmfast: fast Gaussian-mixture image work."""
__version__ = "0.1.0"

from . import maxflow  # noqa: E402,F401
