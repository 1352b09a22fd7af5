"""Built-in calculators: facepipe's stages as graph nodes.

Importing this package registers them by name (a graph config can then say
`calculator: FaceDetectorCalculator`); the graph registry imports it by itself
the first time a name is not found.

    VideoDecoderCalculator / VideoEncoderCalculator   video files (facepipe.io.video)
    FaceDetectorCalculator                            BlazeFace (facepipe.solutions.face_detection)
    FaceMeshCalculator / FaceLandmarkerCalculator     face landmarks (facepipe.solutions)
    FaceFinderCalculator, FaceTrackerCalculator,
    BackfillCalculator, RedactCalculator              the anonymizer's stages (facepipe.apps.anonymize)
    FlowLimiterCalculator                             (in facepipe.graph)
"""

from facepipe.calculators.anonymize import (
    BackfillCalculator,
    BackfillOptions,
    FaceFinderCalculator,
    FaceTrackerCalculator,
    RedactCalculator,
    anonymize_video_config,
)
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
    "BackfillCalculator",
    "BackfillOptions",
    "FaceDetectorCalculator",
    "FaceFinderCalculator",
    "FaceLandmarkerCalculator",
    "FaceMeshCalculator",
    "FaceTrackerCalculator",
    "RedactCalculator",
    "VideoDecoderCalculator",
    "VideoDecoderOptions",
    "VideoEncoderCalculator",
    "VideoEncoderOptions",
    "VideoSource",
    "anonymize_video_config",
]
