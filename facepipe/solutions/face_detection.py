"""BlazeFace face detection (MediaPipe's face_detection short and full range).

Pipeline: letterbox the whole image (or an ROI) into the model tensor, decode
SSD anchors, weighted NMS in the tensor frame, then project to the image with
the crop's transform matrix — the order MediaPipe uses (it matters for
rotated ROIs).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facepipe.runtime.model import Model
from facepipe.runtime.store import resolve_model
from facepipe.stages.anchors import FACE_FULL_RANGE, FACE_SHORT_RANGE, AnchorSpec, anchor_centers
from facepipe.stages.detection_decode import RawDetections, decode_detections, weighted_nms
from facepipe.stages.image_to_tensor import BORDER_ZERO, TensorCrop, crop_to_tensor, full_image_roi
from facepipe.stages.projection import project_boxes_matrix, project_points_matrix
from facepipe.types import Detections

__all__ = ["FaceDetector", "FaceDetectorOptions", "FaceKeypoint", "FACE_KEYPOINT_NAMES"]

# Sides are the subject's own: in a non-mirrored frontal photo RIGHT_EYE is on the image's left.
FACE_KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion")


class FaceKeypoint:
    RIGHT_EYE = 0
    LEFT_EYE = 1
    NOSE_TIP = 2
    MOUTH_CENTER = 3
    RIGHT_EAR_TRAGION = 4
    LEFT_EAR_TRAGION = 5


@dataclass(frozen=True)
class _ModelSpec:
    model_name: str
    size: int
    anchors: AnchorSpec
    default_min_score: float


_MODELS = {
    # Legacy mp.solutions models (parity reference).
    "short": _ModelSpec("face_detection_short_range", 128, FACE_SHORT_RANGE, 0.5),
    # mediapipe 0.10.21 ignores min_detection_confidence for full range and always uses
    # its graph's 0.6 (measured: scores 0.69-0.81 survive thresholds 0.3 and 0.75 alike).
    "full": _ModelSpec("face_detection_full_range_sparse", 192, FACE_FULL_RANGE, 0.6),
    # Same families, other files: the Tasks short-range detector and the dense full-range model.
    "short_tasks": _ModelSpec("blaze_face_short_range", 128, FACE_SHORT_RANGE, 0.5),
    "full_dense": _ModelSpec("face_detection_full_range", 192, FACE_FULL_RANGE, 0.6),
}


@dataclass(frozen=True)
class FaceDetectorOptions:
    """model: "short" (128², faces within ~2 m), "full" (192², small/distant faces),
    "short_tasks" or "full_dense" (the other published files of the same models).
    min_score: detections scoring below are dropped (MediaPipe's min_detection_confidence);
        None means the model's MediaPipe default (0.5 short range, 0.6 full range).
    nms_iou: weighted-NMS clustering threshold.
    """

    model: str = "short"
    min_score: float | None = None
    nms_iou: float = 0.3
    num_threads: int | None = None

    def __post_init__(self) -> None:
        if self.model not in _MODELS:
            raise ValueError(f"unknown face detector model {self.model!r}; choose one of {sorted(_MODELS)}")
        if self.min_score is not None and not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0,1], got {self.min_score}")


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            "expected an RGB uint8 image of shape (H, W, 3), got "
            f"{getattr(image, 'dtype', type(image))} {getattr(image, 'shape', '')}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image has zero size: {image.shape}")
    return image


class FaceDetector:
    """Detects faces in RGB uint8 images; thread-safe (one interpreter, guarded)."""

    def __init__(self, options: FaceDetectorOptions | None = None, *, model_path: str | None = None) -> None:
        self.options = options or FaceDetectorOptions()
        self._spec = _MODELS[self.options.model]
        path = model_path or resolve_model(self._spec.model_name)
        self._model = Model(path, num_threads=self.options.num_threads)
        self._anchors = anchor_centers(self._spec.anchors)
        ms = self.options.min_score
        self.min_score = self._spec.default_min_score if ms is None else ms
        self._lock = threading.Lock()

    def _crop(self, image: np.ndarray, roi: np.ndarray | None, out: np.ndarray | None = None) -> TensorCrop:
        s = self._spec.size
        return crop_to_tensor(
            image, full_image_roi() if roi is None else roi, s, s,
            keep_aspect=True, border=BORDER_ZERO, value_range=(-1.0, 1.0), out=out,
        )

    def _postprocess(self, boxes: np.ndarray, scores: np.ndarray, crop: TensorCrop, size: tuple[int, int]) -> Detections:
        raw = decode_detections(
            boxes, scores, self._anchors, scale=self._spec.size, num_keypoints=6, min_score=self.min_score
        )
        raw = weighted_nms(raw, self.options.nms_iou)
        return _to_image(raw, crop, size)

    def detect(self, image: np.ndarray, roi: np.ndarray | None = None) -> Detections:
        """Detect faces in the whole image, or inside a normalized ROI (x_c, y_c, w, h, rotation)."""
        image = _check_image(image)
        size = (image.shape[1], image.shape[0])
        crop = self._crop(image, roi)
        boxes, scores = self._model.run(crop.tensor[None])
        return self._postprocess(boxes[0], scores[0], crop, size)

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect faces in many images with one model call."""
        if not images:
            return []
        s = self._spec.size
        batch = np.empty((len(images), s, s, 3), np.float32)
        crops = [self._crop(_check_image(im), None, out=batch[i]) for i, im in enumerate(images)]
        boxes, scores = self._model.run(batch)
        return [
            self._postprocess(boxes[i], scores[i], c, (im.shape[1], im.shape[0]))
            for i, (c, im) in enumerate(zip(crops, images))
        ]


def _to_image(raw: RawDetections, crop: TensorCrop, size: tuple[int, int]) -> Detections:
    W, H = size
    if len(raw) == 0:
        return Detections.empty(raw.keypoints.shape[1], size)
    boxes = project_boxes_matrix(raw.boxes, crop.matrix)
    kps = project_points_matrix(raw.keypoints, crop.matrix)
    scale = np.array([W, H], np.float32)
    return Detections(boxes * np.tile(scale, 2), kps * scale, raw.scores, size)
