"""ROI crop/rotate/letterbox into a model input tensor (MediaPipe's ImageToTensor, OpenCV path).

The warp runs on the uint8 image with the same two OpenCV calls MediaPipe
uses (boxPoints -> getPerspectiveTransform -> warpPerspective), so crops match
to the pixel; the tensor is then scaled to the model's value range.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["TensorCrop", "BORDER_ZERO", "BORDER_REPLICATE", "crop_to_tensor", "crops_to_tensor", "full_image_roi"]

BORDER_ZERO = cv2.BORDER_CONSTANT
BORDER_REPLICATE = cv2.BORDER_REPLICATE


@dataclass(frozen=True)
class TensorCrop:
    """One ROI as a model input.

    tensor: (H_t, W_t, 3) float32 in the requested range.
    roi: (5,) the ROI actually sampled (after keep-aspect padding), normalized
         x_center, y_center, width, height, rotation.
    padding: (4,) letterbox fractions of the tensor: left, top, right, bottom.
    matrix: (4,4) maps (u, v) in [0,1]^2 of the padded ROI to image-normalized
            coordinates (MediaPipe's MATRIX output).
    """

    tensor: np.ndarray
    roi: np.ndarray
    padding: np.ndarray
    matrix: np.ndarray


def full_image_roi() -> np.ndarray:
    return np.array([0.5, 0.5, 1.0, 1.0, 0.0], np.float32)


def _padded_roi_px(roi: np.ndarray, W: int, H: int, out_w: int, out_h: int, keep_aspect: bool):
    cx, cy, w, h, theta = float(roi[0]) * W, float(roi[1]) * H, float(roi[2]) * W, float(roi[3]) * H, float(roi[4])
    pad = np.zeros(4, np.float32)
    if keep_aspect:
        if w <= 0 or h <= 0:
            raise ValueError(f"ROI must have a positive size for keep_aspect_ratio, got {w}x{h} px")
        a_t, a_r = out_h / out_w, h / w
        if a_t > a_r:
            h = w * a_t
            p = (1.0 - a_r / a_t) / 2.0
            pad[1] = pad[3] = p
        else:
            w = h / a_t
            p = (1.0 - a_t / a_r) / 2.0
            pad[0] = pad[2] = p
    return cx, cy, w, h, theta, pad


def _roi_matrix(cx: float, cy: float, w: float, h: float, theta: float, W: int, H: int) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    m = np.zeros((4, 4), np.float64)
    m[0, 0], m[0, 1], m[0, 3] = w * c / W, -h * s / W, (cx - 0.5 * w * c + 0.5 * h * s) / W
    m[1, 0], m[1, 1], m[1, 3] = w * s / H, h * c / H, (cy - 0.5 * h * c - 0.5 * w * s) / H
    m[2, 2] = w / W
    m[3, 3] = 1.0
    return m


def _warp_matrix(cx: float, cy: float, w: float, h: float, theta: float, out_w: int, out_h: int) -> np.ndarray:
    src = cv2.boxPoints(((cx, cy), (w, h), theta * 180.0 / np.pi)).astype(np.float32)
    dst = np.array([[0, out_h], [0, 0], [out_w, 0], [out_w, out_h]], np.float32)
    return cv2.getPerspectiveTransform(src, dst)


def crop_to_tensor(
    image: np.ndarray,
    roi: np.ndarray,
    out_w: int,
    out_h: int,
    *,
    keep_aspect: bool = False,
    border: int = BORDER_REPLICATE,
    value_range: tuple[float, float] = (0.0, 1.0),
    out: np.ndarray | None = None,
) -> TensorCrop:
    """Crop `roi` (normalized x_c, y_c, w, h, rotation) of an RGB uint8 image into a tensor.

    `out`, if given, is a float32 (out_h, out_w, 3) buffer the tensor is written into
    (lets batch callers fill one preallocated array without copies).
    """
    H, W = image.shape[:2]
    cx, cy, w, h, theta, pad = _padded_roi_px(np.asarray(roi), W, H, out_w, out_h, keep_aspect)
    pm = _warp_matrix(cx, cy, w, h, theta, out_w, out_h)
    warped = cv2.warpPerspective(image, pm, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)
    lo, hi = value_range
    if out is None:
        out = np.empty((out_h, out_w, 3), np.float32)
    # out = v * (hi - lo) / 255 + lo, computed in float32 as MediaPipe does.
    np.multiply(warped, np.float32((hi - lo) / 255.0), out=out, casting="unsafe")
    if lo:
        out += np.float32(lo)
    padded = np.array([cx / W, cy / H, w / W, h / H, theta], np.float32)
    return TensorCrop(out, padded, pad, _roi_matrix(cx, cy, w, h, theta, W, H))


def crops_to_tensor(
    image: np.ndarray,
    rois: np.ndarray,
    out_w: int,
    out_h: int,
    **kwargs,
) -> tuple[np.ndarray, list[TensorCrop]]:
    """Crop many ROIs of one image into a (N, out_h, out_w, 3) batch tensor."""
    rois = np.asarray(rois, np.float32).reshape(-1, 5)
    batch = np.empty((len(rois), out_h, out_w, 3), np.float32)
    crops = [crop_to_tensor(image, r, out_w, out_h, out=batch[i], **kwargs) for i, r in enumerate(rois)]
    return batch, crops
