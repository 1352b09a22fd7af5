"""One call to draw any facepipe result, and an image wrapper that shows itself in Jupyter.

    img = facepipe.draw.annotate(rgb, face_result, hands_result)   # new array, input untouched
    facepipe.draw.show(rgb, face_result)                            # last line of a notebook cell

Results are recognised by shape and attributes rather than by class, so the
solutions' result types (face mesh / face landmarker / hands / pose / holistic
/ segmentation) need no registration here:

* Detections: boxes, keypoints, scores;
* landmarks with 468/478 points: face mesh (plus head-pose axes when the
  result carries 4x4 facial transformation matrices);
* 21 points: hands, labelled with `handedness_labels` when present;
* 33 points: pose, using a per-landmark `visibility` when present;
* an object with face/pose/left_hand/right_hand landmark attributes (holistic): each part;
* a 2-D float array (other than a (P, 3..5) landmark array) or a `segmentation_mask`
  attribute: a tinted mask overlay.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from facepipe.draw import drawing as dr
from facepipe.results import Detections

__all__ = ["annotate", "AnnotatedImage", "show"]

_MATRIX_ATTRS = ("facial_transformation_matrixes", "transformation_matrices", "matrices")
# Drawn in this order: the body first, so face and hands stay on top of it.
# facepipe's HolisticResult uses the first names, MediaPipe-style result objects the second.
_HOLISTIC_ATTRS = ("pose", "face", "left_hand", "right_hand",
                   "pose_landmarks", "face_landmarks", "left_hand_landmarks", "right_hand_landmarks")
_LANDMARK_COUNTS = (21, 33, 468, 478)


def _array_attr(obj: Any, names: tuple[str, ...]) -> np.ndarray | None:
    for name in names:
        v = getattr(obj, name, None)
        if v is not None and not callable(v):
            return np.asarray(v)
    return None


def _landmark_array(result: Any) -> np.ndarray | None:
    lm = getattr(result, "landmarks", result)
    if isinstance(lm, np.ndarray) and lm.ndim in (2, 3) and lm.shape[-1] in (3, 4, 5):
        return lm
    return None


def _draw_result(image: np.ndarray, result: Any, order: dr.ColorOrder, compatible: bool,
                 head_pose: bool) -> None:
    if result is None:
        return
    if isinstance(result, Detections):
        dr.draw_detections(image, result, color_order=order, mediapipe_compatible=compatible)
        return
    if isinstance(result, (list, tuple)):
        for r in result:
            _draw_result(image, r, order, compatible, head_pose)
        return
    if not isinstance(result, np.ndarray) and any(hasattr(result, a) for a in _HOLISTIC_ATTRS):
        for a in _HOLISTIC_ATTRS:
            _draw_result(image, getattr(result, a, None), order, compatible, head_pose)
        mask = getattr(result, "segmentation_mask", None)
        if mask is not None:
            _draw_result(image, np.asarray(mask, np.float32), order, compatible, head_pose)
        return
    if isinstance(result, np.ndarray) and result.ndim == 2 and result.dtype.kind in "fub" and not (
            result.shape[0] in _LANDMARK_COUNTS and 3 <= result.shape[1] <= 5):
        dr.draw_segmentation(image, result, color_order=order)
        return
    lm = _landmark_array(result)
    if lm is None:
        mask = getattr(result, "segmentation_mask", None)
        if mask is not None:
            dr.draw_segmentation(image, np.asarray(mask), color_order=order)
            return
        raise TypeError(f"don't know how to draw a {type(result).__name__}")
    if lm.size == 0 or not lm.any():  # empty, or the all-zero rows some results use for "absent"
        return
    points = lm.shape[-2]
    kw = dict(color_order=order, mediapipe_compatible=compatible)
    if points in (468, 478):
        dr.draw_face_mesh(image, lm, **kw)
        mats = _array_attr(result, _MATRIX_ATTRS)
        if head_pose and mats is not None and mats.size:
            dr.draw_head_pose(image, mats, color_order=order)
    elif points == 21:
        labels = getattr(result, "handedness_labels", None)
        scores = getattr(result, "handedness_score", None)
        if labels is not None and scores is not None and len(scores) == len(labels):
            labels = [(lab, float(s)) for lab, s in zip(labels, scores, strict=True)]
        dr.draw_hands(image, lm, labels if labels else None, **kw)
    elif points == 33:
        vis = _array_attr(result, ("visibility",))
        if vis is not None and vis.size != lm.size // lm.shape[-1]:
            vis = None  # not one value per landmark
        dr.draw_pose(image, lm, vis, **kw)
    else:
        dr.draw_landmarks(image, lm, None, **kw)
    mask = getattr(result, "segmentation_mask", None)
    if mask is not None and np.asarray(mask).size:
        mask = np.asarray(mask, np.float32)
        if mask.ndim == 3 and mask.shape[2] != 1:  # (N, H, W): one mask per instance
            mask = mask.max(axis=0)
        dr.draw_segmentation(image, mask, color_order=order)


def annotate(image: np.ndarray, *results: Any, color_order: dr.ColorOrder = "rgb",
             mediapipe_compatible: bool = False, head_pose: bool = True) -> np.ndarray:
    """A copy of `image` with every result drawn on it (see the module doc for what is recognised)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be an (H, W, 3) uint8 array, got {got}")
    out = np.ascontiguousarray(image).copy()
    for r in results:
        _draw_result(out, r, color_order, mediapipe_compatible, head_pose)
    return out


class AnnotatedImage:
    """An image that renders as PNG in Jupyter (`_repr_png_`) and can be saved.

    Holds an (H, W, 3) uint8 array in `color_order` (RGB by default).
    """

    def __init__(self, image: np.ndarray, color_order: dr.ColorOrder = "rgb") -> None:
        if color_order not in ("rgb", "bgr"):
            raise ValueError(f"color_order must be 'rgb' or 'bgr', got {color_order!r}")
        self.image = image
        self.color_order = color_order

    @property
    def rgb(self) -> np.ndarray:
        return self.image if self.color_order == "rgb" else self.image[:, :, ::-1]

    def to_png(self) -> bytes:
        bgr = np.ascontiguousarray(self.rgb[:, :, ::-1])
        ok, buf = cv2.imencode(".png", bgr)
        if not ok:  # pragma: no cover - cv2 encodes any uint8 3-channel image
            raise ValueError("PNG encoding failed")
        return buf.tobytes()

    def _repr_png_(self) -> bytes:
        return self.to_png()

    def save(self, path: Any) -> None:
        """Write the image (format from the suffix) atomically via facepipe.io.image.write_image."""
        from facepipe.io.image import write_image

        write_image(path, np.ascontiguousarray(self.rgb))

    def __repr__(self) -> str:
        h, w = self.image.shape[:2]
        return f"AnnotatedImage({w}x{h}, {self.color_order})"


def show(image: np.ndarray, *results: Any, color_order: dr.ColorOrder = "rgb",
         **kwargs: Any) -> AnnotatedImage:
    """`annotate` wrapped for display: the last expression of a notebook cell renders as a PNG."""
    return AnnotatedImage(annotate(image, *results, color_order=color_order, **kwargs), color_order)
