"""Map model-frame outputs back to the image: letterbox removal and ROI projection."""

from __future__ import annotations

import numpy as np

__all__ = [
    "remove_letterbox_points",
    "project_landmarks",
    "rotate_world_landmarks",
    "project_points_matrix",
    "project_boxes_matrix",
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
    sx, sy = 1.0 - left - right, 1.0 - top - bottom
    p[..., 0] = (p[..., 0] - left) / sx
    p[..., 1] = (p[..., 1] - top) / sy
    if p.shape[-1] > 2:
        p[..., 2] = p[..., 2] / sx
    return p


def project_landmarks(points: np.ndarray, roi: np.ndarray) -> np.ndarray:
    """Project ROI-normalized (P,>=2) points into the image with the NORM_RECT rule (z * rect.width).

    roi: (5,) for (P,C) points, or (N,5) for (N,P,C) points (one ROI per item).
    """
    r = np.asarray(roi, np.float32)
    x_c, y_c, w, h, th = (r[..., i, None] for i in range(5))
    p = np.array(points, np.float32, copy=True)
    c, s = np.cos(th), np.sin(th)
    dx, dy = p[..., 0] - 0.5, p[..., 1] - 0.5
    p[..., 0] = (c * dx - s * dy) * w + x_c
    p[..., 1] = (s * dx + c * dy) * h + y_c
    if p.shape[-1] > 2:
        p[..., 2] = p[..., 2] * w
    return p


def rotate_world_landmarks(points: np.ndarray, rotation: float) -> np.ndarray:
    """WorldLandmarkProjection: rotate x/y by the ROI rotation, z unchanged."""
    c, s = np.cos(np.float32(rotation)), np.sin(np.float32(rotation))
    p = np.array(points, np.float32, copy=True)
    x, y = p[..., 0].copy(), p[..., 1]
    p[..., 0] = c * x - s * y
    p[..., 1] = s * x + c * y
    return p


def project_points_matrix(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map (…,2) points with the x/y rows of an ImageToTensor 4x4 matrix."""
    m = np.asarray(matrix)
    x, y = points[..., 0], points[..., 1]
    return np.stack([m[0, 0] * x + m[0, 1] * y + m[0, 3], m[1, 0] * x + m[1, 1] * y + m[1, 3]], -1).astype(np.float32)


def project_boxes_matrix(boxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map xyxy boxes by their four corners; the result is the corners' axis-aligned hull."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], axis=1)
    pc = project_points_matrix(corners, matrix)
    return np.concatenate([pc.min(1), pc.max(1)], axis=1)
