"""mp.solutions.drawing_utils: MediaPipe's drawing, pixel for pixel.

Colours are used as given, on whatever channel order the image has (MediaPipe
programs pass BGR colours and draw on BGR frames). Landmarks go through
facepipe.draw's MediaPipe-compatible mode (same pixels, checked against
MediaPipe's own drawings), detections are drawn with MediaPipe's cv2 calls.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from facepipe.compat.mediapipe._messages import LocationData, NormalizedLandmarkList
from facepipe.compat.mediapipe.python.solutions._common import unimplemented

__all__ = ["DrawingSpec", "draw_landmarks", "draw_detection", "plot_landmarks",
           "WHITE_COLOR", "BLACK_COLOR", "RED_COLOR", "GREEN_COLOR", "BLUE_COLOR"]

_PRESENCE_THRESHOLD = 0.5
_VISIBILITY_THRESHOLD = 0.5
_BGR_CHANNELS = 3

WHITE_COLOR = (224, 224, 224)
BLACK_COLOR = (0, 0, 0)
RED_COLOR = (0, 0, 255)
GREEN_COLOR = (0, 128, 0)
BLUE_COLOR = (255, 0, 0)


@dataclasses.dataclass
class DrawingSpec:
    # Colour in the image's own channel order (BGR for OpenCV frames).
    color: tuple[int, int, int] = WHITE_COLOR
    thickness: int = 2
    circle_radius: int = 2


# Default specs, shared by every call as MediaPipe's default arguments are.
_LANDMARK_SPEC = DrawingSpec(color=RED_COLOR)
_CONNECTION_SPEC = DrawingSpec()
_PLOT_LANDMARK_SPEC = DrawingSpec(color=RED_COLOR, thickness=5)
_PLOT_CONNECTION_SPEC = DrawingSpec(color=BLACK_COLOR, thickness=5)


def _normalized_to_pixel_coordinates(x: float, y: float, width: int, height: int) -> tuple[int, int] | None:
    def valid(v: float) -> bool:
        return (v > 0 or math.isclose(0, v)) and (v < 1 or math.isclose(1, v))

    if not (valid(x) and valid(y)):
        return None
    return min(math.floor(x * width), width - 1), min(math.floor(y * height), height - 1)


def _landmark_arrays(landmark_list: Any) -> tuple[np.ndarray, np.ndarray]:
    """(P,3) x, y, z and (P,) bool "not hidden by visibility/presence" of a landmark list."""
    if isinstance(landmark_list, NormalizedLandmarkList) or hasattr(landmark_list, "_points"):
        xyz, vis, pres = landmark_list._points()
    else:  # any object with .landmark items carrying x, y (a real protobuf too)
        pts = list(landmark_list.landmark)
        xyz = np.array([[p.x, p.y, getattr(p, "z", 0.0)] for p in pts], np.float64).reshape(-1, 3)

        def opt(p: Any, name: str) -> float:
            has = getattr(p, "HasField", None)
            return getattr(p, name) if has is not None and has(name) else math.nan

        vis = np.array([opt(p, "visibility") for p in pts], np.float64)
        pres = np.array([opt(p, "presence") for p in pts], np.float64)
    shown = ~(vis < _VISIBILITY_THRESHOLD) & ~(pres < _PRESENCE_THRESHOLD)  # an unset field (NaN) hides nothing
    return xyz, shown


def _drawable(xy: np.ndarray, shown: np.ndarray) -> np.ndarray:
    # _normalized_to_pixel_coordinates' test: 0 <= v <= 1 (isclose admits nothing a float32 can hold beyond).
    return shown & (xy >= 0).all(1) & (xy <= 1 + 1e-9).all(1)


def draw_landmarks(image: np.ndarray, landmark_list: Any, connections: Any = None,
                   landmark_drawing_spec: DrawingSpec | Mapping[int, DrawingSpec] | None = _LANDMARK_SPEC,
                   connection_drawing_spec: DrawingSpec | Mapping[tuple[int, int], DrawingSpec] = _CONNECTION_SPEC,
                   is_drawing_landmarks: bool = True) -> None:
    """Draw landmarks and their connections on `image` in place, exactly as MediaPipe does."""
    from facepipe.draw import draw_landmarks as fp_draw_landmarks
    from facepipe.draw.styles import ConnectionStyle, LandmarkStyle

    if not landmark_list:
        return
    if image.shape[2] != _BGR_CHANNELS:
        raise ValueError("Input image must contain three channel bgr data.")
    xyz, shown = _landmark_arrays(landmark_list)
    num = len(xyz)
    drawable = _drawable(xyz[:, :2], shown)
    cstyle = None
    if connections:
        edges = np.array([(c[0], c[1]) for c in connections], np.int64).reshape(-1, 2)
        bad = (edges < 0) | (edges >= num)
        if bad.any():
            a, b = edges[bad.any(1)][0].tolist()
            raise ValueError(f"Landmark index is out of range. Invalid connection from landmark #{a} "
                             f"to landmark #{b}.")
        if isinstance(connection_drawing_spec, Mapping):
            on = drawable[edges[:, 0]] & drawable[edges[:, 1]]
            specs = [connection_drawing_spec[(a, b)] if keep else DrawingSpec()
                     for (a, b), keep in zip(edges.tolist(), on.tolist())]
        else:
            specs = [connection_drawing_spec] * len(edges)
        cstyle = ConnectionStyle(edges, np.array([s.color for s in specs], np.uint8).reshape(-1, 3),
                                 np.array([s.thickness for s in specs], np.int32))
    lstyle = None
    if is_drawing_landmarks and landmark_drawing_spec:
        if isinstance(landmark_drawing_spec, Mapping):
            specs = [landmark_drawing_spec[i] if keep else DrawingSpec() for i, keep in enumerate(drawable.tolist())]
        else:
            specs = [landmark_drawing_spec] * num
        lstyle = LandmarkStyle(np.array([s.color for s in specs], np.uint8).reshape(-1, 3),
                               np.array([s.thickness for s in specs], np.int32),
                               np.array([s.circle_radius for s in specs], np.int32))
    # Colours go through untouched ("rgb" means "as given"); hidden points get visibility 0.
    fp_draw_landmarks(image, xyz, cstyle, landmark_spec=lstyle, connection_spec=None,
                      visibility=shown.astype(np.float64), color_order="rgb", mediapipe_compatible=True)


def draw_detection(image: np.ndarray, detection: Any,
                   keypoint_drawing_spec: DrawingSpec = _LANDMARK_SPEC,
                   bbox_drawing_spec: DrawingSpec = _CONNECTION_SPEC) -> None:
    """Draw a detection's keypoints and relative bounding box on `image` in place, as MediaPipe does."""
    if not detection.location_data:
        return
    if image.shape[2] != _BGR_CHANNELS:
        raise ValueError("Input image must contain three channel bgr data.")
    rows, cols, _ = image.shape
    location = detection.location_data
    if location.format != LocationData.RELATIVE_BOUNDING_BOX:
        raise ValueError("LocationData must be relative for this drawing funtion to work.")
    for keypoint in location.relative_keypoints:
        px = _normalized_to_pixel_coordinates(keypoint.x, keypoint.y, cols, rows)
        cv2.circle(image, px, keypoint_drawing_spec.circle_radius, keypoint_drawing_spec.color,
                   keypoint_drawing_spec.thickness)
    if not location.HasField("relative_bounding_box"):
        return
    box = location.relative_bounding_box
    start = _normalized_to_pixel_coordinates(box.xmin, box.ymin, cols, rows)
    end = _normalized_to_pixel_coordinates(box.xmin + box.width, box.ymin + box.height, cols, rows)
    cv2.rectangle(image, start, end, bbox_drawing_spec.color, bbox_drawing_spec.thickness)


def plot_landmarks(landmark_list: Any, connections: Any = None,
                   landmark_drawing_spec: DrawingSpec = _PLOT_LANDMARK_SPEC,
                   connection_drawing_spec: DrawingSpec = _PLOT_CONNECTION_SPEC,
                   elevation: int = 10, azimuth: int = 10) -> None:
    """3-D matplotlib plot of a landmark list (shown with pyplot, as MediaPipe does).

    Drawn by facepipe.draw.plot_landmarks_3d (same axes convention); colours are
    taken as RGB here, as matplotlib does.
    """
    if not landmark_list:
        return
    import matplotlib.pyplot as plt

    from facepipe.draw.plots import plot_landmarks_3d

    xyz, shown = _landmark_arrays(landmark_list)
    edges = None if not connections else np.array([(c[0], c[1]) for c in connections]).reshape(-1, 2)
    fig = plt.figure(figsize=(10, 10))
    ax = fig.add_subplot(projection="3d")
    plot_landmarks_3d(xyz, edges, visibility=shown.astype(np.float64), elevation=elevation, azimuth=azimuth,
                      landmark_color=tuple(landmark_drawing_spec.color),
                      connection_color=tuple(connection_drawing_spec.color),
                      point_size=float(landmark_drawing_spec.thickness) ** 2,
                      line_width=float(connection_drawing_spec.thickness), ax=ax)
    plt.show()


def __getattr__(name: str):
    hints = {"draw_axis": "facepipe.draw.draw_head_pose draws a head's rotation axes."}
    raise unimplemented(__name__, name, hints.get(name, "facepipe.draw has the native drawing functions."))
