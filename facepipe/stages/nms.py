"""Box overlap and non-max suppression kernels on plain arrays (MediaPipe's WEIGHTED and DEFAULT NMS).

Float32 in the C++ calculator's operation order: the detectors' boxes start the tracking ROIs,
so a last-bit difference here would carry on. `facepipe.results.Detections.with_nms` and the
stage wrapper `detection_decode.weighted_nms` both run these.
"""

from __future__ import annotations

import numpy as np

__all__ = ["intersection_areas", "iou_matrix", "weighted_nms_arrays", "hard_nms_indices"]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Axis-aligned IoU between xyxy boxes a (N,4) and b (M,4); 0 where they don't intersect."""
    inter = intersection_areas(a, b)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    denom = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(denom > 0, inter / denom, 0.0)
    return iou


def intersection_areas(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,M) area of the intersection of xyxy boxes a (N,4) and b (M,4); 0 where they don't intersect."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.clip(rb - lt, 0, None).prod(-1)


def _running_sum(values: np.ndarray) -> np.ndarray:
    """Sum over axis 0 one element at a time, in float32 (a C++ `+=` loop; numpy's sum is pairwise)."""
    return np.add.accumulate(values, axis=0)[-1]


def weighted_nms_arrays(
    xywh: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's WEIGHTED non-max suppression over N detections.

    xywh: (N,4) xmin, ymin, width, height as MediaPipe holds the boxes (its right edge is
    xmin + width, not always xmax again); boxes: (N,4) xyxy, emitted for a degenerate head;
    keypoints: (N,K,2); scores: (N,).
    Clusters around the highest-scoring remaining detection (IoU > threshold); each output
    keeps the head's score and the score-weighted mean of the cluster's box corners and
    keypoints, summed in score order. The IoU matrix is computed once; the loop runs once per
    output, not per detection.
    Returns (heads, boxes (M,4), keypoints (M,K,2)): heads are the indices into the input of
    each output's head detection, in output (descending score) order.
    """
    n = int(scores.shape[0])
    if n == 0:
        return np.zeros(0, np.intp), np.zeros((0, 4), np.float32), np.asarray(keypoints, np.float32)[:0]
    order = np.argsort(-scores, kind="stable")
    xywh, kps, s = xywh[order], keypoints[order], scores[order]
    lo = xywh[:, :2]
    hi = lo + xywh[:, 2:]  # xmin + width, ymin + height
    corners = np.concatenate([lo, hi], 1)
    iou = iou_matrix(corners, corners)
    remaining = np.ones(n, bool)
    heads, out_b, out_k = [], [], []
    for head in range(n):
        if not remaining[head]:
            continue
        cluster = remaining & (iou[head] > iou_threshold)
        heads.append(order[head])
        if not cluster[head]:
            # A degenerate (zero-area) head overlaps nothing, not even itself: MediaPipe emits it
            # unchanged and stops, because that round removed no detection.
            out_b.append(np.asarray(boxes, np.float32)[order[head]])
            out_k.append(kps[head])
            break
        w = s[cluster]
        total = _running_sum(w)
        lo_mean = _running_sum(lo[cluster] * w[:, None]) / total
        hi_mean = _running_sum(hi[cluster] * w[:, None]) / total
        out_b.append(np.concatenate([lo_mean, hi_mean]))
        out_k.append(_running_sum(kps[cluster] * w[:, None, None]) / total)
        remaining &= ~cluster
    return np.asarray(heads, np.intp), np.asarray(out_b, np.float32), np.asarray(out_k, np.float32)


def hard_nms_indices(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """MediaPipe's DEFAULT (hard) NMS: indices of the kept xyxy boxes, highest score first.

    A detection is dropped when it overlaps an already kept, higher-scoring one by IoU >
    threshold. The IoU matrix is computed once; the loop runs once per kept detection.
    """
    n = int(scores.shape[0])
    if n == 0:
        return np.zeros(0, np.intp)
    order = np.argsort(-scores, kind="stable")
    iou = iou_matrix(boxes[order], boxes[order])
    remaining = np.ones(n, bool)
    kept = []
    for head in range(n):
        if not remaining[head]:
            continue
        kept.append(order[head])
        remaining &= ~(iou[head] > iou_threshold)
        remaining[head] = False
    return np.asarray(kept, np.intp)
