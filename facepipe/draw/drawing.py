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
from typing import Any, Literal

import cv2
import numpy as np

from facepipe.draw import styles as st
from facepipe.draw.styles import ConnectionStyle, DrawingSpec, LandmarkStyle
from facepipe.results import Detections

__all__ = [
    "ColorOrder", "draw_landmarks", "draw_detections", "draw_face_mesh", "draw_hands", "draw_pose",
    "draw_segmentation", "draw_head_pose", "project_points", "auto_thickness_scale", "split_landmarks",
]

ColorOrder = Literal["rgb", "bgr"]

# (connections, landmark dots) drawn one after the other for each instance.
_Layers = Sequence[tuple[ConnectionStyle | None, LandmarkStyle | None]]

_SHIFT = 4  # sub-pixel bits for anti-aliased drawing
_ONE = 1 << _SHIFT
_THRESHOLD = 0.5  # MediaPipe's _VISIBILITY_THRESHOLD and _PRESENCE_THRESHOLD
_REFERENCE_SIDE = 480.0  # image side (short edge) at which MediaPipe's thicknesses are used as is
# Instance extents (px) at which MediaPipe's widths look right: a face ~350 px tall, a hand ~200 px.
_FACE_REFERENCE_PX = 350.0
_HAND_REFERENCE_PX = 200.0


# --- input handling ---------------------------------------------------------------------------------

def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be an (H, W, 3) uint8 array, got {got}")
    if not image.flags.c_contiguous or not image.flags.writeable:
        raise ValueError("image must be C-contiguous and writeable (draw on np.ascontiguousarray(image))")
    return image


def _color(color: Sequence[int] | np.ndarray, order: ColorOrder) -> tuple[int, int, int]:
    r, g, b = (int(c) for c in color)
    if order == "rgb":
        return (r, g, b)
    if order == "bgr":
        return (b, g, r)
    raise ValueError(f"color_order must be 'rgb' or 'bgr', got {order!r}")


def split_landmarks(landmarks: Any, visibility: Any = None, presence: Any = None
                    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Normalise landmark input to (N,P,3) float64 plus optional (N,P) visibility and presence.

    Accepts a Landmarks result, or an array (P,C) / (N,P,C) with C = 2, 3, 4 or 5:
    columns x, y, [z, [visibility, [presence]]]. Explicit `visibility` /
    `presence` arrays ((P,) or (N,P)) win over the extra columns.
    """
    arr = getattr(landmarks, "landmarks", landmarks)  # a Landmarks result, or any object holding them
    arr = np.asarray(arr, dtype=np.float64)  # MediaPipe's pixel rounding is done in double precision
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or not 2 <= arr.shape[2] <= 5:
        raise ValueError(f"landmarks must be (P,C) or (N,P,C) with C in 2..5, got shape {arr.shape}")
    n, p = arr.shape[:2]

    def column(explicit: Any, col: int, name: str) -> np.ndarray | None:
        if explicit is not None:
            v = np.asarray(explicit, np.float64)
            if v.size != n * p:
                raise ValueError(f"{name} must have one value per landmark ({n}x{p}), got shape {v.shape}")
            return v.reshape(n, p)
        return arr[:, :, col] if arr.shape[2] > col else None

    vis = column(visibility, 3, "visibility")
    pres = column(presence, 4, "presence")
    xyz = arr[:, :, :3] if arr.shape[2] >= 3 else np.concatenate([arr, np.zeros((n, p, 1))], axis=2)
    return xyz, vis, pres


def _visible(vis: np.ndarray | None, pres: np.ndarray | None, threshold: float) -> np.ndarray | None:
    ok = None
    for v in (vis, pres):
        if v is not None:
            # NaN < thr is False, but a NaN score is no evidence of visibility either.
            m = ~(v < threshold) & np.isfinite(v)
            ok = m if ok is None else ok & m
    return ok


def auto_thickness_scale(image_shape: Sequence[int]) -> float:
    """Line-width factor for an image: 1 up to a 480-pixel short side, growing linearly above."""
    h, w = image_shape[:2]
    return max(1.0, min(h, w) / _REFERENCE_SIDE)


def _scaled(t: np.ndarray | int, scale: float) -> np.ndarray:
    return np.maximum(1, np.rint(np.asarray(t, np.float64) * scale)).astype(np.int32)


# --- pixel conversion -------------------------------------------------------------------------------

def _mp_pixels(xy: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's _normalized_to_pixel_coordinates, vectorised: (P,2) int pixels and (P,) valid."""
    x, y = xy[..., 0], xy[..., 1]
    # math.isclose(0, v) is only true for v == 0 and isclose(1, v) admits at most
    # 1 + 1e-9, which a float32 landmark cannot hold; so the test is 0 <= v <= 1.
    valid = (x >= 0) & (x <= 1 + 1e-9) & (y >= 0) & (y <= 1 + 1e-9)
    with np.errstate(invalid="ignore"):
        px = np.minimum(np.floor(np.where(valid, x, 0) * width), width - 1)
        py = np.minimum(np.floor(np.where(valid, y, 0) * height), height - 1)
    return np.stack([px, py], -1).astype(np.int32), valid


def _inside(px: np.ndarray, width: int, height: int) -> np.ndarray:
    """(P,) bool: pixel points MediaPipe would accept (normalized value within [0, 1])."""
    return (px[:, 0] >= 0) & (px[:, 0] <= width) & (px[:, 1] >= 0) & (px[:, 1] <= height)


def _subpixels(xy_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """Continuous pixel coordinates (pixel i spans [i, i+1)) as cv2 fixed point with _SHIFT bits."""
    # cv2 puts integer coordinate i at the centre of pixel i, hence the -0.5. Clipping far-away
    # points keeps the fixed-point values inside int32 while the visible part of a line is unchanged
    # for any sane input.
    lim = 8.0 * max(width, height)
    p = np.clip(xy_px - 0.5, -lim, lim)
    return np.rint(p * _ONE).astype(np.int32)


# --- primitives -------------------------------------------------------------------------------------

def _runs(keys: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) ranges of consecutive equal rows of `keys`."""
    if len(keys) == 0:
        return []
    change = np.any(keys[1:] != keys[:-1], axis=1)
    bounds = np.concatenate([[0], np.flatnonzero(change) + 1, [len(keys)]])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def _groups(keys: np.ndarray) -> list[np.ndarray]:
    """Row indices of each distinct key, groups in order of first appearance."""
    if len(keys) == 0:
        return []
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    return [np.flatnonzero(inverse == g) for g in np.argsort(first)]


def _style_keys(colors: np.ndarray, thickness: np.ndarray) -> np.ndarray:
    return np.concatenate([colors.astype(np.int32), thickness.reshape(-1, 1).astype(np.int32)], axis=1)


def _polylines(image: np.ndarray, segments: np.ndarray, color: tuple[int, int, int], thickness: int,
               antialiased: bool) -> None:
    if len(segments) == 0:
        return
    if antialiased:
        cv2.polylines(image, segments, False, color, int(thickness), cv2.LINE_AA, _SHIFT)
    else:
        cv2.polylines(image, segments, False, color, int(thickness), cv2.LINE_8)


def _dots(image: np.ndarray, centers_fixed: np.ndarray, radius: float, color: tuple[int, int, int]) -> None:
    """Filled anti-aliased discs, all in one call: a zero-length thick line is drawn as its round caps."""
    if len(centers_fixed) == 0:
        return
    thickness = max(1, int(round(2 * radius)))
    segments = np.repeat(centers_fixed[:, None, :], 2, axis=1)
    cv2.polylines(image, segments, False, color, thickness, cv2.LINE_AA, _SHIFT)


def _as_connection_style(connections: Any, spec: DrawingSpec | None) -> ConnectionStyle | None:
    if connections is None or spec is None and not isinstance(connections, ConnectionStyle):
        return None
    if isinstance(connections, ConnectionStyle):
        return connections
    return ConnectionStyle.uniform(connections, spec)


def _as_landmark_style(spec: DrawingSpec | LandmarkStyle | None, num_points: int) -> LandmarkStyle | None:
    if spec is None:
        return None
    if isinstance(spec, LandmarkStyle):
        if len(spec) != num_points:
            raise ValueError(f"landmark style has {len(spec)} entries for {num_points} landmarks")
        return spec
    return LandmarkStyle.uniform(num_points, spec)


def _check_edges(edges: np.ndarray, num_points: int) -> None:
    if len(edges) and (edges.min() < 0 or edges.max() >= num_points):
        bad = edges[(edges < 0).any(1) | (edges >= num_points).any(1)][0].tolist()
        raise ValueError(f"connection {bad[0]}->{bad[1]} is out of range for {num_points} landmarks")


def _draw_compatible(image: np.ndarray, xyz: np.ndarray, ok: np.ndarray | None,
                     layers: _Layers, order: ColorOrder) -> None:
    """MediaPipe's calls in MediaPipe's order: per instance, per layer, edges then dots."""
    h, w = image.shape[:2]
    white = _color(st.WHITE, order)
    for i in range(len(xyz)):
        pix, drawable = _mp_pixels(xyz[i, :, :2], w, h)
        if ok is not None:
            drawable &= ok[i]
        for cstyle, lstyle in layers:
            if cstyle is not None and len(cstyle):
                edges = cstyle.edges
                keep = drawable[edges[:, 0]] & drawable[edges[:, 1]]
                segs = pix[edges[keep]]  # (E', 2, 2)
                colors, thick = cstyle.colors[keep], cstyle.thickness[keep]
                # Non-AA polylines put exactly cv2.line's pixels, curve after curve, so a run of
                # consecutive same-style edges is one call and later edges still overwrite earlier ones.
                for a, b in _runs(_style_keys(colors, thick)):
                    _polylines(image, segs[a:b], _color(colors[a], order), int(thick[a]), False)
            if lstyle is not None:
                for j in np.flatnonzero(drawable).tolist():
                    r, t = int(lstyle.radius[j]), int(lstyle.thickness[j])
                    center = (int(pix[j, 0]), int(pix[j, 1]))
                    cv2.circle(image, center, max(r + 1, int(r * 1.2)), white, t)
                    cv2.circle(image, center, r, _color(lstyle.colors[j], order), t)


def _instance_scales(image_shape: Sequence[int], xyz: np.ndarray, drawable: np.ndarray,
                     thickness_scale: float | None, reference_px: float | None) -> np.ndarray:
    """(N,) width factor per instance: the image's, or smaller for instances small next to `reference_px`."""
    n = len(xyz)
    if thickness_scale is not None:
        return np.full(n, float(thickness_scale))
    image_scale = auto_thickness_scale(image_shape)
    if reference_px is None or n == 0:
        return np.full(n, image_scale)
    # A 130-px face in a 1080p photo would drown under image-scaled tessellation lines.
    h, w = image_shape[:2]
    px = xyz[:, :, :2] * (w, h)
    m = drawable[:, :, None]
    hi = np.where(m, px, -np.inf).max(axis=1, initial=-np.inf)
    lo = np.where(m, px, np.inf).min(axis=1, initial=np.inf)
    extent = np.where(np.isfinite(hi - lo), hi - lo, 0.0).max(axis=1)  # no drawable point: extent 0
    return np.clip(extent / reference_px, 0.5, image_scale)


def _draw_default(image: np.ndarray, xyz: np.ndarray, ok: np.ndarray | None, layers: _Layers,
                  order: ColorOrder, thickness_scale: float | None, reference_px: float | None) -> None:
    """Layer by layer over all instances at once: one polylines call per (colour, thickness)."""
    h, w = image.shape[:2]
    n, p = xyz.shape[:2]
    drawable = np.isfinite(xyz[:, :, :2]).all(axis=2)
    if ok is not None:
        drawable &= ok
    scales = _instance_scales(image.shape, xyz, drawable, thickness_scale, reference_px)
    pix = _subpixels(xyz[:, :, :2] * (w, h), w, h)  # (N, P, 2) fixed point
    for cstyle, lstyle in layers:
        if cstyle is not None and len(cstyle):
            edges = cstyle.edges
            keep = drawable[:, edges[:, 0]] & drawable[:, edges[:, 1]]  # (N, E)
            segs = pix[:, edges][keep]  # (K, 2, 2) for all instances together
            edge_id = np.broadcast_to(np.arange(len(edges)), keep.shape)[keep]
            inst_id = np.broadcast_to(np.arange(n)[:, None], keep.shape)[keep]
            colors = cstyle.colors[edge_id]
            thick = _scaled(cstyle.thickness[edge_id] * scales[inst_id], 1.0)
            for idx in _groups(_style_keys(colors, thick)):
                _polylines(image, segs[idx], _color(colors[idx[0]], order), int(thick[idx[0]]), True)
        if lstyle is not None:
            point_id = np.broadcast_to(np.arange(p), (n, p))[drawable]
            inst_id = np.broadcast_to(np.arange(n)[:, None], (n, p))[drawable]
            _styled_dots(image, pix[drawable], lstyle.colors[point_id], lstyle.radius[point_id],
                         lstyle.thickness[point_id], order, scales[inst_id])


def _draw_instances(image: np.ndarray, xyz: np.ndarray, ok: np.ndarray | None,
                    layers: _Layers, order: ColorOrder,
                    compatible: bool, thickness_scale: float | None, reference_px: float | None = None) -> None:
    _check_image(image)
    _color((0, 0, 0), order)  # reject a bad color_order before drawing anything
    for cstyle, _ in layers:
        if cstyle is not None:
            _check_edges(cstyle.edges, xyz.shape[1])
    if compatible:
        _draw_compatible(image, xyz, ok, layers, order)
    else:
        _draw_default(image, xyz, ok, layers, order, thickness_scale, reference_px)


def _styled_dots(image: np.ndarray, centers: np.ndarray, colors: np.ndarray, radius: np.ndarray,
                 thickness: np.ndarray, order: ColorOrder, scale: float | np.ndarray) -> None:
    """MediaPipe-looking dots (white rim, coloured centre), all rims first, then the centres."""
    if len(centers) == 0:
        return
    # A ring of radius r and thickness t covers out to r + t/2; filled (t < 0) covers r.
    half = np.where(thickness > 0, thickness / 2.0, 0.0)
    outer = (radius + half) * scale
    rim = (np.maximum(radius + 1, np.floor(radius * 1.2)) + half) * scale
    rim_keys = np.rint(rim * 2).astype(np.int32).reshape(-1, 1)
    for g in _groups(rim_keys):
        _dots(image, centers[g], float(rim[g[0]]), _color(st.WHITE, order))
    keys = np.concatenate([colors.astype(np.int32), np.rint(outer * 2).astype(np.int32).reshape(-1, 1)], 1)
    for g in _groups(keys):
        _dots(image, centers[g], float(outer[g[0]]), _color(colors[g[0]], order))


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
