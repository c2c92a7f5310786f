"""Built-in sample data, made by the project (no third-party files).

Samples are generated deterministically on demand, so nothing large ships
with the package.
"""

from ._image import SAMPLE_IMAGE_REGIONS, SampleImage, sample_image
from ._mixture import sample_mixture
from ._video import sample_clip

__all__ = ["sample_mixture", "sample_clip", "sample_image", "SampleImage", "SAMPLE_IMAGE_REGIONS"]
