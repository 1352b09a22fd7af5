"""Whole-image SSD detector with letterbox removal (the palm and pose detectors' shared shape).

MediaPipe's palm and pose detection graphs are the same chain with different
numbers: letterbox the whole image into a square tensor, decode SSD anchors,
weighted NMS in the tensor frame, then DetectionLetterboxRemoval back to
image-normalized coordinates (reference 1.1-1.5). This module runs that chain
once; palm_detection and pose_detection only supply the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepipe.io.image import check_rgb_image
from facepipe.results import Detections
from facepipe.runtime.options import RuntimeOptions
from facepipe.stages.anchors import AnchorSpec, anchor_centers
from facepipe.stages.detection_decode import RawDetections, decode_detections, weighted_nms
from facepipe.stages.image_to_tensor import BORDER_ZERO, FullImageCropper
from facepipe.stages.projection import remove_letterbox_detections

__all__ = ["SsdModelSpec", "LetterboxSsdDetector"]



@dataclass(frozen=True)
class SsdModelSpec:
    """Numbers of one letterboxed SSD detector (a row of reference tables 5.2 / 6.2)."""

    model_name: str
    size: int
    anchors: AnchorSpec
    num_keypoints: int
    value_range: tuple[float, float]


class LetterboxSsdDetector:
    """Runs one SSD detector on the whole image; thread-safe (the model guards itself)."""

    def __init__(
        self,
        spec: SsdModelSpec,
        min_score: float,
        *,
        nms_iou: float = 0.3,
        runtime: RuntimeOptions | None = None,
    ) -> None:
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be in [0,1], got {min_score}")
        self.spec = spec
        self.min_score = float(min_score)
        self.nms_iou = nms_iou
        self.model = (runtime or RuntimeOptions()).load(spec.model_name)
        self._anchors = anchor_centers(spec.anchors)
        # Whole-image letterbox: geometry and sampling maps cached per image size.
        self._cropper = FullImageCropper(spec.size, spec.size, keep_aspect=True, border=BORDER_ZERO,
                                         value_range=spec.value_range)

    def _decode(self, boxes: np.ndarray, scores: np.ndarray) -> RawDetections:
        raw = decode_detections(
            boxes, scores, self._anchors,
            scale=self.spec.size, num_keypoints=self.spec.num_keypoints, min_score=self.min_score,
        )
        # NMS in the tensor frame, then letterbox removal: MediaPipe's order.
        return weighted_nms(raw, self.nms_iou)

    def detect_normalized(self, image: np.ndarray) -> RawDetections:
        """Detections in image-normalized coordinates (boxes xyxy, keypoints x, y), best first."""
        image = check_rgb_image(image)
        geo = self._cropper.geometry((image.shape[1], image.shape[0]))
        # Warped straight into the interpreter's input, decoded where the outputs lie
        # (decode_detections copies what it keeps).
        raw = self.model.run_filled(
            1, lambda ins: self._cropper.warp_into(image, ins[0][0]), lambda outs: self._decode(outs[0][0], outs[1][0])
        )
        if len(raw) == 0:
            return raw
        return remove_letterbox_detections(raw, geo.padding)

    def detect(self, image: np.ndarray) -> Detections:
        """Detections in pixels of `image`."""
        raw = self.detect_normalized(image)
        return Detections.from_normalized(raw.boxes, raw.keypoints, raw.scores, (image.shape[1], image.shape[0]))
