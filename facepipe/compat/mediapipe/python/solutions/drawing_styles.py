"""mp.solutions.drawing_styles: MediaPipe's default styles as {connection or index: DrawingSpec} (BGR colours).

Built from facepipe.draw.styles (which keeps MediaPipe's numbers as RGB) by
turning each colour back into MediaPipe's BGR.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from facepipe.compat.mediapipe.python.solutions._common import unimplemented
from facepipe.compat.mediapipe.python.solutions.drawing_utils import DrawingSpec
from facepipe.compat.mediapipe.python.solutions.hands import HandLandmark
from facepipe.compat.mediapipe.python.solutions.pose import PoseLandmark

__all__ = ["get_default_face_mesh_contours_style", "get_default_face_mesh_tesselation_style",
           "get_default_face_mesh_iris_connections_style", "get_default_hand_landmarks_style",
           "get_default_hand_connections_style", "get_default_pose_landmarks_style"]


def _bgr(rgb: np.ndarray) -> tuple[int, int, int]:
    r, g, b = (int(c) for c in rgb)
    return (b, g, r)


def _connection_specs(style) -> dict[tuple[int, int], DrawingSpec]:  # noqa: ANN001 - a ConnectionStyle
    return {(int(a), int(b)): DrawingSpec(color=_bgr(c), thickness=int(t))
            for (a, b), c, t in zip(style.edges, style.colors, style.thickness)}


def _landmark_specs(style, keys) -> dict[int, DrawingSpec]:  # noqa: ANN001 - a LandmarkStyle
    return {k: DrawingSpec(color=_bgr(style.colors[k]), thickness=int(style.thickness[k]),
                           circle_radius=int(style.radius[k])) for k in keys}


def get_default_face_mesh_contours_style(i: int = 0) -> Mapping[tuple[int, int], DrawingSpec]:
    from facepipe.draw import styles

    # Palette 1 also styles the nose edges (FACEMESH_CONTOURS has none, so they only matter when drawn apart).
    return _connection_specs(styles.face_mesh_contours_style(variant=i, include_nose=i == 1))


def get_default_face_mesh_tesselation_style() -> DrawingSpec:
    return DrawingSpec(color=(128, 128, 128), thickness=1)


def get_default_face_mesh_iris_connections_style() -> Mapping[tuple[int, int], DrawingSpec]:
    from facepipe.draw import styles

    return _connection_specs(styles.face_mesh_iris_style())


def get_default_hand_landmarks_style() -> Mapping[int, DrawingSpec]:
    from facepipe.draw import styles

    return _landmark_specs(styles.hand_landmarks_style(), list(HandLandmark))


def get_default_hand_connections_style() -> Mapping[tuple[int, int], DrawingSpec]:
    from facepipe.draw import styles

    return _connection_specs(styles.hand_connections_style())


def get_default_pose_landmarks_style() -> Mapping[int, DrawingSpec]:
    from facepipe.draw import styles

    return _landmark_specs(styles.pose_landmarks_style(), list(PoseLandmark))


def __getattr__(name: str):
    raise unimplemented(__name__, name, "facepipe.draw.styles has the native styles.")
