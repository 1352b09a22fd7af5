"""SSD raw tensors -> scored boxes and keypoints (TensorsToDetections), and their weighted NMS.

Float32 in the C++ calculators' operation order (raw / scale, libm-exact sigmoid,
running sums): detections start the tracking ROIs, and holistic re-detects the
face inside a pose ROI on every frame, so last-bit differences would carry on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepipe.stages.libm32 import sigmoidf
from facepipe.stages.nms import iou_matrix, weighted_nms_arrays

__all__ = ["RawDetections", "decode_detections", "weighted_nms", "iou_matrix"]


@dataclass(frozen=True)
class RawDetections:
    """Detections in the tensor's normalized frame (before projection to the image).

    boxes: (N,4) xmin, ymin, xmax, ymax; keypoints: (N,K,2); scores: (N,).
    sizes: (N,2) width, height as MediaPipe holds them, given where they are not exactly
        xmax - xmin, ymax - ymin (after letterbox removal, which scales the size itself);
        None otherwise. `xywh` is the box MediaPipe's calculators see.
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    sizes: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @property
    def xywh(self) -> np.ndarray:
        """(N,4) float32 xmin, ymin, width, height (MediaPipe's relative_bounding_box)."""
        b = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        size = b[:, 2:] - b[:, :2] if self.sizes is None else np.asarray(self.sizes, np.float32).reshape(-1, 2)
        return np.concatenate([b[:, :2], size], axis=1)

    def take(self, idx) -> RawDetections:
        return RawDetections(self.boxes[idx], self.keypoints[idx], self.scores[idx],
                             None if self.sizes is None else self.sizes[idx])


def decode_detections(
    raw_boxes: np.ndarray,
    raw_scores: np.ndarray,
    anchors: np.ndarray,
    *,
    scale: float,
    num_keypoints: int,
    min_score: float,
    clip: float = 100.0,
) -> RawDetections:
    """Decode one image's regressors (N, C) and logits (N, 1) against anchor centres (N, 2).

    Layout is MediaPipe's reverse_output_order XYWH with keypoints from offset 4;
    anchors are fixed-size so every value is raw/scale (+ anchor centre).
    """
    logits = np.clip(raw_scores.reshape(-1).astype(np.float32), -clip, clip)
    scores = sigmoidf(logits)  # an exp overflow gives exactly 0
    keep = np.flatnonzero(scores >= min_score)
    if keep.size == 0:
        return RawDetections(np.zeros((0, 4), np.float32), np.zeros((0, num_keypoints, 2), np.float32),
                             np.zeros(0, np.float32))
    r = raw_boxes.reshape(raw_boxes.shape[-2], raw_boxes.shape[-1])[keep].astype(np.float32)
    a = np.asarray(anchors, np.float32)[keep]
    s = np.float32(scale)
    # raw / scale * anchor size (1) + anchor centre, a division as in C++ (x * (1 / 192) is not x / 192).
    xc = r[:, 0] / s + a[:, 0]
    yc = r[:, 1] / s + a[:, 1]
    w = r[:, 2] / s
    h = r[:, 3] / s
    kp = r[:, 4 : 4 + 2 * num_keypoints].reshape(-1, num_keypoints, 2) / s + a[:, None, :]
    valid = (w >= 0) & (h >= 0) & ~np.isnan(w) & ~np.isnan(h)
    half_w, half_h = w / np.float32(2), h / np.float32(2)
    boxes = np.stack([xc - half_w, yc - half_h, xc + half_w, yc + half_h], axis=1)
    return RawDetections(boxes[valid], kp[valid], scores[keep][valid])


def weighted_nms(dets: RawDetections, iou_threshold: float = 0.3) -> RawDetections:
    """MediaPipe's WEIGHTED non-max suppression of raw detections (see `nms.weighted_nms_arrays`)."""
    if len(dets) == 0:
        return dets
    heads, boxes, kps = weighted_nms_arrays(dets.xywh, dets.boxes, dets.keypoints, dets.scores, iou_threshold)
    return RawDetections(boxes, kps, np.asarray(dets.scores[heads], np.float32))
