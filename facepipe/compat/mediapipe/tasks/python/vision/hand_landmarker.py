"""Tasks HandLandmarker on facepipe.Hands (palm detector + hand landmark model of the .task bundle).

Not checked against MediaPipe here: the hand_landmarker.task bundle is not in the
shared models (no network), so this is the legacy Hands pipeline with the Tasks
option names; see docs/migrating-from-mediapipe.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from facepipe.compat.mediapipe.tasks.python.components.containers import (
    Category,
    Landmark,
    NormalizedLandmark,
    landmark_rows,
)
from facepipe.compat.mediapipe.tasks.python.core.base_options import BaseOptions
from facepipe.compat.mediapipe.tasks.python.vision._task import VisionTask, pixels
from facepipe.compat.mediapipe.tasks.python.vision.core.vision_task_running_mode import (
    VisionTaskRunningMode as RunningMode,
)

_XYZ = ("x", "y", "z")


@dataclasses.dataclass
class HandLandmarkerResult:
    handedness: list[list[Category]]
    hand_landmarks: list[list[NormalizedLandmark]]
    hand_world_landmarks: list[list[Landmark]]


@dataclasses.dataclass
class HandLandmarkerOptions:
    base_options: BaseOptions
    running_mode: RunningMode = RunningMode.IMAGE
    num_hands: int = 1
    min_hand_detection_confidence: float = 0.5
    min_hand_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    result_callback: Callable[[HandLandmarkerResult, Any, int], None] | None = None


class HandLandmarker(VisionTask):
    _OPTIONS = HandLandmarkerOptions

    def _create(self, options: HandLandmarkerOptions, models) -> Any:  # noqa: ANN001
        from facepipe import Hands, HandsOptions

        return Hands(HandsOptions(static_image_mode=options.running_mode is RunningMode.IMAGE,
                                  max_num_hands=options.num_hands, model_complexity=1,
                                  min_detection_confidence=options.min_hand_detection_confidence,
                                  min_tracking_confidence=options.min_hand_presence_confidence,
                                  runtime=models.runtime({"palm_detection_full": "hand_detector.tflite",
                                                          "hand_landmark_full": "hand_landmarks_detector.tflite"},
                                                         "hand_landmark_full")))

    def _run(self, image, timestamp_ms: int | None) -> HandLandmarkerResult:  # noqa: ANN001
        res = self._impl.process(pixels(image), timestamp_ms)
        labels = res.handedness_labels
        return HandLandmarkerResult(
            handedness=[[Category(index=int(i), score=s, display_name=lab, category_name=lab)]
                        for i, s, lab in zip(res.handedness.tolist(), res.handedness_score.tolist(), labels)],
            hand_landmarks=[landmark_rows(p, NormalizedLandmark, _XYZ) for p in res.landmarks],
            hand_world_landmarks=[landmark_rows(p, Landmark, _XYZ) for p in res.world_landmarks],
        )
