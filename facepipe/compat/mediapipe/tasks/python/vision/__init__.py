"""mediapipe.tasks.python.vision (also `mp.tasks.vision` and `mediapipe.tasks.vision`)."""

from facepipe.compat.mediapipe.tasks.python.vision import (  # noqa: F401
    face_detector,
    face_landmarker,
    hand_landmarker,
    pose_landmarker,
)
from facepipe.compat.mediapipe.tasks.python.vision.core.vision_task_running_mode import (
    VisionTaskRunningMode as RunningMode,
)
from facepipe.compat.mediapipe.tasks.python.vision.face_detector import (
    FaceDetector,
    FaceDetectorOptions,
    FaceDetectorResult,
)
from facepipe.compat.mediapipe.tasks.python.vision.face_landmarker import (
    FaceLandmarker,
    FaceLandmarkerOptions,
    FaceLandmarkerResult,
)
from facepipe.compat.mediapipe.tasks.python.vision.hand_landmarker import (
    HandLandmarker,
    HandLandmarkerOptions,
    HandLandmarkerResult,
)
from facepipe.compat.mediapipe.tasks.python.vision.pose_landmarker import (
    PoseLandmarker,
    PoseLandmarkerOptions,
    PoseLandmarkerResult,
)

__all__ = ["RunningMode", "FaceDetector", "FaceDetectorOptions", "FaceDetectorResult", "FaceLandmarker",
           "FaceLandmarkerOptions", "FaceLandmarkerResult", "HandLandmarker", "HandLandmarkerOptions",
           "HandLandmarkerResult", "PoseLandmarker", "PoseLandmarkerOptions", "PoseLandmarkerResult"]


def __getattr__(name: str):
    from facepipe.compat.mediapipe.python.solutions._common import unimplemented

    raise unimplemented(__name__, name, "facepipe.compat's Tasks API has FaceDetector, FaceLandmarker, "
                                        "HandLandmarker and PoseLandmarker; facepipe.SelfieSegmentation replaces "
                                        "ImageSegmenter for people.")
