"""Map model-frame outputs back to the image: letterbox removal and ROI projection.

Float32 in MediaPipe's operation order with libm's cosf / sinf (see stages.rects
for why the last bits matter in tracking mode).
"""

from __future__ import annotations

import numpy as np

from facepipe.stages.detection_decode import RawDetections
from facepipe.stages.libm32 import cosf, sinf

__all__ = [
    "remove_letterbox_points",
    "project_landmarks",
    "rotate_world_landmarks",
    "project_points_matrix",
    "project_boxes_matrix",
    "box_corners",
    "matrix_z_scale",
    "remove_letterbox_detections",
]


def remove_letterbox_points(points: np.ndarray, padding: np.ndarray) -> np.ndarray:
    """Undo letterboxing for normalized (…,2|3) points; z scales like x.

    padding: (4,) left, top, right, bottom, or (N,4) for (N,P,C) points (one per item).
    """
    pad = np.asarray(padding, np.float32)
    if not pad.any():
        return points
    left, top, right, bottom = (pad[..., i, None] for i in range(4))
    p = np.array(points, np.float32, copy=True)
    one = np.float32(1.0)
    sx, sy = one - (left + right), one - (top + bottom)  # 1 - (l + r), not 1 - l - r: the last bit differs
    p[..., 0] = (p[..., 0] - left) / sx
    p[..., 1] = (p[..., 1] - top) / sy
    if p.shape[-1] > 2:
        p[..., 2] = p[..., 2] / sx
    return p


def remove_letterbox_detections(dets: RawDetections, padding: np.ndarray) -> RawDetections:
    """DetectionLetterboxRemoval: xmin, ymin and keypoints map like points, width and height are
    divided by the kept fraction (so the new xmax is xmin + width, with `sizes` set)."""
    pad = np.asarray(padding, np.float32)
    if len(dets) == 0 or not pad.any():
        return dets
    left, top, right, bottom = pad
    one = np.float32(1.0)
    sx, sy = one - (left + right), one - (top + bottom)
    b = dets.xywh
    x0, y0 = (b[:, 0] - left) / sx, (b[:, 1] - top) / sy
    w, h = b[:, 2] / sx, b[:, 3] / sy
    boxes = np.stack([x0, y0, x0 + w, y0 + h], axis=1)
    return RawDetections(boxes, remove_letterbox_points(dets.keypoints, pad), dets.scores, np.stack([w, h], axis=1))


def project_landmarks(points: np.ndarray, roi: np.ndarray) -> np.ndarray:
    """Project ROI-normalized (P,>=2) points into the image with the NORM_RECT rule (z * rect.width).

    roi: (5,) for (P,C) points, or (N,5) for (N,P,C) points (one ROI per item).
    """
    r = np.asarray(roi, np.float32)
    x_c, y_c, w, h, th = (r[..., i, None] for i in range(5))
    p = np.array(points, np.float32, copy=True)
    c, s = cosf(th), sinf(th)
    dx, dy = p[..., 0] - np.float32(0.5), p[..., 1] - np.float32(0.5)
    p[..., 0] = (c * dx - s * dy) * w + x_c
    p[..., 1] = (s * dx + c * dy) * h + y_c
    if p.shape[-1] > 2:
        p[..., 2] = p[..., 2] * w
    return p


def rotate_world_landmarks(points: np.ndarray, rotation: float) -> np.ndarray:
    """WorldLandmarkProjection: rotate x/y by the ROI rotation, z unchanged."""
    rot = np.asarray(rotation, np.float32)
    c, s = cosf(rot), sinf(rot)
    p = np.array(points, np.float32, copy=True)
    x, y = p[..., 0].copy(), p[..., 1]
    p[..., 0] = c * x - s * y
    p[..., 1] = s * x + c * y
    return p


def project_points_matrix(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map (…,2) points with the x/y rows of an ImageToTensor 4x4 matrix."""
    m = np.asarray(matrix, np.float32)  # MediaPipe's matrix is float32: x * m0 + y * m1 + m3 in float32
    p = np.asarray(points, np.float32)
    x, y = p[..., 0], p[..., 1]
    return np.stack([x * m[0, 0] + y * m[0, 1] + m[0, 3], x * m[1, 0] + y * m[1, 1] + m[1, 3]], -1)


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """(N,4,2) corners of xyxy boxes as MediaPipe forms them from xmin, ymin, width, height:
    (xmin, ymin), (xmin + width, ymin), (xmin + width, ymin + height), (xmin, ymin + height).
    xmin + width is not always xmax again; the last bit reaches the projected box."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    lo = b[:, :2]
    hi = lo + (b[:, 2:] - lo)  # RawDetections.sizes is not set where boxes reach here (before letterbox removal)
    return np.stack([lo, np.stack([hi[:, 0], lo[:, 1]], 1), hi, np.stack([lo[:, 0], hi[:, 1]], 1)], axis=1)


def matrix_z_scale(matrix: np.ndarray) -> np.ndarray:
    """LandmarkProjection's z scale for a (…,4,4) ImageToTensor matrix: the length of the projected
    unit x segment, as MediaPipe computes it ((m0 + m3) - m3 in float32, the length in double)."""
    m = np.asarray(matrix, np.float32)
    dx = (m[..., 0, 0] + m[..., 0, 3]) - m[..., 0, 3]
    dy = (m[..., 1, 0] + m[..., 1, 3]) - m[..., 1, 3]
    return np.sqrt(dx.astype(np.float64) ** 2 + dy.astype(np.float64) ** 2).astype(np.float32)


def project_boxes_matrix(boxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map xyxy boxes by their four corners; the result is the corners' axis-aligned hull."""
    pc = project_points_matrix(box_corners(boxes), matrix)
    return np.concatenate([pc.min(1), pc.max(1)], axis=1)
