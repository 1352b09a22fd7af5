"""Built-in calculators: facepipe's stages as graph nodes.

Importing this package registers them by name (a graph config can then say
`calculator: FaceDetectorCalculator`); the graph registry imports it by itself
the first time a name is not found (it is in the `facepipe.calculators` entry-point
group of pyproject.toml, as each app's calculators module is).

    VideoDecoderCalculator / VideoEncoderCalculator   video files (facepipe.io.video)
    FaceDetectorCalculator                            BlazeFace (facepipe.solutions.face_detection)
    FaceMeshCalculator / FaceLandmarkerCalculator     face landmarks (facepipe.solutions)
    (apps define their own calculators next to them, e.g. facepipe.apps.anonymize.calculators,
    found by name the same way)
    FlowLimiterCalculator                             (in facepipe.graph)
"""

from facepipe.calculators.detection import FaceDetectorCalculator
from facepipe.calculators.landmarks import FaceLandmarkerCalculator, FaceMeshCalculator
from facepipe.calculators.video import (
    VideoDecoderCalculator,
    VideoDecoderOptions,
    VideoEncoderCalculator,
    VideoEncoderOptions,
    VideoSource,
)

__all__ = [
    "FaceDetectorCalculator",
    "FaceLandmarkerCalculator",
    "FaceMeshCalculator",
    "VideoDecoderCalculator",
    "VideoDecoderOptions",
    "VideoEncoderCalculator",
    "VideoEncoderOptions",
    "VideoSource",
]
