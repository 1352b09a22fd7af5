"""Tasks FaceLandmarker on facepipe.FaceLandmarker (same models, same numbers)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from facepipe.compat.mediapipe.tasks.python.components.containers import (
    Category,
    LazyList,
    NormalizedLandmark,
    landmark_rows,
)
from facepipe.compat.mediapipe.tasks.python.core.base_options import BaseOptions
from facepipe.compat.mediapipe.tasks.python.vision._task import VisionTask, pixels
from facepipe.compat.mediapipe.tasks.python.vision.core.vision_task_running_mode import (
    VisionTaskRunningMode as RunningMode,
)

_ALL = ("x", "y", "z", "visibility", "presence")


@dataclasses.dataclass
class FaceLandmarkerResult:
    face_landmarks: list[list[NormalizedLandmark]]
    face_blendshapes: list[list[Category]]
    facial_transformation_matrixes: list[np.ndarray]


@dataclasses.dataclass
class FaceLandmarkerOptions:
    base_options: BaseOptions
    running_mode: RunningMode = RunningMode.IMAGE
    num_faces: int = 1
    min_face_detection_confidence: float = 0.5
    min_face_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    output_face_blendshapes: bool = False
    output_facial_transformation_matrixes: bool = False
    result_callback: Callable[[FaceLandmarkerResult, Any, int], None] | None = None


def _face_rows(points: np.ndarray) -> LazyList:
    # The Tasks FaceLandmarker reports visibility and presence as 0.0 on every point.
    full = np.concatenate([points, np.zeros((len(points), 2), np.float32)], axis=1)
    return landmark_rows(full, NormalizedLandmark, _ALL)


def _categories(scores: np.ndarray) -> LazyList:
    from facepipe.solutions.blendshapes import BLENDSHAPE_NAMES

    def build() -> list[Category]:
        return [Category(index=i, score=s, display_name="", category_name=n)
                for i, (s, n) in enumerate(zip(scores.tolist(), BLENDSHAPE_NAMES))]

    return LazyList(build)


class FaceLandmarker(VisionTask):
    _OPTIONS = FaceLandmarkerOptions

    def _create(self, options: FaceLandmarkerOptions, models) -> Any:  # noqa: ANN001
        from facepipe import FaceLandmarker as _FaceLandmarker
        from facepipe import FaceLandmarkerOptions as _Options

        self._want_blendshapes = bool(options.output_face_blendshapes)
        self._want_matrices = bool(options.output_facial_transformation_matrixes)
        mode = "image" if options.running_mode is RunningMode.IMAGE else "video"
        return _FaceLandmarker(
            _Options(num_faces=options.num_faces, min_face_detection_confidence=options.min_face_detection_confidence,
                     min_face_presence_confidence=options.min_face_presence_confidence,
                     min_tracking_confidence=options.min_tracking_confidence,
                     output_face_blendshapes=self._want_blendshapes,
                     output_facial_transformation_matrixes=self._want_matrices, running_mode=mode,
                     runtime=models.runtime({"face_landmarks_detector": "face_landmarks_detector.tflite",
                                             "face_blendshapes": "face_blendshapes.tflite",
                                             "blaze_face_short_range": "face_detector.tflite"},
                                            "face_landmarks_detector")))

    def _run(self, image, timestamp_ms: int | None) -> FaceLandmarkerResult:  # noqa: ANN001
        rgb = pixels(image)
        res = self._impl.detect(rgb) if timestamp_ms is None else self._impl.detect_for_video(rgb, timestamp_ms)
        blend = [] if res.blendshapes is None or not self._want_blendshapes else [
            _categories(b) for b in res.blendshapes]
        mats = [] if res.transformation_matrices is None or not self._want_matrices else [
            m.astype(np.float64) for m in res.transformation_matrices if np.isfinite(m).all()]
        return FaceLandmarkerResult(face_landmarks=[_face_rows(p) for p in res.landmarks],
                                    face_blendshapes=blend, facial_transformation_matrixes=mats)
