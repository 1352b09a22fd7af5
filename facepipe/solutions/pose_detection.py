"""BlazePose person detection and detection -> pose ROI (reference 6.2, 6.3)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facepipe.runtime.options import RuntimeOptions, fold_legacy_options, fold_num_threads_alias
from facepipe.solutions.letterbox_detector import LetterboxSsdDetector, SsdModelSpec
from facepipe.stages.anchors import POSE
from facepipe.stages.detection_decode import RawDetections
from facepipe.stages.rects import rects_from_alignment_points, transform_rects

__all__ = ["PoseDetector", "PoseDetectorOptions", "PoseKeypoint", "pose_rects_from_detections"]


class PoseKeypoint:
    """The detector's 4 keypoints; its box is the face box."""

    HIP_CENTER = 0
    FULL_BODY_SCALE = 1
    SHOULDER_CENTER = 2
    UPPER_BODY_SCALE = 3


_SPEC = SsdModelSpec("pose_detection", 224, POSE, 4, (-1.0, 1.0))


@dataclass(frozen=True)
class PoseDetectorOptions:
    """min_score: MediaPipe's min_detection_confidence."""

    min_score: float = 0.5
    num_threads: int | None = None  # deprecated: runtime.num_threads
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    def __post_init__(self) -> None:
        fold_num_threads_alias(self)
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0,1], got {self.min_score}")


class PoseDetector(LetterboxSsdDetector):
    """Person detections (face box + 4 body keypoints), best first."""

    def __init__(self, options: PoseDetectorOptions | None = None, *, model_path: str | None = None) -> None:
        o = self.options = options or PoseDetectorOptions()
        runtime = fold_legacy_options("PoseDetector", o.runtime, _stacklevel=3, **{_SPEC.model_name: model_path})
        super().__init__(_SPEC, o.min_score, runtime=runtime)


def pose_rects_from_detections(dets: RawDetections, image_size: tuple[int, int]) -> np.ndarray:
    """(N,5) pose ROIs from image-normalized detections: centred on the hips, side 2x the
    hip -> full-body-point distance, rotated so that direction points up, x1.25, square."""
    rects = rects_from_alignment_points(
        dets.keypoints[:, PoseKeypoint.HIP_CENTER], dets.keypoints[:, PoseKeypoint.FULL_BODY_SCALE],
        image_size, target_deg=90.0,
    )
    return transform_rects(rects, image_size, scale_x=1.25, scale_y=1.25, square_long=True)
