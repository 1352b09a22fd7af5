"""mp.solutions.holistic on facepipe.Holistic (same models, same numbers)."""

from __future__ import annotations

from facepipe.compat.mediapipe.python.solutions._common import (
    SolutionOutputs,
    normalized_list,
    unimplemented,
)
from facepipe.compat.mediapipe.python.solutions._solution import Solution
from facepipe.compat.mediapipe.python.solutions.face_mesh_connections import (  # noqa: F401
    FACEMESH_CONTOURS,
    FACEMESH_TESSELATION,
)
from facepipe.compat.mediapipe.python.solutions.hands import HandLandmark  # noqa: F401
from facepipe.compat.mediapipe.python.solutions.hands_connections import HAND_CONNECTIONS  # noqa: F401
from facepipe.compat.mediapipe.python.solutions.pose import PoseLandmark, pose_outputs  # noqa: F401
from facepipe.compat.mediapipe.python.solutions.pose_connections import POSE_CONNECTIONS  # noqa: F401


class Holistic(Solution):
    def __init__(self, static_image_mode: bool = False, model_complexity: int = 1, smooth_landmarks: bool = True,
                 enable_segmentation: bool = False, smooth_segmentation: bool = True,
                 refine_face_landmarks: bool = False, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5) -> None:
        from facepipe import Holistic as _Holistic
        from facepipe import HolisticOptions

        self._segmentation = bool(enable_segmentation)
        self._impl = _Holistic(HolisticOptions(
            static_image_mode=bool(static_image_mode), model_complexity=model_complexity,
            smooth_landmarks=bool(smooth_landmarks), enable_segmentation=bool(enable_segmentation),
            smooth_segmentation=bool(smooth_segmentation), refine_face_landmarks=bool(refine_face_landmarks),
            min_detection_confidence=min_detection_confidence, min_tracking_confidence=min_tracking_confidence))

    def _outputs(self, result) -> SolutionOutputs:  # noqa: ANN001
        def part(lm):  # noqa: ANN001, ANN202
            return normalized_list(lm.landmarks[0]) if len(lm) else None

        return SolutionOutputs(
            **pose_outputs(result.pose, self._segmentation),
            face_landmarks=part(result.face),
            left_hand_landmarks=part(result.left_hand),
            right_hand_landmarks=part(result.right_hand),
        )


def __getattr__(name: str):
    raise unimplemented(__name__, name, "facepipe.Holistic is the native equivalent.")
