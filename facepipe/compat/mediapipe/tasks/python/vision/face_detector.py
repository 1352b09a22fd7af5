"""Tasks FaceDetector on facepipe.FaceDetector (BlazeFace short range, the Tasks model file)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from facepipe.compat.mediapipe.tasks.python.components.containers import (
    BoundingBox,
    Category,
    Detection,
    DetectionResult,
    NormalizedKeypoint,
)
from facepipe.compat.mediapipe.tasks.python.core.base_options import BaseOptions
from facepipe.compat.mediapipe.tasks.python.vision._task import VisionTask, pixels
from facepipe.compat.mediapipe.tasks.python.vision.core.vision_task_running_mode import (
    VisionTaskRunningMode as RunningMode,
)

FaceDetectorResult = DetectionResult


@dataclasses.dataclass
class FaceDetectorOptions:
    base_options: BaseOptions
    running_mode: RunningMode = RunningMode.IMAGE
    min_detection_confidence: float | None = None
    min_suppression_threshold: float | None = None
    result_callback: Callable[[DetectionResult, Any, int], None] | None = None


class FaceDetector(VisionTask):
    _OPTIONS = FaceDetectorOptions

    def _create(self, options: FaceDetectorOptions, models) -> Any:  # noqa: ANN001
        from facepipe import FaceDetector as _FaceDetector
        from facepipe import FaceDetectorOptions as _Options

        min_score = 0.5 if options.min_detection_confidence is None else options.min_detection_confidence
        nms = 0.3 if options.min_suppression_threshold is None else options.min_suppression_threshold
        return _FaceDetector(_Options(model="short_tasks", min_score=min_score, nms_iou=nms,
                                      runtime=models.runtime({}, "blaze_face_short_range")))

    def _run(self, image, timestamp_ms: int | None) -> DetectionResult:  # noqa: ANN001
        rgb = pixels(image)
        dets = self._impl.detect_relative(rgb)
        h, w = rgb.shape[:2]
        # Relative box -> pixels as the Tasks graph does it: float32 product, truncated to int.
        xywh = np.concatenate([dets.xyxy[:, :2], dets.wh], axis=1) * np.array([w, h, w, h], np.float32)
        boxes = np.trunc(xywh).astype(np.int64).tolist()
        detections = [
            Detection(bounding_box=BoundingBox(*box),
                      categories=[Category(index=0, score=score, display_name=None, category_name=None)],
                      keypoints=[NormalizedKeypoint(x=x, y=y, label="", score=0.0) for x, y in kps])
            for box, score, kps in zip(boxes, dets.scores.tolist(), dets.keypoints.tolist())
        ]
        return DetectionResult(detections=detections)
