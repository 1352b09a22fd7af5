"""Iris refinement: 468-point face mesh -> MediaPipe's 478-point layout with iris_landmark.tflite.

MediaPipe's Python FaceMesh refines with the attention mesh model (facepipe's
FaceMesh does too: facepipe.solutions.attention_mesh). This is MediaPipe's *iris
module* (reference section 4, as in its iris_tracking graph), for meshes that
come without eyes refined: an eye ROI from two mesh corners,
a nearest-neighbour crop, a 64x64 letterbox (right eye mirrored, the model
only knows left eyes), 71 eye/brow contour points + 5 iris points per eye,
merged into the same 478 layout the attention model gives.

Eye naming follows the models: the "left eye" is the one around landmarks
33-133, on the image's left in a non-mirrored frontal photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import cv2
import numpy as np

from facepipe.runtime.options import RuntimeOptions, fold_legacy_options
from facepipe.stages.projection import project_landmarks, remove_letterbox_points
from facepipe.stages.rects import rects_from_landmarks, transform_rects

__all__ = [
    "IrisRefiner",
    "LEFT_EYE_INDICES",
    "RIGHT_EYE_INDICES",
    "LEFT_IRIS_INDICES",
    "RIGHT_IRIS_INDICES",
    "eye_rois",
    "crop_eye",
    "IRIS_INPUT_SIZE",
]

IRIS_INPUT_SIZE = 64
EYE_ROI_SCALE = 2.3

# Mesh indices overwritten by the iris model's 71 eye/brow contour points, in model
# output order (MediaPipe's refinement tables, Apache-2.0; reference 3.4 items 3-4).
# fmt: off
LEFT_EYE_INDICES = np.array([
    33, 7, 163, 144, 145, 153, 154, 155, 133,            # lower contour
    246, 161, 160, 159, 158, 157, 173,                   # upper contour
    130, 25, 110, 24, 23, 22, 26, 112, 243,              # halo x2 lower
    247, 30, 29, 27, 28, 56, 190,                        # halo x2 upper
    226, 31, 228, 229, 230, 231, 232, 233, 244,          # halo x3 lower
    113, 225, 224, 223, 222, 221, 189,                   # halo x3 upper
    35, 124, 46, 53, 52, 65,                             # halo x4 / brow inner
    143, 111, 117, 118, 119, 120, 121, 128, 245,         # halo x5 lower
    156, 70, 63, 105, 66, 107, 55, 193,                  # halo x5 upper / brow outer
], np.int64)
RIGHT_EYE_INDICES = np.array([
    263, 249, 390, 373, 374, 380, 381, 382, 362,
    466, 388, 387, 386, 385, 384, 398,
    359, 255, 339, 254, 253, 252, 256, 341, 463,
    467, 260, 259, 257, 258, 286, 414,
    446, 261, 448, 449, 450, 451, 452, 453, 464,
    342, 445, 444, 443, 442, 441, 413,
    265, 353, 276, 283, 282, 295,
    372, 340, 346, 347, 348, 349, 350, 357, 465,
    383, 300, 293, 334, 296, 336, 285, 417,
], np.int64)
# fmt: on
# Iris points: centre, then the right, top, left and bottom edges.
LEFT_IRIS_INDICES = np.arange(468, 473)
RIGHT_IRIS_INDICES = np.arange(473, 478)

# The right eye is read mirrored, so the model's "right edge" of its iris is the
# image-left edge: swap edges 1 and 3 to keep the 478 layout's meaning (474 is the
# image-right edge like 469), as MediaPipe's refined mesh has it (measured: without
# the swap 474/476 land ~19% IOD from MediaPipe's, with it ~1%).
_MIRRORED_IRIS_ORDER = np.array([0, 3, 2, 1, 4])

# Eye corners the eye ROI is built from (rotation from the first to the second).
_LEFT_CORNERS = (33, 133)
_RIGHT_CORNERS = (362, 263)


def eye_rois(mesh: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(N,2,5) eye ROIs [left, right] from (N,>=468,>=2) normalized mesh landmarks.

    Bounding box of the two eye corners, rotation corner0 -> corner1 at 0 deg,
    then x2.3 and square_long in pixels.
    """
    mesh = np.asarray(mesh, np.float32)
    n = mesh.shape[0]
    corners = np.concatenate([mesh[:, _LEFT_CORNERS, :2], mesh[:, _RIGHT_CORNERS, :2]])  # (2N,2,2)
    rects = rects_from_landmarks(corners, image_size, start=0, end=1, target_deg=0.0)
    rects = transform_rects(rects, image_size, scale_x=EYE_ROI_SCALE, scale_y=EYE_ROI_SCALE, square_long=True)
    return np.stack([rects[:n], rects[n:]], axis=1)


def _crop_matrix(cx: float, cy: float, cw: int, ch: int, theta: float) -> np.ndarray:
    """ImageCropping's perspective matrix: rotated rect corners -> output corners,
    conjugated by half-pixel shifts so that pixel centres map to pixel centres."""
    src = cv2.boxPoints(((cx, cy), (float(cw), float(ch)), theta * 180.0 / np.pi)).astype(np.float32)
    dst = np.array([[0, ch], [0, 0], [cw, 0], [cw, ch]], np.float32)
    p = cv2.getPerspectiveTransform(src, dst)
    shift_src = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    shift_dst = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    return shift_dst @ p @ shift_src


def crop_eye(
    image: np.ndarray, roi: np.ndarray, *, flip: bool, size: int = IRIS_INPUT_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """The iris module's older preprocessing chain for one eye.

    ImageCropping (crop round(w*W) x round(h*H), INTER_NEAREST, replicate border),
    then ImageTransformation FIT into size x size (INTER_AREA when shrinking,
    INTER_LINEAR otherwise, black padding split top/bottom and left/right), then a
    horizontal flip for the right eye. Returns the (size, size, 3) uint8 crop and
    the letterbox padding (left, top, right, bottom) as fractions.
    """
    H, W = image.shape[:2]
    x, y, w, h, theta = (float(v) for v in roi)
    cw, ch = max(1, int(round(w * W))), max(1, int(round(h * H)))
    cx, cy = x * W, y * H
    if theta == 0.0:
        # Axis-aligned crops land on the pixel grid: integer centre for an even size,
        # half-integer for an odd one.
        cx = np.floor(cx) + 0.5 if cw % 2 else np.round(cx)
        cy = np.floor(cy) + 0.5 if ch % 2 else np.round(cy)
    m = _crop_matrix(cx, cy, cw, ch, theta)
    crop = cv2.warpPerspective(image, m, (cw, ch), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    s = min(size / cw, size / ch)
    tw, th = int(round(cw * s)), int(round(ch * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(crop, (tw, th), interpolation=interp) if (tw, th) != (cw, ch) else crop
    top, left = (size - th) // 2, (size - tw) // 2
    out = cv2.copyMakeBorder(resized, top, size - th - top, left, size - tw - left, cv2.BORDER_CONSTANT, value=0)
    pad = np.zeros(4, np.float32)
    ar_in, ar_out = cw / ch, 1.0
    if ar_in > ar_out:  # wider than the square: bands on top and bottom
        pad[1] = pad[3] = (1.0 - ar_out / ar_in) / 2.0
    elif ar_in < ar_out:
        pad[0] = pad[2] = (1.0 - ar_in / ar_out) / 2.0
    if flip:
        out = cv2.flip(out, 1)
    return out, pad


def _scale_into(crop: np.ndarray, ins: list[np.ndarray]) -> None:
    np.multiply(crop, np.float32(1.0 / 255.0), out=ins[0][0], casting="unsafe")


def _read_eye(eye: np.ndarray, outs: list[np.ndarray]) -> None:
    """(76,3) row of contour (71) then iris (5) points, copied from the model's outputs."""
    eye[:71] = outs[0].reshape(71, 3)
    eye[71:] = outs[1].reshape(5, 3)


class IrisRefiner:
    """Turns (N,468,3) normalized face meshes into (N,478,3) with iris_landmark.tflite.

    The model takes one eye per call (its graph folds a resized batch into the
    outputs), so the 2N eyes of a frame are 2N calls on one interpreter. Thread-safe:
    each model call is guarded by the Model's lock and nothing else is shared.
    """

    def __init__(self, *, runtime: RuntimeOptions | None = None, model_path: str | None = None,
                 num_threads: int | None = None) -> None:
        runtime = fold_legacy_options("IrisRefiner", runtime or RuntimeOptions(), num_threads, _stacklevel=3,
                                      iris_landmark=model_path)
        self._model = runtime.load("iris_landmark")

    def refine(self, image: np.ndarray, mesh: np.ndarray) -> np.ndarray:
        """(N,478,3) refined landmarks for an RGB uint8 image and its (N,468,3) normalized meshes."""
        return self.refine_batch([image], [mesh])[0]

    def refine_batch(self, images: Sequence[np.ndarray], meshes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """`refine` over many images (the iris model takes one eye per call: its graph folds the batch)."""
        meshes = [np.asarray(m, np.float32).reshape(-1, np.asarray(m).shape[-2], 3) for m in meshes]
        counts = [m.shape[0] for m in meshes]
        total = sum(counts)
        if total == 0:
            return [np.zeros((0, 478, 3), np.float32) for _ in meshes]
        size = IRIS_INPUT_SIZE
        pads = np.empty((2 * total, 4), np.float32)
        rois = np.empty((2 * total, 5), np.float32)
        eyes = np.empty((2 * total, 76, 3), np.float32)
        flips = np.tile([False, True], total)
        k = 0
        for image, mesh in zip(images, meshes):
            if mesh.shape[0] == 0:
                continue
            H, W = image.shape[:2]
            for roi in eye_rois(mesh, (W, H)).reshape(-1, 5):  # left0, right0, left1, ...
                crop, pads[k] = crop_eye(image, roi, flip=bool(flips[k]))
                rois[k] = roi
                # The model's batch is fixed at 1, so each eye is its own call; its crop is scaled
                # straight into the interpreter and its points copied straight into `eyes`.
                self._model.run_filled(1, partial(_scale_into, crop), partial(_read_eye, eyes[k]))
                k += 1
        eyes[flips, :, 0] = size - eyes[flips, :, 0]
        eyes /= np.float32(size)
        eyes = project_landmarks(remove_letterbox_points(eyes, pads), rois).reshape(total, 2, 76, 3)
        full = np.concatenate(meshes)
        out = np.empty((total, 478, 3), np.float32)
        out[:, :468] = full[:, :468]
        out[:, LEFT_EYE_INDICES] = eyes[:, 0, :71]
        out[:, RIGHT_EYE_INDICES] = eyes[:, 1, :71]
        out[:, LEFT_IRIS_INDICES] = eyes[:, 0, 71:]
        out[:, RIGHT_IRIS_INDICES] = eyes[:, 1, 71 + _MIRRORED_IRIS_ORDER]
        return np.split(out, np.cumsum(counts)[:-1])
