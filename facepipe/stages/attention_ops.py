"""MediaPipe's three custom TFLite operators of the attention face mesh, in numpy, in float32 as the C++ does.

face_landmark_with_attention.tflite crops lips and eyes out of its own feature
map with these operators (MediaPipe registers them with its interpreter; LiteRT
has none of them). Semantics from mediapipe/util/tflite/operations (v2 of each):

* Landmarks2TransformMatrix: from the predicted mesh, a 4x4 matrix mapping a
  crop's pixel grid into the landmarks' frame: centre and size of a landmark
  subset's box after rotating by the angle between two landmarks, scaled.
* TransformTensorBilinear: samples a feature map at the matrix-mapped pixel
  centres (bilinear, zero outside).
* TransformLandmarks: maps crop-frame 2-D points back with the matrix.

Each value is computed with the same float32 / float64 steps, in the same order,
as the C++ (a double literal in an expression promotes it to double, the result
is rounded back to float on assignment): the outputs are bit for bit MediaPipe's
when the compiler did not fuse multiply-adds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from facepipe.stages.libm32 import atan2f, cosf, sinf

__all__ = ["landmarks_to_transform_matrix", "transform_tensor_bilinear", "transform_landmarks"]

_F = np.float32


def landmarks_to_transform_matrix(landmarks: np.ndarray, options: Mapping[str, Any]) -> np.ndarray:
    """(P,3) float32 landmarks -> (4,4) float32 matrix (Landmarks2TransformMatrix v2)."""
    lm = np.asarray(landmarks, _F).reshape(-1, 3)
    left, right = lm[int(options["left_rotation_idx"])], lm[int(options["right_rotation_idx"])]
    rotation = atan2f(right[1] - left[1], right[0] - left[0])
    rotation = _F(options.get("target_rotation_radians", 0.0)) - _F(rotation)
    subset: Sequence[int] = options["subset_idxs"]
    pts = lm[np.asarray(subset, np.intp)]
    c, s = _F(cosf(rotation)), _F(sinf(rotation))
    # Rotation matrix times (x, y, 1), summed from 0 in float; the z term adds 0.
    xs = pts[:, 0] * c + pts[:, 1] * -s
    ys = pts[:, 0] * s + pts[:, 1] * c
    lo_x, hi_x, lo_y, hi_y = xs.min(), xs.max(), ys.min(), ys.max()
    width, height = hi_x - lo_x, hi_y - lo_y
    mid_x, mid_y = (lo_x + hi_x) / _F(2), (lo_y + hi_y) / _F(2)
    ci, si = _F(cosf(-rotation)), _F(sinf(-rotation))
    centre_x = mid_x * ci + mid_y * -si
    centre_y = mid_x * si + mid_y * ci
    r = -rotation
    c2, s2 = _F(cosf(r)), _F(sinf(r))
    out_w, out_h = _F(int(options["output_width"])), _F(int(options["output_height"]))
    scale_x = _F(options["scale_x"]) * width / out_w
    scale_y = _F(options["scale_y"]) * height / out_h
    shift_x, shift_y = -out_w / _F(2), -out_h / _F(2)
    a, b = c2 * scale_x, -s2 * scale_y
    d, e = s2 * scale_x, c2 * scale_y
    m = np.zeros((4, 4), _F)
    m[0, :] = (a, b, 0, (a * shift_x + b * shift_y) + centre_x)
    m[1, :] = (d, e, 0, (d * shift_x + e * shift_y) + centre_y)
    m[2, 2] = m[3, 3] = 1
    return m


def transform_tensor_bilinear(features: np.ndarray, matrix: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """(H,W,C) float32 feature map sampled on an (out_h, out_w) grid (TransformTensorBilinear v2)."""
    f = np.asarray(features, _F)
    h, w = f.shape[:2]
    m = np.asarray(matrix, _F).reshape(4, 4)
    # Align-corners correction, evaluated in double (0.5 is a double literal) and stored as float.
    x3 = _F(np.float64(m[0, 3]) + (np.float64(m[0, 0]) * 0.5 + np.float64(m[0, 1]) * 0.5 - 0.5))
    y3 = _F(np.float64(m[1, 3]) + (np.float64(m[1, 0]) * 0.5 + np.float64(m[1, 1]) * 0.5 - 0.5))
    oy, ox = np.meshgrid(np.arange(out_h, dtype=_F), np.arange(out_w, dtype=_F), indexing="ij")
    zero = _F(0)
    tx = ((m[0, 0] * ox + m[0, 1] * oy) + m[0, 2] * zero) + x3
    ty = ((m[1, 0] * ox + m[1, 1] * oy) + m[1, 2] * zero) + y3
    inside = (tx >= 0) & (tx <= _F(w - 1)) & (ty >= 0) & (ty <= _F(h - 1))
    fx, fy = np.floor(tx), np.floor(ty)
    ix, iy = fx.astype(np.intp), fy.astype(np.intp)
    padded = np.zeros((h + 2, w + 2, f.shape[2]), _F)  # index -1 and h/w read as 0, as ReadValue does
    padded[1:-1, 1:-1] = f
    ix = np.clip(ix, -1, w) + 1
    iy = np.clip(iy, -1, h) + 1
    q11, q21 = padded[iy, ix], padded[iy, ix + 1]
    q12, q22 = padded[iy + 1, ix], padded[iy + 1, ix + 1]
    rc = (tx - fx)[..., None]
    lc = (ty - fy)[..., None]
    rc64, lc64 = rc.astype(np.float64), lc.astype(np.float64)
    upper = ((1.0 - rc64) * q11 + (rc * q21).astype(np.float64)).astype(_F)
    lower = ((1.0 - rc64) * q12 + (rc * q22).astype(np.float64)).astype(_F)
    result = ((lc * lower).astype(np.float64) + (1.0 - lc64) * upper).astype(_F)
    result[~inside] = 0
    return result


def transform_landmarks(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(P,2) float32 points mapped by a 4x4 matrix's x/y rows (TransformLandmarks v2, 2-D)."""
    p = np.asarray(points, _F).reshape(-1, 2)
    m = np.asarray(matrix, _F).reshape(4, 4)
    zero = _F(0)
    x = ((m[0, 0] * p[:, 0] + m[0, 1] * p[:, 1]) + m[0, 2] * zero) + m[0, 3]
    y = ((m[1, 0] * p[:, 0] + m[1, 1] * p[:, 1]) + m[1, 2] * zero) + m[1, 3]
    return np.stack([x, y], axis=1)
