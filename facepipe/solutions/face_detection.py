"""BlazeFace face detection (MediaPipe's face_detection short and full range).

Pipeline: letterbox the whole image (or an ROI) into the model tensor, decode
SSD anchors, weighted NMS in the tensor frame, then project to the image with
the crop's transform matrix — the order MediaPipe uses (it matters for
rotated ROIs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from facepipe.io.image import check_rgb_image
from facepipe.results import Detections
from facepipe.runtime.options import RuntimeOptions, fold_legacy_options, fold_num_threads_alias
from facepipe.stages.anchors import FACE_FULL_RANGE, FACE_SHORT_RANGE, AnchorSpec, anchor_centers
from facepipe.stages.detection_decode import RawDetections, decode_detections, weighted_nms
from facepipe.stages.image_to_tensor import (
    BORDER_ZERO,
    CropGeometry,
    FullImageCropper,
    crop_geometry,
    warp_to_tensor,
)
from facepipe.stages.projection import box_corners, project_points_matrix

__all__ = ["FaceDetector", "FaceDetectorOptions", "FaceKeypoint", "FACE_KEYPOINT_NAMES"]

# Sides are the subject's own: in a non-mirrored frontal photo RIGHT_EYE is on the image's left.
FACE_KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion")


# BlazeFace reads pixels scaled to [-1, 1].
_VALUE_RANGE = (-1.0, 1.0)


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
    runtime: threads, model files, delegate (`RuntimeOptions`).
    """

    model: str = "short"
    min_score: float | None = None
    nms_iou: float = 0.3
    num_threads: int | None = None  # deprecated: runtime.num_threads
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    def __post_init__(self) -> None:
        fold_num_threads_alias(self)
        if self.model not in _MODELS:
            raise ValueError(f"unknown face detector model {self.model!r}; choose one of {sorted(_MODELS)}")
        if self.min_score is not None and not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0,1], got {self.min_score}")



class FaceDetector:
    """Detects faces in RGB uint8 images; thread-safe (one interpreter, guarded)."""

    def __init__(self, options: FaceDetectorOptions | None = None, *, model_path: str | None = None) -> None:
        self.options = options or FaceDetectorOptions()
        self._spec = _MODELS[self.options.model]
        runtime = fold_legacy_options("FaceDetector", self.options.runtime, _stacklevel=3,
                                      **{self._spec.model_name: model_path})
        self._model = runtime.load(self._spec.model_name)
        self._anchors = anchor_centers(self._spec.anchors)
        ms = self.options.min_score
        self.min_score = self._spec.default_min_score if ms is None else ms
        size = self._spec.size
        self._cropper = FullImageCropper(size, size, keep_aspect=True, border=BORDER_ZERO, value_range=_VALUE_RANGE)

    def _plan(self, image: np.ndarray, roi: np.ndarray | None) -> tuple[CropGeometry, Callable[[np.ndarray], None]]:
        """The crop geometry of `image` (or its ROI) and a function writing the crop into a tensor slot."""
        s = self._spec.size
        if roi is None:
            # Whole image: geometry and sampling maps cached per image size (video frames, photo sets).
            return self._cropper.geometry((image.shape[1], image.shape[0])), partial(self._cropper.warp_into, image)
        geo = crop_geometry((image.shape[1], image.shape[0]), roi, s, s, keep_aspect=True)
        return geo, partial(warp_to_tensor, image, geo.warp, border=BORDER_ZERO, value_range=_VALUE_RANGE)

    def _postprocess(self, boxes: np.ndarray, scores: np.ndarray, geo: CropGeometry, size: tuple[int, int]
                     ) -> Detections:
        raw = self._normalized(boxes, scores, geo)
        return Detections.from_normalized(raw.boxes, raw.keypoints, raw.scores, size)

    def _normalized(self, boxes: np.ndarray, scores: np.ndarray, geo: CropGeometry) -> RawDetections:
        raw = decode_detections(
            boxes, scores, self._anchors, scale=self._spec.size, num_keypoints=6, min_score=self.min_score
        )
        return _project(weighted_nms(raw, self.options.nms_iou), geo)

    def detect_relative(self, image: np.ndarray, roi: np.ndarray | None = None) -> Detections:
        """`detect` in coordinates relative to the image (x / W, y / H), the float32 numbers
        MediaPipe's graphs pass on and its APIs report (pixels and back are not always the same
        number): `Detections` of a unit image, image_size (1, 1)."""
        raw = self.detect_normalized(image, roi)
        return Detections(raw.boxes, raw.keypoints, raw.scores, (1, 1))

    def detect_normalized(self, image: np.ndarray, roi: np.ndarray | None = None) -> RawDetections:
        """The stage-level form of `detect_relative`, for the solutions that track from it
        (internal: use `detect_relative`)."""
        image = check_rgb_image(image)
        geo, write = self._plan(image, roi)
        return self._model.run_filled(
            1, lambda ins: write(ins[0][0]), lambda outs: self._normalized(outs[0][0], outs[1][0], geo)
        )

    def detect(self, image: np.ndarray, roi: np.ndarray | None = None) -> Detections:
        """Detect faces in the whole image, or inside a normalized ROI (x_c, y_c, w, h, rotation)."""
        image = check_rgb_image(image)
        size = (image.shape[1], image.shape[0])
        geo, write = self._plan(image, roi)
        # The crop is warped straight into the interpreter's input and the raw outputs are decoded
        # where they lie (decode_detections copies what it keeps): no tensor copies either way.
        return self._model.run_filled(
            1, lambda ins: write(ins[0][0]), lambda outs: self._postprocess(outs[0][0], outs[1][0], geo, size)
        )

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect faces in many images with one model call."""
        if not images:
            return []
        plans = [self._plan(check_rgb_image(im), None) for im in images]

        def fill(ins: list[np.ndarray]) -> None:
            for i, (_, write) in enumerate(plans):
                write(ins[0][i])

        def read(outs: list[np.ndarray]) -> list[Detections]:
            boxes, scores = outs
            return [
                self._postprocess(boxes[i], scores[i], geo, (im.shape[1], im.shape[0]))
                for i, ((geo, _), im) in enumerate(zip(plans, images))
            ]

        return self._model.run_filled(len(images), fill, read)


def _project(raw: RawDetections, crop: CropGeometry) -> RawDetections:
    """Tensor-frame detections -> image-normalized (DetectionProjection with the crop's matrix)."""
    if len(raw) == 0:
        return raw
    # Box corners (project_boxes_matrix's order) and keypoints mapped in one call: the
    # projection is per point, so the numbers are the same as two calls, for half the overhead.
    corners = box_corners(raw.boxes)
    pts = project_points_matrix(np.concatenate([corners, raw.keypoints], axis=1), crop.matrix)
    boxes = np.concatenate([pts[:, :4].min(1), pts[:, :4].max(1)], axis=1)
    return RawDetections(boxes, pts[:, 4:], raw.scores)
