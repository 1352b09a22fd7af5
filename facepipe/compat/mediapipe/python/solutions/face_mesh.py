"""mp.solutions.face_mesh on facepipe.FaceMesh (same models, same numbers)."""

from __future__ import annotations

from facepipe.compat.mediapipe.python.solutions._common import SolutionOutputs, normalized_lists, unimplemented
from facepipe.compat.mediapipe.python.solutions._solution import Solution
from facepipe.compat.mediapipe.python.solutions.face_mesh_connections import (  # noqa: F401 - MediaPipe's names
    FACEMESH_CONTOURS,
    FACEMESH_FACE_OVAL,
    FACEMESH_IRISES,
    FACEMESH_LEFT_EYE,
    FACEMESH_LEFT_EYEBROW,
    FACEMESH_LEFT_IRIS,
    FACEMESH_LIPS,
    FACEMESH_NOSE,
    FACEMESH_RIGHT_EYE,
    FACEMESH_RIGHT_EYEBROW,
    FACEMESH_RIGHT_IRIS,
    FACEMESH_TESSELATION,
)

FACEMESH_NUM_LANDMARKS = 468
FACEMESH_NUM_LANDMARKS_WITH_IRISES = 478


class FaceMesh(Solution):
    def __init__(self, static_image_mode: bool = False, max_num_faces: int = 1, refine_landmarks: bool = False,
                 min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        from facepipe import FaceMesh as _FaceMesh
        from facepipe import FaceMeshOptions

        self._impl = _FaceMesh(FaceMeshOptions(
            static_image_mode=bool(static_image_mode), max_num_faces=max_num_faces,
            refine_landmarks=bool(refine_landmarks), min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence))

    def _outputs(self, result) -> SolutionOutputs:  # noqa: ANN001
        return SolutionOutputs(multi_face_landmarks=normalized_lists(result.landmarks))


def __getattr__(name: str):
    raise unimplemented(__name__, name, "facepipe.FaceMesh is the native equivalent.")
