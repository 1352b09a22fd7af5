"""ROI crop/rotate/letterbox into a model input tensor (MediaPipe's ImageToTensor, OpenCV path).

The warp runs on the uint8 image with MediaPipe's geometry (boxPoints ->
getPerspectiveTransform) and OpenCV 4.x's warpPerspective sampling (see
`warp_perspective_mp`), so crops match to the pixel whatever the installed
OpenCV; the tensor is then scaled to the model's value range.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "TensorCrop", "BORDER_ZERO", "BORDER_REPLICATE", "crop_to_tensor", "crops_to_tensor", "full_image_roi",
    "warp_perspective_mp",
]

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
    # float32 throughout, as MediaPipe's GetRoi/PadRoi: the last bits reach the crop via boxPoints.
    f32 = np.float32
    r = np.asarray(roi, np.float32)
    cx, cy, w, h, theta = r[0] * f32(W), r[1] * f32(H), r[2] * f32(W), r[3] * f32(H), r[4]
    pad = np.zeros(4, np.float32)
    if keep_aspect:
        if not (w > 0 and h > 0):
            raise ValueError(f"ROI must have a positive size for keep_aspect_ratio, got {w}x{h} px")
        a_t, a_r = f32(out_h) / f32(out_w), h / w
        if a_t > a_r:
            h = w * a_t
            pad[1] = pad[3] = (f32(1.0) - a_r / a_t) / f32(2.0)
        else:
            w = h / a_t
            pad[0] = pad[2] = (f32(1.0) - a_t / a_r) / f32(2.0)
    return float(cx), float(cy), float(w), float(h), float(theta), pad


def _roi_matrix(cx: float, cy: float, w: float, h: float, theta: float, W: int, H: int) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    m = np.zeros((4, 4), np.float64)
    m[0, 0], m[0, 1], m[0, 3] = w * c / W, -h * s / W, (cx - 0.5 * w * c + 0.5 * h * s) / W
    m[1, 0], m[1, 1], m[1, 3] = w * s / H, h * c / H, (cy - 0.5 * h * c - 0.5 * w * s) / H
    m[2, 2] = w / W
    m[3, 3] = 1.0
    return m


def _box_points(cx: float, cy: float, w: float, h: float, angle_deg: float) -> np.ndarray:
    """cv::RotatedRect::points as OpenCV <= 4.11 (and MediaPipe) compute it, in float32.

    Newer OpenCV (checked: 4.14) gives different last bits in ~70% of cases, which
    changes a few crop pixels by up to 4 levels.
    """
    f32 = np.float32
    cx, cy, w, h = f32(cx), f32(cy), f32(w), f32(h)
    rad = float(f32(angle_deg)) * np.pi / 180.0
    b = f32(np.cos(rad)) * f32(0.5)
    a = f32(np.sin(rad)) * f32(0.5)
    p0 = (cx - a * h - b * w, cy + b * h - a * w)
    p1 = (cx + a * h - b * w, cy - b * h - a * w)
    two = f32(2.0)
    return np.array([p0, p1, (two * cx - p0[0], two * cy - p0[1]), (two * cx - p1[0], two * cy - p1[1])],
                    np.float32)


def _warp_matrix(cx: float, cy: float, w: float, h: float, theta: float, out_w: int, out_h: int) -> np.ndarray:
    # MediaPipe: angle = rotation * 180.f / M_PI (float, then double division, stored as float).
    angle = float(np.float32(float(np.float32(theta) * np.float32(180.0)) / np.pi))
    src = _box_points(cx, cy, w, h, angle)
    dst = np.array([[0, out_h], [0, 0], [out_w, 0], [out_w, out_h]], np.float32)
    return cv2.getPerspectiveTransform(src, dst)


# OpenCV 4.x's own warpPerspective is exactly MediaPipe's sampling and ~5x faster
# than the emulation below (0.43 vs 2.4 ms for a 256² crop); measured identical on
# 60 random rotated ROIs with opencv-python-headless 4.11 and 4.14. The emulation
# only runs on OpenCV 5, whose rewritten warp rounds differently.
_NATIVE_WARP_MATCHES = int(cv2.__version__.split(".")[0]) < 5

_INTER_BITS = 5
_INTER_TAB_SIZE = 1 << _INTER_BITS
_BLOCK_SZ = 32


def _invert3x3_like_opencv(pm: np.ndarray) -> list[float]:
    """cv::invert of a 3x3 (DECOMP_LU takes the cofactor formula): same float64 ops, same order.

    The exact last bits matter: they decide which way ties round in the fixed-point maps.
    """
    S = [[float(v) for v in row] for row in np.asarray(pm, np.float64)]
    det = (S[0][0] * (S[1][1] * S[2][2] - S[1][2] * S[2][1])
           - S[0][1] * (S[1][0] * S[2][2] - S[1][2] * S[2][0])
           + S[0][2] * (S[1][0] * S[2][1] - S[1][1] * S[2][0]))
    d = 1.0 / det
    return [
        (S[1][1] * S[2][2] - S[1][2] * S[2][1]) * d, (S[0][2] * S[2][1] - S[0][1] * S[2][2]) * d,
        (S[0][1] * S[1][2] - S[0][2] * S[1][1]) * d, (S[1][2] * S[2][0] - S[1][0] * S[2][2]) * d,
        (S[0][0] * S[2][2] - S[0][2] * S[2][0]) * d, (S[0][2] * S[1][0] - S[0][0] * S[1][2]) * d,
        (S[1][0] * S[2][1] - S[1][1] * S[2][0]) * d, (S[0][1] * S[2][0] - S[0][0] * S[2][1]) * d,
        (S[0][0] * S[1][1] - S[0][1] * S[1][0]) * d,
    ]


def _fixed_point_maps(pm: np.ndarray, out_w: int, out_h: int) -> tuple[np.ndarray, np.ndarray]:
    """The sampling maps OpenCV 4.x's warpPerspective builds for `pm` (src -> dst).

    Reproduces its arithmetic: inverse matrix by cofactors, per-row origin taken at
    the start of each 64-pixel-wide block, source position rounded to 1/32 px
    (half to even), split into an integer pixel (map1, int16 x/y) and an index into
    the bilinear weight table (map2).
    """
    M = _invert3x3_like_opencv(pm)
    bh0 = min(_BLOCK_SZ // 2, out_h)
    bw0 = min(_BLOCK_SZ * _BLOCK_SZ // bh0, out_w)
    cols = np.arange(out_w)
    block_x = (cols // bw0 * bw0).astype(np.float64)
    x1 = (cols % bw0).astype(np.float64)
    rows = np.arange(out_h, dtype=np.float64)
    affine = M[6] == 0.0 and M[7] == 0.0 and M[8] == 1.0
    if not affine:
        W = (M[6] * block_x)[None, :] + (M[7] * rows)[:, None]
        W += M[8]
        W += M[6] * x1
        nz = W != 0
        W = np.where(nz, _INTER_TAB_SIZE / np.where(nz, W, 1.0), 0.0)
    fixed = []
    for a, b, c in ((M[0], M[1], M[2]), (M[3], M[4], M[5])):
        # ((a*x + b*y) + c + a*x1) * W, in OpenCV's order (float64 addition is commutative, not associative).
        v = (b * rows)[:, None] + (a * block_x)[None, :]
        v += c
        v += a * x1
        v *= _INTER_TAB_SIZE if affine else W
        np.rint(v, out=v)
        np.clip(v, np.iinfo(np.int32).min, np.iinfo(np.int32).max, out=v)
        fixed.append(v.astype(np.int32))
    Xi, Yi = fixed
    map1 = np.empty((out_h, out_w, 2), np.int16)
    for k, v in enumerate(fixed):
        map1[..., k] = np.clip(v >> _INTER_BITS, -32768, 32767)
    map2 = ((Yi & (_INTER_TAB_SIZE - 1)) << _INTER_BITS) | (Xi & (_INTER_TAB_SIZE - 1))
    return map1, map2.astype(np.uint16)


# OpenCV 5 rewrote warpPerspective; up to 4.x (checked: 4.11, 4.14) it is MediaPipe's own.
_NATIVE_WARP_MATCHES_MP = int(cv2.__version__.split(".")[0]) < 5


def warp_perspective_mp(image: np.ndarray, pm: np.ndarray, out_w: int, out_h: int, border: int) -> np.ndarray:
    """cv2.warpPerspective(INTER_LINEAR) with MediaPipe's (OpenCV 4.x) sampling on any OpenCV.

    OpenCV 5's warpPerspective gives uint8 results up to 4 levels away from 4.x,
    enough to move palm detections by ~0.5 px. There, remapping with 4.x's own
    fixed-point maps reproduces MediaPipe's crops (measured: identical to OpenCV
    4.11's warpPerspective on 90 random rotated/letterboxed ROIs of 3 images; palm
    detections then equal MediaPipe's to 1e-7). On OpenCV 4.x the native call is
    used (it is the same and faster).
    """
    if _NATIVE_WARP_MATCHES_MP:
        return cv2.warpPerspective(image, pm, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=border,
                                   borderValue=0)
    map1, map2 = _fixed_point_maps(pm, out_w, out_h)
    return cv2.remap(image, map1, map2, cv2.INTER_LINEAR, borderMode=border, borderValue=0)


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
    warped = warp_perspective_mp(image, pm, out_w, out_h, border)
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
