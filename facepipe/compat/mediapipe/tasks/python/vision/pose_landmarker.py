"""Tasks PoseLandmarker on facepipe.Pose (the detector and landmark model of the .task bundle).

Not checked against MediaPipe here: no pose_landmarker_*.task bundle is in the
shared models (no network), so this is the legacy Pose pipeline with the Tasks
option names; see docs/migrating-from-mediapipe.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from facepipe.compat.mediapipe._image import Image, ImageFormat
from facepipe.compat.mediapipe.tasks.python.components.containers import Landmark, NormalizedLandmark, landmark_rows
from facepipe.compat.mediapipe.tasks.python.core.base_options import BaseOptions
from facepipe.compat.mediapipe.tasks.python.vision._task import VisionTask, pixels
from facepipe.compat.mediapipe.tasks.python.vision.core.vision_task_running_mode import (
    VisionTaskRunningMode as RunningMode,
)

_ALL = ("x", "y", "z", "visibility", "presence")


@dataclasses.dataclass
class PoseLandmarkerResult:
    pose_landmarks: list[list[NormalizedLandmark]]
    pose_world_landmarks: list[list[Landmark]]
    segmentation_masks: list[Image] | None = None


@dataclasses.dataclass
class PoseLandmarkerOptions:
    base_options: BaseOptions
    running_mode: RunningMode = RunningMode.IMAGE
    num_poses: int = 1
    min_pose_detection_confidence: float = 0.5
    min_pose_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    output_segmentation_masks: bool = False
    result_callback: Callable[[PoseLandmarkerResult, Any, int], None] | None = None


class PoseLandmarker(VisionTask):
    _OPTIONS = PoseLandmarkerOptions

    def _create(self, options: PoseLandmarkerOptions, models) -> Any:  # noqa: ANN001
        from facepipe import Pose, PoseOptions

        if options.num_poses != 1:
            raise NotImplementedError("facepipe.compat's PoseLandmarker finds one person (num_poses=1), as "
                                      "facepipe.Pose does")
        self._masks = bool(options.output_segmentation_masks)
        return Pose(PoseOptions(static_image_mode=options.running_mode is RunningMode.IMAGE, model_complexity=1,
                                enable_segmentation=self._masks,
                                min_detection_confidence=options.min_pose_detection_confidence,
                                min_tracking_confidence=options.min_pose_presence_confidence,
                                runtime=models.runtime({"pose_detection": "pose_detector.tflite",
                                                        "pose_landmark_full": "pose_landmarks_detector.tflite"},
                                                       "pose_landmark_full")))

    def _run(self, image, timestamp_ms: int | None) -> PoseLandmarkerResult:  # noqa: ANN001
        res = self._impl.process(pixels(image), timestamp_ms)
        lms = [landmark_rows(np.concatenate([p, v[:, None], q[:, None]], 1), NormalizedLandmark, _ALL)
               for p, v, q in zip(res.landmarks, res.visibility, res.landmark_presence)]
        world = [landmark_rows(np.concatenate([p, v[:, None], q[:, None]], 1), Landmark, _ALL)
                 for p, v, q in zip(res.world_landmarks, res.world_visibility, res.landmark_presence)]
        masks = None
        if self._masks:
            masks = [Image(ImageFormat.VEC32F1, m.astype(np.float32)) for m in res.segmentation_mask]
        return PoseLandmarkerResult(pose_landmarks=lms, pose_world_landmarks=world, segmentation_masks=masks)
