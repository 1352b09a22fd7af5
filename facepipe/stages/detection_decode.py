"""SSD raw tensors -> scored boxes and keypoints (TensorsToDetections), and weighted NMS.

Float32 in the C++ calculators' operation order (raw / scale, libm-exact sigmoid,
running sums): detections start the tracking ROIs, and holistic re-detects the
face inside a pose ROI on every frame, so last-bit differences would carry on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepipe.stages.libm32 import sigmoidf

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


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Axis-aligned IoU between xyxy boxes a (N,4) and b (M,4); 0 where they don't intersect."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = rb - lt
    touching = (wh >= 0).all(-1)
    inter = np.where(touching, wh[..., 0] * wh[..., 1], 0.0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    denom = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(touching & (denom > 0), inter / denom, 0.0)
    return iou


def _running_sum(values: np.ndarray) -> np.ndarray:
    """Sum over axis 0 one element at a time, in float32 (a C++ `+=` loop; numpy's sum is pairwise)."""
    return np.add.accumulate(values, axis=0)[-1]


def weighted_nms(dets: RawDetections, iou_threshold: float = 0.3) -> RawDetections:
    """MediaPipe's WEIGHTED non-max suppression.

    Clusters around the highest-scoring remaining detection (IoU > threshold);
    the output keeps the head's score and the score-weighted mean of the
    cluster's box corners and keypoints. The IoU matrix is computed once.
    MediaPipe keeps boxes as xmin, ymin, width, height: its right edge is
    xmin + width (not always xmax again), and its sums run in score order.
    """
    n = len(dets)
    if n == 0:
        return dets
    order = np.argsort(-dets.scores, kind="stable")
    xywh, kps, scores = dets.xywh[order], dets.keypoints[order], dets.scores[order]
    boxes = np.asarray(dets.boxes, np.float32)[order]
    lo = xywh[:, :2]
    hi = lo + xywh[:, 2:]  # xmin + width, ymin + height
    iou = iou_matrix(np.concatenate([lo, hi], 1), np.concatenate([lo, hi], 1))
    remaining = np.ones(n, bool)
    out_b, out_k, out_s = [], [], []
    for head in range(n):
        if not remaining[head]:
            continue
        cluster = remaining & (iou[head] > iou_threshold)
        out_s.append(scores[head])
        if not cluster[head]:
            # A degenerate (zero-area) head overlaps nothing, not even itself: MediaPipe emits it
            # unchanged and stops, because that round removed no detection.
            out_b.append(boxes[head])
            out_k.append(kps[head])
            break
        w = scores[cluster]
        total = _running_sum(w)
        lo_mean = _running_sum(lo[cluster] * w[:, None]) / total
        hi_mean = _running_sum(hi[cluster] * w[:, None]) / total
        out_b.append(np.concatenate([lo_mean, hi_mean]))
        out_k.append(_running_sum(kps[cluster] * w[:, None, None]) / total)
        remaining &= ~cluster
    return RawDetections(np.asarray(out_b, np.float32), np.asarray(out_k, np.float32), np.asarray(out_s, np.float32))
