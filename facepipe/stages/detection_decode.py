"""SSD raw tensors -> scored boxes and keypoints (TensorsToDetections), and weighted NMS."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RawDetections", "decode_detections", "weighted_nms", "iou_matrix"]


@dataclass(frozen=True)
class RawDetections:
    """Detections in the tensor's normalized frame (before projection to the image).

    boxes: (N,4) xmin, ymin, xmax, ymax; keypoints: (N,K,2); scores: (N,).
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def take(self, idx) -> RawDetections:
        return RawDetections(self.boxes[idx], self.keypoints[idx], self.scores[idx])


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
    with np.errstate(over="ignore"):  # exp(100) overflows float32 to inf: the score is then exactly 0
        scores = 1.0 / (1.0 + np.exp(-logits))
    keep = np.flatnonzero(scores >= min_score)
    if keep.size == 0:
        return RawDetections(np.zeros((0, 4), np.float32), np.zeros((0, num_keypoints, 2), np.float32),
                             np.zeros(0, np.float32))
    r = raw_boxes.reshape(raw_boxes.shape[-2], raw_boxes.shape[-1])[keep]
    a = anchors[keep]
    inv = np.float32(1.0 / scale)
    xc = r[:, 0] * inv + a[:, 0]
    yc = r[:, 1] * inv + a[:, 1]
    w = r[:, 2] * inv
    h = r[:, 3] * inv
    kp = r[:, 4 : 4 + 2 * num_keypoints].reshape(-1, num_keypoints, 2) * inv + a[:, None, :]
    valid = (w >= 0) & (h >= 0) & ~np.isnan(w) & ~np.isnan(h)
    boxes = np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=1)
    return RawDetections(boxes[valid].astype(np.float32), kp[valid].astype(np.float32),
                         scores[keep][valid].astype(np.float32))


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


def weighted_nms(dets: RawDetections, iou_threshold: float = 0.3) -> RawDetections:
    """MediaPipe's WEIGHTED non-max suppression.

    Clusters around the highest-scoring remaining detection (IoU > threshold);
    the output keeps the head's score and the score-weighted mean of the
    cluster's box corners and keypoints. The IoU matrix is computed once.
    """
    n = len(dets)
    if n == 0:
        return dets
    order = np.argsort(-dets.scores, kind="stable")
    boxes, kps, scores = dets.boxes[order], dets.keypoints[order], dets.scores[order]
    iou = iou_matrix(boxes, boxes)
    remaining = np.ones(n, bool)
    out_b, out_k, out_s = [], [], []
    for head in range(n):
        if not remaining[head]:
            continue
        cluster = remaining & (iou[head] > iou_threshold)
        cluster[head] = True
        w = scores[cluster]
        total = w.sum()
        out_b.append((boxes[cluster] * w[:, None]).sum(0) / total)
        out_k.append((kps[cluster] * w[:, None, None]).sum(0) / total)
        out_s.append(scores[head])
        remaining &= ~cluster
    return RawDetections(np.asarray(out_b, np.float32), np.asarray(out_k, np.float32), np.asarray(out_s, np.float32))
