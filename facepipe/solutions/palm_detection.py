"""BlazePalm palm detection and palm -> hand ROI (reference 5.2, 5.3)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facepipe.runtime.options import RuntimeOptions, fold_legacy_options, fold_num_threads_alias
from facepipe.solutions.letterbox_detector import LetterboxSsdDetector, SsdModelSpec
from facepipe.stages.anchors import PALM
from facepipe.stages.detection_decode import RawDetections
from facepipe.stages.rects import rects_from_detections, transform_rects

__all__ = ["PalmDetector", "PalmDetectorOptions", "PalmKeypoint", "hand_rects_from_palms"]


class PalmKeypoint:
    """The two palm keypoints MediaPipe documents; the other five are unnamed."""

    WRIST_CENTER = 0
    MIDDLE_FINGER_MCP = 2


_SPECS = {
    0: SsdModelSpec("palm_detection_lite", 192, PALM, 7, (0.0, 1.0)),
    1: SsdModelSpec("palm_detection_full", 192, PALM, 7, (0.0, 1.0)),
}


@dataclass(frozen=True)
class PalmDetectorOptions:
    """model_complexity: 0 = palm_detection_lite, 1 = palm_detection_full.
    min_score: MediaPipe's min_detection_confidence.
    """

    model_complexity: int = 1
    min_score: float = 0.5
    num_threads: int | None = None  # deprecated: runtime.num_threads
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    def __post_init__(self) -> None:
        fold_num_threads_alias(self)
        if self.model_complexity not in _SPECS:
            raise ValueError(f"palm model_complexity must be 0 or 1, got {self.model_complexity}")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0,1], got {self.min_score}")


class PalmDetector(LetterboxSsdDetector):
    """Palm detections (7 keypoints) in RGB uint8 images."""

    def __init__(self, options: PalmDetectorOptions | None = None, *, model_path: str | None = None) -> None:
        o = self.options = options or PalmDetectorOptions()
        spec = _SPECS[o.model_complexity]
        runtime = fold_legacy_options("PalmDetector", o.runtime, _stacklevel=3, **{spec.model_name: model_path})
        super().__init__(spec, o.min_score, runtime=runtime)


def hand_rects_from_palms(palms: RawDetections, image_size: tuple[int, int]) -> np.ndarray:
    """(N,5) hand ROIs from image-normalized palm detections: box, wrist->middle MCP at 90 deg,
    x2.6, shifted half a box towards the fingers, square in pixels."""
    rects = rects_from_detections(
        palms, image_size,
        start=PalmKeypoint.WRIST_CENTER, end=PalmKeypoint.MIDDLE_FINGER_MCP, target_deg=90.0,
    )
    return transform_rects(rects, image_size, scale_x=2.6, scale_y=2.6, shift_y=-0.5, square_long=True)
