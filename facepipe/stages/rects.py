"""ROI geometry: detections/landmarks -> rotated rects, rect transformation, rect IoU.

A rect (ROI) is a float32 array [x_center, y_center, width, height, rotation]
in normalized image coordinates, rotation in radians (clockwise on screen).
Vectorized: functions take (N,5) / (N,K,2) arrays and return (N,5).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "wrap_angle",
    "rotation_from_points",
    "rects_from_boxes",
    "transform_rects",
    "rects_from_landmarks",
    "rects_from_alignment_points",
    "hand_rects_from_landmarks",
    "rect_iou",
    "rect_corners_xyxy",
]


def wrap_angle(a: np.ndarray) -> np.ndarray:
    """Wrap to [-pi, pi)."""
    return a - 2 * np.pi * np.floor((a + np.pi) / (2 * np.pi))


def rotation_from_points(p0: np.ndarray, p1: np.ndarray, target_deg: float, image_size: tuple[int, int]) -> np.ndarray:
    """Rotation that brings the p0->p1 direction (normalized points, (N,2)) to `target_deg`, in pixels."""
    W, H = image_size
    dx = (p1[..., 0] - p0[..., 0]) * W
    dy = (p1[..., 1] - p0[..., 1]) * H
    return wrap_angle(np.deg2rad(target_deg) - np.arctan2(-dy, dx))


def rects_from_boxes(
    boxes_xyxy: np.ndarray,
    keypoints: np.ndarray | None,
    image_size: tuple[int, int],
    *,
    start: int = 0,
    end: int = 1,
    target_deg: float | None = 0.0,
) -> np.ndarray:
    """DetectionsToRects (box mode): centre/size from normalized boxes, rotation from keypoints."""
    b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    out = np.empty((len(b), 5), np.float32)
    out[:, 0] = (b[:, 0] + b[:, 2]) / 2
    out[:, 1] = (b[:, 1] + b[:, 3]) / 2
    out[:, 2] = b[:, 2] - b[:, 0]
    out[:, 3] = b[:, 3] - b[:, 1]
    if target_deg is None or keypoints is None:
        out[:, 4] = 0.0
    else:
        kp = np.asarray(keypoints, np.float32)
        out[:, 4] = rotation_from_points(kp[:, start], kp[:, end], target_deg, image_size)
    return out


def transform_rects(
    rects: np.ndarray,
    image_size: tuple[int, int],
    *,
    scale_x: float = 1.0,
    scale_y: float = 1.0,
    shift_x: float = 0.0,
    shift_y: float = 0.0,
    square_long: bool = True,
) -> np.ndarray:
    """RectTransformation: shift (in the rotated frame), square_long in pixels, then scale."""
    W, H = image_size
    r = np.array(rects, np.float32, copy=True).reshape(-1, 5)
    w, h, th = r[:, 2].copy(), r[:, 3].copy(), r[:, 4]
    if shift_x or shift_y:
        c, s = np.cos(th), np.sin(th)
        r[:, 0] += (W * w * shift_x * c - H * h * shift_y * s) / W
        r[:, 1] += (W * w * shift_x * s + H * h * shift_y * c) / H
    if square_long:
        side = np.maximum(w * W, h * H)
        w, h = side / W, side / H
    r[:, 2] = w * scale_x
    r[:, 3] = h * scale_y
    return r


def rects_from_landmarks(
    landmarks: np.ndarray, image_size: tuple[int, int], *, start: int, end: int, target_deg: float
) -> np.ndarray:
    """LandmarksToDetection (bounding box of all points) + DetectionsToRects with rotation start->end."""
    lm = np.asarray(landmarks, np.float32)
    lm = lm.reshape(-1, lm.shape[-2], lm.shape[-1])
    xy = lm[:, :, :2]
    boxes = np.concatenate([xy.min(1), xy.max(1)], axis=1)
    return rects_from_boxes(boxes, xy, image_size, start=start, end=end, target_deg=target_deg)


def rects_from_alignment_points(
    centers: np.ndarray, scale_points: np.ndarray, image_size: tuple[int, int], *, target_deg: float
) -> np.ndarray:
    """AlignmentPointsRects: centre = start point, side = 2 * |end - start| in pixels."""
    W, H = image_size
    c = np.asarray(centers, np.float32).reshape(-1, 2)
    p = np.asarray(scale_points, np.float32).reshape(-1, 2)
    d = np.hypot((p[:, 0] - c[:, 0]) * W, (p[:, 1] - c[:, 1]) * H)
    box = 2 * d
    out = np.empty((len(c), 5), np.float32)
    out[:, 0], out[:, 1] = c[:, 0], c[:, 1]
    out[:, 2], out[:, 3] = box / W, box / H
    out[:, 4] = rotation_from_points(c, p, target_deg, image_size)
    return out


_HAND_SUBSET = np.array([0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18])


def hand_rects_from_landmarks(landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """HandLandmarksToRect: rotated bounding box of a 12-point palm subset (normalized (N,21,>=2))."""
    W, H = image_size
    lm = np.asarray(landmarks, np.float32).reshape(-1, 21, np.asarray(landmarks).shape[-1])[:, :, :2]
    p0 = lm[:, 0]
    p1 = ((lm[:, 5] + lm[:, 13]) / 2 + lm[:, 9]) / 2
    rot = rotation_from_points(p0, p1, 90.0, image_size)
    sub = lm[:, _HAND_SUBSET]
    pivot = (sub.min(1) + sub.max(1)) / 2  # (N,2) normalized
    d = (sub - pivot[:, None]) * np.array([W, H], np.float32)
    c, s = np.cos(rot)[:, None], np.sin(rot)[:, None]
    # Rotate by -rotation.
    rx = d[..., 0] * c + d[..., 1] * s
    ry = -d[..., 0] * s + d[..., 1] * c
    mn_x, mx_x, mn_y, mx_y = rx.min(1), rx.max(1), ry.min(1), ry.max(1)
    pcx, pcy = (mn_x + mx_x) / 2, (mn_y + mx_y) / 2
    c1, s1 = np.cos(rot), np.sin(rot)
    cx = pcx * c1 - pcy * s1 + pivot[:, 0] * W
    cy = pcx * s1 + pcy * c1 + pivot[:, 1] * H
    return np.stack([cx / W, cy / H, (mx_x - mn_x) / W, (mx_y - mn_y) / H, rot], axis=1).astype(np.float32)


def rect_corners_xyxy(rects: np.ndarray) -> np.ndarray:
    """Axis-aligned (rotation ignored) normalized xyxy boxes of rects."""
    r = np.asarray(rects, np.float32).reshape(-1, 5)
    return np.stack([r[:, 0] - r[:, 2] / 2, r[:, 1] - r[:, 3] / 2, r[:, 0] + r[:, 2] / 2, r[:, 1] + r[:, 3] / 2], 1)


def rect_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,M) axis-aligned IoU of rects, as MediaPipe's AssociationNormRect uses."""
    from facepipe.stages.detection_decode import iou_matrix

    return iou_matrix(rect_corners_xyxy(a), rect_corners_xyxy(b))
