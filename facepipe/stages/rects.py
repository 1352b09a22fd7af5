"""ROI geometry: detections/landmarks -> rotated rects, rect transformation, rect IoU.

A rect (ROI) is a float32 array [x_center, y_center, width, height, rotation]
in normalized image coordinates, rotation in radians (clockwise on screen).
Vectorized: functions take (N,5) / (N,K,2) arrays and return (N,5).

Float32 order of operations. In tracking mode each frame's ROI is computed from
the previous frame's landmarks, so a last-bit difference from MediaPipe feeds
back into the next crop and grows (enough to flip a presence score sitting near
its threshold). Every function here therefore follows its MediaPipe calculator's
C++ arithmetic: float32 values, the same operation order, libm's cosf / sinf /
atan2f (stages.libm32), and double only where the C++ promotes to double
(NormalizeRadians, the degree -> radian constants). Measured against
mediapipe 0.10.21's own intermediate streams: identical bits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from facepipe.stages.libm32 import atan2f, cosf, sinf

if TYPE_CHECKING:
    from facepipe.stages.detection_decode import RawDetections

__all__ = [
    "wrap_angle",
    "rotation_from_points",
    "rects_from_boxes",
    "rects_from_detections",
    "transform_rects",
    "rects_from_landmarks",
    "rects_from_keypoints",
    "rects_from_alignment_points",
    "hand_rects_from_landmarks",
    "hand_rects_from_pose_points",
    "rect_iou",
    "rect_corners_xyxy",
]

_f32 = np.float32
# std::numeric_limits<float>::min(): the smallest positive normal float. MediaPipe starts its
# running maxima there (not at -inf), so a maximum of all-negative values comes out as this.
_FLT_MIN = np.finfo(np.float32).tiny


def wrap_angle(a: np.ndarray) -> np.ndarray:
    """Wrap to [-pi, pi) (NormalizeRadians: float angle, double maths, float result)."""
    a = np.asarray(a, np.float64)
    return (a - 2 * np.pi * np.floor((a + np.pi) / (2 * np.pi))).astype(np.float32)


def _target_angle(target_deg: float) -> np.float32:
    # DetectionsToRects: M_PI * degrees / 180.f in double, stored as float.
    return _f32(np.pi * float(_f32(target_deg)) / 180.0)


def _rotation_px(x0, y0, x1, y1, target: np.float32) -> np.ndarray:
    """NormalizeRadians(target - atan2f(-(y1 - y0), x1 - x0)) for float32 pixel points."""
    return wrap_angle(target - atan2f(-(y1 - y0), x1 - x0))


def rotation_from_points(p0: np.ndarray, p1: np.ndarray, target_deg: float, image_size: tuple[int, int]) -> np.ndarray:
    """Rotation that brings the p0->p1 direction (normalized points, (N,2)) to `target_deg`, in pixels."""
    W, H = _f32(image_size[0]), _f32(image_size[1])
    p0, p1 = np.asarray(p0, np.float32), np.asarray(p1, np.float32)
    return _rotation_px(p0[..., 0] * W, p0[..., 1] * H, p1[..., 0] * W, p1[..., 1] * H, _target_angle(target_deg))


def _rects_from_xywh(xmin, ymin, width, height, keypoints, image_size, start, end, target_deg) -> np.ndarray:
    # RectFromBox: the centre is xmin + width / 2 (not (xmin + xmax) / 2: the last bit differs).
    out = np.empty((len(xmin), 5), np.float32)
    out[:, 0] = xmin + width / _f32(2)
    out[:, 1] = ymin + height / _f32(2)
    out[:, 2] = width
    out[:, 3] = height
    if target_deg is None or keypoints is None:
        out[:, 4] = 0.0
    else:
        kp = np.asarray(keypoints, np.float32)
        out[:, 4] = rotation_from_points(kp[:, start], kp[:, end], target_deg, image_size)
    return out


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
    return _rects_from_xywh(b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1], keypoints, image_size,
                            start, end, target_deg)


def rects_from_detections(
    dets: RawDetections, image_size: tuple[int, int], *, start: int = 0, end: int = 1, target_deg: float | None = 0.0
) -> np.ndarray:
    """DetectionsToRects (box mode) of `RawDetections`, from MediaPipe's own xmin/width (`dets.xywh`)."""
    b = dets.xywh
    return _rects_from_xywh(b[:, 0], b[:, 1], b[:, 2], b[:, 3], dets.keypoints, image_size, start, end, target_deg)


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
    W, H = _f32(image_size[0]), _f32(image_size[1])
    sx, sy = _f32(shift_x), _f32(shift_y)  # float proto fields
    r = np.array(rects, np.float32, copy=True).reshape(-1, 5)
    w, h, th = r[:, 2].copy(), r[:, 3].copy(), r[:, 4]
    if shift_x or shift_y:
        c, s = cosf(th), sinf(th)
        x_shift = (W * w * sx * c - H * h * sy * s) / W
        y_shift = (W * w * sx * s + H * h * sy * c) / H
        # MediaPipe shifts an unrotated rect by width * shift directly (not through the formula above).
        upright = th == 0
        r[:, 0] += np.where(upright, w * sx, x_shift)
        r[:, 1] += np.where(upright, h * sy, y_shift)
    if square_long:
        side = np.maximum(w * W, h * H)
        w, h = side / W, side / H
    r[:, 2] = w * _f32(scale_x)
    r[:, 3] = h * _f32(scale_y)
    return r


def _box_of_points(xy: np.ndarray) -> tuple[np.ndarray, ...]:
    """LandmarksToDetection's box of (N,P,2) points: xmin, ymin, width, height (maxima start at FLT_MIN)."""
    mn = xy.min(1)
    mx = np.maximum(xy.max(1), _FLT_MIN)
    return mn[:, 0], mn[:, 1], mx[:, 0] - mn[:, 0], mx[:, 1] - mn[:, 1]


def rects_from_keypoints(
    keypoints: np.ndarray, image_size: tuple[int, int], *, start: int, end: int, target_deg: float
) -> np.ndarray:
    """DetectionsToRects in USE_KEYPOINTS mode: the box of a detection's (N,K,2) normalized
    keypoints, centre (min + max) / 2, with rotation start->end."""
    kp = np.asarray(keypoints, np.float32).reshape(-1, np.asarray(keypoints).shape[-2], 2)
    mn, mx = kp.min(1), kp.max(1)
    out = np.empty((len(kp), 5), np.float32)
    out[:, :2] = (mn + mx) / np.float32(2)
    out[:, 2:4] = mx - mn
    out[:, 4] = rotation_from_points(kp[:, start], kp[:, end], target_deg, image_size)
    return out


def rects_from_landmarks(
    landmarks: np.ndarray, image_size: tuple[int, int], *, start: int, end: int, target_deg: float
) -> np.ndarray:
    """LandmarksToDetection (bounding box of all points) + DetectionsToRects with rotation start->end."""
    lm = np.asarray(landmarks, np.float32)
    lm = lm.reshape(-1, lm.shape[-2], lm.shape[-1])
    xy = lm[:, :, :2]
    return _rects_from_xywh(*_box_of_points(xy), xy, image_size, start, end, target_deg)


def rects_from_alignment_points(
    centers: np.ndarray, scale_points: np.ndarray, image_size: tuple[int, int], *, target_deg: float
) -> np.ndarray:
    """AlignmentPointsRects: centre = start point, side = 2 * |end - start| in pixels."""
    W, H = _f32(image_size[0]), _f32(image_size[1])
    c = np.asarray(centers, np.float32).reshape(-1, 2)
    p = np.asarray(scale_points, np.float32).reshape(-1, 2)
    xc, yc, xs, ys = c[:, 0] * W, c[:, 1] * H, p[:, 0] * W, p[:, 1] * H
    return _pixel_box_rects(xc, yc, xs, ys, _rotation_px(xc, yc, xs, ys, _target_angle(target_deg)), W, H)


def _pixel_box_rects(xc, yc, xs, ys, rotation, W: np.float32, H: np.float32) -> np.ndarray:
    """Rect centred on pixel point (xc, yc) with side 2 * |(xs, ys) - (xc, yc)|, back in normalized units."""
    dx, dy = xs - xc, ys - yc
    box = np.sqrt(dx * dx + dy * dy) * _f32(2)  # sqrtf, then * 2.0 (exact)
    out = np.empty((len(xc), 5), np.float32)
    out[:, 0], out[:, 1] = xc / W, yc / H  # (x * W) / W: not always x again
    out[:, 2], out[:, 3] = box / W, box / H
    out[:, 4] = rotation
    return out


def hand_rects_from_pose_points(
    wrist: np.ndarray, index: np.ndarray, pinky: np.ndarray, image_size: tuple[int, int], *, target_deg: float = 90.0
) -> np.ndarray:
    """HandDetectionsFromPoseToRects: from (N,2) normalized pose wrist / index / pinky points, a rect
    centred on the estimated middle finger (2 * index + pinky) / 3, side 2 * its distance to the
    wrist, rotated so wrist -> middle finger points to `target_deg`."""
    W, H = _f32(image_size[0]), _f32(image_size[1])
    w, i, p = (np.asarray(a, np.float32).reshape(-1, 2) for a in (wrist, index, pinky))
    xw, yw = w[:, 0] * W, w[:, 1] * H
    xm = (_f32(2) * (i[:, 0] * W) + p[:, 0] * W) / _f32(3)
    ym = (_f32(2) * (i[:, 1] * H) + p[:, 1] * H) / _f32(3)
    return _pixel_box_rects(xm, ym, xw, yw, _rotation_px(xw, yw, xm, ym, _target_angle(target_deg)), W, H)


_HAND_SUBSET = np.array([0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18])


def hand_rects_from_landmarks(landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """HandLandmarksToRect: rotated bounding box of a 12-point palm subset (normalized (N,21,>=2))."""
    W, H = _f32(image_size[0]), _f32(image_size[1])
    lm = np.asarray(landmarks, np.float32)
    sub = lm.reshape(-1, 21, lm.shape[-1])[:, _HAND_SUBSET, :2]
    two = _f32(2)
    # Wrist -> ((index MCP + ring MCP) / 2 + middle MCP) / 2 (subset positions 0, 4, 8, 6), in pixels.
    x1 = ((sub[:, 4, 0] + sub[:, 8, 0]) / two + sub[:, 6, 0]) / two * W
    y1 = ((sub[:, 4, 1] + sub[:, 8, 1]) / two + sub[:, 6, 1]) / two * H
    rot = _rotation_px(sub[:, 0, 0] * W, sub[:, 0, 1] * H, x1, y1, _f32(np.pi * 0.5))
    reverse = wrap_angle(-rot)
    ax = (np.maximum(sub[..., 0].max(1), _FLT_MIN) + sub[..., 0].min(1)) / two
    ay = (np.maximum(sub[..., 1].max(1), _FLT_MIN) + sub[..., 1].min(1)) / two
    ox = (sub[..., 0] - ax[:, None]) * W
    oy = (sub[..., 1] - ay[:, None]) * H
    cr, sr = cosf(reverse)[:, None], sinf(reverse)[:, None]
    px = ox * cr - oy * sr
    py = ox * sr + oy * cr
    mx_x, mn_x = np.maximum(px.max(1), _FLT_MIN), px.min(1)
    mx_y, mn_y = np.maximum(py.max(1), _FLT_MIN), py.min(1)
    pcx, pcy = (mx_x + mn_x) / two, (mx_y + mn_y) / two
    c, s = cosf(rot), sinf(rot)
    cx = pcx * c - pcy * s + W * ax
    cy = pcx * s + pcy * c + H * ay
    return np.stack([cx / W, cy / H, (mx_x - mn_x) / W, (mx_y - mn_y) / H, rot], axis=1).astype(np.float32)


def rect_corners_xyxy(rects: np.ndarray) -> np.ndarray:
    """Axis-aligned (rotation ignored) normalized xyxy boxes of rects."""
    r = np.asarray(rects, np.float32).reshape(-1, 5)
    lo = r[:, :2] - r[:, 2:4] / np.float32(2)
    return np.concatenate([lo, lo + r[:, 2:4]], 1)  # Rectangle_f(xmin, ymin, width, height): max = min + size


def rect_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,M) axis-aligned IoU of rects, as MediaPipe's AssociationNormRect uses."""
    from facepipe.stages.nms import iou_matrix

    return iou_matrix(rect_corners_xyxy(a), rect_corners_xyxy(b))
