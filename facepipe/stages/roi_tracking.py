"""Keep-or-replace ROI tracking (MediaPipe holistic's RoiTrackingCalculator).

Each frame the holistic pipeline derives a fresh "re-crop" ROI for a hand or
the face from the pose. The ROI built from the previous frame's landmarks is
kept instead when it still agrees with the re-crop ROI (similar rotation,
position and size, and the previous landmarks lie inside the slightly shrunk
re-crop ROI); keeping it avoids jitter from the coarser pose-based ROI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepipe.stages.libm32 import cosf, sinf

__all__ = ["RoiTrackingRequirements", "HAND_TRACKING", "FACE_TRACKING", "select_tracking_roi"]


@dataclass(frozen=True)
class RoiTrackingRequirements:
    """rotation_degrees: max |rotation difference|; translation / scale: max centre shift
    and size change as fractions of the re-crop ROI's size; recrop_rect_margin: the
    re-crop ROI is grown by this fraction (negative shrinks) before the landmark test."""

    rotation_degrees: float
    translation: float
    scale: float
    recrop_rect_margin: float


HAND_TRACKING = RoiTrackingRequirements(40.0, 0.2, 0.4, -0.1)
FACE_TRACKING = RoiTrackingRequirements(15.0, 0.1, 0.3, -0.2)


def _rotated(x: np.ndarray, y: np.ndarray, cosa: np.float32, sina: np.float32) -> tuple[np.ndarray, np.ndarray]:
    return x * cosa - y * sina, x * sina + y * cosa


# Float32 as the C++ calculator (cosf / sinf, degrees via double): a decision that flips on the
# last bit would otherwise pick a different ROI than MediaPipe's and the tracks would part.
_f32 = np.float32


def _degrees(rad: float) -> np.float32:
    return _f32(np.float64(_f32(rad)) / np.pi * 180.0)


def _rects_agree(prev: np.ndarray, recrop: np.ndarray, W: int, H: int, req: RoiTrackingRequirements) -> bool:
    W, H = _f32(W), _f32(H)
    rot = -_f32(recrop[4])
    cosa, sina = cosf(rot)[()], sinf(rot)[()]
    px, py = _rotated(_f32(prev[0]) * W, _f32(prev[1]) * H, cosa, sina)
    rx, ry = _rotated(_f32(recrop[0]) * W, _f32(recrop[1]) * H, cosa, sina)
    pw, ph = _f32(prev[2]) * W, _f32(prev[3]) * H
    rw, rh = _f32(recrop[2]) * W, _f32(recrop[3]) * H
    diff = _degrees(prev[4]) - _degrees(recrop[4])
    if diff > 180:
        diff -= _f32(360)
    if diff < -180:
        diff += _f32(360)
    return bool(
        abs(diff) <= _f32(req.rotation_degrees)
        and abs(px - rx) <= rw * _f32(req.translation)
        and abs(py - ry) <= rh * _f32(req.translation)
        and abs(pw - rw) <= rw * _f32(req.scale)
        and abs(ph - rh) <= rh * _f32(req.scale)
    )


def _landmarks_inside(landmarks: np.ndarray, recrop: np.ndarray, W: int, H: int, margin: float) -> bool:
    W, H = _f32(W), _f32(H)
    rot = -_f32(recrop[4])
    cosa, sina = cosf(rot)[()], sinf(rot)[()]
    cx, cy = _rotated(_f32(recrop[0]) * W, _f32(recrop[1]) * H, cosa, sina)
    half_w = _f32(recrop[2]) * W * (_f32(1.0) + _f32(margin)) * _f32(0.5)
    half_h = _f32(recrop[3]) * H * (_f32(1.0) + _f32(margin)) * _f32(0.5)
    lm = np.asarray(landmarks, np.float32)
    x, y = _rotated(lm[:, 0] * W, lm[:, 1] * H, cosa, sina)
    return bool(((cx - half_w < x) & (x < cx + half_w) & (cy - half_h < y) & (y < cy + half_h)).all())


def select_tracking_roi(
    recrop_roi: np.ndarray | None,
    prev_roi: np.ndarray | None,
    prev_landmarks: np.ndarray | None,
    image_size: tuple[int, int],
    requirements: RoiTrackingRequirements,
) -> np.ndarray | None:
    """The ROI to read landmarks from this frame: None without a re-crop ROI, the re-crop ROI
    without a previous one or when the previous one fails a requirement, else the previous ROI."""
    if recrop_roi is None:
        return None
    if prev_roi is None or prev_landmarks is None:
        return recrop_roi
    W, H = image_size
    keep = _rects_agree(prev_roi, recrop_roi, W, H, requirements) and _landmarks_inside(
        prev_landmarks, recrop_roi, W, H, requirements.recrop_rect_margin
    )
    return prev_roi if keep else recrop_roi
