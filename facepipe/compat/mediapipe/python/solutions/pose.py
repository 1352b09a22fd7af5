"""mp.solutions.pose on facepipe.Pose (same models, same numbers)."""

from __future__ import annotations

import numpy as np

import facepipe.solutions.pose as _fp_pose
from facepipe.compat.mediapipe.python.solutions._common import (
    XYZV,
    SolutionOutputs,
    index_enum,
    normalized_list,
    unimplemented,
    world_list,
)
from facepipe.compat.mediapipe.python.solutions._solution import Solution
from facepipe.compat.mediapipe.python.solutions.pose_connections import POSE_CONNECTIONS  # noqa: F401

# MediaPipe's IntEnum, built from facepipe's index constants (the 33 pose landmarks, sides are the subject's own).
PoseLandmark = index_enum("PoseLandmark", _fp_pose.PoseLandmark)


def pose_outputs(pose, enable_segmentation: bool) -> dict:  # noqa: ANN001 - a facepipe PoseResult
    """pose_landmarks, pose_world_landmarks and segmentation_mask of one PoseResult (None when no person)."""
    if len(pose) == 0:
        return {"pose_landmarks": None, "pose_world_landmarks": None, "segmentation_mask": None}
    lm = np.concatenate([pose.landmarks[0], pose.visibility[0][:, None]], axis=1)
    world = np.concatenate([pose.world_landmarks[0], pose.world_visibility[0][:, None]], axis=1)
    mask = pose.segmentation_mask[0] if enable_segmentation and len(pose.segmentation_mask) else None
    return {"pose_landmarks": normalized_list(lm, XYZV), "pose_world_landmarks": world_list(world, XYZV),
            "segmentation_mask": mask}


class Pose(Solution):
    def __init__(self, static_image_mode: bool = False, model_complexity: int = 1, smooth_landmarks: bool = True,
                 enable_segmentation: bool = False, smooth_segmentation: bool = True,
                 min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        from facepipe import Pose as _Pose
        from facepipe import PoseOptions

        self._segmentation = bool(enable_segmentation)
        self._impl = _Pose(PoseOptions(
            static_image_mode=bool(static_image_mode), model_complexity=model_complexity,
            smooth_landmarks=bool(smooth_landmarks), enable_segmentation=bool(enable_segmentation),
            smooth_segmentation=bool(smooth_segmentation), min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence))

    def _outputs(self, result) -> SolutionOutputs:  # noqa: ANN001
        return SolutionOutputs(**pose_outputs(result, self._segmentation))


def __getattr__(name: str):
    raise unimplemented(__name__, name, "facepipe.Pose is the native equivalent.")
