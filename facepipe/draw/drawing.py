"""Draw detections, landmarks, masks and head-pose axes on uint8 images, in place.

Colour order: facepipe images are RGB, so every function takes
`color_order="rgb"` by default; pass `color_order="bgr"` to draw on an OpenCV
BGR frame. Style colours are always RGB (see styles.py) and are flipped for BGR.

Two modes:

* default: anti-aliased lines (cv2.LINE_AA) at sub-pixel positions, line
  widths scaled to the image size, and one cv2.polylines call per
  (colour, thickness) group instead of one call per edge. Landmarks outside
  the image are still drawn (lines run to the border) and points below the
  visibility/presence threshold are left out.
* `mediapipe_compatible=True`: the same pixels as MediaPipe's
  drawing_utils: integer pixels min(floor(v*W), W-1), points outside [0,1]
  dropped, hard-edged cv2 lines/circles in MediaPipe's order. Runs of
  consecutive edges sharing a style go to one cv2.polylines call, which draws
  exactly what cv2.line would, in the same order.

All functions draw in place and return the image they drew on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from facepipe.draw import styles as st
from facepipe.draw.rendering import (
    _FACE_REFERENCE_PX,
    _HAND_REFERENCE_PX,
    _SHIFT,
    _THRESHOLD,
    ColorOrder,
    _as_connection_style,
    _as_landmark_style,
    _check_image,
    _color,
    _dots,
    _draw_instances,
    _inside,
    _scaled,
    _subpixels,
    _visible,
    auto_thickness_scale,
    split_landmarks,
)
from facepipe.draw.styles import ConnectionStyle, DrawingSpec, LandmarkStyle
from facepipe.results import Detections

__all__ = [
    "ColorOrder", "draw_landmarks", "draw_detections", "draw_face_mesh", "draw_hands", "draw_pose",
    "draw_segmentation", "draw_head_pose", "project_points", "auto_thickness_scale", "split_landmarks",
]


# --- public drawing functions -----------------------------------------------------------------------

def draw_landmarks(
    image: np.ndarray,
    landmarks: Any,
    connections: ConnectionStyle | np.ndarray | Sequence[Sequence[int]] | None = None,
    *,
    landmark_spec: DrawingSpec | LandmarkStyle | None = st.LANDMARK_SPEC,
    connection_spec: DrawingSpec | None = st.CONNECTION_SPEC,
    visibility: Any = None,
    presence: Any = None,
    threshold: float = _THRESHOLD,
    color_order: ColorOrder = "rgb",
    mediapipe_compatible: bool = False,
    thickness_scale: float | None = None,
    instance_reference_px: float | None = None,
) -> np.ndarray:
    """Draw landmarks (P,C) or (N,P,C) (normalized x, y) and their connections, like drawing_utils.

    connections: a ConnectionStyle (per-edge colours) or (E,2) index pairs drawn
    with `connection_spec`. landmark_spec: one DrawingSpec, a per-landmark
    LandmarkStyle, or None for no dots. Landmarks whose visibility or presence
    is below `threshold` are skipped together with their edges.

    Default-mode widths: MediaPipe's at a 480-px short image side, growing with
    the image (auto_thickness_scale), or exactly `thickness_scale` times
    MediaPipe's. With `instance_reference_px`, an instance whose landmarks span
    less than that many pixels is drawn thinner (down to half), so small faces
    or hands in a big photo are not buried under their own lines.
    """
    xyz, vis, pres = split_landmarks(landmarks, visibility, presence)
    ok = _visible(vis, pres, threshold)
    cstyle = _as_connection_style(connections, connection_spec)
    lstyle = _as_landmark_style(landmark_spec, xyz.shape[1])
    _draw_instances(image, xyz, ok, [(cstyle, lstyle)], color_order, mediapipe_compatible, thickness_scale,
                    instance_reference_px)
    return image


def draw_face_mesh(
    image: np.ndarray,
    faces: Any,
    *,
    tesselation: bool = True,
    contours: bool = True,
    irises: bool = True,
    contour_variant: int = 0,
    color_order: ColorOrder = "rgb",
    mediapipe_compatible: bool = False,
    thickness_scale: float | None = None,
) -> np.ndarray:
    """Face mesh with MediaPipe's default styles: gray tessellation, coloured contours, irises.

    faces: Landmarks or (468|478, 3) / (N, 468|478, 3) normalized landmarks.
    Irises are drawn only for 478-point (refined) meshes.
    """
    xyz, vis, pres = split_landmarks(faces)
    p = xyz.shape[1]
    if p not in (468, 478):
        raise ValueError(f"a face mesh has 468 or 478 landmarks, got {p}")
    layers = []
    if tesselation:
        layers.append(st.face_mesh_tesselation_style())
    if contours:
        layers.append(st.face_mesh_contours_style(contour_variant))
    if irises and p == 478:
        layers.append(st.face_mesh_iris_style())
    ok = _visible(vis, pres, _THRESHOLD)
    _draw_instances(image, xyz, ok, [(style, None) for style in layers], color_order, mediapipe_compatible,
                    thickness_scale, _FACE_REFERENCE_PX)
    return image


def draw_hands(
    image: np.ndarray,
    hands: Any,
    handedness: Sequence[str] | Sequence[tuple[str, float]] | None = None,
    *,
    landmark_spec: DrawingSpec | LandmarkStyle | None = None,
    connections: ConnectionStyle | None = None,
    color_order: ColorOrder = "rgb",
    mediapipe_compatible: bool = False,
    thickness_scale: float | None = None,
) -> np.ndarray:
    """Hands (21 landmarks each) with MediaPipe's per-finger default style, plus an optional label.

    handedness: one label per hand ("Left"/"Right", or (label, score)); drawn
    above each hand's box. MediaPipe draws no labels, so none is drawn unless given.
    """
    xyz, vis, pres = split_landmarks(hands)
    if xyz.shape[1] != 21:
        raise ValueError(f"a hand has 21 landmarks, got {xyz.shape[1]}")
    lstyle = st.hand_landmarks_style() if landmark_spec is None else landmark_spec
    cstyle = st.hand_connections_style() if connections is None else connections
    draw_landmarks(image, xyz, cstyle, landmark_spec=lstyle, visibility=vis, presence=pres,
                   color_order=color_order, mediapipe_compatible=mediapipe_compatible,
                   thickness_scale=thickness_scale, instance_reference_px=_HAND_REFERENCE_PX)
    if handedness is not None:
        if len(handedness) != len(xyz):
            raise ValueError(f"{len(handedness)} handedness labels for {len(xyz)} hands")
        h, w = image.shape[:2]
        for pts, label in zip(xyz, handedness, strict=True):
            text = label if isinstance(label, str) else f"{label[0]} {float(label[1]):.2f}"
            finite = pts[np.isfinite(pts[:, :2]).all(1), :2] * (w, h)
            if len(finite):
                _label(image, text, (float(finite[:, 0].min()), float(finite[:, 1].min())), color_order,
                       auto_thickness_scale(image.shape) if thickness_scale is None else thickness_scale)
    return image


def draw_pose(
    image: np.ndarray,
    poses: Any,
    visibility: Any = None,
    presence: Any = None,
    *,
    landmark_spec: DrawingSpec | LandmarkStyle | None = None,
    connections: ConnectionStyle | None = None,
    threshold: float = _THRESHOLD,
    color_order: ColorOrder = "rgb",
    mediapipe_compatible: bool = False,
    thickness_scale: float | None = None,
) -> np.ndarray:
    """Pose (33 landmarks; columns 4-5 or the arguments give visibility/presence) with MediaPipe's style.

    Landmarks with visibility or presence below `threshold` and their edges are skipped.
    """
    xyz, vis, pres = split_landmarks(poses, visibility, presence)
    if xyz.shape[1] != 33:
        raise ValueError(f"a pose has 33 landmarks, got {xyz.shape[1]}")
    lstyle = st.pose_landmarks_style() if landmark_spec is None else landmark_spec
    cstyle = st.pose_connections_style() if connections is None else connections
    return draw_landmarks(image, xyz, cstyle, landmark_spec=lstyle, visibility=vis, presence=pres,
                          threshold=threshold, color_order=color_order,
                          mediapipe_compatible=mediapipe_compatible, thickness_scale=thickness_scale)


def _label(image: np.ndarray, text: str, anchor_xy: tuple[float, float], order: ColorOrder, scale: float,
           color: st.Color = (255, 255, 255), background: st.Color = (0, 0, 0)) -> None:
    """Text with a filled background box whose bottom-left corner sits just above anchor_xy."""
    h, w = image.shape[:2]
    font_scale = 0.5 * scale
    thick = max(1, int(round(scale)))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thick)
    x = int(np.clip(anchor_xy[0], 0, max(0, w - tw - 2)))
    y = int(np.clip(anchor_xy[1] - 3, th + base + 2, h - 1))
    cv2.rectangle(image, (x, y - th - base - 2), (x + tw + 2, y), _color(background, order), -1)
    cv2.putText(image, text, (x + 1, y - base), cv2.FONT_HERSHEY_SIMPLEX, font_scale, _color(color, order),
                thick, cv2.LINE_AA)


def draw_detections(
    image: np.ndarray,
    detections: Detections,
    *,
    keypoint_spec: DrawingSpec | None = st.LANDMARK_SPEC,
    box_spec: DrawingSpec | None = st.CONNECTION_SPEC,
    show_scores: bool = True,
    labels: Sequence[str] | None = None,
    color_order: ColorOrder = "rgb",
    mediapipe_compatible: bool = False,
    thickness_scale: float | None = None,
) -> np.ndarray:
    """Boxes, keypoints and (default mode) scores/labels of pixel-space Detections.

    With mediapipe_compatible=True this is drawing_utils.draw_detection for each
    detection in order (keypoints, then box; no text).
    """
    _check_image(image)
    h, w = image.shape[:2]
    if len(detections) == 0:
        return image
    if labels is not None and len(labels) != len(detections):
        raise ValueError(f"{len(labels)} labels for {len(detections)} detections")
    if mediapipe_compatible:
        # MediaPipe floors normalized*size; ours are already pixels, so floor those. A point outside
        # the image would make MediaPipe's cv2 call fail; here it is just not drawn.
        lim = np.array([w - 1, h - 1])
        for box, kps in zip(detections.xyxy.astype(np.float64), detections.keypoints.astype(np.float64),
                            strict=True):
            if keypoint_spec is not None:
                for x, y in kps[_inside(kps, w, h)]:
                    cv2.circle(image, (min(math.floor(x), w - 1), min(math.floor(y), h - 1)),
                               keypoint_spec.circle_radius, _color(keypoint_spec.color, color_order),
                               keypoint_spec.thickness)
            corners = box.reshape(2, 2)
            if box_spec is not None and _inside(corners, w, h).all():
                a, b = np.minimum(np.floor(corners), lim).astype(int).tolist()
                cv2.rectangle(image, tuple(a), tuple(b), _color(box_spec.color, color_order),
                              box_spec.thickness)
        return image

    scale = auto_thickness_scale(image.shape) if thickness_scale is None else float(thickness_scale)
    if box_spec is not None:
        x1, y1, x2, y2 = detections.xyxy.astype(np.float64).T
        quads = np.stack([np.stack([x1, y1], 1), np.stack([x2, y1], 1), np.stack([x2, y2], 1),
                          np.stack([x1, y2], 1)], axis=1)
        cv2.polylines(image, _subpixels(quads, w, h), True, _color(box_spec.color, color_order),
                      int(_scaled(box_spec.thickness, scale)), cv2.LINE_AA, _SHIFT)
    if keypoint_spec is not None and detections.keypoints.shape[1]:
        kps = detections.keypoints.reshape(-1, 2).astype(np.float64)
        kps = kps[np.isfinite(kps).all(1)]
        r = keypoint_spec.circle_radius + max(keypoint_spec.thickness, 0) / 2.0
        _dots(image, _subpixels(kps, w, h), r * scale, _color(keypoint_spec.color, color_order))
    if show_scores or labels is not None:
        for i, (box, score) in enumerate(zip(detections.xyxy, detections.scores, strict=True)):
            parts = ([labels[i]] if labels is not None else []) + ([f"{score:.2f}"] if show_scores else [])
            _label(image, " ".join(parts), (float(box[0]), float(box[1])), color_order, scale)
    return image


def draw_segmentation(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    color: st.Color = (0, 160, 255),
    alpha: float = 0.5,
    threshold: float | None = None,
    outline: bool = True,
    color_order: ColorOrder = "rgb",
) -> np.ndarray:
    """Tint the image where the mask is set; optionally outline the mask at 0.5.

    mask: (h, w) float in [0, 1] (confidence) or uint8/bool; resized to the image
    with bilinear interpolation like MediaPipe's mask output. `threshold` makes
    the tint binary instead of proportional to the confidence.
    """
    _check_image(image)
    h, w = image.shape[:2]
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.ndim != 2:
        raise ValueError(f"mask must be (h, w), got shape {m.shape}")
    if m.dtype == np.uint8:
        m = m.astype(np.float32) / 255.0
    m = m.astype(np.float32)
    if m.shape != (h, w):
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
    m = np.clip(np.nan_to_num(m), 0.0, 1.0)
    if threshold is not None:
        m = (m >= threshold).astype(np.float32)
    a = (alpha * m)[:, :, None]
    tint = np.asarray(_color(color, color_order), np.float32)
    image[:] = np.rint(image * (1.0 - a) + tint * a).astype(np.uint8)
    if outline:
        binary = (m >= 0.5).astype(np.uint8)
        contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        thick = int(_scaled(2, auto_thickness_scale(image.shape)))
        cv2.drawContours(image, contours, -1, _color(color, color_order), thick, cv2.LINE_AA)
    return image


def project_points(points_cam: np.ndarray, image_size: tuple[int, int],
                   vertical_fov_degrees: float = 63.0) -> tuple[np.ndarray, np.ndarray]:
    """Project camera-space points (..., 3) with the face-geometry perspective camera.

    The camera sits at the origin looking down -Z with +Y up (OpenGL), as in
    MediaPipe's face geometry environment (TOP_LEFT origin, 63 degrees vertical
    field of view). Returns continuous pixel coordinates (..., 2) and a mask of
    points in front of the camera.
    """
    w, h = image_size
    f = 1.0 / math.tan(math.radians(vertical_fov_degrees) / 2.0)
    aspect = w / h
    p = np.asarray(points_cam, np.float64)
    depth = -p[..., 2]
    in_front = depth > 1e-6
    safe = np.where(in_front, depth, 1.0)
    x_ndc = f / aspect * p[..., 0] / safe
    y_ndc = f * p[..., 1] / safe
    # Screen y grows downwards (TOP_LEFT origin), NDC y upwards.
    return np.stack([(x_ndc + 1.0) * 0.5 * w, (1.0 - y_ndc) * 0.5 * h], -1), in_front


def draw_head_pose(
    image: np.ndarray,
    matrices: np.ndarray,
    *,
    axis_length: float = 8.0,
    vertical_fov_degrees: float = 63.0,
    thickness: int = 2,
    color_order: ColorOrder = "rgb",
    thickness_scale: float | None = None,
) -> np.ndarray:
    """Draw x (red), y (green), z (blue) axes of each face's canonical frame.

    matrices: (4,4) or (N,4,4) facial transformation matrices (canonical face
    model, cm, to camera space). axis_length is in cm; the canonical origin
    lies inside the head, behind the nose.
    """
    _check_image(image)
    mats = np.asarray(matrices, np.float64)
    if mats.ndim == 2:
        mats = mats[None]
    if mats.ndim != 3 or mats.shape[1:] != (4, 4):
        raise ValueError(f"matrices must be (4,4) or (N,4,4), got shape {mats.shape}")
    h, w = image.shape[:2]
    scale = auto_thickness_scale(image.shape) if thickness_scale is None else float(thickness_scale)
    t = int(_scaled(thickness, scale))
    axes = np.array([[0, 0, 0, 1], [axis_length, 0, 0, 1], [0, axis_length, 0, 1], [0, 0, axis_length, 1]],
                    np.float64)
    colors = ((255, 0, 0), (0, 255, 0), (0, 0, 255))
    for m in mats:
        cam = (m @ axes.T).T[:, :3]
        px, front = project_points(cam, (w, h), vertical_fov_degrees)
        if not front.all():
            continue
        fixed = _subpixels(px, w, h)
        origin = tuple(fixed[0].tolist())
        for k in (2, 1, 0):  # z first so x/y stay visible when z points at the camera
            cv2.arrowedLine(image, origin, tuple(fixed[k + 1].tolist()), _color(colors[k], color_order), t,
                            cv2.LINE_AA, _SHIFT, 0.15)
    return image
