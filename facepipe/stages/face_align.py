"""Face alignment for recognition: 5 keypoints -> similarity transform -> fixed-size chips.

Keypoint order (`keypoints5`, pixels), the ArcFace/insightface convention:

    0 the subject's right eye centre  (on the image's left in an upright, unmirrored photo)
    1 the subject's left eye centre   (on the image's right)
    2 the nose tip
    3 the subject's right mouth corner (image left)
    4 the subject's left mouth corner  (image right)

The sides are the subject's, so a face upside down or in a mirrored selfie
still maps eye to eye; for an ordinary upright photo this is "eye on the
image's left, eye on the image's right, ...".

A chip is the image warped by the least-squares similarity (rotation, uniform
scale, translation; no reflection) that takes the keypoints onto a template.
Like dlib's extract_image_chip, a face much larger than the chip is first
reduced with a 2x image pyramid (Gaussian 5-tap) so the final bilinear
sampling never skips pixels (aliasing would change the embedding).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "ARCFACE_TEMPLATE_112",
    "DLIB_TEMPLATE_150",
    "DLIB_WEIGHTS",
    "DETECTOR_TEMPLATE_150",
    "five_point_from_detection",
    "five_point_landmarks",
    "similarity_transforms",
    "warp_chips",
]

# insightface's standard 5-point template for 112x112 ArcFace chips (arcface_torch / insightface utils).
ARCFACE_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    np.float64,
)

# Where facepipe's keypoints5 (from the face mesh / landmarker, see five_point_landmarks) fall, on average,
# in dlib's 150x150 padding-0.25 chip as dlib.get_face_chip_details places it from its own 5-point shape
# model. Measured by tools/calibrate_dlib_template.py over the shared photos dlib finds faces in (not the
# identities used to evaluate recognition): with it, facepipe's chips line up with dlib's chips.
DLIB_TEMPLATE_150 = np.array(
    [[47.3783, 46.4248], [100.3563, 46.3666], [73.7864, 80.0017], [50.9447, 103.7216], [97.3053, 103.3976]],
    np.float64,
)

# Per-point weights of the fit onto DLIB_TEMPLATE_150. dlib places its chip by the eye corners and the
# nose base only; the mouth corners move with expression (smiling, speaking), so they count less here.
# Over the calibration faces this brings facepipe-aligned embeddings closer to dlib's (mean distance
# 0.144 -> 0.116, tools/calibrate_dlib_template.py's faces) than equal weights.
DLIB_WEIGHTS = np.array([2.0, 2.0, 1.0, 0.5, 0.5])

# Where BlazeFace's right eye, left eye, nose tip and mouth centre keypoints fall, on average, in the same
# chip frame (same tool, same faces: 54 matched). They sit off the mesh-derived points (the detector's left
# eye ~3 px further out, its mouth centre ~4 px below the corners' midpoint), so five_point_from_detection
# maps through this template rather than assuming the detector's points are the mesh's.
DETECTOR_TEMPLATE_150 = np.array(
    [[46.8091, 47.6647], [103.5525, 47.1462], [74.0766, 78.4105], [73.6559, 107.8575]],
    np.float64,
)

# Face mesh indices (468/478-point topology, subject's sides): eye contours (16 points each), nose tip,
# mouth corners. Eye centres are contour means: stable when the eye closes, unlike the iris points.
_RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
_LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
_NOSE_TIP, _MOUTH_RIGHT, _MOUTH_LEFT = 1, 61, 291


def five_point_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(N,468|478,2|3) face mesh / landmarker points in pixels -> (N,5,2) float32 keypoints5."""
    lm = np.asarray(landmarks, np.float32)
    if lm.ndim != 3 or lm.shape[1] not in (468, 478) or lm.shape[2] not in (2, 3):
        raise ValueError(f"expected (N,468|478,2|3) face landmarks in pixels, got shape {lm.shape}")
    xy = lm[..., :2]
    return np.stack(
        [
            xy[:, _RIGHT_EYE].mean(axis=1),
            xy[:, _LEFT_EYE].mean(axis=1),
            xy[:, _NOSE_TIP],
            xy[:, _MOUTH_RIGHT],
            xy[:, _MOUTH_LEFT],
        ],
        axis=1,
    ).astype(np.float32)


def similarity_transforms(points: np.ndarray, template: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(N,K,2) points -> (N,2,3) least-squares similarity matrices mapping each point set onto `template`.

    Closed form of the 2-D Umeyama fit (no reflection): with centred source z and
    target w as complex numbers, the rotation-scale is sum(conj(z) w) / sum(|z|^2).
    `weights` (K,) weigh the points' squared errors (default: all 1).
    """
    src = np.asarray(points, np.float64)
    dst = np.asarray(template, np.float64)
    if src.ndim != 3 or src.shape[1:] != dst.shape or dst.shape[-1] != 2:
        raise ValueError(f"points {src.shape} do not match the template {dst.shape}")
    wt = np.ones(dst.shape[0]) if weights is None else np.asarray(weights, np.float64)
    wt = wt / wt.sum()
    src_mean = np.einsum("k,nkd->nd", wt, src)[:, None]
    dst_mean = wt @ dst
    z, w = src - src_mean, dst - dst_mean
    norm = np.einsum("k,nkd->n", wt, z**2)
    if np.any(norm <= 1e-12):
        raise ValueError("degenerate keypoints: all points of a face coincide")
    a = ((z[..., 0] * w[:, 0] + z[..., 1] * w[:, 1]) * wt).sum(axis=1) / norm
    b = ((z[..., 0] * w[:, 1] - z[..., 1] * w[:, 0]) * wt).sum(axis=1) / norm
    m = np.empty((src.shape[0], 2, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = a, -b, b, a
    m[:, :, 2] = dst_mean - np.einsum("nij,nj->ni", m[:, :, :2], src_mean[:, 0])
    return m


def _warp_one(image: np.ndarray, m: np.ndarray, size: int, out: np.ndarray) -> None:
    scale = 1.0 / math.hypot(m[0, 0], m[1, 0])  # image pixels per chip pixel
    levels = max(0, math.ceil(math.log2(scale)) - 1) if scale > 2 else 0
    if levels == 0:
        cv2.warpAffine(image, m, (size, size), dst=out, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        return
    # Reduce only the part of the image the chip sees (plus the filter's reach), then sample that.
    inv = cv2.invertAffineTransform(m)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inv.T
    margin = 2 ** (levels + 2)
    h, w = image.shape[:2]
    x0, y0 = (max(0, int(math.floor(v)) - margin) for v in corners.min(axis=0))
    x1, y1 = min(w, int(math.ceil(corners[:, 0].max())) + margin), min(h, int(math.ceil(corners[:, 1].max())) + margin)
    if x1 <= x0 or y1 <= y0:  # the chip lies entirely outside the image
        out[...] = 0
        return
    region = image[y0:y1, x0:x1]
    for _ in range(levels):
        region = cv2.pyrDown(region)
    f = 2.0**levels  # pyrDown keeps input pixel 2i as output pixel i: image = f * region + (x0, y0)
    local = m.copy()
    local[:, :2] = m[:, :2] * f
    local[:, 2] = m[:, :2] @ np.array([x0, y0], np.float64) + m[:, 2]
    cv2.warpAffine(region, local, (size, size), dst=out, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def warp_chips(image: np.ndarray, matrices: np.ndarray, size: int) -> np.ndarray:
    """(N,size,size,C) chips of `image` (H,W,C uint8) for (N,2,3) image->chip matrices; outside is black."""
    img = np.ascontiguousarray(image)
    if img.ndim != 3:
        raise ValueError(f"expected an (H,W,C) image, got shape {img.shape}")
    mats = np.asarray(matrices, np.float64).reshape(-1, 2, 3)
    chips = np.empty((mats.shape[0], size, size, img.shape[2]), img.dtype)
    for m, out in zip(mats, chips):
        _warp_one(img, m, size, out)
    return chips


def five_point_from_detection(keypoints6: np.ndarray) -> np.ndarray:
    """(N,6,2) BlazeFace keypoints (right eye, left eye, nose tip, mouth centre, right ear, left ear) ->
    (N,5,2) keypoints5 equivalent to five_point_landmarks'.

    The detector has no mouth corners and its points sit elsewhere than the mesh's: its eyes, nose and
    mouth centre are fitted (similarity) onto DETECTOR_TEMPLATE_150, and the mesh template's five points
    are mapped back into the image. Coarser than the mesh (docs/face-embeddings.md has the numbers).
    """
    kp = np.asarray(keypoints6, np.float64)
    if kp.ndim != 3 or kp.shape[1] != 6 or kp.shape[2] != 2:
        raise ValueError(f"expected (N,6,2) detector keypoints, got shape {kp.shape}")
    if len(kp) == 0:
        return np.zeros((0, 5, 2), np.float32)
    to_chip = similarity_transforms(kp[:, :4], DETECTOR_TEMPLATE_150)
    inv_a = np.linalg.inv(to_chip[:, :, :2])
    inv_t = -np.einsum("nij,nj->ni", inv_a, to_chip[:, :, 2])
    return (np.einsum("nij,kj->nki", inv_a, DLIB_TEMPLATE_150) + inv_t[:, None]).astype(np.float32)
