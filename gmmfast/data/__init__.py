"""Built-in sample data, made by the project (no third-party files).

Samples are generated deterministically on demand, so nothing large ships
with the package.
"""

from ._mixture import sample_mixture
from ._video import sample_clip

__all__ = ["sample_mixture", "sample_clip"]
